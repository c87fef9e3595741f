"""The download bar of `darkroom models pull`: bytes, speed and time left, on stderr so that
`--json` output stays clean."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from darkroom.cli.output import err
from darkroom.providers import downloads


class DownloadBar(downloads.Progress):
    def __init__(self, enabled: bool = True) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not (enabled and err.is_terminal),  # no bar in logs or pipes
        )
        self.task: TaskID | None = None

    def __enter__(self) -> DownloadBar:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def start(self, name: str, total: int | None, done: int) -> None:
        self.task = self.bar.add_task(name, total=total, completed=done)

    def advance(self, amount: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, amount)

    def finish(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[self.task]
            self.bar.update(self.task, total=task.completed)
            self.task = None
