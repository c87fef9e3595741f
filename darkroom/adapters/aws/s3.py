"""BlobStore on S3 (s3://BUCKET[/PREFIX]): server-side encryption on every write, presigned
POST for browser uploads."""

from __future__ import annotations

from typing import IO, Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from darkroom.adapters.aws.clients import client, error_code

_MISSING = {"NoSuchKey", "404", "NotFound"}
_DELETE_BATCH = 1000  # DeleteObjects' limit


class S3BlobStore:
    def __init__(self, url: str, *, kms_key_id: str | None = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an S3 URL: {url!r} (use s3://BUCKET[/PREFIX])")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/") + "/" if parsed.path.strip("/") else ""
        self.kms_key_id = kms_key_id
        self.s3 = client("s3")

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"unsafe blob key: {key!r}")
        return self.prefix + key

    def _encryption(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def _extra(self, content_type: str | None) -> dict[str, str]:
        extra = self._encryption()
        if content_type:
            extra["ContentType"] = content_type
        return extra

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, **self._extra(content_type)
        )

    def put_file(self, key: str, source: IO[bytes], *, content_type: str | None = None) -> int:
        # Multipart above 8 MB, streamed: a 100 MB original is never held in memory. The
        # transfer may close the source, so the size comes from S3 itself.
        self.s3.upload_fileobj(source, self.bucket, self._key(key), self._extra(content_type))
        return self.size(key)

    def get(self, key: str) -> bytes:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise KeyError(key) from None
            raise
        return body.read()  # type: ignore[no-any-return]

    def metadata(self, key: str) -> dict[str, str]:
        head = self._head(key)
        return {name.lower(): value for name, value in head.get("Metadata", {}).items()}

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def _head(self, key: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise KeyError(key) from None
            raise
        return head

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except KeyError:
            return False
        return True

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(key))  # absent: no error

    def delete_prefix(self, prefix: str) -> int:
        removed = 0
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                removed += len(batch)
        return removed

    def move(self, src: str, dst: str) -> None:
        """Copy then delete: S3 has no rename. A crash in between leaves both; organize's
        resume finds the copy and completes the move."""
        source = {"Bucket": self.bucket, "Key": self._key(src)}
        try:
            self.s3.copy(source, self.bucket, self._key(dst), ExtraArgs=self._encryption())
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise FileNotFoundError(src) from None
            raise
        self.delete(src)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def local_path(self, key: str) -> str | None:
        return None

    def presigned_post(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_in: int,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A browser form upload straight to S3: S3 itself refuses another type, a bigger file,
        other metadata or a late upload (every field is a condition of the signed policy)."""
        signed = {
            "Content-Type": content_type,
            **_form_fields(self._encryption()),
            **{f"x-amz-meta-{name}": value for name, value in (metadata or {}).items()},
        }
        fields = dict(signed)
        conditions: list[Any] = [
            ["content-length-range", 1, max_bytes],
            *({name: value} for name, value in signed.items()),
        ]
        post = self.s3.generate_presigned_post(
            self.bucket,
            self._key(key),
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_in,
        )
        return {"url": post["url"], "fields": post["fields"]}


def _form_fields(encryption: dict[str, str]) -> dict[str, str]:
    names = {
        "ServerSideEncryption": "x-amz-server-side-encryption",
        "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    }
    return {names[name]: value for name, value in encryption.items()}
