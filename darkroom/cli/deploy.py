"""`darkroom deploy synth`: the CDK app in deploy/aws, synthesized in this process.

The same app `cdk synth` runs (deploy/aws/app.py), with the same context from cdk.json, so both
write the same templates. Needs the repository checkout (deploy/aws is not in the wheel) and the
`aws` extra (aws-cdk-lib, constructs); the CDK runs its jsii core on Node.js.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

import darkroom
from darkroom.cli.output import console, fail

DEPLOY_DIR = Path(darkroom.__file__).resolve().parents[1] / "deploy" / "aws"
STAGES = ("dev", "staging", "prod")

app = typer.Typer(help="Deploy to AWS: the CDK app in deploy/aws.", no_args_is_help=True)


class DeployError(Exception):
    """Something the deployment cannot go on without; the message says what to do."""


def parse_context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DeployError(f"--context {pair!r}: expected KEY=VALUE")
        context[key.strip()] = value
    return context


def cdk_json_context(deploy_dir: Path) -> dict[str, Any]:
    path = deploy_dir / "cdk.json"
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    except (OSError, json.JSONDecodeError) as exc:
        raise DeployError(f"{path}: cannot read: {exc}") from None
    return dict(context)


def load_cdk() -> Any:
    try:
        cdk = importlib.import_module("aws_cdk")
        importlib.import_module("constructs")
    except ImportError as exc:
        raise DeployError(
            f"{exc.name or 'aws_cdk'} is not installed: `pip install 'darkroom[aws]'` "
            "brings aws-cdk-lib and constructs (and Node.js 22 or 24 must be on PATH)"
        ) from None
    return cdk


def synth(
    stage: str, out: Path | None, pairs: list[str], deploy_dir: Path = DEPLOY_DIR
) -> list[Path]:
    """Synthesize the stage's stack into `out`; return the templates written."""
    if stage not in STAGES:
        raise DeployError(f"--stage {stage!r}: expected one of {', '.join(STAGES)}")
    if not (deploy_dir / "app.py").is_file():
        raise DeployError(
            f"{deploy_dir}: no CDK app here; `darkroom deploy` runs from a checkout of the "
            "darkroom repository (deploy/aws is not part of the installed package)"
        )
    if shutil.which("node") is None:
        raise DeployError("Node.js is not on PATH: the CDK runs on it (install Node.js 22 or 24)")
    cdk = load_cdk()
    context: dict[str, Any] = {**cdk_json_context(deploy_dir), **parse_context(pairs)}
    context["stage"] = stage
    outdir = (out or deploy_dir / "cdk.out").resolve()
    if str(deploy_dir) not in sys.path:
        sys.path.insert(0, str(deploy_dir))
    stacks = importlib.import_module("darkroom_cdk")
    app = cdk.App(outdir=str(outdir), context=context)
    try:
        stacks.build_app(app)
    except stacks.ConfigError as exc:
        raise DeployError(str(exc)) from None
    assembly = app.synth()
    return [outdir / stack.template_file for stack in assembly.stacks]


@app.command("synth")
def deploy_synth(
    stage: Annotated[str, typer.Option(help="dev, staging or prod")] = "dev",
    out: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="output folder (default deploy/aws/cdk.out)"),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", "-c", help="KEY=VALUE, as `cdk synth -c` (repeatable)"),
    ] = None,
) -> None:
    """Synthesize the CloudFormation templates of the AWS deployment (no AWS account needed)."""
    from rich.markup import escape

    try:
        written = synth(stage, out, context or [])
    except DeployError as exc:
        fail(escape(str(exc)))  # messages quote pip extras, like darkroom[aws]
        return
    for path in written:
        console.print(f"wrote {path}")
