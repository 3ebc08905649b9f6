"""Artifact storage behind one small interface: files under the home folder by default, or an
S3-compatible bucket (`MEDFED_STORAGE_URL=s3://bucket/prefix`) that several servers share.

Artifacts are content-addressed (the key is the SHA-256 of the bytes), written atomically (a
renamed file; an S3 object appears whole or not at all) and checked on every read, so a
version's weights can never change or be half-written. A store that cannot be reached answers
`ServiceUnavailable` (503) saying so, never a half-done write.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medfed.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from medfed.core.config import Settings


class ArtifactStore(Protocol):
    def put(self, blob: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def _check_key(key: str) -> str:
    if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
        raise ValueError("artifact keys are SHA-256 hex digests")
    return key


def _verified(key: str, blob: bytes, where: str) -> bytes:
    if hashlib.sha256(blob).hexdigest() != key:
        raise ServiceUnavailable(
            f"The model artifact {key[:12]}… in {where} is corrupted; restore it from backup."
        )
    return blob


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / _check_key(key)

    def put(self, blob: bytes) -> str:
        key = hashlib.sha256(blob).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{key}.{secrets.token_hex(4)}.tmp")
        with temporary.open("wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise ServiceUnavailable(
                f"The model artifact {key[:12]}… is missing from {self.root}."
            ) from None
        return _verified(key, blob, str(self.root))

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


class S3ArtifactStore:
    """Artifacts as objects `<prefix><aa>/<sha256>` in a bucket of an S3-compatible service."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client  # a boto3 S3 client (thread-safe)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.where = f"s3://{bucket}/{self.prefix}"

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key[:2]}/{_check_key(key)}"

    def _unreachable(self, error: Exception) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"The object storage at {self.where} cannot be reached or refused the request "
            f"({type(error).__name__}); check MEDFED_STORAGE_URL, the endpoint and the "
            "credentials. Nothing was written."
        )

    def put(self, blob: bytes) -> str:
        key = hashlib.sha256(blob).hexdigest()
        if self.exists(key):
            return key
        name = self._name(key)
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
        try:  # the service checks the bytes against the digest before the object exists
            self.client.put_object(Bucket=self.bucket, Key=name, Body=blob, ChecksumSHA256=digest)
        except Exception as error:  # botocore's errors: unreachable, refused, throttled
            raise self._unreachable(error) from None
        return key

    def get(self, key: str) -> bytes:
        name = self._name(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
            blob = answer["Body"].read()
        except Exception as error:
            if _missing(error):
                raise ServiceUnavailable(
                    f"The model artifact {key[:12]}… is missing from {self.where}."
                ) from None
            raise self._unreachable(error) from None
        return _verified(key, blob, self.where)

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
        except Exception as error:
            if _missing(error):
                return False
            raise self._unreachable(error) from None
        return True


def _missing(error: Exception) -> bool:
    code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def make_store(settings: Settings) -> ArtifactStore:
    """The store the settings name: S3-compatible object storage, or the local folder."""
    if not settings.storage_url:
        return LocalArtifactStore(settings.resolved_artifacts_dir)
    import boto3  # only a server that uses object storage loads the SDK
    from botocore.config import Config

    bucket, _, prefix = settings.storage_url.removeprefix("s3://").partition("/")
    secret = settings.s3_secret_access_key
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        # fail fast and clearly (503) rather than hold a request for minutes
        config=Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 2}),
    )
    return S3ArtifactStore(client, bucket, prefix)
