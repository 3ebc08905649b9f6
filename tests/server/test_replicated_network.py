"""The deployable network with real processes: one PostgreSQL, an S3-compatible object store,
two MedFed servers (each with its own home, as on two machines) behind nginx, which ends TLS,
checks client certificates against the network's authority and forwards them; three nodes
enroll through it with pinned tokens and take part in a secure round with mutual TLS; the
server leading the round ticker is SIGKILLed mid-round and the other finishes the round."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from medfed.node import tls as node_tls
from medfed.server.storage import make_store
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.node.test_long_poll import FINISHED, SITES, Nodes, _until
from tests.utils.object_storage import KEY_ID, SECRET, ObjectStorage, running_object_storage
from tests.utils.processes import (
    ServerProcess,
    free_port,
    medfed_env,
    node_credential,
    run_medfed,
    running_server,
)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = Path(__file__).parents[2] / "deploy" / "nginx" / "medfed.conf.template"
BUCKET_URL = "s3://medfed/artifacts"


def _storage_env(storage: ObjectStorage) -> dict[str, str]:
    return {
        "MEDFED_STORAGE_URL": BUCKET_URL,
        "MEDFED_S3_ENDPOINT_URL": storage.endpoint,
        "MEDFED_S3_ACCESS_KEY_ID": KEY_ID,
        "MEDFED_S3_SECRET_ACCESS_KEY": SECRET,
    }


def _seed_bucket(trained: Settings, storage: ObjectStorage) -> None:
    """The baselines' artifacts, moved into the bucket as an operator would migrate them."""
    store = make_store(
        Settings(
            storage_url=BUCKET_URL,
            s3_endpoint_url=storage.endpoint,
            s3_access_key_id=KEY_ID,
            s3_secret_access_key=SECRET,
        )
    )
    for path in trained.resolved_artifacts_dir.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            assert store.put(path.read_bytes()) == path.name


def _objects(storage: ObjectStorage) -> int:
    listing = storage.client().list_objects_v2(Bucket="medfed", Prefix="artifacts/")
    return int(listing.get("KeyCount", 0))


class Proxy:
    def __init__(self, tmp_path: Path, tls_dir: Path, servers: list[str]) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        prefix = tmp_path / "nginx"
        (prefix / "temp").mkdir(parents=True)
        (prefix / "temp").chmod(0o777)  # nginx's workers run as nobody
        values = {
            "MEDFED_PROXY_LISTEN": f"127.0.0.1:{self.port}",
            "MEDFED_PROXY_TLS_DIR": str(tls_dir),
            "MEDFED_SERVER_1": servers[0],
            "MEDFED_SERVER_2": servers[1],
        }
        # As the nginx image's envsubst does: only the named variables, nginx's own left alone.
        site = re.sub(r"\$\{(MEDFED_\w+)\}", lambda m: values[m.group(1)], TEMPLATE.read_text())
        (prefix / "medfed.conf").write_text(site)
        temp = prefix / "temp"
        (prefix / "nginx.conf").write_text(
            f"""worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {prefix}/medfed.conf;
}}
"""
        )
        self.prefix = prefix
        self.process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.context = ssl.create_default_context(cafile=str(tls_dir / "authority.pem"))
        _until(self._ready, 20, "nginx answering with the servers behind it")

    def _ready(self) -> bool:
        assert self.process.poll() is None, (self.prefix / "error.log").read_text()
        try:
            return httpx.get(f"{self.url}/readyz", verify=self.context).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is installed by `make setup`")
