"""The HTTP service through a real server (uvicorn on a loopback port), with httpx."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from darkroom.adapters.local.webhooks import SIGNATURE_HEADER, verify
from darkroom.api.presign import Grant, Signer
from tests import images
from tests.receiver import Receiver
from tests.server import (
    Server,
    colour_pets_server,
    free_port,
    loopback_webhooks,
    make_server,
    wait_final,
)

RED, BLUE = (250, 10, 10), (10, 10, 250)
PLANS = {
    "unlimited": {"rate": 1000000, "burst": 1000000},
    "tiny": {"rate": 0.5, "burst": 2},
    "quota": {"rate": 1000, "burst": 1000, "quota": 3, "period": "day"},
}
MAX_BYTES = 600_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = colour_pets_server(
        tmp_path_factory.mktemp("api"),
        plans=json.dumps(PLANS),
        default_plan="unlimited",
        max_bytes=str(MAX_BYTES),
        cors_origins='["https://app.example"]',
        **loopback_webhooks(),  # the test receivers
    )
    srv.create_key("admin", "ops", admin=True)
    srv.create_key("alice", "alice")
    srv.create_key("bob", "bob")
    srv.create_key("tiny", "carol", plan="tiny")
    srv.create_key("quota", "dave", plan="quota")
    srv.start(workers=1)
    yield srv
    srv.stop()


def jpeg(
    tint: tuple[int, int, int] = RED, seed: int = 0, size: tuple[int, int] = (400, 300)
) -> bytes:
    return images.jpeg_bytes(images.photo(*size, seed=seed, tint=tint), quality=85)


def upload(
    client: httpx.Client, data: bytes, name: str = "cat.jpg", **extra: str
) -> httpx.Response:
    return client.post("/upload", files={"file": (name, data, "image/jpeg")}, data=extra)


def test_multipart_upload_is_processed(server: Server) -> None:
    with server.client("alice") as alice:
        answer = upload(alice, jpeg(RED, 1), metadata='{"sku": "A1"}')
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert set(body) == {"image_id", "status", "links"} and body["status"] == "queued"
        record = wait_final(alice, body["image_id"])
    assert (
        record["status"] == "completed"
        and record["class"] == "cat"
        and record["confidence"] == 95.0
    )
    assert record["width"] == 400 and record["metadata"] == {"sku": "A1"}
    assert record["steps"]["classify"]["status"] == "done"  # type: ignore[index]
    assert record["detections"][0]["DetectedAnimal"] == "cat"  # type: ignore[index]


def test_json_upload_with_base64(server: Server) -> None:
    payload = {
        "filename": "dog.jpg",
        "content_type": "image/jpeg",
        "data": base64.b64encode(jpeg(BLUE, 2)).decode(),
    }
    with server.client("alice") as alice:
        answer = alice.post("/upload", json=payload)
        assert answer.status_code == 202, answer.text
        assert wait_final(alice, answer.json()["image_id"])["class"] == "dog"
        assert alice.post("/upload", json={**payload, "data": "***"}).status_code == 422
        missing = alice.post("/upload", json={"filename": "x.jpg", "data": "AAAA"})
        assert missing.status_code == 422 and "content_type" in missing.text
        assert alice.post("/upload", json={**payload, "extra": 1}).status_code == 422
        assert (
            alice.post("/upload", json={**payload, "content_type": "text/plain"}).status_code == 415
        )
        assert (
            alice.post(
                "/upload", content=b"hello", headers={"Content-Type": "text/plain"}
            ).status_code
            == 415
        )
        bad = alice.post("/upload", files={"file": ("a.txt", b"hi", "text/plain")})
        assert bad.status_code == 415
        assert (
            alice.post("/upload", files={"other": ("a.jpg", b"x", "image/jpeg")}).status_code == 422
        )
        assert alice.post("/upload", json={**payload, "recipe": "nope"}).status_code == 422
        # the JSON schema of the upload body is published
        spec = alice.get("/openapi.json").json()
        body = spec["paths"]["/upload"]["post"]["requestBody"]["content"]
        assert set(body) == {"multipart/form-data", "application/json"}
        assert set(body["application/json"]["schema"]["required"]) == {
            "filename",
            "content_type",
            "data",
        }


def test_bad_images_are_rejected_with_a_reason(server: Server) -> None:
    with server.client("alice") as alice:
        answer = upload(alice, b"not an image at all", "photo.jpg")
        assert answer.status_code == 202
        record = wait_final(alice, answer.json()["image_id"])
        assert record["status"] == "rejected" and "not an image" in str(record["error"])
        bomb = upload(alice, images.png_declaring(30000, 30000), "bomb.png")
        assert "too many pixels" in str(wait_final(alice, bomb.json()["image_id"])["error"])


def test_body_limits_are_enforced_before_reading_it_all(server: Server) -> None:
    big = b"\xff" * (MAX_BYTES * 2)
    with server.client("alice") as alice:
        assert upload(alice, big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(40):
                yield b"x" * 65536

        streamed = alice.post(
            "/upload", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert (
            alice.post(
                "/webhooks",
                content=b"{" + b" " * 2_000_000 + b"}",
                headers={"Content-Type": "application/json"},
            ).status_code
            == 413
        )


def test_presigned_upload_happy_path(server: Server) -> None:
    data = jpeg(RED, 3)
    with server.client("alice") as alice:
        grant = alice.post(
            "/upload/presign",
            json={
                "filename": "p.jpg",
                "content_type": "image/jpeg",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
        assert grant.status_code == 200, grant.text
        body = grant.json()
        assert body["method"] == "PUT" and body["headers"] == {"Content-Type": "image/jpeg"}
        assert body["url"].startswith(server.url + "/upload/presigned/")
        put = httpx.request(
            body["method"], body["url"], content=data, headers=body["headers"]
        )  # no API key
        assert put.status_code == 202, put.text
        assert put.json()["image_id"] == body["image_id"]
        assert wait_final(alice, body["image_id"])["status"] == "completed"
        again = httpx.put(body["url"], content=data, headers=body["headers"])
        assert again.status_code == 403 and "already been used" in again.text
    with server.client("bob") as bob:
        assert bob.get(f"/images/{body['image_id']}").status_code == 404


def test_presigned_refusals_store_nothing(server: Server) -> None:
    data = jpeg(RED, 4)
    with server.client("alice") as alice:

        def presign(**extra: object) -> dict[str, str]:
            answer = alice.post(
                "/upload/presign",
                json={
                    "filename": "p.jpg",
                    "content_type": "image/jpeg",
                    "size": len(data),
                    **extra,
                },
            )
            assert answer.status_code == 200, answer.text
            return answer.json()  # type: ignore[no-any-return]

        def nothing_stored(image_id: str) -> None:
            assert alice.get(f"/images/{image_id}").status_code == 404

        # oversized: more bytes than signed
        grant = presign()
        over = httpx.put(grant["url"], content=data + b"\0" * 10, headers=grant["headers"])
        assert over.status_code == 413
        nothing_stored(grant["image_id"])
        # checksum mismatch
        grant = presign(sha256="0" * 64)
        mismatch = httpx.put(grant["url"], content=data, headers=grant["headers"])
        assert mismatch.status_code == 403 and "SHA-256" in mismatch.text
        nothing_stored(grant["image_id"])
        # content type other than the signed one
        grant = presign()
        wrong_type = httpx.put(grant["url"], content=data, headers={"Content-Type": "image/png"})
        assert wrong_type.status_code == 403
        nothing_stored(grant["image_id"])
        # tampered: a changed payload breaks the signature
        grant = presign()
        payload, signature = grant["url"].rsplit("/", 1)[1].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["max_size"] = 10**9
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        tampered = httpx.put(
            f"{server.url}/upload/presigned/{forged}.{signature}",
            content=data,
            headers=grant["headers"],
        )
        assert tampered.status_code == 403 and "signature" in tampered.text
        nothing_stored(grant["image_id"])
        assert httpx.put(f"{server.url}/upload/presigned/garbage", content=data).status_code == 403
        # expired: signed with the server's own key, an hour ago
        signer = Signer((server.home / "secret.key").read_text().strip().encode())
        old = Grant(
            "f" * 32,
            "alice",
            "p.jpg",
            "image/jpeg",
            len(data),
            None,
            "colour-pets",
            time.time() - 3600,
        )
        expired = httpx.put(
            f"{server.url}/upload/presigned/{signer.sign(old)}",
            content=data,
            headers={"Content-Type": "image/jpeg"},
        )
        assert expired.status_code == 403 and "expired" in expired.text
        nothing_stored("f" * 32)
        # refusals at presign time
        too_big = alice.post(
            "/upload/presign",
            json={"filename": "p.jpg", "content_type": "image/jpeg", "size": MAX_BYTES + 1},
        )
        assert too_big.status_code == 413
        assert (
            alice.post(
                "/upload/presign",
                json={"filename": "p.txt", "content_type": "text/plain", "size": 10},
            ).status_code
            == 415
        )
        assert (
            alice.post(
                "/upload/presign",
                json={"filename": "p.jpg", "content_type": "image/jpeg", "size": 0},
            ).status_code
            == 422
        )


def test_list_get_files_delete_and_reprocess(server: Server) -> None:
    with server.client("alice") as alice:
        ids = [
            upload(alice, jpeg(tint, 10 + n), f"img{n}.jpg").json()["image_id"]
            for n, tint in enumerate([RED, BLUE, RED])
        ]
        for image_id in ids:
            wait_final(alice, image_id)
        dogs = alice.get("/images", params={"class": "dog", "limit": 100}).json()
        assert ids[1] in [item["image_id"] for item in dogs["items"]]
        assert all(item["class"] == "dog" for item in dogs["items"])
        seen: list[str] = []
        cursor = None
        while True:
            page = alice.get(
                "/images", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
            ).json()
            seen += [item["image_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
        assert alice.get("/images", params={"cursor": "!!!"}).status_code == 422
        assert alice.get("/images", params={"status": "bogus"}).status_code == 422
        thumb = alice.get(f"/images/{ids[0]}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert "max-age" in thumb.headers["cache-control"] and thumb.headers["etag"]
        assert Image.open(io.BytesIO(thumb.content)).size == (400, 300)
        assert (
            alice.get(
                f"/images/{ids[0]}/thumbnail", headers={"If-None-Match": thumb.headers["etag"]}
            ).status_code
            == 304
        )
        original = alice.get(f"/images/{ids[0]}/original")
        assert original.status_code == 200 and original.content == jpeg(RED, 10)
        # reprocess under another recipe
        again = alice.post(f"/images/{ids[0]}/reprocess", json={"recipe": "colour-pets"})
        assert again.status_code == 202
        assert wait_final(alice, ids[0])["status"] == "completed"
        assert alice.post(f"/images/{ids[0]}/reprocess", json={"recipe": "nope"}).status_code == 422
        # delete: every variant and record
        location = Path(
            str(alice.get(f"/images/{ids[2]}").json()["location"]).removeprefix("file://")
        )
        assert location.is_file()
        assert alice.delete(f"/images/{ids[2]}").status_code == 204
        assert (
            not location.exists() and not (server.home / "thumbnails" / "alice" / ids[2]).exists()
        )
        for path in (
            f"/images/{ids[2]}",
            f"/images/{ids[2]}/thumbnail",
            f"/images/{ids[2]}/original",
        ):
            assert alice.get(path).status_code == 404
        assert alice.delete(f"/images/{ids[2]}").status_code == 404


def test_owners_are_kept_apart(server: Server) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        image_id = upload(alice, jpeg(RED, 20)).json()["image_id"]
        wait_final(alice, image_id)
        for method, path in [
            ("GET", f"/images/{image_id}"),
            ("GET", f"/images/{image_id}/thumbnail"),
            ("GET", f"/images/{image_id}/original"),
            ("DELETE", f"/images/{image_id}"),
            ("POST", f"/images/{image_id}/reprocess"),
        ]:
            answer = bob.request(method, path)
            assert answer.status_code == 404, (method, path)  # never 403: ids cannot be probed
        assert image_id not in [
            i["image_id"] for i in bob.get("/images", params={"limit": 1000}).json()["items"]
        ]
        hook = alice.post(
            "/webhooks", json={"url": "http://127.0.0.1:9/x", "secret": "s" * 16}
        ).json()
        assert bob.delete(f"/webhooks/{hook['id']}").status_code == 404
        assert bob.get(f"/webhooks/{hook['id']}/deliveries").status_code == 404
        assert hook["id"] not in [h["id"] for h in bob.get("/webhooks").json()]
        assert alice.get(f"/images/{image_id}").status_code == 200


def test_keys_are_required_and_admin_routes_need_admin(server: Server) -> None:
    with server.client(None) as anonymous:
        missing = anonymous.get("/images")
        assert missing.status_code == 401 and "X-API-Key" in missing.text
        assert anonymous.get("/images", headers={"X-API-Key": "dk_nope_nope"}).status_code == 401
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/docs").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200
    with server.client("alice") as alice:
        assert alice.get("/dlq").status_code == 403
        assert alice.get("/stats").status_code == 403
    with server.client("admin") as admin:
        assert admin.get("/dlq").status_code == 200
        stats = admin.get("/stats").json()
        assert stats["images_by_status"]["completed"] >= 1 and "ready" in stats["queue"]
        assert admin.post("/dlq/nope/replay").status_code == 404
    revoked_key = server.create_key("temp", "eve")
    key_id = revoked_key.split("_")[1]
    server.cli("keys", "revoke", key_id)
    with server.client("temp") as revoked:
        assert revoked.get("/images").status_code == 401


def test_rate_limit_and_quota_answer_429_with_retry_after(server: Server) -> None:
    with server.client("tiny") as tiny:
        answers = [tiny.get("/images").status_code for _ in range(4)]
        assert answers[:2] == [200, 200] and 429 in answers[2:]
        limited = tiny.get("/images")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    with server.client("quota") as quota:
        assert [quota.get("/webhooks").status_code for _ in range(3)] == [200, 200, 200]
        over = quota.get("/webhooks")
        assert over.status_code == 429 and "quota" in over.text
        assert 1 <= int(over.headers["retry-after"]) <= 86400


def test_webhooks_deliver_signed_events_and_retry(server: Server) -> None:
    receiver = Receiver(fail_first=1)
    try:
        with server.client("alice") as alice:
            hook = alice.post(
                "/webhooks",
                json={"url": receiver.url, "secret": "k" * 20, "detail_types": ["ImageProcessed"]},
            )
            assert hook.status_code == 201
            hook_id = hook.json()["id"]
            assert hook_id in [h["id"] for h in alice.get("/webhooks").json()]
            image_id = upload(alice, jpeg(RED, 30)).json()["image_id"]
            wait_final(alice, image_id)
            deadline = time.monotonic() + 30
            while len(receiver.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(receiver.requests) == 2  # a 500 first, then the retry
            headers, body = receiver.requests[-1]
            assert verify("k" * 20, body, headers[SIGNATURE_HEADER])
            envelope = json.loads(body)
            assert (
                envelope["detail-type"] == "ImageProcessed"
                and envelope["detail"]["image_id"] == image_id
            )
            assert envelope["source"] == "darkroom.engine" and set(envelope) == {
                "id",
                "source",
                "detail-type",
                "time",
                "detail",
            }
            [delivery] = alice.get(f"/webhooks/{hook_id}/deliveries").json()
            assert (
                delivery["state"] == "delivered"
                and delivery["attempts"] == 2
                and delivery["last_status"] == 204
            )
            replay = alice.post(f"/webhooks/{hook_id}/deliveries/{delivery['id']}/replay")
            assert replay.status_code == 202 and replay.json() == {"replayed": 1}
            deadline = time.monotonic() + 30
            while len(receiver.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(receiver.requests) == 3
            assert alice.post(
                f"/webhooks/{hook_id}/replay", params={"failed_only": "true"}
            ).json() == {"replayed": 0}  # none failed
            assert (
                alice.post("/webhooks", json={"url": "not a url", "secret": "k" * 20}).status_code
                == 422
            )
            assert alice.delete(f"/webhooks/{hook_id}").status_code == 204
    finally:
        receiver.close()


def test_health_metrics_and_cors(server: Server) -> None:
    with server.client("alice") as alice:  # this test's own traffic, whatever ran before it
        wait_final(alice, upload(alice, jpeg(RED, 40)).json()["image_id"])
    with server.client(None) as anonymous:
        health = anonymous.get("/health").json()
        assert health["providers"]["opencv"] == "ready" and "descriptor" in health["providers"]
        assert health["status"] == "ok" and health["checks"] == {
            "database": "ok",
            "queue": "ok",
            "storage": "ok",
        }
        page = anonymous.get("/metrics").text
        assert 'darkroom_http_requests_total{method="POST",route="/upload",status="202"}' in page
        assert "darkroom_http_request_seconds_bucket" in page
        assert 'darkroom_images{status="completed"}' in page
        assert 'darkroom_queue_jobs{state="ready"}' in page
        assert (
            'darkroom_step_seconds_count{recipe="colour-pets",step="detect"}' in page
        )  # from the worker
        preflight = anonymous.options(
            "/images",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.headers.get("access-control-allow-origin") == "https://app.example"
        other = anonymous.options(
            "/images",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.slow  # a second server
def test_first_start_prints_an_admin_key_once(tmp_path: Path) -> None:
    first = make_server(tmp_path / "fresh")
    first.start(workers=0)
    try:
        log = (first.home / "server.log").read_text()
        [secret] = re.findall(r"dk_[0-9a-f]+_[A-Za-z0-9_-]+", log)
        with first.client(secret) as admin:
            assert admin.get("/stats").status_code == 200  # an admin key
    finally:
        first.stop()
    first.port = free_port()
    first.start(workers=0)  # second start: a key exists, none is printed
    try:
        assert len(re.findall(r"dk_[0-9a-f]+_", (first.home / "server.log").read_text())) == 1
    finally:
        first.stop()


def test_search_by_words_by_id_and_by_picture(server: Server) -> None:
    from skimage import data as samples

    cat_jpeg = images.jpeg_bytes(Image.fromarray(samples.chelsea()), quality=90)
    with server.client("alice") as alice, server.client("bob") as bob:
        cat = upload(alice, cat_jpeg, "chelsea-sofa.jpg").json()["image_id"]
        cup = upload(
            alice, images.jpeg_bytes(Image.fromarray(samples.coffee())), "coffee.jpg"
        ).json()["image_id"]
        wait_final(alice, cat)
        wait_final(alice, cup)
        found = alice.get("/search", params={"q": "sofa"}).json()["items"]
        assert [item["image_id"] for item in found] == [cat] and found[0]["score"] > 0
        nothing = {"items": [], "facets": {}}  # facets: counts per family (none here)
        assert alice.get("/search", params={"q": "zeppelin"}).json() == nothing
        assert bob.get("/search", params={"q": "sofa"}).json() == nothing
        small = images.jpeg_bytes(Image.fromarray(samples.chelsea()).resize((150, 100)))
        by_file = alice.post("/search/similar", files={"file": ("q.jpg", small, "image/jpeg")})
        assert by_file.status_code == 200, by_file.text
        assert by_file.json()["items"][0]["image_id"] == cat
        assert by_file.json()["items"][0]["scores"]["vector"] > 0.95
        twin = upload(
            alice,
            images.jpeg_bytes(Image.fromarray(samples.chelsea()).resize((300, 200))),
            "twin.jpg",
        )
        wait_final(alice, twin.json()["image_id"])
        by_id = alice.post("/search/similar", json={"image_id": cat})
        assert [item["image_id"] for item in by_id.json()["items"]] == [twin.json()["image_id"]]
        assert bob.post("/search/similar", json={"image_id": cat}).status_code == 404
        assert (
            alice.post(
                "/search/similar", content=b"x", headers={"Content-Type": "text/plain"}
            ).status_code
            == 415
        )
        bad = alice.post(
            "/search/similar", files={"file": ("q.jpg", b"not a picture", "image/jpeg")}
        )
        assert bad.status_code == 422 and "not an image" in bad.text


def test_duplicates_route_reports_tiers_and_hides_other_owners(server: Server) -> None:
    from skimage import data as samples

    picture = Image.fromarray(samples.astronaut())
    with server.client("alice") as alice, server.client("bob") as bob:
        first = upload(alice, images.jpeg_bytes(picture), "astro.jpg").json()["image_id"]
        small = upload(
            alice, images.jpeg_bytes(picture.resize((256, 256))), "astro-small.jpg"
        ).json()["image_id"]
        for image_id in (first, small):
            wait_final(alice, image_id)
        tiers = alice.get(f"/images/{first}/duplicates").json()
        assert [near["image_id"] for near in tiers["near"]] == [small]
        assert tiers["exact"] == [] and small not in [s["image_id"] for s in tiers["semantic"]]
        assert bob.get(f"/images/{first}/duplicates").status_code == 404
