"""The deployment files, checked statically (no container engine runs here): the Dockerfile's
stages and pins, the compose file's services, settings and wiring, the Helm chart's values and
settings, and the nginx template the replicated-network test runs for real. Every MEDFED_
variable anywhere must be a setting MedFed has, so a renamed setting cannot silently rot them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from medfed.core.config import Settings

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "medfed"
SETTINGS = {f"MEDFED_{name.upper()}" for name in Settings.model_fields}
# Variables that configure the deployment files themselves, not MedFed.
TEMPLATE_ONLY = {
    "MEDFED_PROXY_LISTEN",
    "MEDFED_PROXY_TLS_DIR",
    "MEDFED_SERVER_1",
    "MEDFED_SERVER_2",
    "MEDFED_PUBLIC_HOSTNAME",
}


def _variables(text: str) -> set[str]:
    return set(re.findall(r"\bMEDFED_[A-Z0-9_]+\b", text))


@pytest.mark.parametrize(
    "path", sorted(p for p in DEPLOY.rglob("*") if p.is_file()), ids=lambda p: p.name
)
def test_every_medfed_variable_in_the_deployment_files_is_a_real_setting(path: Path) -> None:
    unknown = _variables(path.read_text()) - SETTINGS - TEMPLATE_ONLY
    assert not unknown, f"{path.relative_to(ROOT)} names settings MedFed does not have: {unknown}"


def test_the_dockerfile_pins_its_bases_runs_unprivileged_and_checks_health() -> None:
    parser = DockerfileParser(path=str(DEPLOY / "docker" / "Dockerfile"))
    structure = parser.structure
    stages = {}  # name -> (base, instructions)
    for index, instruction in enumerate(structure):
        if instruction["instruction"] == "FROM":
            base, _, name = instruction["value"].partition(" AS ")
            rest = structure[index + 1 :]
            end = next((i for i, x in enumerate(rest) if x["instruction"] == "FROM"), len(rest))
            stages[name.strip()] = (
                base.strip(),
                [(x["instruction"], x["value"]) for x in rest[:end]],
            )
    assert set(stages) == {"build", "runtime", "server", "node"}
    for name in ("build", "runtime"):
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", stages[name][0]), stages[name][0]
    assert stages["server"][0] == stages["node"][0] == "runtime"
    runtime = stages["runtime"][1]
    users = [value for kind, value in runtime if kind == "USER"]
    assert users and users[-1] not in {"root", "0"}, "both images run unprivileged"
    assert ("COPY", "--from=build /opt/medfed /opt/medfed") in runtime  # no compilers in it
    server, node = stages["server"][1], stages["node"][1]
    assert ("EXPOSE", "8000") in server and not any(kind == "EXPOSE" for kind, _ in node)
    assert any(k == "HEALTHCHECK" and "server" in v and "healthcheck" in v for k, v in server)
    assert any(k == "HEALTHCHECK" and "node" in v and "status" in v for k, v in node)
    environment = " ".join(value for kind, value in runtime if kind == "ENV")
    assert "MEDFED_HOME=/data" in environment and "MEDFED_ENV=production" in environment
    # The PyTorch it installs is the CPU build of the version the project pins.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_pin = next(d for d in project["dependencies"] if d.startswith("torch"))
    runs = " ".join(value for kind, value in stages["build"][1] if kind == "RUN")
    assert torch_pin in runs and "download.pytorch.org/whl/cpu" in runs
    for instruction in structure:
        if instruction["instruction"] == "COPY" and "--from" not in instruction["value"]:
            for source in instruction["value"].split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def _compose(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose" / name).read_text())
    assert isinstance(data, dict)
    return data


def test_the_compose_network_is_wired_as_the_replicated_test_runs_it() -> None:
    compose = _compose("compose.yaml")
    services = compose["services"]
    assert {"postgres", "minio", "migrate", "server-1", "server-2", "proxy"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / "compose" / source).resolve().exists(), source
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"
        assert not str(service.get("image", "")).endswith(":latest"), name
        assert ":" in str(service.get("image", "x:pinned")), f"{name}: image without a tag"
    servers = [services["server-1"], services["server-2"]]
    for server in servers:
        env = server["environment"]
        assert env["MEDFED_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["MEDFED_STORAGE_URL"].startswith("s3://")
        assert env["MEDFED_NODE_MTLS"] == "required" and env["MEDFED_AUTO_MIGRATE"] == "false"
        assert server["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        # The one address whose forwarded headers are believed is the proxy's own.
        proxy_address = services["proxy"]["networks"]["medfed"]["ipv4_address"]
        assert env["MEDFED_TRUSTED_PROXIES"] == proxy_address
        # The settings MedFed reads from them are valid values.
        values = {
            k.removeprefix("MEDFED_").lower(): v
            for k, v in env.items()
            if "${" not in str(v) and k.startswith("MEDFED_")
        }
        Settings(**values)
    proxy_env = services["proxy"]["environment"]
    for upstream in (proxy_env["MEDFED_SERVER_1"], proxy_env["MEDFED_SERVER_2"]):
        host, port = upstream.split(":")
        assert host in services and port == "8000"
    hospitals = [services[f"hospital-{i}"] for i in (1, 2, 3)]
    homes = {h["volumes"][0].split(":")[0] for h in hospitals}
    assert len(homes) == 3 and homes <= set(compose["volumes"]), "each node has its own home"
    for hospital in hospitals:
        assert hospital["build"]["target"] == "node" and "--if-needed" in hospital["command"][0]
        assert hospital["volumes"][1].endswith(":/patients:ro")
    node = _compose("node.compose.yaml")["services"]["node"]
    assert node["command"][:2] == ["node", "participate"]
    assert any(v.endswith(":ro") for v in node["volumes"]), "patient files are mounted read-only"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="`make setup` installs it")
@pytest.mark.parametrize("name", ["compose.yaml", "node.compose.yaml"])
def test_docker_compose_accepts_the_compose_files(name: str, tmp_path: Path) -> None:
    example = (DEPLOY / "compose" / "example.env").read_text()
    env = dict(line.split("=", 1) for line in example.splitlines() if re.match(r"^\w+=", line))
    result = subprocess.run(
        ["docker-compose", "-f", str(DEPLOY / "compose" / name), "config", "--quiet"],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_nginx_template_forwards_what_the_servers_expect() -> None:
    template = (DEPLOY / "nginx" / "medfed.conf.template").read_text()
    header = Settings().client_cert_header
    assert f"proxy_set_header {header} $ssl_client_escaped_cert;" in template
    assert "ssl_verify_client optional;" in template
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", template).group(1))  # type: ignore[union-attr]
    assert timeout > 55, "nodes long-poll for up to 55 s"
    assert set(re.findall(r"\$\{(MEDFED_\w+)\}", template)) <= TEMPLATE_ONLY


def _values_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        if isinstance(value, dict):
            paths |= _values_paths(value, path)
    return paths


def _rendered(chart: str) -> dict[str, list[dict[str, Any]]]:
    """The chart rendered by Helm's own engine (its Go SDK, no cluster), by kind."""
    import helm_python

    report = helm_python.lint(str(DEPLOY / "helm" / chart), strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not errors, errors
    loaded = helm_python.Chart.load(str(DEPLOY / "helm" / chart))
    try:
        rendered = loaded.render(name="st-mary", namespace="medfed", is_install=True)
    finally:
        loaded.close()
    kinds: dict[str, list[dict[str, Any]]] = {}
    for path, text in rendered.items():
        if path.endswith(".yaml"):
            for document in yaml.safe_load_all(text):
                if document:
                    kinds.setdefault(document["kind"], []).append(document)
    return kinds


def _container_settings(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", []) if e["name"].startswith("MEDFED_")}


def test_the_server_chart_renders_replicas_migrations_and_a_client_certificate_ingress() -> None:
    kinds = _rendered("medfed")
    assert set(kinds) == {"ConfigMap", "Deployment", "Ingress", "Job", "Service"}
    deployment = kinds["Deployment"][0]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    server = pod["containers"][0]
    config = kinds["ConfigMap"][0]["data"]
    assert server["envFrom"][0]["configMapRef"]["name"] == kinds["ConfigMap"][0]["metadata"]["name"]
    names = _container_settings(server) | set(config)
    assert names <= SETTINGS, names - SETTINGS
    assert {"MEDFED_SECRET_KEY", "MEDFED_DATABASE_URL", "MEDFED_S3_SECRET_ACCESS_KEY"} <= {
        e["name"] for e in server["env"] if "secretKeyRef" in e.get("valueFrom", {})
    }, "secrets come from a Secret, never from values"
    Settings(**{k.removeprefix("MEDFED_").lower(): v for k, v in config.items()})
    assert config["MEDFED_NODE_MTLS"] == "required" and config["MEDFED_AUTO_MIGRATE"] == "false"
    job = kinds["Job"][0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["server", "migrate"]
    ingress = kinds["Ingress"][0]["metadata"]["annotations"]
    assert ingress["nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream"] == "true"
    assert config["MEDFED_CLIENT_CERT_HEADER"] == "ssl-client-cert"  # where ingress-nginx puts it
    assert int(ingress["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > 55


def test_the_node_chart_renders_one_node_with_its_own_volume_and_read_only_patients() -> None:
    kinds = _rendered("medfed-node")
    assert set(kinds) == {"StatefulSet"}
    statefulset = kinds["StatefulSet"][0]
    assert statefulset["spec"]["replicas"] == 1
    pod = statefulset["spec"]["template"]["spec"]
    enroll, node = pod["initContainers"][0], pod["containers"][0]
    assert "--if-needed" in enroll["args"][0]
    assert node["args"][:2] == ["node", "participate"]
    mounts = {m["name"]: m for m in node["volumeMounts"]}
    assert mounts["patients"]["readOnly"] is True
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "home"
    assert (_container_settings(node) | _container_settings(enroll)) <= SETTINGS
