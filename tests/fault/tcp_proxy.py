"""A TCP forwarder on 127.0.0.1 that a test can take down and bring back, to play a server that
is unreachable (connection refused), then reachable again, on a fixed port; or that it can
blackhole, to play a silent network partition."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`. Created down: the port refuses connections until
    `up()`. `down()` closes the listening socket and every forwarded connection, as a server
    that went away would.

    `blackhole()` plays a network that drops every packet: every socket stays open, but no byte
    (nor end of stream) is carried either way, and new connections are accepted but never
    reach the target. Clients see silence, never a reset. `heal()` carries what was held back
    and forwards again, as TCP would once the network returned; connections accepted meanwhile
    reach the target then. (The proxy's own kernel still acknowledges what clients send, so
    TCP-level timeouts (keepalives, TCP_USER_TIMEOUT) never fire here: only a client's own
    timeouts end the wait.)

    Thread-safe; each connection is pumped by two daemon threads."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._flowing = threading.Event()
        self._flowing.set()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def up(self) -> None:
        listener = socket.create_server(self.address)  # SO_REUSEADDR: the port is free again
        with self._lock:
            assert self._listener is None, "the proxy is already up"
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse connections and reset those open. Ends a blackhole too."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            sockets.add(listener)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        # Threads holding bytes back find their sockets closed, and end.
        self._flowing.set()

    def blackhole(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by down()
                return
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    client.close()
                    return
                self._open.add(client)
            threading.Thread(target=self._forward, args=(listener, client), daemon=True).start()

    def _forward(self, listener: socket.socket, client: socket.socket) -> None:
        """Connect `client` to the target once the network carries bytes, and pump both ways."""
        self._flowing.wait()
        try:
            server = socket.create_connection(self.target, timeout=10)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            if self._listener is not listener:  # went down meanwhile
                client.close()
                server.close()
                return
            self._open.add(server)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy bytes one way until either side closes, then close the other's sending side.
        During a blackhole what arrives is held, end of stream included."""
        try:
            while True:
                data = source.recv(65536)
                self._flowing.wait()
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()
