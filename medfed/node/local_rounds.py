"""Round participation started from the node's local page: one background agent at a time."""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

from medfed.node.client import ServerClient
from medfed.node.rounds import Participation, RoundAgent

MAX_LOG_LINES = 50


class LocalParticipation:
    """Runs a RoundAgent for one finished round and keeps what it said for the page."""

    def __init__(self, node_home: Path) -> None:
        self.node_home = node_home
        self.log: deque[str] = deque(maxlen=MAX_LOG_LINES)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def say(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")

    def start(self, client: ServerClient, offer: Participation) -> bool:
        """False when an agent is already taking part in a round for this node."""
        with self._lock:
            if self.running:
                return False
            agent = RoundAgent(self.node_home, client, offer, say=self.say)

            def work() -> None:
                try:
                    with client:
                        agent.run(poll_seconds=1.0, rounds=1 + self._finished(agent))
                    self.say("Round finished; see the result above.")
                except Exception as problem:  # the page must learn how the agent ended
                    self.say(f"Stopped: {getattr(problem, 'message', type(problem).__name__)}")

            self.say(f"Taking part in the next {offer.disease} round with the checked file.")
            self._thread = threading.Thread(target=work, name="round-agent", daemon=True)
            self._thread.start()
            return True

    @staticmethod
    def _finished(agent: RoundAgent) -> int:
        return len(
            [
                e
                for e in agent.state.round_entries()
                if e.status == "finished" and e.disease == agent.spec.id
            ]
        )
