"""Turns on the event loop: at most a few heavy requests start per pass of the loop.

A prediction runs on the event loop's own thread (about a millisecond of validation, model and
explanation). Under load every connection's next request is read in the same pass, and a pass
then runs a hundred of them back to back: a request that needs a microsecond (/healthz, a
node's long poll, a page) waits a hundred milliseconds for its turn. Here heavy requests wait,
first come first served, for one of a few turns handed out per pass, so a pass stays short and
everything else is answered within a pass or two. Throughput does not change (the loop is as
busy as before); only the order does.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    def __init__(self, per_pass: int) -> None:
        if per_pass < 1:
            raise ValueError("per_pass must be at least 1")
        self.per_pass = per_pass
        self._given = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._next_pass_booked = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def take(self) -> None:
        """Return when this request may run: at once if this pass has a turn left and nobody
        is waiting, otherwise in a later pass, in arrival order."""
        loop = asyncio.get_running_loop()
        if self._given < self.per_pass and not self._waiting:
            self._given += 1
            self._book(loop)
            return
        turn: asyncio.Future[None] = loop.create_future()
        self._waiting.append(turn)
        self._book(loop)
        await turn  # cancelled (the client left): its turn, if given, lapses with the pass

    def _book(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._next_pass_booked:
            self._next_pass_booked = True
            loop.call_soon(self._new_pass, loop)  # runs in the loop's next pass

    def _new_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        self._next_pass_booked = False
        self._given = 0
        while self._waiting and self._given < self.per_pass:
            turn = self._waiting.popleft()
            if not turn.done():  # not cancelled
                turn.set_result(None)
                self._given += 1
        if self._given:
            self._book(loop)
