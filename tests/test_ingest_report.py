"""What `darkroom ingest` says: the work of this run (not of an earlier one), and on Ctrl-C how
far it got and how to go on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from darkroom.settings import Settings
from darkroom.wiring import Runtime
from tests.test_cli import counts, darkroom, make_folder, wait_for


@pytest.mark.slow  # worker processes
def test_a_resumed_ingest_counts_what_it_processed(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    files = make_folder(folder, 6, size=(96, 72))
    # an earlier run finished two, and accepted two more before it was killed
    first = darkroom("ingest", str(files[0]), str(files[1]), "--recipe", "colour-pets", "-q")
    assert first.returncode == 0, first.stderr
    for path in files[2:4]:
        runtime.intake.accept_path(path, "default", "colour-pets")
    again = darkroom("ingest", str(folder), "--recipe", "colour-pets", "-q", "-c", "1")
    assert again.returncode == 0, again.stderr
    summary = " ".join(again.stdout.split())
    assert "6 files: 4 processed now, 2 already done by an earlier run" in summary, summary
    rate = re.search(r"\(([\d.]+) images/s\)", summary)
    assert rate is not None and float(rate.group(1)) > 0


@pytest.mark.slow
def test_ctrl_c_says_how_far_it_got_and_how_to_resume(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    files = make_folder(folder, 60, size=(1600, 1200))
    process = subprocess.Popen(
        [sys.executable, "-m", "darkroom.cli.main", "ingest", str(folder), "-c", "1", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group, as a terminal's Ctrl-C signals one
    )
    wait_for(lambda: counts(settings).get("completed", 0) >= 3)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    found = re.search(
        r"interrupted: (\d+) done, (\d+) left; run the same command to resume", stderr
    )
    assert found is not None, stderr
    done, left = int(found.group(1)), int(found.group(2))
    assert done + left == len(files) and 3 <= done < len(files)
    final = sum(n for status, n in counts(settings).items() if status != "queued")
    assert final >= done  # what it reported done is done (a worker may finish one more)
