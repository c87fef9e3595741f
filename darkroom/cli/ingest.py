"""`darkroom ingest PATH...`: accept every picture under the paths, process, report."""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from darkroom import logs
from darkroom.cli.common import JsonOption, OwnerOption, check_recipe_can_run, runtime
from darkroom.cli.output import console, err, fail, json_line
from darkroom.domain.records import Image, ImageStatus
from darkroom.engine.worker import WorkerPool
from darkroom.ports import Catalog
from darkroom.views import image_record
from darkroom.wiring import Runtime


def collect(paths: list[Path], skip: Path) -> list[Path]:
    """Files under the paths, in a stable order; hidden entries and the data folder skipped."""
    skip = skip.resolve()
    found: list[Path] = []
    for root in paths:
        if root.is_file():
            found.append(root)
            continue
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip
            )
            found.extend(here / name for name in sorted(files) if not name.startswith("."))
    return found


@dataclass
class Report:
    files: list[Path]
    images: dict[Path, Image]
    seconds: float
    processed_now: int  # images this run took to a final status
    already_done: int = 0  # images an earlier run had finished: nothing to do for them

    def statuses(self) -> Counter[str]:
        return Counter(image.status.value for image in self.images.values())

    @property
    def failed(self) -> int:
        return self.statuses()[ImageStatus.FAILED.value]


class Interrupted(Exception):
    """Ctrl-C during an ingest: how far it got (a rerun of the same command resumes)."""

    def __init__(self, done: int, left: int) -> None:
        super().__init__(f"interrupted: {done} done, {left} left")
        self.done, self.left = done, left


def run_ingest(
    runtime: Runtime,
    paths: list[Path],
    *,
    recipe: str,
    owner: str,
    concurrency: int,
    show_progress: bool,
    metadata: dict[str, Any] | None = None,
) -> Report:
    settings = runtime.settings
    files = collect(paths, settings.home)
    started = time.monotonic()
    log_setup = functools.partial(
        logs.configure, settings.log_level, "json", str(settings.home / "logs" / "darkroom.log")
    )
    pool = WorkerPool(settings, concurrency, log_setup).start()
    images: dict[Path, Image] = {}
    pending: dict[str, Path] = {}
    already_done = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
        disable=not show_progress,
    )
    try:
        with progress:
            task = progress.add_task("accepting", total=len(files), rate="")
            for path in files:
                accepted = runtime.intake.accept_path(path, owner, recipe, metadata)
                images[path] = accepted.image
                if accepted.image.status.final:
                    already_done += 1
                else:
                    pending[accepted.image.id] = path
                progress.update(task, completed=len(images) - len(pending))
            progress.update(task, description="processing")
            while pending:
                for image in runtime.catalog.images_by_ids(list(pending)):
                    if image.status.final:
                        images[pending.pop(image.id)] = image
                done = len(files) - len(pending)
                elapsed = time.monotonic() - started
                rate = f"{(done / elapsed if elapsed else 0):.1f} img/s"
                progress.update(task, completed=done, rate=rate)
                if pending and pool.alive() == 0:
                    raise RuntimeError("every worker process has exited; see the log")
                if pending:
                    time.sleep(0.2)
    except KeyboardInterrupt:
        done = _finished(runtime, images, pending)
        raise Interrupted(done, len(files) - done) from None
    finally:
        pool.close()
    seconds = time.monotonic() - started
    return Report(files, images, seconds, len(images) - already_done, already_done)


def _finished(runtime: Runtime, images: dict[Path, Image], pending: dict[str, Path]) -> int:
    """Images at a final status now: those known final, and the pending ones that got there."""
    known = sum(1 for image in images.values() if image.id not in pending and image.status.final)
    try:
        latest = runtime.catalog.images_by_ids(list(pending))
    except Exception:  # the database went away with the interrupt: count what is known
        return known
    return known + sum(1 for image in latest if image.status.final)


def media_counts(report: Report, catalog: Catalog) -> Counter[str]:
    """Completed images and videos of a media library, and the keyframes the videos gave."""
    counts: Counter[str] = Counter()
    for image in report.images.values():
        media = image.metadata.get("media")
        if image.status is not ImageStatus.COMPLETED or not media:
            continue
        counts[f"{media}s"] += 1
        if media == "video" and image.job_id:
            frames = catalog.step_outputs(image.job_id).get("keyframes", {}).get("keyframes", [])
            counts["keyframes"] += len(frames)
    return counts


