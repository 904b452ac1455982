# cython: language_level=3, boundscheck=False, wraparound=False
"""Python's end of a lock-free frame ring (see ringbuf.h).

The I/O thread is the consumer of rings that carry data to the web and the
producer of rings that carry data from it; Csound's performance thread is the
other end, in C.  A string ring's frame is a 4-byte length then UTF-8 bytes;
an array ring's, an 8-byte header (the length, then padding that keeps the
values aligned) then the values: arrays change size.
"""
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy


cdef class Ring:
    def __cinit__(self, size_t nslots, size_t frame_bytes, bint is_string=False, size_t header=0):
        self.header = 4 if is_string else header
        frame_bytes += self.header
        self.r = <csws_ring *>PyMem_RawCalloc(1, csws_ring_bytes(nslots, frame_bytes))
        if self.r == NULL:
            raise MemoryError()
        csws_ring_init(self.r, nslots, frame_bytes)
        self.frame_bytes = frame_bytes
        self.cursor = 0

    def __dealloc__(self):
        PyMem_RawFree(self.r)

    @property
    def address(self) -> int:
        """The ring's C address, for the plugin."""
        return <size_t>self.r

    @property
    def capacity(self) -> int:
        """The most bytes one frame may hold (without its header)."""
        return self.frame_bytes - self.header

    @property
    def nslots(self) -> int:
        return self.r.nslots

    @property
    def memory_bytes(self) -> int:
        return csws_ring_bytes(self.r.nslots, self.frame_bytes)

    @property
    def head(self) -> int:
        return csws_ring_head(self.r)

    @property
    def lost(self) -> int:
        """Frames the consumer lost because the producer lapped it."""
        return self.r.lost

    @property
    def underruns(self) -> int:
        return self.r.underruns

    # ---- producer side (data from the web) ----

    def write(self, const unsigned char[::1] data) -> None:
        """Publish one frame (strings, arrays: at most the capacity)."""
        cdef size_t n = data.shape[0]
        cdef unsigned char *slot = csws_ring_write_slot(self.r)
        cdef uint32_t n32
        if self.header:
            if n > self.frame_bytes - self.header:
                raise ValueError("frame too long")
            n32 = <uint32_t>n
            memcpy(slot, &n32, 4)
            if n:
                memcpy(slot + self.header, &data[0], n)
        else:
            if n != self.frame_bytes:
                raise ValueError(f"frame of {n} bytes, expected {self.frame_bytes}")
            memcpy(slot, &data[0], n)
        csws_ring_commit(self.r)

    # ---- consumer side (data to the web) ----

    cdef object _copy(self, uint64_t frame):
        cdef unsigned char *slot = csws_ring_slot(self.r, frame)
        cdef uint32_t n32
        if self.header:
            memcpy(&n32, slot, 4)
            if n32 > self.frame_bytes - self.header:
                return None
            data = slot[self.header:self.header + n32]
        else:
            data = slot[:self.frame_bytes]
        return data if csws_ring_still_valid(self.r, frame) else None

    def skip_to_head(self) -> None:
        """Forget everything published so far: a new reader wants fresh data."""
        self.cursor = csws_ring_head(self.r)

    def read_new(self) -> list:
        """Frames published since the last read, oldest first; lost ones counted."""
        cdef uint64_t head = csws_ring_head(self.r)
        cdef uint64_t oldest = csws_ring_oldest(self.r, head)
        cdef uint64_t f
        if self.cursor < oldest:
            csws_ring_add_lost(self.r, oldest - self.cursor)
            self.cursor = oldest
        frames = []
        for f in range(self.cursor, head):
            data = self._copy(f)
            if data is None:
                csws_ring_add_lost(self.r, 1)
            else:
                frames.append(data)
        self.cursor = head
        return frames

    def latest(self):
        """The newest frame read so far (skip_to_head/read_new), or None.

        Not the newest published: a client joining gets this one, and the
        fan-out goes on from the next, so nothing is sent twice or skipped.
        """
        if self.cursor == 0:
            return None
        return self._copy(self.cursor - 1)
