/*
 * bridge.h - the C interface between the Csound plugin (plugin/) and the
 * Python side (csws/_bridge.pyx).
 *
 * The plugin finds this table in the capsule csws._bridge._C_API.  Its calls
 * take the interpreter lock themselves and are only made at init/deinit
 * time; the performance routine calls none of them (its packing kernels are
 * compiled in from frames.h).  MYFLT is double in every build we support.
 */
#ifndef CSWS_BRIDGE_H
#define CSWS_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include "ringbuf.h"

#define CSWS_API_VERSION 7
#define CSWS_CAPSULE_NAME "csws._bridge._C_API"
#define CSWS_MAX_ARGS 20           /* inputs and outputs together, as the seed says */
#define CSWS_MAX_STRING 4096       /* bytes of UTF-8 in one string message */

/* What a variable is, in the order of its Csound type. */
enum csws_kind {
    CSWS_K = 0,        /* k: 1 value */
    CSWS_A = 1,        /* a: ksmps samples */
    CSWS_I = 2,        /* i: 1 value, init time */
    CSWS_S = 3,        /* S: a UTF-8 string */
    CSWS_KARR = 4,     /* k[]: its elements, row-major */
    CSWS_AARR = 5,     /* a[]: ksmps x N, interleaved */
    CSWS_IARR = 6      /* i[]: its elements, init time */
};

/* Which way the data goes, seen from the web page. */
enum csws_direction {
    CSWS_TO_WEB = 0,   /* an opcode input: Csound sends it */
    CSWS_FROM_WEB = 1  /* an opcode output: Csound receives it */
};

/* Wake-up state shared by the plugin and one port's I/O thread. */
typedef struct csws_wake {
    uint32_t pending;  /* 1 while a wake-up byte is unread */
    uint32_t clients;  /* connected clients on the port; 0 = nobody to wake */
    int64_t fd;        /* non-blocking socket the I/O thread listens on */
} csws_wake;

/* The I/O thread's side of the wake-up (the plugin's is in the perf routine). */
#if defined(_MSC_VER) && !defined(__clang__)
static inline void csws_wake_clear(csws_wake *w)
{ _InterlockedExchange((volatile long *)&w->pending, 0); }
static inline void csws_wake_set_clients(csws_wake *w, uint32_t n)
{ _InterlockedExchange((volatile long *)&w->clients, (long)n); }
static inline int csws_wake_claim(csws_wake *w)
{ return _InterlockedExchange((volatile long *)&w->pending, 1) == 0; }
static inline uint32_t csws_wake_clients(csws_wake *w)
{ return (uint32_t)_InterlockedOr((volatile long *)&w->clients, 0); }
#else
static inline void csws_wake_clear(csws_wake *w)
{ __atomic_store_n(&w->pending, 0, __ATOMIC_SEQ_CST); }
static inline void csws_wake_set_clients(csws_wake *w, uint32_t n)
{ __atomic_store_n(&w->clients, n, __ATOMIC_RELEASE); }
/* True when the caller must send the wake-up byte (none is pending yet). */
static inline int csws_wake_claim(csws_wake *w)
{ return __atomic_exchange_n(&w->pending, 1, __ATOMIC_SEQ_CST) == 0; }
static inline uint32_t csws_wake_clients(csws_wake *w)
{ return __atomic_load_n(&w->clients, __ATOMIC_ACQUIRE); }
#endif

/* One variable on a port, shared by every live instance (note) that uses it.
   `ring` is where its frames go now: the I/O thread puts a bigger ring there
   when an array outgrows it (the old one stays allocated while the variable
   lives, so a pointer read a moment ago stays valid).  The rest belongs to
   Csound's thread (init, perf, deinit). */
typedef struct csws_share {
    uint64_t ring;          /* csws_ring *, atomic */
    uint64_t want_bytes;    /* to the web: a frame needs slots this big (atomic) */
    uint64_t values;        /* arrays: values in a frame now (atomic; a[]: elements x ksmps) */
    uint64_t open_ring;     /* csws_ring * of the frame being put together */
    uint64_t kcycle;        /* that frame's count: (engine k-cycle + 1) << 24, plus the
                               local sub-cycle (setksmps; perf_websocket); 0: none open */
    uint64_t best;          /* order of the instance whose value it holds */
    uint32_t members;       /* live instances */
    uint32_t written;       /* of them, those that wrote the open frame */
    /* S from the web: string buffers Csound owns, moved without allocating on
       Csound's thread.  The I/O thread keeps `spare` (CSWS_MAX_STRING + 1
       bytes from Csound's allocator) ready; a note whose output Csound has
       shrunk takes it, and leaves its old buffer in `retired` for the I/O
       thread to free.  Each is a char * set by one side and taken by the other
       (atomic); 0 = none. */
    uint64_t spare;
    uint64_t retired;
} csws_share;

static inline csws_ring *csws_share_ring(csws_share *s)
{ return (csws_ring *)(uintptr_t)CSWS_LOAD_ACQ(&s->ring); }
static inline void csws_share_set_ring(csws_share *s, csws_ring *r)
{ CSWS_STORE_REL(&s->ring, (uint64_t)(uintptr_t)r); }

typedef struct csws_var_spec {
    /* filled by the plugin */
    const char *name;
    int kind;                 /* enum csws_kind */
    int direction;            /* enum csws_direction */
    int dimensions;           /* arrays: number of dimensions, else 0 */
    const int *sizes;         /* arrays: size of each dimension */
    size_t frame_bytes;       /* bytes of one message on the wire (strings: maximum) */
    const void *init_data;    /* i, i[], S inputs: their value at init */
    size_t init_bytes;
    /* filled by attach */
    csws_share *share;
} csws_var_spec;

/* Where Python may print to: the Csound instance's message stream. */
typedef void (*csws_log_fn)(void *csound, int is_warning, const char *text);

/* What the plugin lends Python of its Csound: the message stream, the
   allocator of memory Csound will own (string outputs' buffers), and which
   library it is, for Csound's own thread-safe API calls (channels, score
   events: csws/bridge/csound_api.py).  Csound's allocator may be called from
   any thread. */
typedef struct csws_host {
    csws_log_fn log;
    void *(*alloc)(void *csound, size_t bytes);    /* zeroed */
    void (*release)(void *csound, void *memory);
    const char *library;   /* the path of the Csound library, "" if unknown */
    int major;             /* 6 or 7 */
} csws_host;

typedef struct csws_api {
    int version;
    /* GIL: register one opcode instance's variables on a port, starting its
       server if needed.  Returns a handle for detach(), or NULL with err set.
       `line` identifies the opcode line (instances of it share names), insno
       its instrument; *order grows with every attach (the newest note wins).
       ksmps: the instance's own (an instrument or UDO may set its own, and
       a-rate frames then hold that many samples); engine_ksmps: the orchestra's. */
    void *(*attach)(void *csound, const csws_host *host, int port, uint32_t ksmps,
                    uint32_t engine_ksmps, double sr, int insno, uint64_t line, csws_var_spec *vars,
                    int nvars, csws_wake **wake, uint64_t *order, char *err, size_t errlen);
    /* GIL: the instance ended; variables no other instance uses go away
       (their clients stay a moment, for a next note of the same line). */
    void (*detach)(void *handle);
    /* GIL: Csound is cleaning up: report counters, stop this instance's servers. */
    void (*shutdown)(void *csound);
    /* GIL: websocket_config: a setting for ports opened from now on.
       0, or -1 with err set. */
    int (*configure)(void *csound, const char *name, const char *value,
                     char *err, size_t errlen);
} csws_api;

#endif /* CSWS_BRIDGE_H */
