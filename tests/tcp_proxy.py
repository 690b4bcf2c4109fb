"""A loopback TCP forwarder that a test can cut: the machine's shared database server
seems to stop for the services behind it, and to come back, while it keeps serving
everyone else."""

import contextlib
import socket
import threading


class TCPProxy:
    """Forwards 127.0.0.1:``port`` to ``target``. ``cut()`` closes every forwarded
    connection and refuses new ones (a stopped server); ``restore()`` undoes it.
    ``hold()`` keeps connections open but forwards nothing (a server that hangs):
    ``stalled`` counts the chunks waiting; ``release()`` lets them through."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self.stalled = 0
        self.restore()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed = list(self._sockets)
            self._sockets.clear()
        if listener is not None:
            _close(listener)
        for sock in doomed:
            _close(sock)

    def close(self) -> None:
        self.cut()
        self.release()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._flowing.is_set():
                    self._stall()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)

    def _stall(self) -> None:
        with self._lock:
            self.stalled += 1
        self._flowing.wait()
        with self._lock:
            self.stalled -= 1


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
