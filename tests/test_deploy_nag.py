"""cdk-nag's AwsSolutions pack over every stage, the all-options variant and each shipped recipe:
zero findings left unacknowledged (each acknowledgment carries its reason in
deploy/aws/darkroom_cdk/nag.py). Also: a recipe that needs what the deployment lacks is refused
at synth with the reason, and one that calls model services gets a route out and its keys."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from darkroom.cli import deploy as deploy_cli
from darkroom.engine.recipes import RecipeBook

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
cdk = pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (the aws extra)")
cdk_nag = pytest.importorskip("cdk_nag", reason="cdk-nag is not installed (the dev extra)")

sys.path.insert(0, str(deploy_cli.DEPLOY_DIR))
from darkroom_cdk import ConfigError, build_app  # noqa: E402
from darkroom_cdk.image import stage_build_context  # noqa: E402

from tests.test_deploy import VARIANT  # noqa: E402

pytestmark = pytest.mark.slow  # each case synthesizes a whole stack (10-30 s)

# What each shipped recipe needs on top of the defaults to deploy.
RECIPE_CONTEXT = {
    "pets": {},
    "collections": {"egress": "nat"},
    "catalog": {},
    "portraits": {},
    "media": {},
}


def synthesize_with_nag(context: dict[str, str], root: Path) -> dict[str, Any]:
    """The stack's template, synthesized with the AwsSolutions pack as a validation plugin:
    any unacknowledged error fails the synth (CDK's policy validation report)."""
    context = {**deploy_cli.cdk_json_context(deploy_cli.DEPLOY_DIR), **context}
    app = cdk.App(outdir=str(root / "cdk.out"), context=context)
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    build_app(app, image_context=stage_build_context(root / "image"))
    try:
        assembly = app.synth()
    except Exception as exc:  # jsii's RuntimeError carrying "ValidationFailed"
        report = root / "cdk.out" / "validation-report.json"
        findings = []
        if report.exists():
            for plugin in json.loads(report.read_text())["pluginReports"]:
                for violation in plugin["violations"]:
                    for construct in violation["violatingConstructs"]:
                        findings.append(f"{violation['ruleName']} {construct['constructPath']}")
        raise AssertionError(f"cdk-nag findings: {findings or exc}") from None
    (stack,) = assembly.stacks
    return json.loads((root / "cdk.out" / stack.template_file).read_text())  # type: ignore[no-any-return]


def test_shipped_recipes_are_the_ones_checked_here() -> None:
    assert set(RecipeBook().names()) == set(RECIPE_CONTEXT)


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_aws_solutions_pack_finds_nothing_unacknowledged(stage: str, tmp_path: Path) -> None:
    template = synthesize_with_nag({"stage": stage}, tmp_path)
    assert template["Resources"]


def test_aws_solutions_pack_on_the_variant_with_every_option(tmp_path: Path) -> None:
    synthesize_with_nag(VARIANT, tmp_path)


@pytest.mark.parametrize("recipe", sorted(RECIPE_CONTEXT))
def test_every_shipped_recipe_deploys(recipe: str, tmp_path: Path) -> None:
    template = synthesize_with_nag({"recipe": recipe, **RECIPE_CONTEXT[recipe]}, tmp_path)
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("PackageType") == "Image"
    ]
    processor = next(f for f in functions if f["FunctionName"].endswith("-processor"))
    env = processor["Environment"]["Variables"]
    assert env["DARKROOM_RECIPE"] == recipe
    nat = [r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::NatGateway"]
    if recipe == "collections":
        # A route out for the model services, and their key kept in Secrets Manager.
        assert len(nat) == 1
        assert "DARKROOM_OPENAI_API_KEY" in json.dumps(env["DARKROOM_SECRET_ARNS"])
        assert "OpenaiApiKeySecretArn" in template["Outputs"]
    else:
        assert nat == []


def test_a_recipe_that_needs_the_internet_is_refused_without_egress(tmp_path: Path) -> None:
    context = {**deploy_cli.cdk_json_context(deploy_cli.DEPLOY_DIR), "recipe": "collections"}
    app = cdk.App(outdir=str(tmp_path), context=context)
    with pytest.raises(ConfigError, match=r"egress=nat.*database=external") as refused:
        build_app(app, image_context=stage_build_context(tmp_path / "image"))
    assert "analyze: llm" in str(refused.value) and "embed_meaning: http" in str(refused.value)


def test_prod_refuses_cors_star(tmp_path: Path) -> None:
    context = {
        **deploy_cli.cdk_json_context(deploy_cli.DEPLOY_DIR),
        "stage": "prod",
        "cors_origins": "*",
    }
    app = cdk.App(outdir=str(tmp_path), context=context)
    with pytest.raises(ConfigError, match="refused for prod"):
        build_app(app, image_context=stage_build_context(tmp_path / "image"))
