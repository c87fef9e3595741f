#!/usr/bin/env python3
"""`cdk synth` / `cdk deploy` entry point. Context: -c stage=dev|staging|prod (see cdk.json)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The checkout's darkroom (the code the image ships) and the stacks beside this file.
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import aws_cdk as cdk  # noqa: E402
from darkroom_cdk import ConfigError, build_app  # noqa: E402

app = cdk.App()
try:
    build_app(app)
except ConfigError as exc:
    sys.exit(f"error: {exc}")
if str(app.node.try_get_context("nag") or "").lower() in {"1", "true", "yes"}:
    # cdk-nag's AwsSolutions pack: any finding not acknowledged in darkroom_cdk/nag.py fails.
    from cdk_nag import AwsSolutionsChecks

    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
