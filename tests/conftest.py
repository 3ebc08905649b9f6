"""Fixtures: a fresh, migrated database per test on SQLite (default) or PostgreSQL.

Set MEDFED_TEST_DATABASE_URL=postgresql+psycopg://user@host/db to run against PostgreSQL: the
suite creates its own uniquely named databases there and drops them afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from medfed.core.config import PACKAGED_DATASETS_DIR, Settings, load_settings
from medfed.server.app import create_app
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.db.migrate import upgrade_to_head
from medfed.server.services.baselines import ensure_baselines
from medfed.server.storage import LocalArtifactStore
from tests.utils.browser import chromium
from tests.utils.processes import ServerProcess, medfed_env, running_server

POSTGRES_URL = os.environ.get("MEDFED_TEST_DATABASE_URL")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `own_database` never touch the suite's database (`medfed simulate` runs its
    own server on its own SQLite file; a node alone has none): on a PostgreSQL run they would
    repeat the SQLite run exactly, so they run once, there."""
    if POSTGRES_URL is None:
        return
    repeat = pytest.mark.skip(reason="never uses the suite's database; the SQLite run covers it")
    for item in items:
        if item.get_closest_marker("own_database"):
            item.add_marker(repeat)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what each test says, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("MEDFED_") and name != "MEDFED_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


class PostgresDatabases:
    """Creates databases from a migrated template, one per test, inside one run's namespace."""

    def __init__(self, url: str) -> None:
        self.base = make_url(url)
        self.run_id = uuid.uuid4().hex[:10]
        self.template = f"medfed_test_{self.run_id}_template"
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def create_template(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.template}"'))
        self.created.append(self.template)
        engine = make_engine(self.url_for(self.template))
        upgrade_to_head(engine)
        engine.dispose()

    def fresh(self, template: str | None = None) -> str:
        name = f"medfed_test_{self.run_id}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.execute(
                text(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"')
            )
        self.created.append(name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[PostgresDatabases | None]:
    if not POSTGRES_URL:
        yield None
        return
    databases = PostgresDatabases(POSTGRES_URL)
    databases.create_template()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "medfed.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The copy that ships inside the package: the product's default."""
    return PACKAGED_DATASETS_DIR


@dataclass(frozen=True)
class TrainedTemplate:
    """A database holding the five v1.0 baselines, and the artifact folder they live in."""

    database: str  # SQLite file path or PostgreSQL database name
    artifacts_dir: Path


@pytest.fixture(scope="session")
def _trained_template(
    tmp_path_factory: pytest.TempPathFactory,
    _postgres: PostgresDatabases | None,
    _sqlite_template: Path,
    datasets_dir: Path,
) -> TrainedTemplate:
    """Baselines are trained once per test run (they take about 20 s) and copied per test."""
    root = tmp_path_factory.mktemp("trained")
    artifacts = root / "artifacts"
    if _postgres is not None:
        url = _postgres.fresh()
        name = str(make_url(url).database)
    else:
        name = str(root / "medfed.db")
        shutil.copyfile(_sqlite_template, name)
        url = f"sqlite:///{name}"
    engine = make_engine(url)
    outcomes = ensure_baselines(
        make_session_factory(engine), LocalArtifactStore(artifacts), datasets_dir
    )
    engine.dispose()
    assert all(outcome.startswith("trained") for outcome in outcomes.values()), outcomes
    return TrainedTemplate(name, artifacts)


def _copy_database(
    tmp_path: Path,
    postgres: PostgresDatabases | None,
    template: str | Path | None,
    sqlite_source: Path,
) -> str:
    if postgres is not None:
        return postgres.fresh(str(template) if template else None)
    path = tmp_path / "db" / "medfed.db"
    path.parent.mkdir(exist_ok=True)
    shutil.copyfile(sqlite_source, path)
    return f"sqlite:///{path}"


@pytest.fixture
def database_url(
    tmp_path: Path, _postgres: PostgresDatabases | None, _sqlite_template: Path
) -> Iterator[str]:
    """A migrated, empty database that only this test sees."""
    url = _copy_database(tmp_path, _postgres, None, _sqlite_template)
    yield url
    if _postgres is not None:
        _postgres.drop(url)


def settings_on(
    root: Path, url: str, template: TrainedTemplate | None, datasets_dir: Path, **extra: object
) -> Settings:
    """Test settings on database `url` (with the trained template's artifacts, if given)."""
    if template is not None:
        extra["artifacts_dir"] = template.artifacts_dir
    return load_settings(
        env="test",
        home=root / "home",
        node_home=root / "node",
        database_url=url,
        secret_key=TEST_SECRET,
        datasets_dir=datasets_dir,
        train_baselines=False,
        round_tick_seconds=0,  # tests move rounds explicitly, with the time they choose
        **extra,
    )


@pytest.fixture
def trained_settings(
    tmp_path: Path,
    _postgres: PostgresDatabases | None,
    _trained_template: TrainedTemplate,
    datasets_dir: Path,
) -> Iterator[Settings]:
    """Settings on a database of its own that already holds the five baselines."""
    template = _trained_template.database
    url = _copy_database(tmp_path, _postgres, template if _postgres else None, Path(template))
    yield settings_on(tmp_path, url, _trained_template, datasets_dir)
    if _postgres is not None:
        _postgres.drop(url)


@pytest.fixture
def trained_client(trained_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(trained_settings)) as test_client:
        yield test_client


@pytest.fixture
def trained_db(trained_settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(trained_settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, datasets_dir: Path) -> Settings:
    return settings_on(tmp_path, database_url, None, datasets_dir)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def db(settings: Settings):  # type: ignore[no-untyped-def]
    """A session on the test database for arranging data and checking results."""
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        yield session
    engine.dispose()


@pytest.fixture
def live_server(
    trained_settings: Settings, tmp_path: Path
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A real `medfed server start` process on a database holding the six baselines."""
    env = medfed_env(
        tmp_path / "server-home",
        trained_settings.resolved_database_url,
        MEDFED_ARTIFACTS_DIR=str(trained_settings.resolved_artifacts_dir),
        MEDFED_POLICY_MIN_ROWS="50",
    )
    with running_server(env, tmp_path / "server.log") as process:
        yield process, env


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by one test module's browser journeys."""
    with chromium() as launched:
        yield launched
