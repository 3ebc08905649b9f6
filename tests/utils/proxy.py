"""A TCP proxy on loopback that forwards to the server and records every byte the client sends."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class RecordingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sent = bytearray()  # client -> server, everything
        self._lock = threading.Lock()
        self._closed = False

    def serve(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if record:
                    with self._lock:
                        self.sent.extend(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self.listener.close()


@contextmanager
def recording_proxy(target_port: int) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(target_port)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()


def request_sent(sent: bytes, line: str) -> tuple[bytes, bytes]:
    """The headers and the body (read by its Content-Length, so a binary body is whole) of the
    first request in `sent` that starts with `line`, e.g. "POST /api/v1/nodes/contributions"."""
    head, rest = sent.split(line.encode(), 1)[1].split(b"\r\n\r\n", 1)
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    assert length is not None, head
    return head, rest[: int(length.group(1))]
