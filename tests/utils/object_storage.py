"""A real S3-compatible server (moto's server mode) on loopback, for the object-storage tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.utils.processes import free_port

KEY_ID, SECRET = "medfed-test-key", "medfed-test-secret-0123456789"


@dataclass
class ObjectStorage:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextmanager
def running_object_storage(bucket: str = "medfed") -> Iterator[ObjectStorage]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    storage = ObjectStorage(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(storage.endpoint, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the S3-compatible server did not start") from None
                time.sleep(0.1)
        storage.client().create_bucket(Bucket=bucket)
        yield storage
    finally:
        if process.poll() is None:
            storage.stop()
