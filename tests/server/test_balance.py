"""A worker holding more than its share of keep-alive connections closes some after answering."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from medfed.core.config import Settings
from medfed.server.app import create_app
from medfed.server.balance import Shares, closes_due


@pytest.mark.parametrize(
    ("counts", "index", "due"),
    [
        ([123, 78], 0, 11),  # 22 over an even 101: half of it now, the rest once counts settle
        ([123, 78], 1, 0),  # under its share: keeps everything
        ([101, 100], 0, 0),
        ([21, 19], 0, 0),  # one over: not worth a reconnect
        ([22, 18], 0, 1),
        ([40, 0, 0, 0], 0, 15),  # four workers: an even share is 10
        ([7], 0, 0),  # one worker has nowhere to send them
        ([0, 0], 0, 0),
    ],
)
def test_closes_due(counts: list[int], index: int, due: int) -> None:
    assert closes_due(counts, index) == due


def test_a_crowded_worker_closes_what_is_due_then_keeps_the_rest() -> None:
    counts = [30, 10]
    shares = Shares(counts, 0)
    decisions = [shares.should_close() for _ in range(8)]
    assert decisions == [True] * 5 + [False] * 3  # excess 10: five closed before the next check
    assert not any(Shares(counts, 1).should_close() for _ in range(5))


def test_answers_it_picks_say_connection_close(settings: Settings) -> None:
    shares = Shares([12, 0], 0)  # 6 over an even share: three due
    with TestClient(create_app(settings, shares=shares)) as client:
        answers = [client.get("/healthz") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers.get("connection") for a in answers] == ["close"] * 3 + [None] * 2
    assert all(a.headers.get("x-content-type-options") == "nosniff" for a in answers)
