from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.config import Settings
from medfed.server.db.engine import make_engine, make_session_factory, transaction
from medfed.server.db.tables import AuditEvent
from medfed.server.services import audit


def test_events_chain_and_verify(db: Session) -> None:
    for index in range(5):
        audit.record(db, actor="user:a", action=AuditAction.LOGIN, details={"i": index})
    db.commit()
    verdict = audit.verify(db)
    assert verdict.ok and verdict.rows_checked == 5


def test_rolled_back_transaction_leaves_no_gap(db: Session) -> None:
    audit.record(db, actor="user:a", action=AuditAction.LOGIN)
    db.commit()
    audit.record(db, actor="user:a", action=AuditAction.LOGIN)
    db.rollback()
    audit.record(db, actor="user:a", action=AuditAction.LOGOUT)
    db.commit()
    assert [e.seq for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == [1, 2]
    assert audit.verify(db).ok


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET outcome = 'denied'", "DELETE FROM audit_events"]
)
def test_database_refuses_to_change_audit_rows(db: Session, statement: str) -> None:
    audit.record(db, actor="user:a", action=AuditAction.LOGIN)
    db.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text(statement))
    db.rollback()
    assert audit.verify(db).ok


def test_concurrent_appends_are_serialised_without_gaps(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for index in range(10):
                with transaction(factory) as session:
                    audit.record(
                        session,
                        actor=f"user:w{worker}",
                        action=AuditAction.LOGIN,
                        details={"i": index},
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with factory() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, 81))
        assert audit.verify(session).ok
    engine.dispose()
