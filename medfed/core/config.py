"""The one settings object: environment variables `MEDFED_*` and an optional YAML file."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from medfed.core.errors import ConfigurationError

Environment = Literal["development", "test", "production"]

# Values that must never protect a real deployment.
KNOWN_WEAK_SECRETS = frozenset(
    {"", "secret", "changeme", "change-me", "dev", "development", "medfed"}
)
MIN_SECRET_LENGTH = 32
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # the CLI's, and its helper processes'


# The public datasets ship inside the package (CC BY 4.0; see datasets/LICENSE.md).
PACKAGED_DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"


def _default_datasets_dir() -> Path:
    return PACKAGED_DATASETS_DIR


class Settings(BaseSettings):
    """Every tunable of MedFed. Field descriptions feed `medfed config docs` and the README table."""

    model_config = SettingsConfigDict(env_prefix="MEDFED_", extra="ignore", frozen=True)

    env: Environment = Field(
        "development",
        description="development, test or production; production refuses weak or missing secrets.",
    )
    home: Path = Field(
        Path(".medfed"), description="Server home: SQLite database, model artifacts and keys."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default is SQLite in the home folder. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key for CSRF tokens. Required outside development (32+ characters); "
        "in development one is generated into the home folder.",
    )
    datasets_dir: Path = Field(
        default_factory=_default_datasets_dir,
        description="Folder of the public datasets used for the baseline models; default: the "
        "copy shipped inside the medfed package.",
    )
    artifacts_dir: Path | None = Field(
        None,
        description="Where model artifacts are stored; default: `artifacts` in the home folder.",
    )
    storage_url: str | None = Field(
        None,
        description="Keep model artifacts in S3-compatible object storage instead of "
        "`artifacts_dir`: `s3://bucket/prefix` (several server processes on several machines "
        "then share them).",
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[\w./\-]*)?$",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="The S3-compatible service's address (MinIO, Ceph, moto...); default: AWS.",
    )
    s3_region: str = Field("us-east-1", description="The object storage's region.")
    s3_access_key_id: str | None = Field(
        None, description="Object storage key id; default: the AWS SDK's own lookup."
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description="Object storage secret key (never logged); default: the SDK's lookup."
    )
    holdout_evidence: bool = Field(
        True,
        description="Weigh the public held-out rows as promotion evidence beside the hospitals' "
        "own validation rows. Turn off when those rows may also be hospital rows (a simulation "
        "built from the same public data); their metrics are then only shown, never decisive.",
    )
    train_baselines: bool = Field(
        True, description="Train the v1.0 baseline of every disease that has no model at start-up."
    )
    policy_min_rows: int = Field(
        200,
        ge=1,
        description="Fewest training rows a hospital needs to contribute (network policy).",
    )
    policy_epsilon_cap: float = Field(
        10.0, gt=0, description="Network cap on each hospital's total epsilon per disease."
    )
    policy_target_epsilon: float = Field(
        1.0, gt=0, description="Default epsilon of one contribution (DP-SGD target)."
    )
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Server worker processes. Default: the number of CPU cores (on SQLite too: "
        "a prediction spends most of its time outside the single write lock, and rows are "
        "committed in groups). The round ticker runs in one of them at a time (a database or "
        "file lock decides which).",
    )
    auto_migrate: bool = Field(
        True, description="Apply database migrations when the server starts."
    )
    log_level: str = Field("INFO", description="Python log level.")
    cookie_secure: bool | None = Field(
        None, description="Mark the session cookie Secure; default: on in production."
    )
    session_ttl_minutes: int = Field(480, ge=1, description="Lifetime of a web session.")
    api_token_ttl_minutes: int = Field(60, ge=1, description="Lifetime of an API bearer token.")
    enrollment_token_ttl_hours: int = Field(
        72, ge=1, description="How long a hospital's one-time enrollment token stays valid."
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        description="Wrong passwords in a row for one account from one address before that "
        "account waits there (other addresses are not affected).",
    )
    login_lockout_minutes: int = Field(
        15, ge=1, description="How long an account waits at an address after too many failures."
    )
    login_rate_per_minute: int = Field(
        20, ge=1, description="Login attempts allowed per client address per minute."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed, comma-separated (e.g. 10.0.0.5,10.0.1.0/24). "
        "Empty (the "
        "default): those headers are ignored, so nobody can claim another address to escape "
        "the per-address login limits.",
    )
    tls_cert: Path | None = Field(
        None,
        description="The server's TLS certificate (PEM, chain included): the server then speaks "
        "https itself. Set with MEDFED_TLS_KEY.",
    )
    tls_key: Path | None = Field(None, description="The private key of MEDFED_TLS_CERT (PEM).")
    tls_hostnames: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Names and addresses nodes and browsers reach the server by, comma-separated: "
        "without MEDFED_TLS_CERT the server then issues its own TLS certificate for them from the "
        "network's certificate authority (kept in the home folder, renewed at start when due), "
        "which nodes trust through their enrollment token.",
    )
    node_certificate_days: int = Field(
        30,
        ge=1,
        le=397,
        description="Lifetime of a node's client certificate; a running node renews it once a "
        "third of that is left.",
    )
    node_mtls: Literal["auto", "required", "off"] = Field(
        "auto",
        description="Whether node requests must present the node's client certificate (mutual "
        "TLS) besides its credential. auto: required on connections to the server's own TLS "
        "port; required: always (behind a proxy that forwards the certificate); off: never.",
    )
    client_cert_header: str = Field(
        "X-Client-Cert",
        description="Header in which a trusted proxy (MEDFED_TRUSTED_PROXIES) forwards the "
        "client certificate it verified, URL-encoded PEM (nginx: $ssl_client_escaped_cert); "
        "ignored from anyone else.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that /metrics requires (at least 32 characters). Unset: "
        "/metrics is off and answers 404, since it lists every route with counts and latency.",
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest request body the server accepts."
    )
    admin_password: SecretStr | None = Field(
        None, description="Password for `medfed server init` when no prompt is wanted."
    )
    disease_specs_dir: Path | None = Field(
        None,
        description="Folder of extra disease spec YAML files (a network's own diseases), added "
        "to the built-in five; server and nodes must use the same folder.",
    )
    node_home: Path = Field(
        Path(".medfed-node"), description="Hospital node home: credential, ledger, job history."
    )
    round_tick_seconds: float = Field(
        1.0,
        ge=0,
        description="How often the server checks federated rounds for deadlines (a step also "
        "ends as soon as its last message arrives); 0 turns the ticker off.",
    )
    fault_point: str | None = Field(
        None,
        description="Testing only: the server kills itself (SIGKILL) at this named point.",
    )

    @field_validator("tls_hostnames", mode="before")
    @classmethod
    def _hostname_list(cls, value: object) -> object:
        return _comma_list(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                "MEDFED_TLS_CERT and MEDFED_TLS_KEY go together: set both (or neither, and "
                "MEDFED_TLS_HOSTNAMES for a certificate the server issues itself)"
            )
        return self

    @property
    def serves_tls(self) -> bool:
        return self.tls_cert is not None or bool(self.tls_hostnames)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            for entry in value:
                try:
                    ipaddress.ip_network(str(entry), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{entry!r} is not an address or network, e.g. 10.0.0.5 or 10.0.0.0/24"
                    ) from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _upper_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env files or secret directories: configuration is explicit.
        return (init_settings, env_settings)

    # Derived values -------------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'medfed.db').resolve()}"

    @property
    def resolved_artifacts_dir(self) -> Path:
        return self.artifacts_dir or self.home / "artifacts"

    @property
    def worker_processes(self) -> int:
        if self.workers is not None:
            return self.workers
        url = self.resolved_database_url
        if self.is_sqlite and (url.endswith(":memory:") or url.rstrip("/") == "sqlite:"):
            return 1  # an in-memory database belongs to one process
        return os.cpu_count() or 1

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def session_cookie_secure(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.env == "production"

    def require_secret_key(self) -> str:
        """The secret key, refusing weak ones outside development (generating one in development)."""
        if self.env == "production" and self.fault_point:
            raise ConfigurationError(
                "MEDFED_FAULT_POINT makes the server kill itself for crash tests; unset it in "
                "production."
            )
        value = self.secret_key.get_secret_value() if self.secret_key else None
        if self.env == "development" and (value is None or value in KNOWN_WEAK_SECRETS):
            return _development_secret(self.home)
        if value is None:
            raise ConfigurationError(
                f"No secret key is set and MEDFED_ENV={self.env}. Set MEDFED_SECRET_KEY to a random "
                "value of at least 32 characters, for example the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        if value.lower() in KNOWN_WEAK_SECRETS or len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"MEDFED_SECRET_KEY is a default or too short ({len(value)} characters) for "
                f"MEDFED_ENV={self.env}. Use a random value of at least {MIN_SECRET_LENGTH} "
                "characters."
            )
        return value


def _comma_list(value: object) -> object:
    """A comma-separated environment variable as a list (a list stays as it is)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _development_secret(home: Path) -> str:
    """A per-installation random key kept in the home folder, so development needs no setup."""
    path = home / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    from medfed.core.files import write_private_file

    write_private_file(path, value + "\n")
    return value


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from an optional YAML file, the environment and explicit overrides."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = _read_yaml_config(config_file)
    try:
        # Precedence: explicit overrides, then the environment, then the file, then defaults.
        from_environment = Settings()
        environment_values = {
            name: getattr(from_environment, name) for name in from_environment.model_fields_set
        }
        settings = Settings(**{**file_values, **environment_values, **overrides})
    except ValidationError as exc:
        raise ConfigurationError(_describe_validation_error(exc)) from exc
    return apply_to_process(settings)


