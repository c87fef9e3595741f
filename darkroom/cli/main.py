"""The `darkroom` command."""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from darkroom import logs
from darkroom.cli import ingest as ingest_cli
from darkroom.cli.output import console, fail, json_line
from darkroom.domain.errors import RecipeError, Rejected
from darkroom.domain.records import ImageStatus
from darkroom.engine import dlq as dead_letters
from darkroom.engine import lifecycle
from darkroom.engine.worker import WorkerPool
from darkroom.ports import ImageQuery
from darkroom.providers.model_catalog import CatalogModel
from darkroom.settings import Settings
from darkroom.views import hit_fields, image_record
from darkroom.wiring import Runtime, SettingsError, build

app = typer.Typer(help="darkroom: image ingestion and intelligence.", no_args_is_help=True)
images_app = typer.Typer(help="Look at what darkroom has.", no_args_is_help=True)
dlq_app = typer.Typer(
    help="The dead-letter queue: jobs that failed every attempt.", no_args_is_help=True
)
recipes_app = typer.Typer(help="Recipes: pipelines written as data.", no_args_is_help=True)
models_app = typer.Typer(help="Model providers: what can run here.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)
deploy_app = typer.Typer(help="Deploy to AWS: the CDK app in deploy/aws.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(images_app, name="images")
app.add_typer(dlq_app, name="dlq")
app.add_typer(recipes_app, name="recipes")
app.add_typer(models_app, name="models")
app.add_typer(deploy_app, name="deploy")

OWNER_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per line, for scripts")]
OwnerOption = Annotated[
    str | None, typer.Option(help="the owner (a media library's client); default DARKROOM_OWNER")
]


def runtime() -> Runtime:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    try:
        return build(settings)
    except (SettingsError, RecipeError) as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of pictures", exists=True)],
    recipe: Annotated[
        str | None, typer.Option(help="recipe to run (default: DARKROOM_RECIPE)")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="worker processes (default: cores)")
    ] = ingest_cli.default_concurrency(),
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    owner: OwnerOption = None,
) -> None:
    """Process every picture under PATHS. Safe to kill and run again: nothing is done twice."""
    rt = runtime()
    name = recipe or rt.settings.recipe
    try:
        rt.recipes.get(name)
    except RecipeError as exc:
        fail(str(exc))
    report = ingest_cli.run_ingest(
        rt,
        paths,
        recipe=name,
        owner=owner or rt.settings.owner,
        concurrency=concurrency,
        show_progress=not quiet,
    )
    if as_json:
        ingest_cli.print_json(report, rt)
    else:
        ingest_cli.print_table(report, rt.catalog)
    raise typer.Exit(1 if report.failed else 0)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 1,
) -> None:
    """Consume the queue until stopped (Ctrl-C or SIGTERM)."""
    rt = runtime()
    rt.close()
    settings = rt.settings
    if concurrency == 1:
        from darkroom.engine.worker import work

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            work(settings, stop)
        except KeyboardInterrupt:
            stop.set()
        return
    pool = WorkerPool(settings, concurrency).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5) and pool.alive():
            pass
    except KeyboardInterrupt:
        pass
    finally:
        pool.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=0, help="embedded worker processes (0: API only)")
    ] = ingest_cli.default_concurrency(),
) -> None:
    """Run the HTTP API and embedded workers in one command. OpenAPI docs at /docs."""
    import uvicorn

    from darkroom import metrics
    from darkroom.api.app import create_app

    rt = runtime()
    settings = rt.settings
    if not rt.keys.list():
        key, secret = rt.keys.create(settings.owner, "unlimited", admin=True)
        console.print(
            f"[bold]First start: created an admin key for owner {key.owner!r}. "
            f"It is shown only now:[/]\n\n    {secret}\n"
        )
    metrics.prepare_multiprocess(settings.home)
    pool = WorkerPool(settings, workers, nice=settings.worker_nice).start() if workers else None
    try:
        uvicorn.run(
            create_app(rt),
            host=host or settings.host,
            port=settings.port if port is None else port,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    finally:
        if pool is not None:
            pool.close()
        rt.close()


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="words to find")] = None,
    like: Annotated[
        Path | None,
        typer.Option("--like", exists=True, dir_okay=False, help="a picture to find others like"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    min_score: Annotated[
        float | None, typer.Option(help="similarity threshold (default: the embedder's)")
    ] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="only this class")] = None,
    sku: Annotated[str | None, typer.Option(help="only this product (media recipe)")] = None,
    media: Annotated[
        str | None, typer.Option(help="only images or only videos (media recipe)")
    ] = None,
    owner: OwnerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find images by words, or by a picture (--like). Best first; nothing when nothing fits.
    A video answers once, with the moment (frame_ms) of its best-matching keyframe."""
    rt = runtime()
    if (query is None) == (like is None):
        fail("give words to find, or --like FILE (one of them)")
    if media not in (None, "image", "video"):
        fail("--media is image or video")
    wanted = {"class_name": class_name, "sku": sku, "media": media}
    filters = {key: value for key, value in wanted.items() if value} or None
    owner = owner or rt.settings.owner
    try:
        if like is not None:
            hits = rt.search.like_picture(owner, str(like), limit, min_score, filters)
        else:
            assert query is not None
            hits = rt.search.by_text(owner, query, limit, min_score, filters)
    except Rejected as exc:
        fail(f"{like}: {exc}")
        return
    images = {image.id: image for image in rt.catalog.images_by_ids([h.image_id for h in hits])}
    found = [(hit, images[hit.image_id]) for hit in hits if hit.image_id in images]
    if as_json:
        for hit, image in found:
            json_line(
                {
                    "image_id": hit.image_id,
                    **hit_fields(hit, rt.blobs),
                    **image_record(image, rt.blobs, rt.catalog),
                }
            )
        return
    if not found:
        console.print("nothing found")
        return
    table = Table(title=f"{len(found)} found")
    for column in ("score", "image_id", "file", "class", "at", "location"):
        table.add_column(column)
    for hit, image in found:
        at = f"{hit.frame_ms / 1000:.1f} s" if hit.frame_ms is not None else ""
        table.add_row(
            f"{hit.score:.3f}", image.id, image.filename, image.class_name or "", at, image.location
        )
    console.print(table)


@keys_app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="the owner whose images the key sees")],
    plan: Annotated[
        str | None, typer.Option(help="usage plan (default: DARKROOM_DEFAULT_PLAN)")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="may use the admin routes")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it (the only time it is shown)."""
    rt = runtime()
    name = plan or rt.settings.default_plan
    if name not in rt.settings.plans:
        fail(f"unknown plan {name!r}; plans: {', '.join(sorted(rt.settings.plans))}")
    if not OWNER_PATTERN.match(owner):
        fail("owner: letters, digits, '-', '_' and '.', at most 128")
    key, secret = rt.keys.create(owner, name, admin)
    if as_json:
        json_line(
            {"key": secret, "id": key.id, "owner": key.owner, "plan": key.plan, "admin": key.admin}
        )
    else:
        console.print(secret)


