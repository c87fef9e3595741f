"""Webhook deliveries in one process, on a real database and real local receivers: issue #13
items 12-15 and the webhook parts of issue #14 items 6-7."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from darkroom.adapters.local.egress import EgressPolicy
from darkroom.adapters.local.webhook_dispatch import Bounds, Dispatcher
from darkroom.adapters.local.webhooks import SIGNATURE_HEADER, Webhooks, verify
from darkroom.domain.events import Event, make_event
from darkroom.domain.recipe import RetryPolicy
from darkroom.engine.event_types import EVENT_TYPES, known_event_types
from darkroom.settings import Settings
from darkroom.steps import BUILTIN
from darkroom.wiring import Runtime, build
from tests import images
from tests.conftest import drain
from tests.receiver import Receiver

BOTH_BACKENDS = True
LOOPBACK = EgressPolicy.of(["127.0.0.1/32"], allow_http=True)
QUICK_RETRIES = RetryPolicy(max_attempts=100, backoff_seconds=0.02, backoff_max_seconds=0.05)


@pytest.fixture
def hooks(runtime: Runtime) -> Webhooks:
    runtime.webhooks.egress = LOOPBACK  # the test receivers live on loopback
    return runtime.webhooks


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver_in(made: list[Receiver], **options: float) -> Receiver:
    made.append(Receiver(**options))  # type: ignore[arg-type]
    return made[-1]


def event(owner: str, n: int, detail_type: str = "ImageProcessed") -> Event:
    return make_event(
        "engine", detail_type, {"image_id": f"img{n}", "owner": owner}, key=f"{owner}:{n}"
    )


def publish(runtime: Runtime, *events: Event) -> None:
    runtime.bus.publish(list(events))


def states(hooks: Webhooks, subscription_id: str) -> list[str]:
    return sorted(row["state"] for row in hooks.deliveries(1000, subscription_id))


def test_a_new_subscription_gets_the_very_next_event(
    runtime: Runtime, hooks: Webhooks, settings: Settings
) -> None:
    """Item 13: the API process subscribes, a worker publishes; the worker's next event reaches
    the subscription (a 1 s cache in the worker lost every event of that second)."""
    api = build(settings)
    try:
        publish(runtime, event("alice", 1))  # the worker reads (and once cached) alice's
        first = api.webhooks.subscribe("alice", "http://127.0.0.1:9/a", "s" * 20, [])
        publish(runtime, event("alice", 2))
        second = api.webhooks.subscribe(
            "alice", "http://127.0.0.1:9/b", "s" * 20, ["ImageProcessed"]
        )
        publish(runtime, event("alice", 3), event("bob", 4), event("alice", 5, "ImageDeleted"))
        assert len(hooks.deliveries(100, first.id)) == 3
        assert len(hooks.deliveries(100, second.id)) == 1
        assert api.webhooks.unsubscribe("alice", first.id)
        publish(runtime, event("alice", 6))
    finally:
        api.close()
    assert len(hooks.deliveries(100, first.id)) == 3  # nothing after its deletion
    assert len(hooks.deliveries(100, second.id)) == 2


def test_standard_webhooks_library_verifies_every_delivery(
    runtime: Runtime, hooks: Webhooks, receivers: list[Receiver]
) -> None:
    """Item 15: the `standardwebhooks` package verifies the webhook-* headers, for a whsec_
    secret and for any other secret (as its bytes); the darkroom signature is still there."""
    receiver = receiver_in(receivers, fail_first=1)
    hooks.policy = QUICK_RETRIES
    whsec = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    plain = "a-long-random-secret-of-ours"
    standard = hooks.subscribe("alice", receiver.url + "?s=1", whsec, [])
    other = hooks.subscribe("alice", receiver.url + "?s=2", plain, [])
    publish(runtime, event("alice", 1))
    deadline = time.monotonic() + 20
    while len(receiver.requests) < 3 and time.monotonic() < deadline:
        hooks.deliver_due()
        time.sleep(0.05)
    assert len(receiver.requests) == 3  # one 500, its retry, the other subscription's
    by_id: dict[str, list[str]] = {}
    for headers, body in receiver.requests:
        secret = (
            whsec
            if headers["webhook-id"] in {r["id"] for r in hooks.deliveries(10, standard.id)}
            else plain
        )
        verifier = Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode())
        payload = verifier.verify(body, headers)
        assert payload["detail-type"] == "ImageProcessed" and payload["detail"]["owner"] == "alice"
        assert verify(secret, body, headers[SIGNATURE_HEADER])
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body.replace(b"alice", b"mallory"), headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(base64.b64encode(b"another key of 32 bytes, exactly").decode()).verify(
                body, headers
            )
        by_id.setdefault(headers["webhook-id"], []).append(headers["webhook-timestamp"])
    assert sorted(len(v) for v in by_id.values()) == [1, 2]  # a retry keeps its webhook-id
    assert states(hooks, standard.id) == states(hooks, other.id) == ["delivered"]


def test_a_slow_receiver_does_not_stall_other_owners(
    runtime: Runtime, hooks: Webhooks, receivers: list[Receiver]
) -> None:
    """Item 12: alice's five hanging receivers hold at most `per_owner` senders; bob's
    delivery goes out at once (one after another it waited for all ten of hers: 10 s here)."""
    slow = receiver_in(receivers, delay=1.0)
    fast = receiver_in(receivers)
    for n in range(5):
        hooks.subscribe("alice", f"{slow.url}?s={n}", "s" * 20, [])
    hooks.subscribe("bob", fast.url, "s" * 20, [])
    publish(runtime, *[event("alice", n) for n in range(2)])
    dispatcher = Dispatcher(hooks, Bounds(senders=8, per_owner=3, per_subscription=2)).start()
    try:
        assert slow.wait_for(3, timeout=5)  # alice's receivers hold their senders
        started = time.monotonic()
        publish(runtime, event("bob", 100))
        assert fast.wait_for(1, timeout=5)
        bob_waited = fast.arrivals[0] - started
        assert slow.wait_for(6, timeout=30)  # and hers go on, three at a time
    finally:
        dispatcher.stop()
    assert bob_waited < 0.5, bob_waited
    assert slow.most_open == 3  # per_owner, never more
    assert len(fast.requests) == 1


def test_one_subscription_gets_at_most_its_bound_at_once(
    runtime: Runtime, hooks: Webhooks, receivers: list[Receiver]
) -> None:
    receiver = receiver_in(receivers, delay=0.5)
    hooks.subscribe("alice", receiver.url, "s" * 20, [])
    publish(runtime, *[event("alice", n) for n in range(6)])
    dispatcher = Dispatcher(hooks, Bounds(senders=8, per_owner=8, per_subscription=2)).start()
    try:
        assert receiver.wait_for(6, timeout=20)
    finally:
        dispatcher.stop()
    assert receiver.most_open == 2


def test_deleting_a_subscription_stops_its_deliveries(
    runtime: Runtime, hooks: Webhooks, receivers: list[Receiver]
) -> None:
    """Item 14: after the delete, at most the attempts already under way arrive (39 signed
    POSTs came after the 204 before)."""
    failing = receiver_in(receivers, fail_first=1_000_000)
    hooks.policy = QUICK_RETRIES
    subscription = hooks.subscribe("alice", failing.url, "s" * 20, [])
    publish(runtime, *[event("alice", n) for n in range(20)])
    bounds = Bounds(senders=8, per_owner=4, per_subscription=2)
    dispatcher = Dispatcher(hooks, bounds).start()
    try:
        assert failing.wait_for(10, timeout=20)
        assert hooks.unsubscribe("alice", subscription.id)
        at_delete = len(failing.requests)
        time.sleep(1.0)
        after = len(failing.requests)
    finally:
        dispatcher.stop()
    assert after - at_delete <= bounds.per_subscription, (at_delete, after)
    assert set(states(hooks, subscription.id)) == {"cancelled"}
    assert hooks.replay(subscription.id) == 0  # and nothing brings them back


def test_a_delivery_is_checked_again_when_it_is_sent(
    runtime: Runtime, hooks: Webhooks, receivers: list[Receiver]
) -> None:
    """Item 11: allowed when registered is not enough; the address is judged at every attempt
    (the allow-list changed, or DNS did), and a refusal is final, with its reason."""
    receiver = receiver_in(receivers)
    subscription = hooks.subscribe("alice", receiver.url, "s" * 20, [])
    publish(runtime, event("alice", 1))
    hooks.egress = EgressPolicy.of(allow_http=True)  # loopback no longer allowed
    assert hooks.deliver_due() == 1
    [delivery] = hooks.deliveries(10, subscription.id)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    assert "refused" in delivery["last_error"] and "loopback" in delivery["last_error"]
    assert receiver.requests == []


def test_replay_since_sends_every_delivery_or_only_the_failed(
    runtime: Runtime, hooks: Webhooks, receivers: list[Receiver]
) -> None:
    """Issue #14 item 7: replay means every delivery since the time; `failed_only` narrows."""
    receiver = receiver_in(receivers, fail_first=1)
    hooks.policy = RetryPolicy(max_attempts=1, backoff_seconds=0.01)
    subscription = hooks.subscribe("alice", receiver.url, "s" * 20, [])
    publish(runtime, event("alice", 1))
    hooks.deliver_due()
    started = time.time()
    publish(runtime, event("alice", 2), event("alice", 3))
    hooks.deliver_due()
    assert states(hooks, subscription.id) == ["delivered", "delivered", "failed"]
    assert hooks.replay(subscription.id, since=time.time() + 60) == 0
    assert hooks.replay(subscription.id, failed_only=True) == 1
    hooks.deliver_due()
    assert len(receiver.requests) == 4
    assert hooks.replay(subscription.id, failed_only=True) == 0
    assert hooks.replay(subscription.id, since=started) == 2  # delivered ones too
    hooks.deliver_due()
    assert len(receiver.requests) == 6
    assert hooks.replay(subscription.id) == 3
    assert states(hooks, subscription.id) == ["pending"] * 3


