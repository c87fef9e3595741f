"""Races and hostile requests on the upload routes, through a real server (issue #13 items 1-4,
8, 9, 19, 20). Each test reproduced its bug before the fix: two requests at once, then a look at
what was stored."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests import images
from tests.server import Server, colour_pets_server, wait_final

pytestmark = pytest.mark.slow  # real races over a real server, several trials each

TRIALS = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = colour_pets_server(
        tmp_path_factory.mktemp("races"),
        default_plan="unlimited",
        max_json_upload_bytes="200000",
    )
    srv.create_key("admin", "ops", admin=True)
    srv.create_key("alice", "alice")
    srv.start(workers=1)
    yield srv
    srv.stop()


def jpeg(seed: int) -> bytes:
    return images.jpeg_bytes(images.photo(160, 120, seed=seed), quality=80)


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released together; answers in the calls' order."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [answer for answer in answers if answer is not None]


def presign(client: httpx.Client, size: int) -> dict[str, str]:
    answer = client.post(
        "/upload/presign",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": size},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def put(url: str, data: bytes) -> Callable[[], httpx.Response]:
    return lambda: httpx.put(url, content=data, headers={"Content-Type": "image/jpeg"}, timeout=30)


def test_two_puts_to_one_presigned_url_store_the_accepted_ones_bytes(server: Server) -> None:
    alice = server.client("alice")
    for trial in range(TRIALS):
        first, second = jpeg(100 + trial), jpeg(200 + trial)
        grant = presign(alice, max(len(first), len(second)))
        answers = at_once(put(grant["url"], first), put(grant["url"], second))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [202, 403], [a.text for a in answers]
        accepted = first if answers[0].status_code == 202 else second
        stored = alice.get(f"/images/{grant['image_id']}/original")
        assert stored.content == accepted
        record = wait_final(alice, grant["image_id"])
        assert record["sha256"] == hashlib.sha256(accepted).hexdigest()


def test_a_presigned_url_is_used_forever_even_after_its_image_is_deleted(server: Server) -> None:
    alice = server.client("alice")
    data = jpeg(7)
    grant = presign(alice, len(data))
    assert put(grant["url"], data)().status_code == 202
    wait_final(alice, grant["image_id"])
    assert alice.delete(f"/images/{grant['image_id']}").status_code == 204
    again = put(grant["url"], data)()
    assert again.status_code == 403
    assert "already been used" in again.json()["detail"]
    assert alice.get(f"/images/{grant['image_id']}").status_code == 404


def test_a_failed_put_gives_the_url_back(server: Server) -> None:
    alice = server.client("alice")
    data = jpeg(8)
    grant = presign(alice, len(data))
    too_big = put(grant["url"], data + b"\0" * 10)()
    assert too_big.status_code == 413
    assert put(grant["url"], data)().status_code == 202


def test_revoking_a_key_revokes_the_urls_it_issued(server: Server) -> None:
    key = json.loads(server.cli("keys", "create", "--owner", "erin", "--json").stdout)
    erin = server.client(key["key"])
    data = jpeg(9)
    grant = presign(erin, len(data))
    server.cli("keys", "revoke", key["id"])
    refused = put(grant["url"], data)()
    assert refused.status_code == 403
    assert "revoked" in refused.json()["detail"]


def test_the_host_header_cannot_choose_where_presigned_links_point(server: Server) -> None:
    alice = server.client("alice")
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 100}
    evil = alice.post("/upload/presign", json=body, headers={"Host": "evil.example"})
    assert evil.status_code == 400
    assert "DARKROOM_PUBLIC_URL" in evil.json()["detail"]
    assert presign(alice, 100)["url"].startswith(server.url)


def test_one_idempotency_key_sent_twice_at_once_is_one_image(server: Server) -> None:
    alice = server.client("alice")
    for trial in range(TRIALS):
        first, second = jpeg(300 + trial), jpeg(400 + trial)
        key = {"Idempotency-Key": f"race-{trial}"}

        def send(data: bytes, key: dict[str, str] = key) -> Callable[[], httpx.Response]:
            return lambda: alice.post(
                "/upload", files={"file": ("a.jpg", data, "image/jpeg")}, headers=key
            )

        answers = at_once(send(first), send(second))
        assert all(answer.status_code in (202, 409) for answer in answers), [
            (a.status_code, a.text) for a in answers
        ]
        ids = {answer.json()["image_id"] for answer in answers if answer.status_code == 202}
        assert len(ids) == 1
        (image_id,) = ids
        stored = alice.get(f"/images/{image_id}/original").content
        assert stored in (first, second)
        record = wait_final(alice, image_id)
        assert record["sha256"] == hashlib.sha256(stored).hexdigest()
        # Afterwards the key answers the first's upload, whatever bytes come with it.
        later = send(jpeg(999))()
        assert later.status_code == 202 and later.json()["image_id"] == image_id


def test_deleting_an_image_never_loses_its_duplicates_bytes(server: Server) -> None:
    alice = server.client("alice")
    for trial in range(TRIALS):
        data = jpeg(500 + trial)
        a = alice.post("/upload", files={"file": ("a.jpg", data, "image/jpeg")}).json()
        wait_final(alice, a["image_id"])
        b = alice.post("/upload", files={"file": ("b.jpg", data, "image/jpeg")}).json()
        # Delete A while B runs (or just after): B was accepted on its own and must survive.
        assert alice.delete(f"/images/{a['image_id']}").status_code == 204
        record = wait_final(alice, b["image_id"])
        assert record["status"] in ("completed", "duplicate")
        assert alice.get(f"/images/{b['image_id']}/original").content == data


def test_deleting_the_first_promotes_its_duplicate(server: Server) -> None:
    alice = server.client("alice")
    data = jpeg(600)
    a = alice.post("/upload", files={"file": ("a.jpg", data, "image/jpeg")}).json()
    wait_final(alice, a["image_id"])
    b = alice.post("/upload", files={"file": ("b.jpg", data, "image/jpeg")}).json()
    assert wait_final(alice, b["image_id"])["status"] == "duplicate"
    assert alice.delete(f"/images/{a['image_id']}").status_code == 204
    promoted = wait_final(alice, b["image_id"])
    for _ in range(100):
        if promoted["status"] == "completed":
            break
        promoted = wait_final(alice, b["image_id"])
    assert promoted["status"] == "completed", promoted
    assert promoted["duplicate_of"] is None
    assert alice.get(f"/images/{b['image_id']}/thumbnail").status_code == 200


def test_json_uploads_are_capped_far_below_multipart(server: Server) -> None:
    alice = server.client("alice")
    big = base64.b64encode(b"\0" * 300_000).decode()
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "data": big}
    answer = alice.post("/upload", json=body)
    assert answer.status_code == 413
    assert "multipart" in answer.json()["detail"]
    small = {"filename": "a.jpg", "content_type": "image/jpeg"}
    small["data"] = base64.b64encode(jpeg(11)).decode()
    assert alice.post("/upload", json=small).status_code == 202


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "characters"),
        ('{"a":' * 3000 + "1" + "}" * 3000, "too deeply"),
        (json.dumps({f"k{i}": i for i in range(51)}), "at most 50"),
        (json.dumps({"nested": {"a": 1}}), "metadata"),
        ("[1, 2]", "JSON object"),
    ],
    ids=["100k-deep", "3k-deep", "51-keys", "nested", "array"],
)
def test_multipart_metadata_is_held_to_the_json_schema(
    server: Server, metadata: str, message: str
) -> None:
    alice = server.client("alice")
    answer = alice.post(
        "/upload",
        files={"file": ("a.jpg", jpeg(12), "image/jpeg")},
        data={"metadata": metadata},
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.text


def test_405_names_every_method_and_the_schema_names_the_choices(server: Server) -> None:
    # Why: schemathesis found `Allow` listing one method, and content types, recipe names and
    # the cursor format left out of the schema (issue #13 item 23).
    alice = server.client("alice")
    answer = alice.put("/images/abc")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "DELETE, GET"
    schema = alice.get("/openapi.json").json()
    body = schema["paths"]["/upload"]["post"]["requestBody"]["content"]["application/json"]
    upload = body["schema"]["properties"]
    assert "image/heic" in upload["content_type"]["enum"]
    assert upload["recipe"]["anyOf"][0]["pattern"]
    listing = next(
        p for p in schema["paths"]["/images"]["get"]["parameters"] if p["name"] == "cursor"
    )
    assert listing["schema"]["anyOf"][0]["pattern"] == "^[A-Za-z0-9_-]+$"
    assert "507" in schema["paths"]["/upload"]["post"]["responses"]
