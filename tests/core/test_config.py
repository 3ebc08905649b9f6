from __future__ import annotations

from pathlib import Path

import pytest

from medfed.core.config import Settings, load_settings, settings_reference
from medfed.core.errors import ConfigurationError

STRONG = "k" * 20 + "0123456789abcdefghijkl"


def test_defaults_use_sqlite_in_home(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'medfed.db').resolve()}"
    assert settings.is_sqlite


def test_environment_overrides_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "medfed.yaml"
    config.write_text("port: 9001\nlog_level: debug\n")
    monkeypatch.setenv("MEDFED_PORT", "9002")
    settings = load_settings(config)
    assert settings.port == 9002
    assert settings.log_level == "DEBUG"


def test_yaml_with_unknown_key_is_refused_and_named(tmp_path: Path) -> None:
    config = tmp_path / "medfed.yaml"
    config.write_text("prot: 9001\n")
    with pytest.raises(ConfigurationError, match="unknown settings: prot"):
        load_settings(config)


def test_missing_and_malformed_yaml_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_settings(bad)


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDFED_PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match="MEDFED_PORT"):
        load_settings()


@pytest.mark.parametrize("secret", [None, "changeme", "short-but-random"])
def test_production_refuses_missing_default_or_short_secret(
    tmp_path: Path, secret: str | None
) -> None:
    settings = load_settings(env="production", home=tmp_path, secret_key=secret)
    with pytest.raises(ConfigurationError, match="MEDFED_SECRET_KEY"):
        settings.require_secret_key()


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    settings = load_settings(env="production", home=tmp_path, secret_key=STRONG)
    assert settings.require_secret_key() == STRONG
    assert settings.session_cookie_secure


def test_production_refuses_crash_test_fault_points(tmp_path: Path) -> None:
    settings = load_settings(
        env="production", home=tmp_path, secret_key=STRONG, fault_point="deploy:before_commit"
    )
    with pytest.raises(ConfigurationError, match="MEDFED_FAULT_POINT"):
        settings.require_secret_key()


def test_development_generates_and_keeps_a_private_secret(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    first = settings.require_secret_key()
    assert len(first) >= 32
    assert load_settings(home=tmp_path).require_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_reference_covers_every_setting() -> None:
    variables = {row[0] for row in settings_reference()}
    assert variables == {f"MEDFED_{name.upper()}" for name in Settings.model_fields}
    assert all(row[2] for row in settings_reference()), "every setting needs a description"
