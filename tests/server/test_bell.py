"""The round bell: rings after a commit (never after a rollback), only for the hospitals it
names, and a ring between subscribing and waiting is not lost."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from medfed.server.bell import Bell, Ring, note
from medfed.server.db.engine import make_engine, make_session_factory


def _factory(settings: Settings, bell: Bell):  # type: ignore[no-untyped-def]
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    bell.watch(factory)
    return factory


def test_a_noted_change_rings_after_its_commit_and_not_after_a_rollback(
    settings: Settings, db: Session
) -> None:
    bell = Bell()
    factory = _factory(settings, bell)
    with factory() as session:
        note(session, [1])
        assert bell.rings == 0 and not bell.kick.is_set()  # nothing before the commit
        session.commit()
    assert bell.rings == 1 and bell.kick.is_set()
    bell.kick.clear()
    with factory() as session:
        session.execute(text("SELECT 1"))
        note(session, None)
        session.rollback()
        session.commit()  # a later commit of the same session carries no stale note
    assert bell.rings == 1 and not bell.kick.is_set()


def test_rings_wake_only_the_hospitals_they_name_and_none_is_lost() -> None:
    bell = Bell()

    async def scenario() -> dict[str, bool]:
        with bell.subscribe(1) as one, bell.subscribe(2) as two:
            bell.ring(Ring(frozenset({1})))  # before anyone waits: kept for the next wait
            heard = {"one early": await one.wait(0.5), "two early": await two.wait(0.05)}
            bell.ring(Ring(None))  # everyone
            heard["one all"] = await one.wait(0.5)
            heard["two all"] = await two.wait(0.5)
            heard["one again"] = await one.wait(0.05)  # each ring is heard once
            bell.ring(Ring(frozenset(), kick=True))  # the ticker's business only
            heard["two ticker"] = await two.wait(0.05)
        assert bell.waiting == 0
        return heard

    heard = asyncio.run(scenario())
    assert heard == {
        "one early": True,
        "two early": False,
        "one all": True,
        "two all": True,
        "one again": False,
        "two ticker": False,
    }
    assert bell.kick.is_set()


def test_rings_are_relayed_and_relayed_rings_are_not_sent_back() -> None:
    bell = Bell()
    sent: list[dict[str, object]] = []
    bell.relay_to(lambda ring: sent.append(ring.as_dict()))
    bell.ring(Ring(frozenset({3, 1}), rounds=frozenset({9})))
    bell.ring(Ring.from_dict({"hospitals": None, "kick": False}), relay=False)
    assert sent == [{"hospitals": [1, 3], "kick": True, "rounds": [9]}]
    assert bell.rings == 2


def test_kicks_name_the_rounds_the_ticker_looks_at_and_an_unnamed_kick_means_everything() -> None:
    bell = Bell()
    bell.ring(Ring(frozenset({1}), rounds=frozenset({4})))
    bell.ring(Ring(frozenset({2}), kick=False, rounds=frozenset({5})))  # wakes nodes only
    bell.ring(Ring(frozenset(), rounds=frozenset({6})))
    assert bell.kick.is_set()
    assert bell.take_due() == frozenset({4, 6})
    assert bell.take_due() == frozenset()  # taken once
    bell.ring(Ring(frozenset(), rounds=frozenset({7})))
    bell.ring(Ring.from_dict({"hospitals": [1], "kick": True}))  # an older sender: a full look
    assert bell.take_due() is None
    merged = Ring(frozenset({1}), rounds=frozenset({2})).merge(Ring(frozenset({3}), kick=False))
    assert merged == Ring(frozenset({1, 3}), True, frozenset({2}))
    assert Ring(frozenset(), rounds=frozenset({2})).merge(Ring(frozenset())).rounds is None
