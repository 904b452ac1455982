# cython: language_level=3
"""Csound 7's performance loop, without the GIL: csoundPerformKsmps until the
score ends, an error, or stop().  (Csound 7 has no csoundPerform; a Python
loop would take the GIL back between every k-cycle.)"""
from libc.stdint cimport int32_t, uintptr_t

ctypedef int32_t (*perform_ksmps_fn)(void *) noexcept nogil


cdef class KsmpsLoop:
    cdef perform_ksmps_fn perform_ksmps
    cdef void *csound
    cdef volatile int stopping

    def __init__(self, uintptr_t perform_ksmps, uintptr_t csound):
        """perform_ksmps: the address of csoundPerformKsmps; csound: a started CSOUND*."""
        self.perform_ksmps = <perform_ksmps_fn>perform_ksmps
        self.csound = <void *>csound
        self.stopping = 0

    def run(self) -> int:
        """0 when stopped, >0 at the score's end, <0 on an error (csoundPerformKsmps's codes)."""
        cdef int32_t result = 0
        with nogil:
            while not self.stopping:
                result = self.perform_ksmps(self.csound)
                if result != 0:
                    break
        return result

    def stop(self) -> None:
        """Ends run() after the k-cycle under way; from any thread."""
        self.stopping = 1
