"""The UI's locks, through a real server with httpx: the session cookie, CSRF, the
Content-Security-Policy, admin pages; and the review loop's HTTP API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from tests import images
from tests.server import UNLIMITED, Server, colour_pets_server, wait_final
from tests.web.conftest import serving_the_cast

pytestmark = pytest.mark.slow  # a real server with a worker process
GREEN = (10, 250, 10)  # the colour detector's unsure cat


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = colour_pets_server(tmp_path_factory.mktemp("webhttp"), **UNLIMITED)
    yield from serving_the_cast(srv)


def signed_in(server: Server, key: str) -> tuple[httpx.Client, str]:
    """A client holding a session, and the CSRF token of its pages."""
    client = httpx.Client(base_url=server.url, timeout=30)
    answer = client.post("/ui/signin", data={"api_key": server.keys[key]})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200
    token = re.search(r'data-csrf="([^"]+)"', page.text)
    assert token
    return client, token.group(1)


def uncertain_image(server: Server, key: str, seed: int) -> str:
    data = images.jpeg_bytes(images.photo(320, 240, seed=seed, tint=GREEN), quality=88)
    with server.client(key) as client:
        answer = client.post("/upload", files={"file": (f"u{seed}.jpg", data, "image/jpeg")})
        image_id = str(answer.json()["image_id"])
        assert wait_final(client, image_id)["uncertain"] is True
    return image_id


def test_root_sends_a_browser_to_sign_in(server: Server) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=True) as client:
        page = client.get("/")
    assert page.status_code == 200 and str(page.url).endswith("/ui/signin")
    assert 'name="api_key"' in page.text


def test_the_session_cookie_is_httponly_strict_and_signed(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        answer = client.post("/ui/signin", data={"api_key": server.keys["alice"]})
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert client.get("/ui/").status_code == 200
        value = client.cookies["darkroom_session"]
        client.cookies.clear()
        forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        client.cookies.set("darkroom_session", forged, path="/ui")
        refused = client.get("/ui/")
        assert refused.status_code == 303 and refused.headers["location"] == "/ui/signin"
    with httpx.Client(base_url=server.url) as client:
        wrong = client.post("/ui/signin", data={"api_key": "dk_not_a_key"})
        assert wrong.status_code == 401 and "invalid or revoked" in wrong.text
        assert "set-cookie" not in wrong.headers


def test_every_page_carries_a_strict_content_security_policy(server: Server) -> None:
    client, _ = signed_in(server, "alice")
    with closing(client):
        for path in ("/ui/", "/ui/upload", "/ui/search", "/ui/review", "/ui/signin"):
            answer = client.get(path)
            policy = answer.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe" not in policy, path
            assert "frame-ancestors 'none'" in policy
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path  # no inline script
            assert not re.search(r"\son[a-z]+=", answer.text), path  # no inline handlers


def test_changes_need_the_csrf_token_and_our_origin(server: Server) -> None:
    image_id = uncertain_image(server, "alice", 1)
    client, token = signed_in(server, "alice")
    with closing(client):
        no_token = client.post(f"/ui/images/{image_id}/delete")
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        wrong = client.post(f"/ui/images/{image_id}/delete", data={"csrf": "x" * 32})
        assert wrong.status_code == 403
        foreign = client.post(
            f"/ui/review/{image_id}",
            data={"csrf": token, "class": "dog"},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403 and "cross-origin" in foreign.text
        with server.client("alice") as api:
            assert api.get(f"/images/{image_id}").json()["class"] == "cat"
        done = client.post(f"/ui/review/{image_id}", data={"csrf": token, "class": "dog"})
        assert done.status_code == 303
        header = client.post(
            "/ui/upload/presign",
            json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
            headers={"X-CSRF-Token": token},
        )
        assert header.status_code == 200 and header.json()["method"] == "PUT"
        assert client.post(f"/ui/images/{image_id}/delete", data={"csrf": token}).status_code == 303
        with server.client("alice") as api:
            assert api.get(f"/images/{image_id}").status_code == 404


def test_operations_are_for_admin_keys_only(server: Server) -> None:
    client, token = signed_in(server, "alice")
    with closing(client):
        assert client.get("/ui/ops").status_code == 403
        assert client.post("/ui/ops/dlq/replay-all", data={"csrf": token}).status_code == 403
        assert 'href="/ui/ops"' not in client.get("/ui/").text
    admin, token = signed_in(server, "admin")
    with closing(admin):
        page = admin.get("/ui/ops")
        assert page.status_code == 200 and "Dead letters" in page.text
        created = admin.post("/ui/ops/keys", data={"csrf": token, "owner": "carol"})
        secret = re.search(r"<code>(dk_[^<]+)</code>", created.text)
        assert created.status_code == 200 and secret
        with httpx.Client(base_url=server.url, headers={"X-API-Key": secret.group(1)}) as carol:
            assert carol.get("/images").status_code == 200
            key_id = secret.group(1).split("_")[1]
            assert (
                admin.post(f"/ui/ops/keys/{key_id}/revoke", data={"csrf": token}).status_code == 303
            )
            assert carol.get("/images").status_code == 401


def test_review_api_queue_decide_undo_and_owners(server: Server) -> None:
    image_id = uncertain_image(server, "alice", 2)
    with server.client("alice") as alice, server.client("bob") as bob:
        queue = alice.get("/review").json()["items"]
        assert image_id in [item["image_id"] for item in queue]
        mine = next(item for item in queue if item["image_id"] == image_id)
        assert mine["choices"] == ["cat", "dog", "other"]
        assert bob.get("/review").json()["items"] == []
        assert bob.post(f"/images/{image_id}/review", json={"class": "dog"}).status_code == 404
        bad = alice.post(f"/images/{image_id}/review", json={"class": "ferret"})
        assert bad.status_code == 422 and "not one of" in bad.text
        decided = alice.post(f"/images/{image_id}/review", json={"class": "dog"})
        assert decided.status_code == 200, decided.text
        body = decided.json()
        assert body["class"] == "dog" and body["model"] == {
            "class": "cat",
            "confidence": 65.0,
            "uncertain": True,
        }
        assert body["decided_by"] and body["decided_at"]
        record = alice.get(f"/images/{image_id}").json()
        assert record["class"] == "dog" and not record["uncertain"]
        assert "/dogs/alice/" in record["location"]
        assert image_id not in [item["image_id"] for item in alice.get("/review").json()["items"]]
        assert bob.post("/review/undo").status_code == 404
        undone = alice.post("/review/undo")
        assert undone.status_code == 200 and undone.json()["review_id"] == body["review_id"]
        assert alice.get(f"/images/{image_id}").json()["class"] == "cat"
