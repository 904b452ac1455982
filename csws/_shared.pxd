from libc.stdint cimport int64_t, uint32_t, uint64_t

from csws._ring cimport Ring, csws_ring


cdef extern from "bridge.h":
    int CSWS_MAX_STRING
    ctypedef struct csws_wake:
        int64_t fd
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
        const char *library
        int major
    void csws_wake_clear(csws_wake *w) nogil
    void csws_wake_set_clients(csws_wake *w, uint32_t n) nogil


cdef class Wake:
    cdef csws_wake w
    cdef readonly object reader
    cdef object writer


cdef class Share:
    cdef csws_share *s
    cdef readonly Ring ring
    # S from the web: the Csound whose allocator makes the notes' spare buffers
    cdef void *csound
    cdef const csws_host *host
    cdef void lend(self, void *csound, const csws_host *host)
