"""Predictions under load against real server processes: SIGKILL while batches commit loses no
answered prediction and half-writes none; several worker processes share one database, and
exactly one of them runs the round ticker. On SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.config import Settings
from medfed.server.db.leader import ADVISORY_KEY
from medfed.server.db.tables import AuditEvent, Prediction
from medfed.server.services import audit
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.utils.locks import flock_is_held
from tests.utils.processes import ServerProcess, medfed_env, running_server

PATIENT = dict(age=61, sex="female", chest_pain="typical", resting_bp=120, max_heart_rate=150)
PATIENT.update(exercise_angina="no", st_depression=0.4)


def _env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    return medfed_env(
        tmp_path / "home",
        settings.resolved_database_url,
        MEDFED_ARTIFACTS_DIR=str(settings.resolved_artifacts_dir),
        **extra,
    )


def _token(server: ServerProcess, username: str) -> str:
    answer = httpx.post(
        server.url + "/api/v1/auth/token",
        json={"username": username, "password": DEFAULT_PASSWORD},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _hammer(url: str, token: str, stop: threading.Event) -> list[int]:
    """Predict until told to stop or the server goes away; the ids of the 200 answers."""
    answered = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            try:
                reply = client.post(
                    url + "/api/v1/models/heart/predict",
                    json={"patient": PATIENT, "explain": True},
                    headers=headers,
                )
            except httpx.HTTPError:
                return answered
            if reply.status_code == 200:
                answered.append(int(reply.json()["prediction_id"]))
            else:
                assert reply.status_code >= 500, reply.text  # only the dying server may fail
    return answered


def _check_records(db: Session, answered: list[int]) -> None:
    db.rollback()
    stored = set(db.scalars(select(Prediction.id)))
    assert set(answered) <= stored, "an answered prediction is missing"
    events = db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == str(AuditAction.PREDICTION))
    ).all()
    assert sorted(e["prediction_id"] for e in events) == sorted(stored)  # none half-written
    verdict = audit.verify(db)
    db.rollback()  # on SQLite every session holds the write lock until it ends
    assert verdict.ok, verdict


def test_sigkill_while_predictions_commit_loses_none_that_was_answered(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    username = make_user(trained_db, "doctor").username
    trained_db.commit()
    answered: list[int] = []
    for attempt in range(2):  # killed at two different moments
        with running_server(
            _env(trained_settings, tmp_path), tmp_path / f"server-{attempt}.log"
        ) as server:
            token = _token(server, username)
            stop = threading.Event()
            with ThreadPoolExecutor(16) as pool:
                futures = [pool.submit(_hammer, server.url, token, stop) for _ in range(16)]
                time.sleep(1.5 + attempt)
                os.kill(server.process.pid, signal.SIGKILL)
                server.process.wait()
                stop.set()
                got = [i for f in futures for i in f.result()]
            assert got, server.log()
            answered += got
        _check_records(trained_db, answered)
    assert len(answered) == len(set(answered))


def _leader_held(settings: Settings, db: Session) -> bool:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite":
        db.rollback()
        held = db.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objid = :key AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"key": ADVISORY_KEY},
        )
        return bool(held)
    return flock_is_held(f"{url.database}.leader")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: object, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_several_workers_serve_one_database_and_one_runs_the_ticker(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    username = make_user(trained_db, "doctor").username
    trained_db.commit()
    env = _env(trained_settings, tmp_path, MEDFED_WORKERS="2")
    with running_server(env, tmp_path / "server.log") as server:
        workers = [
            int(pid)
            for pid in Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
            .read_text()
            .split()
        ]
        assert len(workers) >= 2, server.log()
        assert _wait_for(lambda: _leader_held(trained_settings, trained_db)), server.log()
        token = _token(server, username)
        stop = threading.Event()
        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(_hammer, server.url, token, stop) for _ in range(12)]
            time.sleep(2)
            stop.set()
            answered = [i for f in futures for i in f.result()]
        assert len(answered) == len(set(answered)) > 50
        _check_records(trained_db, answered)
        for pid in workers:  # whichever led, the lead passes to the workers started after
            os.kill(pid, signal.SIGKILL)
        assert _wait_for(lambda: all(_gone(pid) for pid in workers)), server.log()
        assert _wait_for(lambda: _leader_held(trained_settings, trained_db)), server.log()
        # Each worker has its own socket: until a replacement listens, connections are refused.
        assert _wait_for(lambda: _ready(server.url)), server.log()