def test_image_processed_carries_the_class(
    runtime: Runtime, hooks: Webhooks, tmp_path: Path
) -> None:
    """Issue #14 item 6: ImageProcessed's detail has class, confidence and uncertain."""
    subscription = hooks.subscribe("alice", "http://127.0.0.1:9/x", "s" * 20, ["ImageProcessed"])
    for name, tint in [("red.jpg", (250, 10, 10)), ("green.jpg", (10, 250, 10))]:
        path = tmp_path / name
        path.write_bytes(images.jpeg_bytes(images.photo(200, 150, seed=3, tint=tint)))
        runtime.intake.accept_path(path, "alice", "colour-pets")
    drain(runtime)
    details = sorted(
        (row["payload"]["detail"] for row in hooks.deliveries(10, subscription.id)),
        key=lambda d: d["confidence"],
    )
    assert [(d["status"], d["class"], d["uncertain"]) for d in details] == [
        ("completed", "cat", True),
        ("completed", "cat", False),
    ]
    assert [d["confidence"] for d in details] == [65.0, 95.0]


def test_every_event_type_is_documented(runtime: Runtime) -> None:
    """Issue #14 item 6: each type a built-in step announces is in the catalogue, and each
    one of the catalogue in the README's table."""
    announced = {definition.event for definition in BUILTIN.values()}
    assert announced <= set(EVENT_TYPES)
    known = known_event_types(runtime.recipes.all())
    assert "ClassificationUncertain" in known and "ImageRejected" not in known
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("| event type |") :]
    for name in EVENT_TYPES:
        assert f"| `{name}` |" in table, name
    assert json.dumps(sorted(EVENT_TYPES))  # names only: plain strings
