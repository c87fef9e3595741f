"""The `darkroom` command: each command group lives in its own module, registered here."""

from __future__ import annotations

from typing import Annotated

import typer

from darkroom import __version__
from darkroom.cli import (
    consent,
    deploy,
    dlq,
    help,
    images,
    ingest,
    keys,
    models,
    recipes,
    reprocess,
    review,
    search,
    serve,
    webhooks,
)

help.install()
app = typer.Typer(help="darkroom: image ingestion and intelligence.", no_args_is_help=True)
app.add_typer(keys.app, name="keys")
app.add_typer(images.app, name="images")
app.add_typer(dlq.app, name="dlq")
app.add_typer(recipes.app, name="recipes")
app.add_typer(models.app, name="models")
app.add_typer(deploy.app, name="deploy")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(review.review_app, name="review")
app.command()(ingest.ingest)
app.command()(serve.worker)
app.command()(serve.serve)
app.command()(search.search)
app.command()(reprocess.reprocess)
app.command()(consent.consent)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"darkroom {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """darkroom: image ingestion and intelligence."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
