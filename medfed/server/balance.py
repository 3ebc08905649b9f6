"""Even load over the server's worker processes: keep-alive connections moved off a crowded one.

Each worker listens on its own SO_REUSEPORT socket (server/workers.py) and Linux hands a new
connection to one of them by a hash of its addresses: even on average, but 200 connections
opened at once land as unevenly as 123 and 78, and a keep-alive client stays where it landed.
The crowded worker then queues more requests than the other for as long as the clients stay,
and its waits become everyone's slowest answers (measured: a p99 1.4 times the p50 from that alone).

So each worker publishes how many connections it holds, in memory the workers share, and one
holding more than its fair share answers some requests with `Connection: close`. The client
opens a new connection for its next request, which Linux hashes again: half of them land on
another worker. Only half the excess is shed per check, so the counts settle rather than swing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, MutableSequence, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CHECK_SECONDS = 0.05  # how often a worker publishes its count and re-reads the others'


def closes_due(counts: Sequence[int], index: int) -> int:
    """How many of worker `index`'s connections to close now: half its excess over an even
    share (rounded up), when that excess is at least two connections."""
    if len(counts) < 2:
        return 0
    excess = counts[index] - math.ceil(sum(counts) / len(counts))
    return excess // 2 if excess >= 2 else 0


class Shares:
    """This worker's slot among every worker's connection count (shared memory: one machine
    integer each, written by its own worker only)."""

    def __init__(self, counts: MutableSequence[int], index: int) -> None:
        self._counts, self._index = counts, index
        self._allowance = 0
        self._next_check = 0.0

    def publish(self, connections: int) -> None:
        self._counts[self._index] = connections

    def should_close(self) -> bool:
        """Whether the request being answered should close its connection."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CHECK_SECONDS
            self._allowance = closes_due(list(self._counts), self._index)
        if self._allowance <= 0:
            return False
        self._allowance -= 1
        return True

    def start_publishing(self, count: Callable[[], int]) -> threading.Event:
        """Publish `count()` every CHECK_SECONDS from a daemon thread until the event is set."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(CHECK_SECONDS):
                self.publish(count())

        threading.Thread(target=run, name="medfed-connection-count", daemon=True).start()
        return stop


class Rebalance:
    """ASGI middleware: `Connection: close` on the answers `Shares.should_close` picks."""

    def __init__(self, app: ASGIApp, shares: Shares) -> None:
        self.app, self.shares = app, shares

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.shares.should_close():
            await self.app(scope, receive, send)
            return

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing_send)
