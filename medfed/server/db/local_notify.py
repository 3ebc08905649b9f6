"""The round bell between server processes that share one SQLite file: datagrams on loopback.

SQLite has no LISTEN/NOTIFY, but every process that serves one SQLite file runs on the same
machine. Each binds a UDP socket on 127.0.0.1 (a free port) and writes the port into a
directory beside the database (`<database>.bell/<pid>-<id>`); a ring is sent as one datagram to
every other process listed there. Entries of processes that have died are removed by whichever
process notices. A datagram carries an HMAC keyed by the server's secret key, so a packet from
any other local program is dropped unread. A lost datagram costs a node one long-poll timeout,
never a round step (the same as a lost PostgreSQL notification).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import threading
import uuid
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from medfed.server.bell import Bell, Ring

logger = logging.getLogger("medfed.server.local_notify")
TAG_BYTES = 16
ENTRY = re.compile(r"^(\d+)-[0-9a-f]{32}$")
MAX_DATAGRAM = 60_000  # below UDP's 65,507-byte limit; a larger ring wakes every node instead


def supports(engine: Engine) -> bool:
    url = make_url(str(engine.url))
    return url.get_backend_name() == "sqlite" and bool(url.database) and url.database != ":memory:"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class LocalRelay:
    def __init__(self, engine: Engine, bell: Bell, secret_key: str) -> None:
        database = make_url(str(engine.url)).database or ""
        self._directory = Path(f"{Path(database).resolve()}.bell")
        self._bell = bell
        self._key = hashlib.sha256(b"medfed-bell\0" + secret_key.encode()).digest()
        self._origin = uuid.uuid4().hex
        self._stop = threading.Event()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._entry = self._directory / f"{os.getpid()}-{self._origin}"
        self._peers: dict[str, int] = {}
        self._listed: float | None = None  # the directory's mtime when _peers was read
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._listen, name="medfed-bell", daemon=True)

    def start(self) -> None:
        try:
            self._socket.bind(("127.0.0.1", 0))
            self._socket.settimeout(1.0)
            self._directory.mkdir(mode=0o700, exist_ok=True)
            temporary = self._directory / f".{self._entry.name}.tmp"
            temporary.write_text(str(self._socket.getsockname()[1]))
            temporary.replace(self._entry)  # a reader sees the whole port or no entry
        except OSError:
            self._socket.close()
            raise
        self._bell.relay_to(self.publish)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._entry.unlink()
        self._socket.close()

    def publish(self, ring: Ring) -> None:
        body = json.dumps({"origin": self._origin, **ring.as_dict()}).encode()
        if len(body) > MAX_DATAGRAM:
            body = json.dumps(
                {"origin": self._origin, **Ring(None, ring.kick, ring.rounds).as_dict()}
            ).encode()
        datagram = hmac.new(self._key, body, hashlib.sha256).digest()[:TAG_BYTES] + body
        for name, port in self._others():
            try:
                self._socket.sendto(datagram, ("127.0.0.1", port))
            except OSError:
                logger.warning("could not tell server process %s of a ring", name)

    def _others(self) -> list[tuple[str, int]]:
        """The other processes' ports, re-read only when the directory changed."""
        with self._lock:
            try:
                changed = self._directory.stat().st_mtime_ns
            except OSError:
                return []
            if changed != self._listed:
                self._peers = {}
                for entry in self._directory.iterdir():
                    named = ENTRY.match(entry.name)
                    if named is None or entry == self._entry:
                        continue
                    if not _alive(int(named.group(1))):
                        with contextlib.suppress(OSError):
                            entry.unlink()
                        continue
                    with contextlib.suppress(OSError, ValueError):
                        self._peers[entry.name] = int(entry.read_text())
                self._listed = changed
            return list(self._peers.items())

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._socket.recv(65_536)
            except TimeoutError:
                continue
            except OSError:
                if not self._stop.is_set():
                    logger.warning("the round-bell socket failed; rings from other processes stop")
                return
            self._deliver(datagram)

    def _deliver(self, datagram: bytes) -> None:
        tag, body = datagram[:TAG_BYTES], datagram[TAG_BYTES:]
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:TAG_BYTES]
        if not hmac.compare_digest(tag, expected):
            logger.warning("dropped a ring datagram without a valid tag")
            return
        try:
            data = json.loads(body)
            if data.get("origin") == self._origin:
                return
            ring = Ring.from_dict(data)
        except (ValueError, TypeError, AttributeError):
            logger.warning("ignored a malformed ring datagram")
            return
        self._bell.ring(ring, relay=False)
