"""Large payloads in S3, referenced from events; what sandboxes put through pre-signed URLs."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class BlobStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return bytes(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())

    def get_if_exists(self, key: str, max_bytes: int | None = None) -> bytes | None:
        """The object's bytes, or None when there is none; at most ``max_bytes`` are read
        (a longer object raises ValueError: what puts it is not trusted to bound it)."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        data = bytes(body.read() if max_bytes is None else body.read(max_bytes + 1))
        if max_bytes is not None and len(data) > max_bytes:
            raise ValueError(f"{key} is over {max_bytes} bytes")
        return data
