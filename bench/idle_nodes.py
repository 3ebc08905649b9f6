"""Idle nodes held by one server: N enrolled hospital nodes each keep a long poll open (GET
/api/v1/nodes/rounds?wait=25 with the listing's ETag as If-None-Match, as `medfed node
participate` does between rounds) against a real `medfed server` on SQLite. The server's
resident memory and CPU time are read from /proc while they wait; every answer is checked.
"""

from __future__ import annotations

import asyncio
import os
import resource
import ssl
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from fl_runs import DATASETS
from harness import header, medfed, server_process
from serving import server_env

from medfed import __version__

SIZES = (100, 1000)
WAIT = 25.0  # seconds a node asks the server to hold its poll (`medfed node participate`)
ADMIN = "bench-admin"
ADMIN_PASSWORD = "idle-nodes-bench-passphrase-1"
API = "/api/v1"


def _admin_headers(url: str, env: dict[str, str]) -> dict[str, str]:
    medfed(
        "admin",
        "create-user",
        ADMIN,
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin=ADMIN_PASSWORD + "\n",
    )
    token = httpx.post(
        url + API + "/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _enroll_one(url: str, headers: dict[str, str], index: int) -> str:
    """A hospital, and its node enrolled with the one-time token: the node's credential."""
    with httpx.Client(base_url=url + API, timeout=60) as client:
        created = client.post(
            "/hospitals", json={"name": f"Idle hospital {index}"}, headers=headers
        )
        created.raise_for_status()
        token = created.json()["enrollment"]["enrollment_token"]
        enrolled = client.post(
            "/nodes/enroll",
            json={"token": token, "node_name": f"idle-{index}", "software_version": __version__},
        )
        enrolled.raise_for_status()
        return str(enrolled.json()["credential"])


def enroll(url: str, headers: dict[str, str], count: int, start: int) -> list[str]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda i: _enroll_one(url, headers, i), range(start, start + count)))


async def _node(url: str, credential: str, until: float, answers: Counter[str], tls: Any) -> None:
    """One idle node, with its own connection as a node process has: poll, then hold polls
    with the tag it got, until `until`."""
    loop = asyncio.get_running_loop()
    headers = {"Authorization": f"Bearer {credential}"}
    tag: str | None = None
    async with httpx.AsyncClient(base_url=url, timeout=WAIT + 30, verify=tls) as client:
        while (left := until - loop.time()) > 0.5:
            try:
                response = await client.get(
                    API + "/nodes/rounds",
                    params={"wait": round(min(WAIT, left), 1)} if tag else {},
                    headers={**headers, "If-None-Match": tag} if tag else headers,
                )
            except httpx.HTTPError as error:
                answers[f"error: {type(error).__name__}"] += 1
                await asyncio.sleep(1.0)
                continue
            answers[str(response.status_code)] += 1
            if response.status_code not in (200, 304):
                await asyncio.sleep(1.0)
                continue
            tag = response.headers.get("etag", tag)


def _tree(pid: int) -> list[int]:
    """The server's process and its worker processes (`MEDFED_WORKERS`, default one per core)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


def _rss_mib(pid: int) -> float:
    """Resident memory of the server, summed over its processes."""
    total = 0
    for member in _tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the server's processes (all their threads) so far."""
    ticks = 0
    for member in _tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _hold(
    url: str, credentials: list[str], pid: int, settle: float, seconds: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    answers: Counter[str] = Counter()
    tls = ssl.create_default_context()  # one for all (the URL is plain HTTP on loopback)
    until = loop.time() + settle + seconds
    tasks = [
        asyncio.create_task(_node(url, credential, until, answers, tls))
        for credential in credentials
    ]
    await asyncio.sleep(settle)  # every node has polled once and is held
    first = answers.copy()
    cpu, wall = _cpu_seconds(pid), loop.time()
    await asyncio.sleep(seconds - 1.0)
    rss = _rss_mib(pid)
    cpu_used, elapsed = _cpu_seconds(pid) - cpu, loop.time() - wall
    await asyncio.gather(*tasks)
    errors = sum(n for key, n in answers.items() if key not in ("200", "304"))
    return {
        "rss_mib": round(rss, 1),
        "cpu_percent": round(100 * cpu_used / elapsed, 2),
        "answers_during_hold": sum(answers.values()) - sum(first.values()),
        "answers": dict(answers),
        "errors": errors,
    }


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    sizes = (20,) if quick else SIZES
    seconds = 8.0 if quick else 60.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    rows = []
    try:
        with tempfile.TemporaryDirectory() as home:
            env = server_env(Path(home) / "server", DATASETS)
            env["MEDFED_TRAIN_BASELINES"] = "false"  # no rounds are run: the nodes only wait
            with server_process(env) as (url, process):
                headers = _admin_headers(url, env)
                credentials: list[str] = []
                time.sleep(2.0)
                idle_rss = _rss_mib(process.pid)
                for size in sizes:
                    started = time.monotonic()
                    credentials += enroll(url, headers, size - len(credentials), len(credentials))
                    enrolled = time.monotonic() - started
                    held = asyncio.run(_hold(url, credentials, process.pid, 5.0, seconds))
                    rows.append(
                        {
                            "nodes": size,
                            "idle_rss_mib": round(idle_rss, 1),
                            "enroll_seconds": round(enrolled, 1),
                            **held,
                        }
                    )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return 1, {"seconds": seconds, "wait": WAIT, "results": rows}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        "A real `medfed server` (SQLite, its default of one worker process per core) and N "
        "enrolled nodes (one hospital each, each with its own connection), whose long polls one "
        f"client process keeps open for {record['seconds']:g} s after they first connect: each "
        "asks the server to hold its "
        f"poll up to {record['wait']:g} s and polls again when it answers (304: nothing "
        "changed). Server memory is the resident set of its processes together while the polls "
        "are held (beside it, the same server before any node connected); its CPU is their user "
        "+ system time over the hold, as a share of one core. Errors count every answer other "
        "than 200 or 304 and every failed request.",
        "",
        "| idle nodes | server memory, polls held (MiB) | server memory, no nodes (MiB) | "
        "server CPU while held (% of one core) | answers during the hold | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        lines.append(
            f"| {row['nodes']:,} | {row['rss_mib']:.0f} | {row['idle_rss_mib']:.0f} | "
            f"{row['cpu_percent']:.1f} | {row['answers_during_hold']:,} | {row['errors']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "idle-nodes"])