def test_two_servers_behind_a_tls_proxy_finish_a_round_when_the_leader_dies(
    trained_settings: Settings,
    trained_db: Session,
    datasets_dir: Path,
    tmp_path: Path,
    backend: str,
) -> None:
    if backend != "postgresql":
        pytest.skip("several servers on several machines share one PostgreSQL")
    with running_object_storage() as storage:
        _seed_bucket(trained_settings, storage)
        envs = [
            medfed_env(
                tmp_path / f"home-{index}",  # a home of its own, as on another machine
                trained_settings.resolved_database_url,
                tmp_path / "node",
                MEDFED_TRUSTED_PROXIES="127.0.0.1",
                MEDFED_NODE_MTLS="required",
                MEDFED_POLICY_MIN_ROWS="50",
                **_storage_env(storage),
            )
            for index in (1, 2)
        ]
        issued = run_medfed(
            [
                "server",
                "tls-certificate",
                "--hostname",
                "127.0.0.1",
                "--out",
                str(tmp_path / "tls"),
            ],
            envs[0],
        )
        assert issued.returncode == 0, issued.stderr
        with running_server(envs[0], tmp_path / "server-1.log") as leader:
            time.sleep(1.0)  # the first server takes the ticker's lead on its first ticks
            with running_server(envs[1], tmp_path / "server-2.log") as follower:
                servers = [url.removeprefix("http://") for url in (leader.url, follower.url)]
                proxy = Proxy(tmp_path, tmp_path / "tls", servers)
                try:
                    _round_through_the_proxy(
                        proxy,
                        (leader, follower),
                        trained_db,
                        datasets_dir,
                        tmp_path,
                        storage,
                        envs[0],
                    )
                finally:
                    proxy.stop()


def _round_through_the_proxy(
    proxy: Proxy,
    servers: tuple[ServerProcess, ServerProcess],
    db: Session,
    datasets_dir: Path,
    tmp_path: Path,
    storage: ObjectStorage,
    env: dict[str, str],
) -> None:
    admin = make_user(db, "admin")
    db.rollback()
    token = httpx.post(
        f"{proxy.url}/api/v1/auth/token",
        json={"username": admin.username, "password": DEFAULT_PASSWORD},
        verify=proxy.context,
        timeout=60,
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    nodes = Nodes(tmp_path, datasets_dir)
    nodes.enroll(SimpleNamespace(url=proxy.url), env, "replicated")  # type: ignore[arg-type]
    for site in SITES:  # each made its key and holds a certificate from the network
        assert node_tls.identity_file(tmp_path / site).is_file()

    # A stolen certificate without its key is worth nothing: the proxy replaces the header.
    home = tmp_path / SITES[0]
    stolen = node_tls.identity_file(home).read_text().split("-----BEGIN PRIVATE KEY")[0]
    forged = httpx.get(
        f"{proxy.url}/api/v1/nodes/me",
        headers={
            "Authorization": f"Bearer {node_credential(home)}",
            "X-Client-Cert": quote(stolen),
        },
        verify=proxy.context,
    )
    assert forged.status_code == 401, forged.text
    assert forged.json()["error"]["code"] == "client_certificate_required"

    objects_before = _objects(storage)
    nodes.start(proxy.url, poll=0.5)
    body = {
        "disease": "heart",
        "min_hospitals": 3,
        "max_hospitals": 3,
        "min_rows": 50,
        "grace_seconds": 0,
        "local_epochs": 1,
        "local_steps": 5,
        "target_epsilon": 2.0,
        "tolerance": 1.0,
        "secure": True,
    }
    opened = httpx.post(
        f"{proxy.url}/api/v1/rounds", json=body, headers=headers, verify=proxy.context
    )
    assert opened.status_code == 201, opened.text
    round_id = int(opened.json()["id"])

    def state() -> dict[str, object]:
        answer = httpx.get(
            f"{proxy.url}/api/v1/rounds/{round_id}",
            headers=headers,
            verify=proxy.context,
            timeout=30,
        )
        return dict(answer.json()) if answer.status_code == 200 else {"status": "unknown"}

    _until(lambda: state()["status"] == "training", 60, "the round starting")
    leader, follower = servers
    leads = "now runs the round ticker"
    assert leads in leader.log() and leads not in follower.log()
    leader.process.kill()  # the ticker's leader dies mid-round, with nodes' requests on it
    leader.process.wait()
    _until(lambda: state()["status"] in FINISHED, 150, "the other server finishing the round")
    final = state()
    nodes.join(60)
    assert final["status"] in ("deployed", "rejected"), final.get("reason")
    assert leads in follower.log()  # it took over the ticker, and finished the round
    assert f"round {round_id} is now {final['status']}" in follower.log()
    assert final["evaluation"]["contributors"] == 3  # type: ignore[index]
    for site in SITES:
        assert nodes.trainings(site, round_id) == 1  # no step lost, none repeated
    assert _objects(storage) > objects_before  # the round's checkpoint is in the bucket
    verified = run_medfed(["admin", "audit", "verify"], env)  # both servers wrote to one chain
    assert verified.returncode == 0, verified.stdout + verified.stderr
