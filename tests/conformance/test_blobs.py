"""Files and S3 alike: every BlobStore method, the same answers, the same errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from darkroom.ports import BlobStore
from tests.conformance.conftest import unique


@pytest.fixture(params=["files", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "files":
        from darkroom.adapters.local.files import FileBlobStore

        return FileBlobStore(tmp_path / "blobs")
    aws: Any = request.getfixturevalue("aws")
    from darkroom.adapters.aws.s3 import S3BlobStore

    bucket = unique("pics")
    aws.client("s3").create_bucket(Bucket=bucket)
    return S3BlobStore(f"s3://{bucket}/darkroom")


def test_put_get_exists_delete(blobs: BlobStore) -> None:
    blobs.put("input/alice/a.jpg", b"abc", content_type="image/jpeg")
    assert blobs.exists("input/alice/a.jpg") and blobs.get("input/alice/a.jpg") == b"abc"
    blobs.put("input/alice/a.jpg", b"replaced")
    assert blobs.get("input/alice/a.jpg") == b"replaced"
    blobs.delete("input/alice/a.jpg")
    blobs.delete("input/alice/a.jpg")  # absent: no error
    assert not blobs.exists("input/alice/a.jpg")


def test_a_missing_key_is_a_key_error(blobs: BlobStore) -> None:
    with pytest.raises(KeyError):
        blobs.get("nothing/here.jpg")


def test_put_file_streams_and_answers_the_size(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    assert blobs.put_file("input/bob/big.bin", io.BytesIO(data)) == len(data)
    assert blobs.get("input/bob/big.bin") == data


def test_delete_prefix_removes_only_that_folder(blobs: BlobStore) -> None:
    for name in ("t/alice/1/800.jpg", "t/alice/1/400.jpg", "t/alice/10/800.jpg"):
        blobs.put(name, b"x")
    assert blobs.delete_prefix("t/alice/1/") == 2
    assert not blobs.exists("t/alice/1/800.jpg") and blobs.exists("t/alice/10/800.jpg")
    assert blobs.delete_prefix("t/nobody/") == 0


def test_move(blobs: BlobStore) -> None:
    blobs.put("input/alice/a.jpg", b"cat")
    blobs.move("input/alice/a.jpg", "cats/alice/a.jpg")
    assert not blobs.exists("input/alice/a.jpg") and blobs.get("cats/alice/a.jpg") == b"cat"
    with pytest.raises(FileNotFoundError):
        blobs.move("input/alice/gone.jpg", "cats/alice/gone.jpg")


def test_path_tricks_are_refused(blobs: BlobStore) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        blobs.put("../outside.jpg", b"x")
