"""The round bell between server processes: PostgreSQL's LISTEN/NOTIFY.

Every process that serves a PostgreSQL database publishes its own rings on one channel and
rings the rings of the others locally, so the ticker (in whichever process leads) is kicked by a
message another process received, and a node's long poll held by one process is woken by a
stage the ticker ended in another. A notification is sent only when its transaction commits;
one that is lost (a dropped connection) costs a node one long-poll timeout, not a round step.

SQLite has no such channel; with several processes on one SQLite file the long polls also
re-read every second (`api/node_rounds.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from medfed.server.bell import Bell, Ring

logger = logging.getLogger("medfed.server.notify")
CHANNEL = "medfed_rounds"
RECONNECT_SECONDS = 1.0


def supports(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class PgRelay:
    def __init__(self, engine: Engine, bell: Bell) -> None:
        url = make_url(str(engine.url)).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._bell = bell
        self._origin = uuid.uuid4().hex  # this process, among every host's processes
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._publisher: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread = threading.Thread(target=self._listen, name="medfed-notify", daemon=True)
        self.listening = threading.Event()

    def start(self) -> None:
        self._bell.relay_to(self.publish)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            if self._publisher is not None:
                with contextlib.suppress(psycopg.Error):
                    self._publisher.close()
                self._publisher = None

    def publish(self, ring: Ring) -> None:
        payload = json.dumps({"origin": self._origin, **ring.as_dict()})
        with self._lock:
            for attempt in range(2):  # once more on a fresh connection if the old one dropped
                try:
                    if self._publisher is None or self._publisher.closed:
                        self._publisher = psycopg.connect(self._conninfo, autocommit=True)
                    self._publisher.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                    return
                except psycopg.Error:
                    self._publisher = None
                    if attempt:
                        logger.warning("could not tell the other server processes of a ring")

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for message in connection.notifies(timeout=1.0):
                            self._deliver(message.payload)
            except psycopg.Error:
                self.listening.clear()
                logger.warning("lost the round-bell channel; reconnecting")
                self._stop.wait(RECONNECT_SECONDS)

    def _deliver(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("origin") == self._origin:
                return
            ring = Ring.from_dict(data)
        except (ValueError, TypeError, AttributeError):
            logger.warning("ignored a malformed ring on %s", CHANNEL)
            return
        self._bell.ring(ring, relay=False)
