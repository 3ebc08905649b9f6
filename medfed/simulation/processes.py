"""Starting real `medfed` processes for a simulation: one server, one node per hospital."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from medfed.core.errors import ServiceUnavailable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_environment() -> dict[str, str]:
    """The caller's environment without MEDFED_* variables: children read only their config file."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")}


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    path.chmod(0o600)
    return path


def medfed(config: Path, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(  # noqa: S603 (our own command, argument list, no shell)
        [sys.executable, "-m", "medfed", "--config", str(config), *args],
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise RuntimeError(f"medfed {' '.join(args)} failed:\n{result.stderr or result.stdout}")
    return result.stdout


@dataclass
class Background:
    """Processes started in the background, stopped together."""

    processes: list[tuple[subprocess.Popen[str], IO[str]]] = field(default_factory=list)

    def start(self, config: Path, args: list[str], log: Path) -> subprocess.Popen[str]:
        handle = log.open("w")
        process = subprocess.Popen(  # noqa: S603 (our own command, argument list, no shell)
            [sys.executable, "-m", "medfed", "--config", str(config), *args],
            env=child_environment(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.processes.append((process, handle))
        return process

    def stop(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, handle in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            handle.close()


def wait_ready(url: str, process: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(f"The server exited at start-up; see {log}.")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServiceUnavailable(f"The server did not become ready in {timeout:.0f} s; see {log}.")


def new_password() -> str:
    return secrets.token_urlsafe(18)
