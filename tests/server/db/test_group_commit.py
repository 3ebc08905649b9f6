"""Group commit on the real test database: many writers share commits, the audit chain stays
gapless, and one bad item fails alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.config import Settings
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.db.group_commit import BatchWriter, GroupCommit
from medfed.server.db.tables import AuditEvent, Prediction
from medfed.server.services import audit, predictions, registry
from tests.factories import make_user


def _record(user_id: int, username: str, version_id: int) -> predictions.PredictionRecord:
    return predictions.PredictionRecord(
        user_id=user_id,
        username=username,
        disease="heart",
        model_version_id=version_id,
        model_version="v1.0",
        probability=0.5,
        risk_band="moderate",
        arm="active",
        inputs=None,
    )


@pytest.fixture
def record(trained_db: Session) -> predictions.PredictionRecord:
    """What a doctor's prediction with the active heart model writes."""
    doctor = make_user(trained_db, "doctor")
    version = registry.active_version(trained_db, "heart")
    made = _record(doctor.id, doctor.username, version.id)
    trained_db.commit()
    return made


@pytest.fixture
def engine(trained_settings: Settings) -> Iterator[Engine]:
    made = make_engine(trained_settings.resolved_database_url)
    yield made
    made.dispose()


def test_many_writers_share_commits_and_the_chain_stays_whole(
    trained_db: Session, record: predictions.PredictionRecord, engine: Engine
) -> None:
    writer = GroupCommit(make_session_factory(engine))
    direct = make_session_factory(engine)
    start = threading.Barrier(16)

    def request(_: int) -> list[int]:
        start.wait()
        return [writer.submit(predictions.RECORDS, record).result(30) for _ in range(25)]

    def other_writer() -> None:  # ordinary transactions append to the same chain meanwhile
        for n in range(20):
            with direct() as session, session.begin():
                audit.record(session, actor="test", action=AuditAction.LOGIN, details={"n": n})

    try:
        with ThreadPoolExecutor(17) as pool:
            side = pool.submit(other_writer)
            ids = [i for batch in pool.map(request, range(16)) for i in batch]
            side.result()
    finally:
        writer.close()
    assert len(ids) == len(set(ids)) == 400
    assert writer.items == 400 and writer.batches < 400  # requests shared commits
    trained_db.rollback()
    stored = trained_db.scalar(select(func.count()).select_from(Prediction))
    assert stored == 400
    events = trained_db.scalars(
        select(AuditEvent).where(AuditEvent.action == str(AuditAction.PREDICTION))
    ).all()
    assert sorted(e.details["prediction_id"] for e in events) == sorted(ids)
    verdict = audit.verify(trained_db)
    assert verdict.ok, verdict


def test_one_bad_item_fails_alone_and_close_writes_what_is_queued(
    trained_db: Session, record: predictions.PredictionRecord, engine: Engine
) -> None:
    good = record
    bad = replace(record, user_id=10**9)  # no such user: the foreign key refuses it
    gate = threading.Event()

    def slow(session: Session, items: list[int]) -> list[int]:
        gate.wait(10)  # holds the thread so that the next items queue up into one batch
        return items

    writer = GroupCommit(make_session_factory(engine))
    try:
        first = writer.submit(BatchWriter("slow", slow), 1)
        futures = [writer.submit(predictions.RECORDS, r) for r in (good, bad, good)]
        gate.set()
        assert first.result(30) == 1
        with pytest.raises(Exception, match=r"(?i)foreign key|violates"):
            futures[1].result(30)
        assert futures[0].result(30) != futures[2].result(30)
        late = writer.submit(predictions.RECORDS, good)
    finally:
        writer.close()
    assert late.done() and late.result() > 0
    with pytest.raises(RuntimeError, match="stopping"):
        writer.submit(predictions.RECORDS, good)
    trained_db.rollback()
    assert trained_db.scalar(select(func.count()).select_from(Prediction)) == 3
    assert audit.verify(trained_db).ok
