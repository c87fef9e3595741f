"""Webhooks through a real `darkroom serve`: refusals at registration (issue #13 item 11, issue
#14 item 6), and delivery, signatures, replay and deletion (issue #13 items 14-15, #14 item 7).

The operator allows one address, 127.0.0.2 (loopback on Linux, where the test receiver
listens): every other internal address, 127.0.0.1 included, stays refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from darkroom.adapters.local.webhooks import SIGNATURE_HEADER, verify
from tests import images
from tests.receiver import Receiver
from tests.server import Server, colour_pets_server, loopback_webhooks, wait_final


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = colour_pets_server(
        tmp_path_factory.mktemp("allowing"), **loopback_webhooks('["127.0.0.2/32"]')
    )
    server.create_key("alice", "alice")
    server.start(workers=1)
    yield server
    server.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://0.0.0.0/x",
        "https://127.1/x",
        "https://2130706433/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/x",
        "https://192.168.1.20/x",
        "https://[fd00::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://metadata.google.internal/computeMetadata/v1/",
        "ftp://93.184.216.34/x",
    ],
)
def test_internal_targets_are_refused_at_registration(allowing: Server, url: str) -> None:
    with allowing.client("alice") as alice:
        answer = alice.post("/webhooks", json={"url": url, "secret": "k" * 20})
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "url"] and error["msg"]
        assert url not in [hook["url"] for hook in alice.get("/webhooks").json()]


def test_a_public_https_target_is_accepted_and_gets_a_standard_secret(allowing: Server) -> None:
    with allowing.client("alice") as alice:
        made = alice.post("/webhooks", json={"url": "https://93.184.216.34/hook"})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        assert secret.startswith("whsec_") and Webhook(secret)  # the library takes it
        own = alice.post("/webhooks", json={"url": "https://93.184.216.34/h", "secret": "k" * 20})
        assert own.status_code == 201 and own.json()["secret"] is None  # never echoed
        assert all("secret" not in hook for hook in alice.get("/webhooks").json())
        for hook in (made.json()["id"], own.json()["id"]):
            assert alice.delete(f"/webhooks/{hook}").status_code == 204
        bad = alice.post("/webhooks", json={"url": "https://93.184.216.34/h", "secret": "whsec_!!"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "secret"]


def test_unknown_event_types_are_refused_with_the_known_ones(allowing: Server) -> None:
    with allowing.client("alice") as alice:
        answer = alice.post(
            "/webhooks",
            json={
                "url": "https://93.184.216.34/h",
                "detail_types": ["ImageRejected", "ImageFailed"],
            },
        )
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "detail_types"]
        assert error["msg"].startswith("unknown event types: ImageRejected; known: ")
        for name in ["ImageFailed", "ImageProcessed", "ClassificationUncertain", "ImageDeleted"]:
            assert name in error["msg"]
        schema = alice.get("/openapi.json").json()
        assert "422" in schema["paths"]["/webhooks"]["post"]["responses"]


def wait(receiver: Receiver, count: int, timeout: float = 30) -> None:
    assert receiver.wait_for(count, timeout), (count, len(receiver.requests))


@pytest.mark.slow
def test_deliveries_are_signed_for_the_standard_library_replayed_and_stopped(
    allowing: Server,
) -> None:
    receiver = Receiver(host="127.0.0.2")
    try:
        with allowing.client("alice") as alice:
            made = alice.post(
                "/webhooks", json={"url": receiver.url, "detail_types": ["ImageProcessed"]}
            )
            assert made.status_code == 201, made.text
            hook, secret = made.json()["id"], made.json()["secret"]
            data = images.jpeg_bytes(images.photo(200, 150, seed=9, tint=(250, 10, 10)))
            image_id = alice.post("/upload", files={"file": ("c.jpg", data, "image/jpeg")}).json()[
                "image_id"
            ]
            wait_final(alice, image_id)
            wait(receiver, 1)
            headers, body = receiver.requests[0]
            envelope = Webhook(secret).verify(body, headers)
            assert verify(secret, body, headers[SIGNATURE_HEADER])
            assert envelope["detail-type"] == "ImageProcessed"
            detail = envelope["detail"]
            assert (detail["image_id"], detail["status"], detail["class"]) == (
                image_id,
                "completed",
                "cat",
            )
            assert detail["confidence"] == 95.0 and detail["uncertain"] is False

            before = time.time()
            replayed = alice.post(f"/webhooks/{hook}/replay")  # every one, delivered or not
            assert replayed.status_code == 202 and replayed.json() == {"replayed": 1}
            wait(receiver, 2)
            assert receiver.requests[1][0]["webhook-id"] == headers["webhook-id"]
            assert alice.post(
                f"/webhooks/{hook}/replay", params={"failed_only": "true"}
            ).json() == {"replayed": 0}
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before + 60))
            assert alice.post(f"/webhooks/{hook}/replay", params={"since": since}).json() == {
                "replayed": 0
            }
            # A bare number is not a time (a datetime parameter read 0.5 as 1970, #13.23).
            refused = alice.post(f"/webhooks/{hook}/replay", params={"since": "0.5"})
            assert refused.status_code == 422

            assert alice.delete(f"/webhooks/{hook}").status_code == 204
            other = images.jpeg_bytes(images.photo(200, 150, seed=10, tint=(10, 10, 250)))
            second = alice.post("/upload", files={"file": ("d.jpg", other, "image/jpeg")})
            wait_final(alice, second.json()["image_id"])
            time.sleep(1.5)  # a worker's dispatcher looks every 0.2 s
            assert len(receiver.requests) == 2
            assert json.loads(receiver.requests[-1][1])["detail"]["image_id"] == image_id
    finally:
        receiver.close()


@pytest.mark.slow
def test_one_owners_hanging_receivers_do_not_delay_another_owner(allowing: Server) -> None:
    """Issue #13 item 12 as it was measured: five hooks of one owner that sleep 12 s (past the
    10 s timeout) delayed another owner's delivery from 0.8 s to 97 s."""
    hanging, prompt = Receiver(delay=12.0, host="127.0.0.2"), Receiver(host="127.0.0.2")
    allowing.create_key("carol", "carol")
    allowing.create_key("dave", "dave")
    try:
        with allowing.client("carol") as carol, allowing.client("dave") as dave:
            hooks = [
                carol.post("/webhooks", json={"url": f"{hanging.url}?n={n}"}).json()["id"]
                for n in range(5)
            ]
            data = images.jpeg_bytes(images.photo(200, 150, seed=20, tint=(250, 10, 10)))
            carol.post("/upload", files={"file": ("c.jpg", data, "image/jpeg")})
            assert hanging.wait_for(4, timeout=60)  # carol's receivers hold their senders
            made = dave.post(
                "/webhooks", json={"url": prompt.url, "detail_types": ["ImageProcessed"]}
            )
            assert made.status_code == 201
            other = images.jpeg_bytes(images.photo(200, 150, seed=21, tint=(10, 10, 250)))
            image_id = dave.post("/upload", files={"file": ("d.jpg", other, "image/jpeg")}).json()[
                "image_id"
            ]
            wait_final(dave, image_id)
            finished = time.monotonic()
            assert prompt.wait_for(1, timeout=30)
            waited = prompt.arrivals[0] - finished
            for hook in hooks:
                carol.delete(f"/webhooks/{hook}")
        print(f"another owner's delivery {waited:.2f} s after its image finished")
        assert waited < 3.0, waited
        assert hanging.most_open <= 4  # DARKROOM_WEBHOOK_PER_OWNER
    finally:
        hanging.close()
        prompt.close()
