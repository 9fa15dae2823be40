"""A TCP relay in front of the broker, on a fixed port, that can be stopped and started.

The broker advertises the relay's port, so every client connects through it. `cut()`
closes every connection and stops listening, which is what clients see of a broker
process that went down; `restore()` listens on the same port again. The log and the
committed offsets survive, as they do on a real broker's disk. (The embedded broker
keeps them in memory, so restarting its process would start an empty broker.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self


class BrokerFront:
    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self.dropped = 0  # connections closed by cut(), over the front's life
        self.accepted = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def start(self) -> Self:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)  # lets the acceptor notice cut() promptly
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener,), name="broker-front", daemon=True
        )
        self._acceptor.start()
        return self

    restore = start

    def cut(self) -> int:
        """Stops listening and closes every open connection; returns how many."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        with self._lock:
            open_now, self._connections = self._connections, set()
        for connection in open_now:
            _close(connection)
        self.dropped += len(open_now) // 2
        return len(open_now) // 2

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._connections.update((client, upstream))
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(sink)
            _close(source)
            _close(sink)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv()
    connection.close()
