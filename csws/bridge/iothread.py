"""The one daemon thread behind every port of the process.

It dozes in a selector on the ports' listening sockets until a first client
knocks; only then does it import asyncio and websockets (about 15 MiB and a
tenth of a second), let the host start each port's server on a new loop, and
run that loop until it is stopped.  A client that knocks waits in the
listening socket's backlog meanwhile, and is then served as usual.
"""
from __future__ import annotations

import selectors
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future

STOP_TIMEOUT = 1.0


class IOThread:
    """Dozing until a first client, then an asyncio loop (`loop`) for good."""

    def __init__(self, on_knock: Callable[[asyncio.AbstractEventLoop], bool]) -> None:
        """on_knock(loop) starts the servers on the new loop: False if stopped meanwhile."""
        self.loop: asyncio.AbstractEventLoop | None = None  # once a client has knocked
        self._on_knock = on_knock
        self.stopping = False
        self._dozing = True  # the selector is open (guarded by _selector_lock)
        self._knocked = False  # knock(): wake up without a client
        self._selector_lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._bell, self._bell_push = socket.socketpair()  # wakes the selector: stop, or sockets changed
        self._bell.setblocking(False)
        self._bell_push.setblocking(False)
        self._selector.register(self._bell, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._main, name="csws-io", daemon=True)
        self.thread.start()

    # ---- dozing: called by the host, under its lock ----

    def watch(self, sockets: Iterable[socket.socket]) -> None:
        with self._selector_lock:
            if self._dozing:  # else the host starts their server with the others
                for s in sockets:
                    self._selector.register(s, selectors.EVENT_READ)
                self._ring()

    def unwatch(self, sockets: Iterable[socket.socket]) -> None:
        """Before the sockets close: an fd closed under a selector may come back as another."""
        with self._selector_lock:
            if self._dozing:
                for s in sockets:
                    self._selector.unregister(s)
                self._ring()

    def knock(self) -> None:
        """Start the loop now, as a client's knock would (a port linked to NATS serves at once)."""
        with self._selector_lock:
            if self._dozing:
                self._knocked = True
                self._ring()

    def _ring(self) -> None:
        """Wake the selector up (with _selector_lock held, while dozing)."""
        try:
            self._bell_push.send(b"\0")
        except BlockingIOError:  # the bell is full of rings already
            pass

    def _main(self) -> None:
        knocked = self._doze()
        with self._selector_lock:
            self._dozing = False
            self._selector.close()
            self._bell.close()
            self._bell_push.close()
        if not knocked:
            return
        import asyncio  # the first client: now the server's weight is worth it

        loop = asyncio.new_event_loop()
        if self._on_knock(loop):
            loop.run_forever()
        else:
            loop.close()

    def _doze(self) -> bool:
        """Wait for a client on any watched socket (True) or for stop() (False)."""
        while True:
            knocked = False
            for key, _ in self._selector.select():
                if key.fileobj is self._bell:
                    try:
                        while self._bell.recv(512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    knocked = True
            if self.stopping:
                return False
            if knocked or self._knocked:
                return True

    # ---- awake ----

    def submit(self, coro) -> Future:
        import asyncio

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float) -> Any:
        """Run a coroutine on the loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """End the thread, leaving no task, executor thread or socket behind."""
        self.stopping = True
        if self.loop is None:
            with self._selector_lock:
                if self._dozing:
                    self._ring()
            self.thread.join(STOP_TIMEOUT)
            return
        if sys.is_finalizing():
            return  # Python is exiting and has stopped this daemon thread, in the middle of the loop
        try:
            self.run(_finish_loop(), STOP_TIMEOUT)
        except Exception:  # noqa: BLE001 - a stuck task must not keep Csound from exiting
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STOP_TIMEOUT)
        if not self.thread.is_alive() and not self.loop.is_running():
            self.loop.close()


async def _finish_loop() -> None:
    # Handlers of clients that vanished may linger: cancel them, and end the
    # executor thread a name lookup may have started.
    import asyncio

    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_default_executor()
