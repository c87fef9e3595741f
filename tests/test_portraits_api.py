"""The kiosk's HTTP API through a real `darkroom serve`: consents with opaque user ids, uploads
refused without consent (nothing stored), POST /portraits with its presigned PUT, status at
every stage, the latest result per visitor, PortraitReady webhooks, and erasure on withdrawal."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from tests import faces
from tests.receiver import Receiver
from tests.server import Server, loopback_webhooks, make_server

pytestmark = pytest.mark.slow

ODD_IDS = [
    "kiosk-3-visitor-0042",  # hyphens: the old system split on them
    "anna.maria.o'neil",
    "zoë-Łukasz-東京-🙂",
    "shop/branch-7/visitor 9?x=1#y",  # slashes, a space, a query and a fragment in an id
    "v" * 700,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(
        tmp_path_factory.mktemp("portraits"),
        **loopback_webhooks(),  # the test's receiver
    )
    srv.create_key("kiosk", "shop-a")
    srv.create_key("other", "shop-b")
    srv.start()
    yield srv
    srv.stop()


def jpeg(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=92)
    return out.getvalue()


def path_of(user_id: str) -> str:
    return quote(user_id, safe="")


def consent(client: httpx.Client, user_id: str, agree: bool = True) -> httpx.Response:
    return client.post("/consents", json={"user_id": user_id, "name": "A Visitor", "agree": agree})


def ask(client: httpx.Client, user_id: str, style: str = "casual") -> httpx.Response:
    return client.post("/portraits", json={"user_id": user_id, "style": style, "gender": "female"})


def put_selfie(answer: dict[str, Any], picture: Image.Image) -> httpx.Response:
    upload = answer["upload"]
    return httpx.put(upload["url"], content=jpeg(picture), headers=upload["headers"], timeout=30)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/portraits/{job_id}").json()
        if job["status"] in {"completed", "rejected", "failed"}:
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise TimeoutError(f"portrait job {job_id} not final: {job}")


def portrait_files(server: Server) -> list[Path]:
    """Face crops and portraits."""
    folders = (server.home / "faces", server.home / "portraits")
    return [p for folder in folders for p in folder.rglob("*") if p.is_file()]


def input_files(server: Server) -> list[Path]:
    return [p for p in (server.home / "input").rglob("*") if p.is_file()]


def test_consents_with_opaque_user_ids(server: Server) -> None:
    with server.client("kiosk") as kiosk, server.client("other") as other:
        for user_id in ODD_IDS:
            recorded = consent(kiosk, user_id)
            assert recorded.status_code == 200, recorded.text
            body = recorded.json()
            assert body["user_id"] == user_id and body["agree"] is True
            assert body["recorded_by"] == server.keys["kiosk"].split("_")[1]  # the key's id
            assert abs(body["recorded_at"] - time.time()) < 60
            shown = kiosk.get(f"/consents/{path_of(user_id)}")
            assert shown.status_code == 200 and shown.json()["user_id"] == user_id
            assert shown.json()["name"] == "A Visitor"
            # Another owner's kiosk knows nothing of this visitor.
            assert other.get(f"/consents/{path_of(user_id)}").status_code == 404
        # An id is never split: its hyphenated prefix is another visitor, with no consent.
        assert kiosk.get("/consents/kiosk-3").status_code == 404
        bad = kiosk.post("/consents", json={"user_id": "line\nbreak", "agree": True})
        assert bad.status_code == 422
        assert kiosk.post("/consents", json={"user_id": "x"}).status_code == 422  # agree missing


def test_no_consent_no_upload_and_nothing_stored(server: Server) -> None:
    with server.client("kiosk") as kiosk:
        before = input_files(server)
        refused = kiosk.post(
            "/upload",
            files={"file": ("me.jpg", jpeg(faces.astronaut()), "image/jpeg")},
            data={
                "recipe": "portraits",
                "metadata": json.dumps({"user_id": "never-agreed", "style": "casual"}),
            },
        )
        assert refused.status_code == 403 and "no consent" in refused.json()["detail"]
        assert ask(kiosk, "never-agreed").status_code == 403
        consent(kiosk, "said-no", agree=False)
        refused = ask(kiosk, "said-no")
        assert refused.status_code == 403 and "withdrawn" in refused.json()["detail"]
        assert input_files(server) == before
        assert kiosk.get("/images", params={"recipe": "portraits"}).json()["items"] == []
        assert kiosk.get(f"/users/{path_of('never-agreed')}/portraits").json() == {"items": []}


def test_a_withdrawal_before_the_put_refuses_it(server: Server) -> None:
    with server.client("kiosk") as kiosk:
        consent(kiosk, "changed-mind")
        answer = ask(kiosk, "changed-mind").json()
        before = input_files(server)
        assert kiosk.delete(f"/consents/{path_of('changed-mind')}").json()["erased"] == {
            "selfies": 0,
            "crops": 0,
            "results": 0,
            "requests": 1,
            "events": 0,
        }
        refused = put_selfie(answer, faces.astronaut())
        assert refused.status_code == 403, refused.text
        assert input_files(server) == before
        assert kiosk.get(f"/images/{answer['job_id']}").status_code == 404
        nameless = kiosk.post(
            "/upload",
            files={"file": ("me.jpg", jpeg(faces.astronaut()), "image/jpeg")},
            data={"recipe": "portraits", "metadata": json.dumps({"style": "casual"})},
        )
        assert nameless.status_code == 403 and "names no visitor" in nameless.text


def test_the_generic_presign_is_refused_for_the_recipe(server: Server) -> None:
    """On S3 storage a generic presigned URL would go straight to the bucket, past intake."""
    with server.client("kiosk") as kiosk:
        refused = kiosk.post(
            "/upload/presign",
            json={
                "filename": "me.jpg",
                "content_type": "image/jpeg",
                "size": 1000,
                "recipe": "portraits",
            },
        )
        assert refused.status_code == 422 and "POST /portraits" in refused.text


def test_an_unknown_style_is_refused_with_the_known_ones(server: Server) -> None:
    with server.client("kiosk") as kiosk:
        consent(kiosk, "stylish")
        refused = ask(kiosk, "stylish", style="disco")
        assert refused.status_code == 422
        assert "known styles: casual, classic, evening, sport" in refused.text


def test_the_kiosk_flow_latest_result_history_and_erasure(server: Server) -> None:
    user_id = ODD_IDS[2]  # non-ASCII
    receiver = Receiver()
    try:
        with server.client("kiosk") as kiosk, server.client("other") as other:
            hook = kiosk.post(
                "/webhooks",
                json={"url": receiver.url, "secret": "s" * 20, "detail_types": ["PortraitReady"]},
            )
            assert hook.status_code == 201
            consent(kiosk, user_id)
            users = f"/users/{path_of(user_id)}"
            assert kiosk.get(f"{users}/portrait").status_code == 404  # nothing yet

            first = ask(kiosk, user_id)
            assert first.status_code == 201, first.text
            answer = first.json()
            job_id = answer["job_id"]
            assert answer["upload"]["method"] == "PUT"
            expires = time.mktime(
                time.strptime(answer["upload"]["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")
            )
            assert 200 < expires - time.mktime(time.gmtime()) <= 300  # about 300 s
            assert kiosk.get(f"/portraits/{job_id}").json()["status"] == "awaiting_upload"
            assert other.get(f"/portraits/{job_id}").status_code == 404  # owner-scoped
            assert put_selfie(answer, faces.astronaut()).status_code == 202
            done = wait_job(kiosk, job_id)
            assert done["status"] == "completed", done
            assert done["user_id"] == user_id and done["faces"] == 1
            assert done["provenance"]["provider"] == "blend"

            latest = kiosk.get(f"{users}/portrait").json()
            assert latest["job_id"] == job_id and latest["style"] == "casual"
            picture = kiosk.get(latest["image_url"])
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(picture.content)).size == (512, 768)
            assert other.get(f"{users}/portrait").status_code == 404

            # A newer job that ends without a portrait (no face) leaves the older one shown.
            second = ask(kiosk, user_id, style="evening").json()
            put_selfie(second, faces.no_face())
            rejected = wait_job(kiosk, second["job_id"])
            assert rejected["status"] == "rejected" and "no face found" in rejected["error"]
            assert kiosk.get(f"{users}/portrait").json()["job_id"] == job_id
            # One that completes replaces it.
            third = ask(kiosk, user_id, style="classic").json()
            put_selfie(third, faces.grace_hopper())
            assert wait_job(kiosk, third["job_id"])["status"] == "completed"
            latest = kiosk.get(f"{users}/portrait").json()
            assert latest["job_id"] == third["job_id"] and latest["style"] == "classic"
            history = kiosk.get(f"{users}/portraits").json()["items"]
            assert [h["job_id"] for h in history] == [third["job_id"], second["job_id"], job_id]
            assert [h["status"] for h in history] == ["completed", "rejected", "completed"]

            deadline = time.monotonic() + 30
            while len(receiver.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            events = [json.loads(body) for _, body in receiver.requests]
            assert {e["detail-type"] for e in events} == {"PortraitReady"}
            assert {e["detail"]["image_id"] for e in events} == {job_id, third["job_id"]}
            assert all(e["detail"]["user_id"] == user_id for e in events)

            # A multipart upload for the same visitor, metadata in the form.
            multipart = kiosk.post(
                "/upload",
                files={"file": ("me.jpg", jpeg(faces.astronaut()), "image/jpeg")},
                data={
                    "recipe": "portraits",
                    "metadata": json.dumps({"user_id": user_id, "style": "sport"}),
                },
            )
            assert multipart.status_code == 202, multipart.text
            fourth = multipart.json()["image_id"]
            assert wait_job(kiosk, fourth)["status"] == "completed"

            # Withdrawal: every selfie, crop and portrait of this visitor goes, counted.
            keep = consent(kiosk, "someone-else")  # another visitor's pictures stay
            assert keep.status_code == 200
            theirs = ask(kiosk, "someone-else").json()
            put_selfie(theirs, faces.astronaut())
            assert wait_job(kiosk, theirs["job_id"])["status"] == "completed"
            files_before = len(portrait_files(server))
            withdrawn = kiosk.delete(f"/consents/{path_of(user_id)}")
            assert withdrawn.status_code == 200, withdrawn.text
            body = withdrawn.json()
            assert body["agree"] is False and body["name"] is None and body["withdrawn_at"]
            # Three PortraitReady events, and their three webhook deliveries, named the visitor.
            assert body["erased"] == {
                "selfies": 4,
                "crops": 3,
                "results": 3,
                "requests": 4,
                "events": 6,
            }
            assert len(portrait_files(server)) == files_before - 6
            gone = [job_id, second["job_id"], third["job_id"], fourth]
            for image_id in gone:
                assert kiosk.get(f"/images/{image_id}").status_code == 404
                assert not [p for p in input_files(server) if image_id in p.name]
                assert not (server.home / "portraits" / "shop-a" / image_id).exists()
                assert not (server.home / "faces" / "shop-a" / image_id).exists()
            assert kiosk.get(f"{users}/portrait").status_code == 404
            assert kiosk.get(f"{users}/portraits").json() == {"items": []}
            assert kiosk.get(f"/portraits/{theirs['job_id']}").json()["status"] == "completed"
            # And no new upload is admitted; withdrawing again erases nothing more.
            assert ask(kiosk, user_id).status_code == 403
            again = consent(kiosk, user_id, agree=False).json()
            assert set(again["erased"].values()) == {0}
    finally:
        receiver.close()
