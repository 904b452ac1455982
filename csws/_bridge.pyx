# cython: language_level=3
"""The plugin's door into Python: a table of C functions in a capsule.

Every call takes the GIL (they run at init and deinit time); the
performance routine calls none (its kernels are compiled in from frames.h).
"""
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree
from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy

from csws._ring cimport Ring, csws_ring

import socket

from csws import host
from csws.variables import Direction, Kind, VarSpec


cdef extern from "bridge.h":
    int CSWS_API_VERSION
    ctypedef struct csws_wake:
        int64_t fd
    int CSWS_MAX_STRING
    ctypedef struct csws_share:
        uint64_t want_bytes
        uint64_t values
        uint64_t spare
        uint64_t retired
    csws_ring *csws_share_ring(csws_share *s) nogil
    void csws_share_set_ring(csws_share *s, csws_ring *r) nogil
    uint64_t CSWS_LOAD_ACQ(uint64_t *p) nogil
    void CSWS_STORE_REL(uint64_t *p, uint64_t v) nogil
    ctypedef void (*csws_log_fn)(void *csound, int is_warning, const char *text) noexcept nogil
    ctypedef struct csws_host:
        csws_log_fn log
        void *(*alloc)(void *csound, size_t bytes) noexcept nogil
        void (*release)(void *csound, void *memory) noexcept nogil
    ctypedef struct csws_var_spec:
        const char *name
        int kind
        int direction
        int dimensions
        const int *sizes
        size_t frame_bytes
        const void *init_data
        size_t init_bytes
        csws_share *share
    ctypedef struct csws_api:
        int version
        void *(*attach)(void *, const csws_host *, int, uint32_t, uint32_t, double, int, uint64_t,
                        csws_var_spec *, int, csws_wake **, uint64_t *, char *, size_t) noexcept
        void (*detach)(void *) noexcept
        void (*shutdown)(void *) noexcept
        int (*configure)(void *, const char *, const char *, char *, size_t) noexcept
    void csws_wake_clear(csws_wake *w) nogil
    void csws_wake_set_clients(csws_wake *w, uint32_t n) nogil


cdef class Wake:
    """The wake-up the perf routine sends the I/O thread: a byte on a socket."""
    cdef csws_wake w
    cdef readonly object reader
    cdef object writer

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
    cdef csws_share *s
    cdef readonly Ring ring
    # S from the web: the Csound whose allocator makes the notes' spare buffers
    cdef void *csound
    cdef const csws_host *host

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


cdef class CsoundLog:
    """Prints to one Csound instance's message stream until closed."""
    cdef void *csound
    cdef csws_log_fn fn

    def __call__(self, text: str, warning: bool = False) -> None:
        cdef bytes b = text.encode("utf-8", "replace")
        cdef const char *c = b
        cdef int w = warning
        if self.fn != NULL:
            with nogil:
                self.fn(self.csound, w, c)

    def close(self) -> None:
        self.fn = NULL


cdef void _set_err(char *err, size_t errlen, object e):
    msg = str(e).encode("utf-8", "replace")[:errlen - 1]
    memcpy(err, <const char *>msg, len(msg))
    err[len(msg)] = 0


cdef void *_attach(void *csound, const csws_host *chost, int port, uint32_t ksmps,
                   uint32_t engine_ksmps, double sr, int insno, uint64_t line, csws_var_spec *vars, int nvars,
                   csws_wake **wake, uint64_t *order, char *err, size_t errlen) noexcept with gil:
    cdef int i, d
    cdef csws_var_spec *v
    try:
        specs = []
        for i in range(nvars):
            v = &vars[i]
            init = None
            if v.init_data != NULL:
                init = (<const char *>v.init_data)[:v.init_bytes]
            specs.append(VarSpec(
                name=v.name.decode("utf-8", "replace"),
                kind=Kind(v.kind),
                direction=Direction(v.direction),
                shape=tuple(v.sizes[d] for d in range(v.dimensions)),
                frame_bytes=v.frame_bytes,
                init=init,
                ksmps=ksmps))
        logger = CsoundLog()
        logger.csound = csound
        logger.fn = chost.log
        inst = host.attach(<size_t>csound, logger, port, engine_ksmps, sr, specs, insno, line)
        for i, var in enumerate(inst.variables):
            vars[i].share = <csws_share *><size_t>var.share.address
            if var.spec.kind is Kind.S and var.spec.direction is Direction.FROM_WEB:
                (<Share>var.share).lend(csound, chost)
                var.share.refill()
        wake[0] = <csws_wake *><size_t>inst.port.wake.address
        order[0] = inst.handle
        return <void *><size_t>inst.handle
    except Exception as e:
        _set_err(err, errlen, e)
        return NULL


cdef void _detach(void *handle) noexcept with gil:
    try:
        host.detach(<size_t>handle)
    except Exception as e:
        print(f"csws: detach failed: {e!r}")


cdef void _shutdown(void *csound) noexcept with gil:
    try:
        host.shutdown(<size_t>csound)
    except Exception as e:
        print(f"csws: shutdown failed: {e!r}")


cdef int _configure(void *csound, const char *name, const char *value,
                    char *err, size_t errlen) noexcept with gil:
    try:
        host.configure(<size_t>csound, name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
        return 0
    except Exception as e:
        _set_err(err, errlen, e)
        return -1


cdef csws_api _api
_api.version = CSWS_API_VERSION
_api.attach = _attach
_api.detach = _detach
_api.shutdown = _shutdown
_api.configure = _configure

_C_API = PyCapsule_New(<void *>&_api, "csws._bridge._C_API", NULL)
