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
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy


cdef void copy_frame(double *dst, const double *src, size_t n) noexcept nogil:
    memcpy(dst, src, n * sizeof(double))


# Planar side: element e's samples start at e * stride (>= ksmps: Csound
# lays an a[] out at its orchestra ksmps even where an instrument or UDO runs
# at a smaller one of its own, whose ksmps samples come first in each element).
cdef void interleave(double *dst, const double *src, size_t nelems,
                     size_t ksmps, size_t stride) noexcept nogil:
    cdef size_t e, s
    for e in range(nelems):
        for s in range(ksmps):
            dst[s * nelems + e] = src[e * stride + s]


cdef void deinterleave(double *dst, const double *src, size_t nelems,
                       size_t ksmps, size_t stride) noexcept nogil:
    cdef size_t e, s
    for s in range(ksmps):
        for e in range(nelems):
            dst[e * stride + s] = src[s * nelems + e]


# float32 on the wire, for clients that ask for it: converted here rather than
# with numpy, whose import (a tenth of a second or more) would stall the I/O
# loop, and the streams on it, the first time a client asks.
# Frames are bytes objects of any alignment: values move through memcpy.

def narrow(const unsigned char[::1] frame) -> bytes:
    """float64 values -> the same as float32."""
    cdef Py_ssize_t i, n = frame.shape[0] // 8
    cdef double v
    cdef float f
    out = PyBytes_FromStringAndSize(NULL, n * 4)
    cdef char *dst = PyBytes_AS_STRING(out)
    cdef const unsigned char *src
    if n:
        src = &frame[0]
        with nogil:
            for i in range(n):
                memcpy(&v, src + 8 * i, 8)
                f = <float> v
                memcpy(dst + 4 * i, &f, 4)
    return out


def widen(const unsigned char[::1] frame) -> bytes:
    """float32 values -> the same as float64."""
    cdef Py_ssize_t i, n = frame.shape[0] // 4
    cdef float f
    cdef double v
    out = PyBytes_FromStringAndSize(NULL, n * 8)
    cdef char *dst = PyBytes_AS_STRING(out)
    cdef const unsigned char *src
    if n:
        src = &frame[0]
        with nogil:
            for i in range(n):
                memcpy(&f, src + 4 * i, 4)
                v = f
                memcpy(dst + 8 * i, &v, 8)
    return out


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
            interleave(&dst[0], &src[0, 0], src.shape[0], src.shape[1], src.shape[1])
    return out


cdef void deinterleave32(float *dst, const float *src, size_t nelems,
                         size_t ksmps) noexcept nogil:
    """deinterleave() for float32 frames (clients that asked for ?dtype=float32)."""
    cdef size_t e, s
    for s in range(ksmps):
        for e in range(nelems):
            dst[e * ksmps + s] = src[s * nelems + e]


ctypedef fused real:
    float
    double


def _planar(const real[::1] src, size_t n, real[:, ::1] dst):
    """Fill dst (n, len(src) // n), of src's dtype, from the interleaved src."""
    if src.shape[0]:
        with nogil:
            if real is double:
                deinterleave(&dst[0, 0], &src[0], n, dst.shape[1], dst.shape[1])
            else:
                deinterleave32(&dst[0, 0], &src[0], n, dst.shape[1])


def deinterleave_frame(frame, nelems: int):
    """Interleaved wire frame(s) (ksmps * N,) -> planar (N, ksmps).

    float32 stays float32 (a client's ?dtype=float32 stream); anything else
    becomes float64.  Read-only input (np.frombuffer of a message) is fine.
    Several frames in a row (?frames=M) are one longer interleaved frame.
    """
    import numpy as np
    src = np.asarray(frame)
    dtype = np.float32 if src.dtype == np.float32 else np.float64
    src = np.ascontiguousarray(src, dtype=dtype).reshape(-1)
    if nelems <= 0 or src.shape[0] % nelems:
        raise ValueError(f"a frame of {src.shape[0]} values is not ksmps x {nelems}")
    out = np.empty((nelems, src.shape[0] // nelems), dtype=dtype)
    _planar(src, nelems, out)
    return out