def print_table(report: Report, catalog: Catalog | None = None) -> None:
    by_class: Counter[str] = Counter()
    uncertain: Counter[str] = Counter()
    for image in report.images.values():
        if image.status is ImageStatus.COMPLETED:
            by_class[image.class_name or "-"] += 1
            uncertain[image.class_name or "-"] += int(image.uncertain)
    table = Table(title="darkroom ingest")
    table.add_column("result")
    table.add_column("images", justify="right")
    table.add_column("uncertain", justify="right")
    media = media_counts(report, catalog) if catalog is not None else Counter()
    for name in sorted(by_class):
        if not (media and name == "-"):  # a media library has no classes: its kinds instead
            table.add_row(f"class {name}", str(by_class[name]), str(uncertain[name]))
    for kind in ("images", "videos", "keyframes") if media else ():
        table.add_row(kind, str(media[kind]), "")
    statuses = report.statuses()
    for status in (ImageStatus.REJECTED, ImageStatus.DUPLICATE, ImageStatus.FAILED):
        table.add_row(status.value, str(statuses[status.value]), "")
    table.add_row("total", str(len(report.images)), str(sum(uncertain.values())), end_section=True)
    console.print(table)
    rate = report.processed_now / report.seconds if report.seconds else 0.0
    earlier = (
        f", {report.already_done} already done by an earlier run" if report.already_done else ""
    )
    console.print(
        f"{len(report.files)} files: {report.processed_now} processed now{earlier}, "
        f"in {report.seconds:.1f} s ({rate:.1f} images/s)"
    )
    failed = [
        image for image in report.images.values() if image.status is not ImageStatus.COMPLETED
    ]
    for image in failed[:20]:
        if image.error:
            console.print(f"  [yellow]{image.status.value}[/] {image.source}: {image.error}")
    if len(failed) > 20:
        console.print(f"  ... and {len(failed) - 20} more (darkroom images list --status ...)")


def print_json(report: Report, runtime: Runtime) -> None:
    for path in report.files:
        image = report.images[path]
        record = image_record(image, runtime.blobs, runtime.catalog)
        record["file"] = str(path)
        json_line(record)


def default_concurrency() -> int:
    return os.cpu_count() or 1


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of pictures", exists=True)],
    recipe: Annotated[
        str | None, typer.Option(help="recipe to run (default: DARKROOM_RECIPE)")
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="worker processes (one per core unless given)",
            show_default=False,
        ),
    ] = default_concurrency(),
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    user_id: Annotated[
        str | None, typer.Option("--user-id", help="portraits: the visitor (needs their consent)")
    ] = None,
    style: Annotated[str | None, typer.Option(help="portraits: the style asked for")] = None,
    gender: Annotated[str | None, typer.Option(help="portraits: the gender of the figure")] = None,
    owner: OwnerOption = None,
) -> None:
    """Process every picture under PATHS. Safe to kill and run again: nothing is done twice."""
    from darkroom.domain.portraits import ConsentRefused
    from darkroom.engine.consent import InvalidPortraitRequest

    rt = runtime()
    name = recipe or rt.settings.recipe
    check_recipe_can_run(rt, name)
    asked = {"user_id": user_id, "style": style, "gender": gender}
    metadata = {key: value for key, value in asked.items() if value is not None}
    try:
        report = run_ingest(
            rt,
            paths,
            recipe=name,
            owner=owner or rt.settings.owner,
            concurrency=concurrency,
            show_progress=not quiet,
            metadata=metadata or None,
        )
    except (ConsentRefused, InvalidPortraitRequest) as exc:
        fail(str(exc))
    except Interrupted as stopped:
        err.print(
            f"interrupted: {stopped.done} done, {stopped.left} left; "
            "run the same command to resume",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json(report, rt)
    else:
        from darkroom.cli.catalogue import print_catalogue  # it reads this module's Report

        print_table(report, rt.catalog)
        print_catalogue(report, rt)
    raise typer.Exit(1 if report.failed else 0)
