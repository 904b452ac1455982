/*
 * ringbuf.h - a lock-free single-producer/single-consumer frame ring.
 *
 * One thread writes whole frames of a fixed size, one other thread reads
 * them.  The producer never waits: when the consumer falls behind, the
 * producer overwrites the oldest frames and the consumer notices, after the
 * fact, that it was lapped (it validates each frame it copied against the
 * producer's counter, like a seqlock).  That is what a real-time audio thread
 * needs on either side: data is dropped and counted, never blocked on.
 *
 * The API follows JACK's ringbuffer in spirit: a handful of inline calls,
 * no allocation (the caller owns the memory, sized by csws_ring_bytes()).
 *
 * Frame numbers are 64-bit and never wrap in practice.  Frame `s` lives in
 * slot s % nslots; it is being overwritten once the producer has started on
 * frame s + nslots, i.e. once head >= s + nslots.
 */
#ifndef CSWS_RINGBUF_H
#define CSWS_RINGBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
/* x86/x64 and ARM64 MSVC: aligned 64-bit loads/stores are atomic; the
   barriers keep the compiler (and ARM's CPU) from reordering around them. */
#define CSWS_LOAD_ACQ(p) (_ReadWriteBarrier(), __iso_volatile_load64((const volatile __int64 *)(p)))
#define CSWS_STORE_REL(p, v) do { _ReadWriteBarrier(); __dmb_or_nop(); \
    __iso_volatile_store64((volatile __int64 *)(p), (__int64)(v)); } while (0)
#if defined(_M_ARM64)
#define __dmb_or_nop() __dmb(_ARM64_BARRIER_ISH)
#define CSWS_FENCE_ACQ() __dmb(_ARM64_BARRIER_ISH)
#define CSWS_FENCE_REL() __dmb(_ARM64_BARRIER_ISH)
#else
#define __dmb_or_nop() ((void)0)
#define CSWS_FENCE_ACQ() _ReadWriteBarrier()
#define CSWS_FENCE_REL() _ReadWriteBarrier()
#endif
#define CSWS_LOAD_RLX(p) ((uint64_t)__iso_volatile_load64((const volatile __int64 *)(p)))
#define CSWS_STORE_RLX(p, v) __iso_volatile_store64((volatile __int64 *)(p), (__int64)(v))
#else
#define CSWS_LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define CSWS_STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CSWS_LOAD_RLX(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define CSWS_STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define CSWS_FENCE_ACQ() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define CSWS_FENCE_REL() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#define CSWS_RING_ALIGN 64

typedef struct csws_ring {
    /* written by the producer only */
    uint64_t head;                 /* frames published so far */
    char pad0[CSWS_RING_ALIGN - sizeof(uint64_t)];
    /* written by the consumer only: its statistics */
    uint64_t lost;                 /* frames overwritten before they were read */
    uint64_t underruns;            /* reads that found nothing new */
    char pad1[CSWS_RING_ALIGN - 2 * sizeof(uint64_t)];
    /* fixed at init */
    uint64_t nslots;
    uint64_t slot_bytes;           /* a multiple of 8 */
    char pad2[CSWS_RING_ALIGN - 2 * sizeof(uint64_t)];
    unsigned char data[];          /* nslots * slot_bytes */
} csws_ring;

static inline size_t csws_ring_slot_size(size_t frame_bytes)
{
    return (frame_bytes + 7u) & ~(size_t)7u;
}

/* Bytes to allocate for a ring of nslots frames of frame_bytes each, plus
   one slot of scratch for the consumer (csws_ring_scratch). */
static inline size_t csws_ring_bytes(size_t nslots, size_t frame_bytes)
{
    return sizeof(csws_ring) + (nslots + 1) * csws_ring_slot_size(frame_bytes);
}

/* Initialise zeroed memory of csws_ring_bytes(nslots, frame_bytes). */
static inline void csws_ring_init(csws_ring *r, size_t nslots, size_t frame_bytes)
{
    memset(r, 0, sizeof(csws_ring));
    r->nslots = nslots < 2 ? 2 : nslots;
    r->slot_bytes = csws_ring_slot_size(frame_bytes);
}

static inline unsigned char *csws_ring_slot(csws_ring *r, uint64_t frame)
{
    return r->data + (size_t)(frame % r->nslots) * (size_t)r->slot_bytes;
}

/* Past the frames: where the consumer copies a frame before checking that it
   was not torn (a frame's room, whatever size the ring was made for). */
static inline unsigned char *csws_ring_scratch(csws_ring *r)
{
    return r->data + (size_t)r->nslots * (size_t)r->slot_bytes;
}

/* ---- producer ---- */

/* The slot to fill next; publish it with csws_ring_commit(). */
static inline unsigned char *csws_ring_write_slot(csws_ring *r)
{
    return csws_ring_slot(r, CSWS_LOAD_RLX(&r->head));
}

/* The release store publishes the frame's contents.  The fence after it keeps
   the next frame's writes (into the slot of frame head - nslots, which a
   reader may be copying) from becoming visible before the new head: the
   reader's check (csws_ring_still_valid) reads head after its copy, so it
   must see the head that announces an overwrite before any overwritten byte.
   x86 keeps stores in order anyway (the fence costs nothing there); ARM64
   does not, and without it a torn frame could pass the check. */
static inline void csws_ring_commit(csws_ring *r)
{
    CSWS_STORE_REL(&r->head, CSWS_LOAD_RLX(&r->head) + 1);
    CSWS_FENCE_REL();
}

/* ---- consumer ---- */

/* Frames published so far (acquire: their contents are visible). */
static inline uint64_t csws_ring_head(const csws_ring *r)
{
    return CSWS_LOAD_ACQ(&r->head);
}

/* Oldest frame still safe to start reading, given head. */
static inline uint64_t csws_ring_oldest(const csws_ring *r, uint64_t head)
{
    return head >= r->nslots ? head - r->nslots + 1 : 0;
}

/* After copying frame `frame` out of its slot: was it intact throughout?
   (the producer had not started overwriting it). */
static inline int csws_ring_still_valid(const csws_ring *r, uint64_t frame)
{
    CSWS_FENCE_ACQ();
    return CSWS_LOAD_RLX(&r->head) < frame + r->nslots;
}

/* Consumer-side counters, relaxed: read from any thread for reports. */
static inline void csws_ring_add_lost(csws_ring *r, uint64_t n)
{
    CSWS_STORE_RLX(&r->lost, CSWS_LOAD_RLX(&r->lost) + n);
}

static inline void csws_ring_add_underrun(csws_ring *r)
{
    CSWS_STORE_RLX(&r->underruns, CSWS_LOAD_RLX(&r->underruns) + 1);
}

#endif /* CSWS_RINGBUF_H */
