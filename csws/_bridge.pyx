# cython: language_level=3
"""The plugin's door into Python: a table of C functions in a capsule.

Every call takes the GIL (they run at init and deinit time); the
performance routine calls none (its kernels are compiled in from frames.h).
"""
from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from csws._shared cimport Share, csws_host, csws_log_fn, csws_share, csws_wake

from csws.bridge import registry
from csws.protocol.variables import Direction, Kind, VarSpec


cdef extern from "bridge.h":
    int CSWS_API_VERSION
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
        library = chost.library.decode("utf-8", "surrogateescape") if chost.library != NULL else ""
        inst = registry.attach(<size_t>csound, logger, port, engine_ksmps, sr, specs, insno, line,
                               host=(library, chost.major))
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
        registry.detach(<size_t>handle)
    except Exception as e:
        print(f"csws: detach failed: {e!r}")


cdef void _shutdown(void *csound) noexcept with gil:
    try:
        registry.shutdown(<size_t>csound)
    except Exception as e:
        print(f"csws: shutdown failed: {e!r}")


cdef int _configure(void *csound, const char *name, const char *value,
                    char *err, size_t errlen) noexcept with gil:
    try:
        registry.configure(<size_t>csound, name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
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
