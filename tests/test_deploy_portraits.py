"""The CDK app with the portraits recipe: the SageMaker endpoint as a context value, callable
by the workers on that endpoint only and through a VPC endpoint (no NAT), its name in the
functions' settings, and the retention periods as S3 lifecycle rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (the aws extra)")

from tests.test_deploy import (
    CFN_LINT_IGNORED,
    Synthesized,
    function_actions,
    statements,
    synthesize,
)

ConfigError = __import__("darkroom_cdk.stages", fromlist=["ConfigError"]).ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def portraits(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    context = {
        "stage": "dev",
        "recipe": "portraits",
        "portrait_endpoint": "Kiosk-Styles",
        "pipeline": "stepfunctions",  # so both workers (processor and step) are deployed
    }
    return synthesize(context, tmp_path_factory.mktemp("portraits"))


def test_the_endpoint_is_invoked_by_the_workers_only_on_it(portraits: Synthesized) -> None:
    grants: list[Any] = [
        statement["Resource"]
        for key, statement in statements(portraits)
        if statement.get("Action") == "sagemaker:InvokeEndpoint"
    ]
    assert len(grants) == 2  # processor and step functions
    for resource in grants:
        text = json.dumps(resource)
        assert ":sagemaker:" in text and "endpoint/kiosk-styles" in text and "*" not in text
    assert "sagemaker:InvokeEndpoint" not in function_actions(portraits, "ApiFunction")
    for name in ("ProcessorFunction", "StepFunction"):
        assert "sagemaker:InvokeEndpoint" in function_actions(portraits, name)
    functions = portraits.functions()
    assert {"api", "processor", "step"} <= set(functions)
    for name in ("api", "processor", "step"):  # (the keys function reads no recipe)
        function = functions[name]
        env = function["Environment"]["Variables"]
        assert env["DARKROOM_PORTRAITS_ENDPOINT_NAME"] == "Kiosk-Styles"
        assert env["DARKROOM_RECIPE"] == "portraits"


def test_the_vpc_reaches_sagemaker_runtime_without_nat(portraits: Synthesized) -> None:
    portraits.template.resource_count_is("AWS::EC2::NatGateway", 0)
    names = [
        json.dumps(r["Properties"]["ServiceName"])
        for r in portraits.resources("AWS::EC2::VPCEndpoint").values()
    ]
    assert any("sagemaker.runtime" in name for name in names), names


def test_selfies_crops_and_portraits_expire(portraits: Synthesized) -> None:
    rules = {
        r["Id"]: r
        for bucket in portraits.resources("AWS::S3::Bucket").values()  # darkroom's, its logs'
        for r in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    }
    assert rules["expire-selfies"]["Prefix"] == "input/"
    assert rules["expire-selfies"]["ExpirationInDays"] == 7
    assert rules["expire-face-crops"]["Prefix"] == "faces/"
    assert rules["expire-face-crops"]["ExpirationInDays"] == 7
    assert rules["expire-portraits"]["Prefix"] == "portraits/"
    assert rules["expire-portraits"]["ExpirationInDays"] == 30


def test_cfn_lint_passes(portraits: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(
        portraits.path, config=ManualArgs(regions=["us-east-1"], ignore_checks=CFN_LINT_IGNORED)
    )
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []


def test_an_endpoint_for_a_recipe_without_portraits_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="makes no portraits"):
        synthesize({"stage": "dev", "recipe": "pets", "portrait_endpoint": "x"}, tmp_path)
