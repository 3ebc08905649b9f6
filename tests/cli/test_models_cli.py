"""Datasets and baselines through the real command, a real server and a real HTTP mirror."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medfed.core.catalog import load_catalog
from tests.utils.processes import medfed_env, run_medfed, running_server


@pytest.fixture
def mirror(datasets_dir: Path) -> Iterator[str]:
    """A local HTTP server that serves the bundled datasets under the files' relative paths."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(datasets_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_downloads_and_verifies_every_file(
    tmp_path: Path, database_url: str, mirror: str
) -> None:
    env = medfed_env(tmp_path / "home", database_url)
    dest = tmp_path / "fetched"
    result = run_medfed(["datasets", "fetch", "--dest", str(dest), "--base-url", mirror], env)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sum(len(spec.dataset.files) for spec in load_catalog().values())
    assert result.stdout.count("downloaded") == files == 11  # the mirror holds all of them
    verified = run_medfed(["datasets", "verify"], {**env, "MEDFED_DATASETS_DIR": str(dest)})
    assert verified.returncode == 0 and verified.stdout.count(" ok ") == 6
    again = run_medfed(["datasets", "fetch", "--dest", str(dest), "--base-url", mirror], env)
    assert again.stdout.count("kept") == files


def test_fetch_refuses_a_file_that_is_not_the_original(
    tmp_path: Path, database_url: str, datasets_dir: Path
) -> None:
    fake = tmp_path / "fake-mirror"
    for spec in load_catalog().values():
        for entry in spec.dataset.files:
            (fake / entry.path).parent.mkdir(parents=True, exist_ok=True)
            (fake / entry.path).write_bytes((datasets_dir / entry.path).read_bytes() + b"\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(fake))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = medfed_env(tmp_path / "home", database_url)
        dest = tmp_path / "fetched"
        result = run_medfed(
            [
                "datasets",
                "fetch",
                "--dest",
                str(dest),
                "--base-url",
                f"http://127.0.0.1:{server.server_address[1]}",
            ],
            env,
        )
    finally:
        server.shutdown()
    assert result.returncode == 1 and "is not the expected file" in result.stdout
    assert not (dest / "diabetes" / "pima-indians-diabetes.csv").exists()


def test_fetch_offline_says_so(tmp_path: Path, database_url: str) -> None:
    env = medfed_env(tmp_path / "home", database_url)
    result = run_medfed(
        ["datasets", "fetch", "--dest", str(tmp_path / "d"), "--base-url", "http://127.0.0.1:9"],
        env,
    )
    assert result.returncode == 1 and "cannot reach" in result.stdout


def test_first_start_on_an_empty_home_builds_and_lists_six_baselines(
    tmp_path: Path, database_url: str
) -> None:
    env = medfed_env(
        tmp_path / "home",
        database_url,
        MEDFED_TRAIN_BASELINES="true",
        MEDFED_ADMIN_PASSWORD="first-root-passphrase-9",
    )
    assert run_medfed(["server", "init"], env).returncode == 0
    with running_server(env, tmp_path / "server.log", startup_timeout=180) as server:
        token = httpx.post(
            f"{server.url}/api/v1/auth/token",
            json={"username": "admin", "password": "first-root-passphrase-9"},
        ).json()["access_token"]
        models = httpx.get(
            f"{server.url}/api/v1/models", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert {m["disease"]: m["active_version"] for m in models} == {
        d: "v1.0" for d in load_catalog()
    }
    listed = run_medfed(["models", "list"], env)
    assert listed.returncode == 0 and listed.stdout.count("v1.0") == 6
    for spec in load_catalog().values():
        model = next(m for m in models if m["disease"] == spec.id)
        for metric, reference in spec.references.items():
            assert model[metric] >= reference - 0.03, (spec.id, metric, model[metric], reference)
