from libc.stdint cimport uint64_t

cdef extern from "ringbuf.h":
    ctypedef struct csws_ring:
        uint64_t lost
        uint64_t underruns
        uint64_t nslots
        uint64_t slot_bytes
    size_t csws_ring_bytes(size_t nslots, size_t frame_bytes) nogil
    void csws_ring_init(csws_ring *r, size_t nslots, size_t frame_bytes) nogil
    unsigned char *csws_ring_slot(csws_ring *r, uint64_t frame) nogil
    unsigned char *csws_ring_write_slot(csws_ring *r) nogil
    void csws_ring_commit(csws_ring *r) nogil
    uint64_t csws_ring_head(const csws_ring *r) nogil
    uint64_t csws_ring_oldest(const csws_ring *r, uint64_t head) nogil
    int csws_ring_still_valid(const csws_ring *r, uint64_t frame) nogil
    void csws_ring_add_lost(csws_ring *r, uint64_t n) nogil


cdef class Ring:
    cdef csws_ring *r
    cdef readonly size_t frame_bytes
    cdef readonly size_t header
    cdef uint64_t cursor
    cdef object _copy(self, uint64_t frame)
