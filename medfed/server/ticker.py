"""A background thread that moves federated rounds along (deadlines, cohorts, aggregation) and
opens campaigns' rounds when they are due.

All round state is in the database, so the ticker holds nothing: after a crash or restart the
next tick carries on from what was committed. When several server processes share a database,
only the one holding the lead (db/leader.py) ticks; the others keep asking, and one of them
takes over within a tick of the leader's death.

Between ticks the ticker sleeps on the round bell: a node's message that may end a stage (the
last join, update, key share or evaluation) kicks it at once, so the interval is only how late
a deadline can be noticed. Such a kick names its round, and the pass it starts looks at that
round alone, and at the campaigns when the round finished (their next round opens at once); a
full pass (every live round, campaign and contribution buffer) runs at least once an interval.
"""

from __future__ import annotations

import logging
import threading
import time

from medfed.fl import rounds as machine
from medfed.server.bell import Bell
from medfed.server.db.leader import Leadership
from medfed.server.services import analytics, buffered, campaigns
from medfed.server.services.round_driver import RoundServices, advance_all, advance_rounds

logger = logging.getLogger("medfed.rounds")


class RoundTicker:
    def __init__(
        self,
        services: RoundServices,
        interval: float,
        leadership: Leadership | None = None,
        bell: Bell | None = None,
    ) -> None:
        self.services = services
        self.interval = interval
        self.leadership = leadership
        self.bell = bell or Bell()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="medfed-rounds", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.bell.kick.set()
        self._thread.join(timeout=30)
        if self.leadership is not None:
            self.leadership.release()

    def _run(self) -> None:
        last_full = float("-inf")
        while True:
            self.bell.kick.wait(self.interval)
            self.bell.kick.clear()  # a kick from here on means another pass
            due = self.bell.take_due()
            if self._stop.is_set():
                return
            if self.leadership is not None and not self.leadership.holds():
                continue
            if time.monotonic() - last_full >= self.interval:
                due = None  # deadlines, campaigns' schedules and buffers are noticed here
            if due is None:
                last_full = time.monotonic()
            self._pass(due)

    def _pass(self, due: frozenset[int] | None) -> None:
        """Advance the rounds `due` (None: every live round); then the campaigns, if this was a
        full pass or a round finished, and the contribution buffers and analytics queries on a
        full pass."""
        if due is None:
            try:
                for query_id, status in analytics.advance_all(
                    self.services.factory, self.services.read_factory
                ).items():
                    logger.info("analytics query %s is now %s", query_id, status)
            except Exception:
                logger.exception("the analytics queries could not advance")
        try:
            moved = (
                advance_all(self.services) if due is None else advance_rounds(self.services, due)
            )
        except Exception:  # the database may be away for a while; try again next tick
            logger.exception("the round ticker could not run")
            return
        for round_id, status in moved.items():
            logger.info("round %s is now %s", round_id, status)
        if due is not None and not any(s in machine.FINISHED for s in moved.values()):
            return
        try:
            started = campaigns.advance_all(
                self.services.factory,
                settings=self.services.settings,
                reader=self.services.read_factory,
            )
        except Exception:
            logger.exception("the campaign scheduler could not run")
            return
        for campaign_id, result in started.items():
            logger.info("campaign %s: %s", campaign_id, result)
        if due is None:
            for disease, version in buffered.flush_all(self.services).items():
                logger.info("buffered contributions made %s %s", disease, version)
