"""Shared plumbing for benchmarks: machine facts, result files, README tables."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def save(
    folder: Path, name: str, command: str, repetitions: int, data: dict[str, Any]
) -> dict[str, Any]:
    record = {
        "benchmark": name,
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "repetitions": repetitions,
        **data,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def replace_section(text: str, section: str, markdown: str) -> str:
    """`text` with what lies between <!-- bench:SECTION:start --> and its end marker replaced."""
    pattern = re.compile(
        rf"(<!-- bench:{section}:start -->\n).*?(\n<!-- bench:{section}:end -->)", re.S
    )
    if not pattern.search(text):
        raise SystemExit(f"README.md has no bench:{section} markers")
    return pattern.sub(lambda m: m.group(1) + markdown + m.group(2), text)


def header(record: dict[str, Any]) -> str:
    return (
        f"Command: `{record['command']}` · {record['date']} · {record['machine']} · "
        f"repetitions: {record['repetitions']}"
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def medfed(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "medfed", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"medfed {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@contextmanager
def running_server(env: dict[str, str], timeout: float = 300) -> Iterator[str]:
    """A real `medfed server start` process on a free loopback port; yields its URL."""
    with server_process(env, timeout) as (url, _):
        yield url


@contextmanager
def server_process(
    env: dict[str, str], timeout: float = 300
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_server`, yielding the process too (to read its memory and CPU)."""
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "medfed", "server", "start", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait()
