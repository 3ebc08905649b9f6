"""Several server processes on one port, each with its own listening socket.

uvicorn's own workers share one listening socket, and whichever process wakes first accepts
every connection waiting (up to its backlog): 200 clients that connect at once can land 150 on
one process and 50 on the other, and stay there for as long as they keep the connection, so
one process queues three times the requests of the other. Here every worker binds the port
with SO_REUSEPORT, and Linux spreads new connections over the workers' sockets by a hash; a
worker left holding more than its share sheds some (server/balance.py).

The parent only supervises, and stays small (it never loads PyTorch or the app: migrations and
baseline training, done once before the workers start, run in a child process of their own,
`prepare_apart`): it reserves the port first (so a port in use is refused at once), starts the
workers, restarts one that dies while serving, stops everything if one fails to
start (a broken configuration fails the same way every time), and passes SIGTERM/SIGINT on.
Workers stop with their parent even when it is SIGKILLed (`app._end_with_parent`).
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing
import signal
import socket
import threading
from collections.abc import MutableSequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any

from pydantic import SecretStr

from medfed.core.config import LOG_FORMAT, Settings
from medfed.core.errors import ConfigurationError
from medfed.server.balance import Shares

logger = logging.getLogger("medfed.server.workers")
STARTUP_FAILURE = 3  # uvicorn's exit status when the app could not start
STOP_SECONDS = 15.0


def bound_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """A TCP socket bound to host:port (IPv4 or IPv6, as the host is), not yet listening, with
    SO_REUSEPORT unless `shared` is false."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


WORKER_SETTINGS = "MEDFED_WORKER_SETTINGS"  # the parent's settings, for its worker processes


def worker_settings(settings: Settings) -> str:
    """The settings as JSON for the worker processes, which skip what the parent did once."""
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        values[name] = value
    values.update(auto_migrate=False, train_baselines=False)
    return json.dumps(values, default=str)


def prepare_apart(settings: Settings) -> None:
    """`app.prepare_database` (migrations, missing baselines) in a child process, which ends
    with it: what it loads (PyTorch, the app) is never held by the supervisor. Its error, if
    any, is raised here."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(_prepare, settings).result()


def _prepare(settings: Settings) -> None:
    from medfed.core.config import apply_to_process
    from medfed.server.app import prepare_database

    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    prepare_database(apply_to_process(settings))


def _worker(
    options: dict[str, Any], host: str, port: int, counts: MutableSequence[int], index: int
) -> None:
    import uvicorn

    try:
        from medfed.server.app import create_worker_app
    except Exception:
        logger.exception("the server worker could not load the app")
        raise SystemExit(STARTUP_FAILURE) from None
    shares = Shares(counts, index)
    # Bound now, listened on by uvicorn once the app has started: until then Linux gives new
    # connections to the workers already serving.
    sock = bound_socket(host, port)
    server = uvicorn.Server(
        uvicorn.Config(functools.partial(create_worker_app, shares), factory=True, **options)
    )
    stop_publishing = shares.start_publishing(lambda: len(server.server_state.connections))
    try:
        server.run(sockets=[sock])
    finally:
        stop_publishing.set()
        shares.publish(0)
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


class Supervisor:
    def __init__(self, workers: int, host: str, port: int, options: dict[str, Any]) -> None:
        self.workers, self.host, self.port, self.options = workers, host, port, options
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._processes: list[BaseProcess] = []
        # Each worker's open connections, for server/balance.py: shared memory, no lock (each
        # slot has one writer; a reader needs no more than a recent value).
        self._counts = self._context.Array("i", workers, lock=False)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0) or a worker that could not start (its status)."""
        # A bind without SO_REUSEPORT fails if anything holds the port, another MedFed server
        # included (whose sockets would otherwise share it silently); then the port is held,
        # unlistened, for as long as the workers serve.
        try:
            probe = bound_socket(self.host, self.port, shared=False)
        except OSError as error:
            raise ConfigurationError(
                f"Cannot listen on {self.host}:{self.port} ({error.strerror}): another program, "
                "perhaps another MedFed server, holds it. Stop it or choose another --port."
            ) from error
        probe.close()
        reserved = bound_socket(self.host, self.port)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop.set())
        try:
            self._processes = [self._start(index) for index in range(self.workers)]
            status = 0
            while not self._stop.wait(0.5):
                status = self._replace_dead()
                if status:
                    break
            return status
        finally:
            self._stop_all()
            reserved.close()

    def _start(self, index: int) -> BaseProcess:
        self._counts[index] = 0
        process = self._context.Process(
            target=_worker,
            args=(self.options, self.host, self.port, self._counts, index),
            daemon=False,
        )
        process.start()
        return process

    def _replace_dead(self) -> int:
        for index, process in enumerate(self._processes):
            if process.is_alive():
                continue
            if process.exitcode == STARTUP_FAILURE:
                logger.error("a server worker could not start; stopping")
                return STARTUP_FAILURE
            logger.warning(
                "server worker %s ended (%s); starting another", process.pid, process.exitcode
            )
            self._processes[index] = self._start(index)
        return 0

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
