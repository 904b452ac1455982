# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Frames for Python: the packing kernels of frames.h (the plugin's own) for
clients, tests and the I/O thread, which converts float32 frames here rather
than with numpy, whose import (a tenth of a second or more) would stall the
I/O loop, and the streams on it, the first time a client asks.

Wire layouts: see frames.h.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize


cdef extern from "frames.h" nogil:
    void csws_interleave(double *dst, const double *src, size_t nelems, size_t ksmps, size_t stride)
    void csws_deinterleave(double *dst, const double *src, size_t nelems, size_t ksmps, size_t stride)
    void csws_deinterleave32(float *dst, const float *src, size_t nelems, size_t ksmps, size_t stride)
    void csws_narrow(unsigned char *dst, const unsigned char *src, size_t n)
    void csws_widen(unsigned char *dst, const unsigned char *src, size_t n)


def narrow(const unsigned char[::1] frame) -> bytes:
    """float64 values -> the same as float32."""
    cdef Py_ssize_t n = frame.shape[0] // 8
    out = PyBytes_FromStringAndSize(NULL, n * 4)
    cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(out)
    if n:
        with nogil:
            csws_narrow(dst, &frame[0], n)
    return out


def widen(const unsigned char[::1] frame) -> bytes:
    """float32 values -> the same as float64."""
    cdef Py_ssize_t n = frame.shape[0] // 4
    out = PyBytes_FromStringAndSize(NULL, n * 8)
    cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(out)
    if n:
        with nogil:
            csws_widen(dst, &frame[0], n)
    return out


# The helpers below (for clients and tests) import numpy when called; narrow
# and widen, which the I/O thread uses, do not.

def interleave_array(planar):
    """Planar (N, ksmps) float64 -> interleaved wire frame (ksmps * N,)."""
    import numpy as np
    cdef double[:, ::1] src = np.ascontiguousarray(planar, dtype=np.float64)
    out = np.empty(src.shape[0] * src.shape[1], dtype=np.float64)
    cdef double[::1] dst = out
    if dst.shape[0]:
        with nogil:
            csws_interleave(&dst[0], &src[0, 0], src.shape[0], src.shape[1], src.shape[1])
    return out


ctypedef fused real:
    float
    double


def _planar(const real[::1] src, size_t n, real[:, ::1] dst):
    """Fill dst (n, len(src) // n), of src's dtype, from the interleaved src."""
    if src.shape[0]:
        with nogil:
            if real is double:
                csws_deinterleave(&dst[0, 0], &src[0], n, dst.shape[1], dst.shape[1])
            else:
                csws_deinterleave32(&dst[0, 0], &src[0], n, dst.shape[1], dst.shape[1])


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
