/*
 * frames.h - the packing kernels: every loop that moves a frame's values
 * between Csound's buffers and the wire.  The plugin's performance routine
 * (plugin/csws_plugin.c) and the Python side (csws/_frames.pyx, for clients
 * and tests) both compile these same functions in.  They are plain loops the
 * compiler vectorises, and none allocates, locks or waits.
 *
 * Wire layouts (native MYFLT, i.e. float64):
 *   k, i      1 value
 *   a         ksmps samples
 *   k[], i[]  the elements, row-major
 *   a[]       ksmps x N interleaved: sample 0 of every element, then sample 1...
 * Csound stores an a-rate array planar: element e's samples start at
 * e * stride.  stride >= ksmps, as Csound lays an a[] out at its orchestra
 * ksmps even where an instrument or UDO runs at a smaller one of its own,
 * whose ksmps samples come first in each element.  So a[] is transposed on
 * the way out and back in.
 */
#ifndef CSWS_FRAMES_H
#define CSWS_FRAMES_H

#include <stddef.h>
#include <string.h>

static inline void csws_copy(double *dst, const double *src, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
}

/* Audio of several notes adds up, as Csound's outputs do. */
static inline void csws_add(double *dst, const double *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        dst[i] += src[i];
}

/* Planar -> interleaved. */
static inline void csws_interleave(double *dst, const double *src, size_t nelems,
                                   size_t ksmps, size_t stride)
{
    size_t e, s;
    for (e = 0; e < nelems; e++)
        for (s = 0; s < ksmps; s++)
            dst[s * nelems + e] = src[e * stride + s];
}

/* Interleaved -> planar: csws_deinterleave for float64 frames, and
   csws_deinterleave32 for float32 ones (clients that asked for ?dtype=float32). */
#define CSWS_DEINTERLEAVE(name, T)                                              \
    static inline void name(T *dst, const T *src, size_t nelems, size_t ksmps,  \
                            size_t stride)                                      \
    {                                                                           \
        size_t e, s;                                                            \
        for (s = 0; s < ksmps; s++)                                             \
            for (e = 0; e < nelems; e++)                                        \
                dst[e * stride + s] = src[s * nelems + e];                      \
    }
CSWS_DEINTERLEAVE(csws_deinterleave, double)
CSWS_DEINTERLEAVE(csws_deinterleave32, float)
#undef CSWS_DEINTERLEAVE

/* A planar a[] of nelems added into an interleaved frame of `width` >= nelems
   elements per sample: an array that shrank since the frame was begun adds
   the elements both have. */
static inline void csws_mix_interleaved(double *dst, size_t width, const double *src,
                                        size_t nelems, size_t ksmps, size_t stride)
{
    size_t e, s;
    for (s = 0; s < ksmps; s++)
        for (e = 0; e < nelems; e++)
            dst[s * width + e] += src[e * stride + s];
}

/* An interleaved frame of `width` elements per sample into a planar a[] of
   nelems, when the two differ: the elements both have; the array's others
   (and the samples between elements) are silent. */
static inline void csws_deinterleave_some(double *dst, size_t nelems, const double *src,
                                          size_t width, size_t ksmps, size_t stride)
{
    size_t e, s, n = nelems < width ? nelems : width;
    memset(dst, 0, nelems * stride * sizeof *dst);
    for (s = 0; s < ksmps; s++)
        for (e = 0; e < n; e++)
            dst[e * stride + s] = src[s * width + e];
}

/* Samples from..from + n of each planar element are silent. */
static inline void csws_silence(double *dst, size_t nelems, size_t stride, size_t from, size_t n)
{
    size_t e;
    for (e = 0; e < nelems; e++)
        memset(dst + e * stride + from, 0, n * sizeof *dst);
}

/* float64 <-> float32 on the wire, for clients that ask for it: csws_narrow
   and csws_widen, n values each.  Frames are Python bytes of any alignment,
   so values move through memcpy. */
#define CSWS_CONVERT(name, From, To)                                            \
    static inline void name(unsigned char *dst, const unsigned char *src,       \
                            size_t n)                                           \
    {                                                                           \
        size_t i;                                                               \
        From v;                                                                 \
        To w;                                                                   \
        for (i = 0; i < n; i++) {                                               \
            memcpy(&v, src + sizeof v * i, sizeof v);                           \
            w = (To)v;                                                          \
            memcpy(dst + sizeof w * i, &w, sizeof w);                           \
        }                                                                       \
    }
CSWS_CONVERT(csws_narrow, double, float)
CSWS_CONVERT(csws_widen, float, double)
#undef CSWS_CONVERT

#endif /* CSWS_FRAMES_H */
