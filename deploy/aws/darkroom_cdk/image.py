"""The Lambda container image's build context, staged at synth time (no Docker needed for that).

The context holds the Dockerfile, the darkroom package and a requirements.txt written from
pyproject.toml: darkroom's dependencies plus the extras the functions use, without the
deployment tools (the CDK itself has no business inside a Lambda). `cdk deploy` builds it.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEPLOY_DIR = HERE.parent  # deploy/aws
REPO = DEPLOY_DIR.parent.parent
DOCKERFILE = DEPLOY_DIR / "lambda" / "Dockerfile"
STAGING = DEPLOY_DIR / "build" / "lambda"
RUNTIME_EXTRAS = ("aws", "postgres", "onnx")
DEPLOY_ONLY = frozenset({"aws-cdk-lib", "constructs", "cfn-lint", "cdk-nag"})
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_name(spec: str) -> str:
    match = NAME.match(spec)
    if match is None:
        raise ValueError(f"pyproject.toml: cannot read a package name from {spec!r}")
    return match.group(1).lower().replace("_", "-")


def runtime_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs: list[str] = list(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    for extra in RUNTIME_EXTRAS:
        specs.extend(extras.get(extra, []))
    seen: set[str] = set()
    kept = []
    for spec in specs:
        name = requirement_name(spec)
        if name in DEPLOY_ONLY or spec in seen:
            continue
        seen.add(spec)
        kept.append(spec)
    return kept


def stage_build_context(target: Path = STAGING) -> Path:
    """Write the build context to `target` (replacing what was there) and return it."""
    package = REPO / "darkroom"
    if not package.is_dir():
        raise FileNotFoundError(f"{package}: the darkroom package is not beside deploy/aws")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, target / "Dockerfile")
    (target / "requirements.txt").write_text(
        "\n".join(runtime_requirements()) + "\n", encoding="utf-8"
    )
    shutil.copytree(
        package, target / "darkroom", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return target
