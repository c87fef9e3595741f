"""`darkroom webhooks`: list, deliveries, replay (every one since a time, or the failed ones:
issue #14 item 7) and the event types, run as a user runs it, on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from darkroom.adapters.local.egress import EgressPolicy
from darkroom.domain.events import make_event
from darkroom.domain.recipe import RetryPolicy
from darkroom.wiring import Runtime
from tests.receiver import Receiver


def darkroom(*args: str, owner: str = "alice") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darkroom.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DARKROOM_OWNER": owner, "COLUMNS": "200"},
    )


@pytest.mark.slow  # seven CLI processes
def test_webhooks_commands(runtime: Runtime) -> None:
    receiver = Receiver(fail_first=1)
    hooks = runtime.webhooks
    hooks.egress = EgressPolicy.of(["127.0.0.1/32"], allow_http=True)
    hooks.policy = RetryPolicy(max_attempts=1, backoff_seconds=0.01)
    try:
        hook = hooks.subscribe("alice", receiver.url, "s" * 20, ["ImageProcessed"])
        events = [
            make_event(
                "engine", "ImageProcessed", {"image_id": f"i{n}", "owner": "alice"}, key=str(n)
            )
            for n in range(3)
        ]
        runtime.bus.publish(events)
        hooks.deliver_due()  # the first fails (500, one attempt allowed), two are delivered
    finally:
        receiver.close()

    listed = darkroom("webhooks", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [hook.id]
    shown = darkroom("webhooks", "deliveries", hook.id, "--json")
    assert sorted(json.loads(line)["state"] for line in shown.stdout.splitlines()) == [
        "delivered",
        "delivered",
        "failed",
    ]
    assert darkroom("webhooks", "replay", hook.id, "--failed-only").stdout.strip() == (
        "replayed 1 deliveries"
    )
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert "replayed 0" in darkroom("webhooks", "replay", hook.id, "--since", future).stdout
    assert "replayed 3" in darkroom("webhooks", "replay", hook.id).stdout  # every one
    assert {row["state"] for row in hooks.deliveries(10, hook.id)} == {"pending"}

    bad_time = darkroom("webhooks", "replay", hook.id, "--since", "yesterday")
    assert bad_time.returncode == 2 and "ISO 8601" in bad_time.stderr
    other_owner = darkroom("webhooks", "replay", hook.id, owner="bob")
    assert other_owner.returncode == 1 and "no webhook" in other_owner.stderr
    types = [
        json.loads(line) for line in darkroom("webhooks", "events", "--json").stdout.splitlines()
    ]
    by_type = {row["type"]: row["detail"] for row in types}
    assert "class" in by_type["ImageProcessed"] and "ImageRejected" not in by_type