def apply_to_process(settings: Settings) -> Settings:
    """What settings change for the whole process (the network's own disease specs join the
    catalog): done once for the CLI's settings and once in each server worker."""
    from medfed.core.catalog import use_spec_folder

    use_spec_folder(settings.disease_specs_dir)
    return settings


def _read_yaml_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigurationError(f"Config file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"Config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"Config file {path} must hold a mapping of setting: value.")
    known = set(Settings.model_fields)
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise ConfigurationError(
            f"Config file {path} has unknown settings: {', '.join(unknown)}. "
            f"Known settings: {', '.join(sorted(known))}."
        )
    return data


def _describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = ".".join(str(item) for item in error["loc"]) or "settings"
        parts.append(f"MEDFED_{name.upper()} ({name}): {error['msg']}")
    return "Invalid settings: " + "; ".join(parts)


def settings_reference() -> list[tuple[str, str, str]]:
    """Rows (environment variable, default, description) for documentation."""
    rows = []
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            # Paths inside the installed package differ per machine; name them by package.
            default = (
                "(inside the medfed package)" if value == PACKAGED_DATASETS_DIR else str(value)
            )
        elif field.default is None:
            default = "(unset)"
        else:
            default = str(field.default)
        rows.append((f"MEDFED_{name.upper()}", default, field.description or ""))
    return rows


def settings_reference_markdown() -> str:
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for variable, default, description in settings_reference():
        lines.append(f"| `{variable}` | `{default}` | {description} |")
    return "\n".join(lines)
