"""A small TCP proxy between one node and the broker, to cut that node off (a network partition).

Modes:
- flowing: bytes are forwarded both ways;
- drop: every open connection is closed (reset), and new ones are accepted and reset at once, so the
  node sees its link die and cannot reconnect until `heal()`;
- stall: connections stay open but no byte is forwarded either way (nor on new connections) until
  `heal()`, as when a radio link hangs: TCP keeps the bytes, keep-alives go unanswered.

It runs an asyncio loop on its own thread; the control methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass


@dataclass
class ProxyStats:
    connections: int = 0  # accepted and forwarded
    refused: int = 0  # accepted while dropping, and reset at once
    dropped: int = 0  # open connections reset by drop()
    upstream_failures: int = 0  # the broker could not be reached
    bytes_up: int = 0  # node -> broker
    bytes_down: int = 0  # broker -> node


class TcpProxy:
    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", listen_host: str = "127.0.0.1",
                 port: int = 0, name: str = "proxy"):
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = port
        self.name = name
        self.mode = "flowing"
        self.stats = ProxyStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- life ---------------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError(f"{self.name}: did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.listen_host, self.port, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for down, up in list(self._conns):
                _reset(down)
                if up is not None:
                    _reset(up)
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # --- control (any thread) ---------------------------------------------------------------------
    def _call(self, fn) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        assert self._loop is not None
        self._loop.call_soon_threadsafe(run)
        done.wait(10)

    def drop(self) -> int:
        """Reset every connection and refuse new ones; returns how many were open."""
        count = len(self._conns)

        def go() -> None:
            self.mode = "drop"
            self._flowing.set()  # pumps waiting in a stall wake up and find their sockets reset
            for down, up in list(self._conns):
                _reset(down)
                if up is not None:
                    _reset(up)
                self.stats.dropped += 1
            self._conns.clear()

        self._call(go)
        return count

    def stall(self) -> int:
        """Stop forwarding bytes (connections stay open); returns how many were open."""

        def go() -> None:
            self.mode = "stall"
            self._flowing.clear()

        self._call(go)
        return len(self._conns)

    def heal(self) -> None:
        def go() -> None:
            self.mode = "flowing"
            self._flowing.set()

        self._call(go)

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # --- the loop ---------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            self.stats.refused += 1
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats.upstream_failures += 1
            _reset(writer)
            return
        if self.mode == "drop":  # dropped while connecting
            self.stats.refused += 1
            _reset(writer)
            _reset(up_writer)
            return
        self.stats.connections += 1
        pair = (writer, up_writer)
        self._conns.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer, "bytes_up"), self._pump(up_reader, writer, "bytes_down"))
        finally:
            self._conns.discard(pair)
            _reset(writer)
            _reset(up_writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # read before a stall began: held until it ends
                if self.mode == "drop" or writer.is_closing():
                    break
                # counted before the write, so that whoever received the bytes sees them counted
                setattr(self.stats, counter, getattr(self.stats, counter) + len(data))
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side ended: end the other too, so neither end waits on a half-open pair.
            _reset(writer)


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close at once with a reset (SO_LINGER 0), as a cut cable looks to the far end."""
    if writer is None or writer.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    transport.abort()