@keys_app.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """Every key (never the secret)."""
    rt = runtime()
    keys = rt.keys.list()
    if as_json:
        for key in keys:
            json_line(
                {
                    "id": key.id,
                    "owner": key.owner,
                    "plan": key.plan,
                    "admin": key.admin,
                    "revoked": key.revoked,
                }
            )
        return
    table = Table(title=f"{len(keys)} keys")
    for column in ("id", "owner", "plan", "admin", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            key.id, key.owner, key.plan, "yes" if key.admin else "", "yes" if key.revoked else ""
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (see `keys list`)."""
    rt = runtime()
    if not rt.keys.revoke(key_id):
        fail(f"no active key {key_id!r}", code=1)
    console.print(f"revoked {key_id}")


@images_app.command("list")
def images_list(
    status: Annotated[ImageStatus | None, typer.Option(help="only this status")] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="only this class")] = None,
    uncertain: Annotated[
        bool | None, typer.Option("--uncertain/--certain", help="by review need")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Images of the CLI's owner, oldest first."""
    rt = runtime()
    query = ImageQuery(
        owner=rt.settings.owner,
        status=status,
        class_name=class_name,
        uncertain=uncertain,
        limit=limit,
    )
    found = rt.catalog.list_images(query)
    if as_json:
        for image in found:
            json_line(image_record(image, rt.blobs, rt.catalog))
        return
    table = Table(title=f"{len(found)} images")
    for column in ("image_id", "file", "status", "class", "confidence", "size", "error"):
        table.add_column(column)
    for image in found:
        table.add_row(
            image.id,
            image.filename,
            image.status.value,
            (image.class_name or "") + (" ?" if image.uncertain else ""),
            f"{image.confidence:.1f}" if image.confidence is not None else "",
            f"{image.width}x{image.height}" if image.width else "",
            image.error or "",
        )
    console.print(table)


@images_app.command("show")
def images_show(image_id: str, as_json: JsonOption = False) -> None:
    """One image: its record, step results and detection record."""
    rt = runtime()
    image = rt.catalog.get_image(image_id, rt.settings.owner)
    if image is None:
        fail(f"no image {image_id!r}", code=1)
        return
    record = image_record(image, rt.blobs, rt.catalog)
    record["steps"] = rt.catalog.step_outputs(image.job_id) if image.job_id else {}
    record["detection_records"] = [r.to_json() for r in rt.detections.detection_records(image.id)]
    latest = rt.catalog.latest_analysis(image.id)
    record["analysis"] = latest.to_json() if latest is not None else None
    if as_json:
        json_line(record)
        return
    table = Table(show_header=False, title=f"image {image.id}")
    for key, value in record.items():
        shown = json.dumps(value, indent=1) if isinstance(value, dict | list) else str(value)
        table.add_row(key, shown)
    console.print(table)


@images_app.command("duplicates")
def images_duplicates(image_id: str, as_json: JsonOption = False) -> None:
    """Exact copies (same bytes), near copies (resized, recompressed) and look-alikes, apart."""
    from darkroom.engine.duplicates import find_duplicates

    rt = runtime()
    image = rt.catalog.get_image(image_id, rt.settings.owner)
    if image is None:
        fail(f"no image {image_id!r}", code=1)
        return
    found = find_duplicates(rt.catalog, rt.search, image)
    rows = [("exact", other, "same bytes") for other in found.exact]
    rows += [("near", other, f"{bits} bits of 64 differ") for other, bits in found.near]
    rows += [("semantic", other, f"similarity {score:.3f}") for other, score in found.semantic]
    if as_json:
        for tier, other, why in rows:
            json_line({"tier": tier, "image_id": other, "why": why})
        return
    table = Table(title=f"duplicates of {image_id}")
    for column in ("tier", "image_id", "why"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table if rows else "no duplicates")


@dlq_app.command("list")
def dlq_list(as_json: JsonOption = False) -> None:
    """Jobs that failed every attempt, with their error."""
    rt = runtime()
    letters = rt.queue.dead_letters(limit=100_000)
    if as_json:
        for letter in letters:
            json_line(
                {
                    "job_id": letter.job.id,
                    "image_id": letter.job.image_id,
                    "recipe": letter.job.recipe,
                    "attempts": letter.attempts,
                    "error": letter.error,
                    "traceback": letter.traceback,
                    "failed_at": letter.failed_at.isoformat(),
                }
            )
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("image_id", "recipe", "attempts", "failed at", "error"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.job.image_id,
            letter.job.recipe,
            str(letter.attempts),
            letter.failed_at.isoformat(),
            letter.error,
        )
    console.print(table)


@app.command()
def reprocess(
    image_ids: Annotated[
        list[str] | None, typer.Argument(help="these images (default: all)")
    ] = None,
    step: Annotated[
        list[str] | None, typer.Option(help="run only this step again (and what needs it)")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="STEP.FIELD=VALUE from stored results, e.g. embed.model=descriptor"),
    ] = None,
    recipe: Annotated[str | None, typer.Option(help="only images of this recipe")] = None,
    status: Annotated[ImageStatus | None, typer.Option(help="only this status")] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="only this class")] = None,
    every: Annotated[bool, typer.Option("--all", help="every image of the owner")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, queue nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a recipe, or some of its steps, again over stored images, through the queue (a
    running worker does the work). A backfill: `--step embed --where embed.version=1`."""
    from darkroom.cli import reprocess as reprocess_cli

    try:
        provenance = lifecycle.parse_where(where or [])
    except ValueError as exc:
        fail(str(exc))
    if not (image_ids or every or provenance or recipe or status or class_name):
        fail("name images, a filter (--where, --recipe, --status, --class), or --all")
    rt = runtime()
    if recipe is not None:
        try:
            rt.recipes.get(recipe)
        except RecipeError as exc:
            fail(str(exc))
    query = ImageQuery(owner=rt.settings.owner, status=status, class_name=class_name, recipe=recipe)
    found = reprocess_cli.selected(rt, image_ids or [], query, provenance)
    reprocess_cli.run(rt, found, step or [], dry_run=dry_run, as_json=as_json)


@dlq_app.command("replay")
def dlq_replay(
    ident: Annotated[str | None, typer.Argument(help="image id or job id")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="replay every dead letter")] = False,
) -> None:
    """Put dead-lettered jobs back on the queue (a running worker picks them up)."""
    rt = runtime()
    if replay_all == (ident is not None):
        fail("name one image id or job id, or --all")
    if replay_all:
        console.print(f"replayed {dead_letters.replay_all(rt.catalog, rt.queue)} jobs")
        return
    assert ident is not None
    letter = dead_letters.find(rt.queue, ident)
    if letter is None or not dead_letters.replay(rt.catalog, rt.queue, letter):
        fail(f"no dead letter for {ident!r}", code=1)
    console.print(f"replayed {ident}")


@recipes_app.command("list")
def recipes_list(as_json: JsonOption = False) -> None:
    """Every recipe, built-in and your own."""
    rt = runtime()
    if as_json:
        for compiled in rt.recipes.all():
            json_line(
                {
                    "name": compiled.name,
                    "description": compiled.recipe.description,
                    "steps": [step.name for step in compiled.steps],
                    "source": compiled.source,
                }
            )
        return
    table = Table(title="recipes")
    for column in ("name", "steps", "description"):
        table.add_column(column)
    for compiled in rt.recipes.all():
        table.add_row(
            compiled.name, " -> ".join(s.name for s in compiled.steps), compiled.recipe.description
        )
    console.print(table)


@recipes_app.command("show")
def recipes_show(name: str, as_json: JsonOption = False) -> None:
    """A recipe with every setting filled in."""
    rt = runtime()
    try:
        compiled = rt.recipes.get(name)
    except RecipeError as exc:
        fail(str(exc))
        return
    data: dict[str, Any] = compiled.recipe.model_dump(mode="json", by_alias=True, exclude={"steps"})
    data["steps"] = [
        {
            "step": step.spec.step,
            "name": step.name,
            "with": step.settings.model_dump(mode="json"),
            "retry": step.retry.model_dump(mode="json"),
        }
        for step in compiled.steps
    ]
    if as_json:
        json_line(data)
    else:
        # Machine-readable: never through Rich, which wraps long lines when redirected.
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))


@recipes_app.command("asl")
def recipes_asl(
    name: str,
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="write here, not to stdout")
    ] = None,
) -> None:
    """The recipe as an AWS Step Functions state machine (Amazon States Language JSON)."""
    from darkroom.engine.asl import compile_asl, to_json
    from darkroom.engine.recipes import RecipeBook

    try:
        text = to_json(compile_asl(RecipeBook(Settings().recipes_dir).get(name)))
    except RecipeError as exc:
        fail(str(exc))
        return
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")


@deploy_app.command("synth")
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

    from darkroom.cli import deploy as deploy_cli

    try:
        written = deploy_cli.synth(stage, out, context or [])
    except deploy_cli.DeployError as exc:
        fail(escape(str(exc)))  # messages quote pip extras, like darkroom[aws]
        return
    for path in written:
        console.print(f"wrote {path}")


@models_app.command("list")
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


def _models_catalog(settings: Settings) -> dict[str, CatalogModel]:
    from darkroom.providers.model_catalog import catalog

    try:
        return dict(catalog(settings.models_catalog))
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


@models_app.command("pull")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
