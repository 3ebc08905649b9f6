"""Group commit: many requests' rows written by one thread in one transaction.

A prediction must be on disk (its row and its audit row) before its answer is sent, but a
commit per request serialises every request behind the database's write lock (SQLite has one
writer; on PostgreSQL the audit chain's head row is one lock). Here requests hand their rows to
a single writer thread and wait; the writer takes everything queued, writes each kind of row with
one statement per table, commits once and only then wakes the requests. Under load, one commit
(and one fsync) serves dozens of requests; alone, a request waits for nothing but its own commit.

If a batch's transaction fails, its items are retried one by one, each in its own transaction,
so one bad item (a user deleted between the request's read and its write) fails alone and the
others still land. Nothing is answered before its commit, so a crash at any moment loses only
requests that were never answered.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger("medfed.server.group_commit")

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_BATCH = 512


@dataclass(frozen=True)
class BatchWriter(Generic[Item, Result]):
    """How one kind of item is written: all of a batch's items of this kind in one call, which
    returns one result per item, in order (e.g. the ids of the inserted rows)."""

    name: str
    write: Callable[[Session, Sequence[Item]], Sequence[Result]]


@dataclass
class _Pending:
    writer: BatchWriter[Any, Any]
    item: Any
    future: Future[Any] = field(default_factory=Future)


class GroupCommit:
    """The writer thread. `submit` queues an item and returns a future for its result."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._factory = factory
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0  # for tests and metrics: commits made, and items they carried
        self.items = 0

    def submit(self, writer: BatchWriter[Item, Result], item: Item) -> Future[Result]:
        pending = _Pending(writer, item)
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is stopping; the write was not accepted")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="medfed-group-commit", daemon=True
                )
                self._thread.start()
            self._queue.put(pending)
        return pending.future

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if p.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._transaction(live)
        except Exception as exc:
            if len(live) == 1:
                logger.warning("a write could not be committed: %s", type(exc).__name__)
                live[0].future.set_exception(exc)
                return
            for pending in live:  # one bad item must not fail the others
                try:
                    (result,) = self._transaction([pending])
                except Exception as exc:
                    pending.future.set_exception(exc)
                else:
                    pending.future.set_result(result)
            return
        self.batches += 1
        self.items += len(live)
        for pending, result in zip(live, results, strict=True):
            pending.future.set_result(result)

    def _transaction(self, batch: list[_Pending]) -> list[Any]:
        """Write the batch, kind by kind in order of first appearance, in one transaction."""
        kinds: dict[str, list[int]] = {}
        for index, pending in enumerate(batch):
            kinds.setdefault(pending.writer.name, []).append(index)
        results: list[Any] = [None] * len(batch)
        with self._factory() as session, session.begin():
            for indexes in kinds.values():
                writer = batch[indexes[0]].writer
                written = writer.write(session, [batch[i].item for i in indexes])
                if len(written) != len(indexes):
                    raise RuntimeError(f"{writer.name} returned {len(written)} results")
                for i, result in zip(indexes, written, strict=True):
                    results[i] = result
        return results
