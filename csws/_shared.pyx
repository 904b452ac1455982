# cython: language_level=3
"""The records Csound's thread and the I/O thread share (bridge.h): a port's
wake-up, and each variable's share of its notes."""
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree

from csws._ring cimport Ring

import socket


cdef class Wake:
    """The wake-up the perf routine sends the I/O thread: a byte on a socket."""

    def __cinit__(self):
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self.w.fd = self.writer.fileno()

    @property
    def address(self) -> int:
        return <size_t>&self.w

    def clear(self) -> None:
        """Drain the bytes already sent, then re-arm (before reading the rings).

        In this order a byte sent after the drain stays queued for the next
        wake-up.  Re-arming first could lose the wake-ups for good: the perf
        thread would claim and send in between, the drain would eat that
        byte, and `pending` would stay set with nothing left to read.
        """
        try:
            while self.reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        csws_wake_clear(&self.w)

    def set_clients(self, n: int) -> None:
        csws_wake_set_clients(&self.w, n)

    def close(self) -> None:
        csws_wake_set_clients(&self.w, 0)
        self.reader.close()
        self.writer.close()


cdef class Share:
    """A variable's record that every note using it reaches from C (bridge.h)."""

    def __cinit__(self, Ring ring):
        self.s = <csws_share *>PyMem_RawCalloc(1, sizeof(csws_share))
        if self.s == NULL:
            raise MemoryError()
        self.use(ring)

    def __dealloc__(self):
        PyMem_RawFree(self.s)

    @property
    def address(self) -> int:
        return <size_t>self.s

    def use(self, Ring ring) -> None:
        """Frames go to (or come from) this ring from now on."""
        self.ring = ring
        csws_share_set_ring(self.s, ring.r if ring is not None else NULL)

    cdef void lend(self, void *csound, const csws_host *host):
        self.csound = csound
        self.host = host

    def refill(self) -> None:
        """S from the web: free the buffer a note let go of, and keep a spare ready.

        Runs with the GIL held throughout, so that release() (at Csound's end,
        also holding it) never comes between."""
        cdef uint64_t old
        if self.host == NULL:
            return
        old = CSWS_LOAD_ACQ(&self.s.retired)
        if old:
            self.host.release(self.csound, <void *><size_t>old)
            CSWS_STORE_REL(&self.s.retired, 0)
        if CSWS_LOAD_ACQ(&self.s.spare) == 0:
            CSWS_STORE_REL(&self.s.spare, <size_t>self.host.alloc(self.csound, CSWS_MAX_STRING + 1))

    def release(self) -> None:
        """No note uses the variable any more, or Csound is ending: give its buffers back."""
        cdef uint64_t p
        if self.host == NULL:
            return
        for p in (CSWS_LOAD_ACQ(&self.s.retired), CSWS_LOAD_ACQ(&self.s.spare)):
            if p:
                self.host.release(self.csound, <void *><size_t>p)
        CSWS_STORE_REL(&self.s.retired, 0)
        CSWS_STORE_REL(&self.s.spare, 0)
        self.host = NULL

    @property
    def want_bytes(self) -> int:
        """Bytes a frame sent to the web needs, beyond what the ring holds (0: none)."""
        return CSWS_LOAD_ACQ(&self.s.want_bytes)

    @property
    def values(self) -> int:
        """Arrays: values in a frame now, as Csound last saw the array (0: not yet known)."""
        return CSWS_LOAD_ACQ(&self.s.values)


# Csound's control channels: a MYFLT (double) Csound reads and writes in its
# performance thread.  One whole 8-byte load or store, as Csound's own
# csoundGet/SetControlChannel do, so neither side ever sees half a value.
def load_myflt(size_t address) -> float:
    """The double at address (a channel's value), read in one piece."""
    cdef uint64_t bits = CSWS_LOAD_ACQ(<uint64_t *>address)
    return (<double *>&bits)[0]


def store_myflt(size_t address, double value) -> None:
    """Write a double at address in one piece."""
    CSWS_STORE_REL(<uint64_t *>address, (<uint64_t *>&value)[0])
