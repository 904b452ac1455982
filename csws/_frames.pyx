# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Packing kernels: Csound's buffers to wire frames and back, without the GIL.

Wire layouts (native MYFLT, i.e. float64):
  k, i      1 value
  a         ksmps samples
  k[], i[]  the elements, row-major
  a[]       ksmps x N interleaved: sample 0 of every element, then sample 1...
Csound stores an a-rate array planar (element 0's ksmps samples, then
element 1's...), so a[] is transposed on the way out and back in.
"""
from libc.string cimport memcpy


cdef void copy_frame(double *dst, const double *src, size_t n) noexcept nogil:
    memcpy(dst, src, n * sizeof(double))


cdef void interleave(double *dst, const double *src, size_t nelems,
                     size_t ksmps) noexcept nogil:
    cdef size_t e, s
    for e in range(nelems):
        for s in range(ksmps):
            dst[s * nelems + e] = src[e * ksmps + s]


cdef void deinterleave(double *dst, const double *src, size_t nelems,
                       size_t ksmps) noexcept nogil:
    cdef size_t e, s
    for s in range(ksmps):
        for e in range(nelems):
            dst[e * ksmps + s] = src[s * nelems + e]


# The Python-level helpers below (for clients and tests) import numpy when
# called: the plugin imports this module for its kernels only.

def interleave_array(planar):
    """Planar (N, ksmps) float64 -> interleaved wire frame (ksmps * N,)."""
    import numpy as np
    cdef double[:, ::1] src = np.ascontiguousarray(planar, dtype=np.float64)
    out = np.empty(src.shape[0] * src.shape[1], dtype=np.float64)
    cdef double[::1] dst = out
    if dst.shape[0]:
        with nogil:
            interleave(&dst[0], &src[0, 0], src.shape[0], src.shape[1])
    return out


def deinterleave_frame(frame, nelems: int):
    """Interleaved wire frame (ksmps * N,) -> planar (N, ksmps) float64."""
    import numpy as np
    cdef double[::1] src = np.ascontiguousarray(frame, dtype=np.float64)
    cdef size_t n = nelems
    if n == 0 or src.shape[0] % n:
        raise ValueError(f"a frame of {src.shape[0]} values is not ksmps x {nelems}")
    cdef size_t ksmps = src.shape[0] // n
    out = np.empty((n, ksmps), dtype=np.float64)
    cdef double[:, ::1] dst = out
    if src.shape[0]:
        with nogil:
            deinterleave(&dst[0, 0], &src[0], n, ksmps)
    return out
