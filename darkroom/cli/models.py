"""`darkroom models`: providers, downloadable models and bundled ones."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from darkroom.cli.common import JsonOption
from darkroom.cli.output import console, fail, json_line
from darkroom.providers.model_catalog import CatalogModel
from darkroom.settings import Settings

app = typer.Typer(help="Model providers: what can run here.", no_args_is_help=True)


@app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """Every provider a recipe can name and whether it can run here; every model `models pull`
    knows and whether it is installed."""
    from darkroom.providers.bundled import provenance as bundled_provenance
    from darkroom.providers.model_catalog import installed_state
    from darkroom.providers.registry import KNOWN, readiness

    settings = Settings()
    states = readiness()
    models = _models_catalog(settings)
    if as_json:
        for info in KNOWN:
            json_line(
                {
                    "name": info.name,
                    "kind": info.kind,
                    "status": states[info.name],
                    "description": info.description,
                }
            )
        for model in models.values():
            json_line(
                {
                    "name": model.name,
                    "kind": "model",
                    "provider": model.provider,
                    "status": installed_state(model, settings.models_dir),
                    "path": str(settings.models_dir / model.name),
                    "description": model.description,
                    "unverified": model.unverified,
                    "files": [f.model_dump() for f in model.files],
                }
            )
        for name, info in bundled_provenance().items():
            json_line({"name": name, "kind": "bundled model", "status": "ready", **info})
        for name, packaged in _packaged_models().items():
            json_line({"name": name, "kind": "packaged model", **packaged})
        return
    table = Table(title="providers")
    for column in ("name", "kind", "status", "description"):
        table.add_column(column)
    for info in KNOWN:
        status = states[info.name]
        table.add_row(
            info.name,
            info.kind,
            status if status != "ready" else "[green]ready[/]",
            info.description,
        )
    console.print(table)
    pulled = Table(title=f"models (darkroom models pull NAME, into {settings.models_dir})")
    for column in ("name", "provider", "status", "size", "checksums", "description"):
        pulled.add_column(column)
    for model in models.values():
        status = installed_state(model, settings.models_dir)
        size = sum(f.size or 0 for f in model.files)
        pulled.add_row(
            model.name,
            model.provider,
            f"[green]{status}[/]" if status.startswith("ready") else status,
            f"{size / 1e6:.0f} MB" if size else "",
            "all verified"
            if not model.unverified
            else f"none published for {', '.join(model.unverified)}",
            model.description,
        )
    console.print(pulled)
    bundled = Table(title="bundled models (inside darkroom: no download)")
    for column in ("name", "file", "sha256", "licence", "from package"):
        bundled.add_column(column, overflow="fold")
    for name, info in bundled_provenance().items():
        source = info["source"]
        bundled.add_row(
            name,
            info["file"],
            info["sha256"],
            info["licence"],
            f"{source['package']} {source['version']} ({source['member']}, sha256 "
            f"{source['sha256']})",
        )
    console.print(bundled)
    inside = Table(title="models inside installed packages (no download)")
    for column in ("name", "package", "licence", "files (sha256)"):
        inside.add_column(column, overflow="fold")
    for name, packaged in _packaged_models().items():
        files = ", ".join(f"{file} {digest}" for file, digest in packaged.get("models", {}).items())
        inside.add_row(
            name,
            f"{packaged.get('package', '')} {packaged.get('version', '')}",
            packaged.get("licence", packaged.get("status", "")),
            files,
        )
    console.print(inside)


def _packaged_models() -> dict[str, dict[str, Any]]:
    """Models that come inside a dependency's wheel (RapidOCR's PP-OCR), with their digests."""
    try:
        from darkroom.providers.rapid_ocr import provenance as ocr_provenance

        return {"rapidocr": {"status": "ready", **ocr_provenance()}}
    except (ImportError, ValueError) as exc:
        return {"rapidocr": {"status": f"missing: {exc}"}}


def _models_catalog(settings: Settings) -> dict[str, CatalogModel]:
    from darkroom.providers.model_catalog import catalog

    try:
        return dict(catalog(settings.models_catalog))
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


@app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="a model from `darkroom models list`")],
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify", help="also install files that have no published checksum (unchecked)"
        ),
    ] = False,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Download a known model, check every file's SHA-256, install it in DARKROOM_HOME/models.
    Interrupted downloads resume; a checksum mismatch installs nothing."""
    from dataclasses import asdict

    from darkroom.cli.progress import DownloadBar
    from darkroom.providers.downloads import PullError, pull

    settings = Settings()
    models = _models_catalog(settings)
    model = models.get(name)
    if model is None:
        fail(f"unknown model {name!r}; known: {', '.join(sorted(models)) or 'none'}")
        return
    try:
        with DownloadBar(enabled=not (quiet or as_json)) as bar:
            pulled = pull(
                model,
                settings.models_dir,
                mirror=settings.models_mirror,
                allow_unverified=no_verify,
                progress=bar,
            )
    except PullError as exc:
        fail(str(exc), code=1)
        return
    except OSError as exc:
        fail(f"{settings.models_dir}: {exc.strerror or exc}", code=1)
        return
    folder = settings.models_dir / model.name
    if as_json:
        for item in pulled:
            json_line({"model": model.name, **asdict(item), "path": str(folder / item.path)})
        return
    unchecked = [item.path for item in pulled if not item.verified]
    note = f" (unverified: {', '.join(unchecked)})" if unchecked else " (checksums verified)"
    console.print(f"{model.name}: installed in {folder}{note}")
    console.print(f"use it in a recipe: provider: {model.provider}, options: {{model: {name}}}")
