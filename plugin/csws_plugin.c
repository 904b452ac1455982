/*
 * csws_plugin.c - the Csound plugin entry point: registers the `websocket`
 * opcode and moves each k-cycle's data between Csound's variables and the
 * lock-free rings that the Python I/O thread serves.
 *
 *   xout1[, ..., xoutN] websocket iport[, xin1, ..., xinM]
 *
 * Outputs receive from the web, inputs send to it; each variable is reached
 * by a client that names it as its websocket subprotocol.
 *
 * The performance routine takes no lock and no GIL, allocates nothing and
 * never waits: it copies (or packs) frames into rings, reads the newest or
 * next frame out of them, and pokes the I/O thread with one non-blocking
 * send() when clients are connected.
 */
#define _GNU_SOURCE 1 /* strnlen */
#include "csound_compat.h"
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#define CSWS_SEND(fd) send((SOCKET)(fd), "w", 1, 0)
#else
#include <sys/socket.h>
#define CSWS_SEND(fd) send((int)(fd), "w", 1, MSG_DONTWAIT)
#endif

#include "bridge.h"
#include "frames.h"
#include "host_version.h"
#include "pyembed.h"
#include "takeover.h"

/* Room for argument pointers.  Csound writes one pointer per argument the
   orchestra gives, before init can refuse them, and checks no opcode's size:
   its parser stops inputs at VARGMAX (1999 in 6.18) but not outputs.  So
   reserve room for every input Csound accepts plus as many outputs, and
   report anything beyond the 20 we serve as an init error. */
#define CSWS_ARG_SLOTS 4096

typedef struct {
    void *arg;                 /* the Csound variable: MYFLT, STRINGDAT or ARRAYDAT */
    csws_share *share;         /* the port's record of the variable, shared by notes */
    csws_ring *ring;           /* from-web: the ring cursor counts in */
    int kind, direction;
    uint64_t cursor;           /* from-web: next frame (audio) or frames seen */
    int latched;               /* i, i[] outputs: got their value */
} csws_var;

typedef struct {
    OPDS h;
    MYFLT *args[CSWS_ARG_SLOTS];
    const csws_api *api;
    void *handle;              /* the bridge's record of this instance */
    csws_wake *wake;
    uint32_t ksmps;
    int nvars;
    uint64_t order;            /* grows with each attach: the newest note wins */
    uint64_t engine_kcycle;    /* the engine k-cycle of the last perf call */
    uint64_t kcycle;           /* this perf call's frame: engine k-cycle and local sub-cycle */
    csws_var vars[CSWS_MAX_ARGS];
} WEBSOCKET;

/* Arrays carry their size: a frame is 8 bytes (the byte count, padded so
   that the values stay aligned), then the values. */
#define CSWS_ARRAY_HEADER 8

/* Set once an instance has reached Python: only then is there anything for
   csoundModuleDestroy() to stop. */
static const csws_api *started_api;

static void log_to_csound(void *csound, int is_warning, const char *text)
{
    CSOUND *cs = (CSOUND *)csound;
    if (is_warning)
        csws_warning(cs, text);
    else
        cs->Message(cs, "%s\n", text);
}

static void *alloc_for_csound(void *csound, size_t bytes)
{
    CSOUND *cs = (CSOUND *)csound;
    return cs->Calloc(cs, bytes);
}

static void release_for_csound(void *csound, void *memory)
{
    CSOUND *cs = (CSOUND *)csound;
    cs->Free(cs, memory);
}

static csws_host host_fns = {log_to_csound, alloc_for_csound, release_for_csound, "", CSWS_CSOUND_MAJOR};
static char library_path[4096];

/* What Python gets of its Csound; found once (one Csound library per process
   and major). */
static const csws_host *host_table(CSOUND *cs)
{
    if (library_path[0] == '\0') {
        void *fn;
        memcpy(&fn, &cs->GetChannelPtr, sizeof fn);   /* a function of Csound's library */
        csws_library_path(fn, library_path, sizeof library_path);
        host_fns.library = library_path;
    }
    return &host_fns;
}

/* Poke the I/O thread (at most one byte pending): frames to send, or a string
   buffer to replace. */
static void wake_io(WEBSOCKET *p)
{
    if (csws_wake_claim(p->wake))
        (void)CSWS_SEND(p->wake->fd);
}

/* The variable's kind, or -1 with its Csound type name in `why`. */
static int kind_of(CSOUND *cs, void *arg, char *why, size_t whylen)
{
    csws_type *t = csws_arg_type(cs, arg);
    const char *n = t ? t->varTypeName : "?";
    snprintf(why, whylen, "%s", n);
    if (!strcmp(n, "k")) return CSWS_K;
    if (!strcmp(n, "a")) return CSWS_A;
    if (!strcmp(n, "i") || !strcmp(n, "c") || !strcmp(n, "p")) return CSWS_I;
    if (!strcmp(n, "S")) return CSWS_S;
    if (!strcmp(n, "[")) {
        ARRAYDAT *arr = (ARRAYDAT *)arg;
        const char *e = arr->arrayType ? arr->arrayType->varTypeName : "?";
        snprintf(why, whylen, "%s[]", e);
        if (!strcmp(e, "k")) return CSWS_KARR;
        if (!strcmp(e, "a")) return CSWS_AARR;
        if (!strcmp(e, "i")) return CSWS_IARR;
    }
    return -1;
}

/* The array's values now (a[]: elements x ksmps): Csound may have resized
   it since init, so its size and data are read afresh every time. */
static size_t array_values(const ARRAYDAT *arr, int kind, uint32_t ksmps)
{
    size_t n = 1;
    int d;
    if (arr->data == NULL || arr->sizes == NULL || arr->dimensions < 1)
        return 0;
    for (d = 0; d < arr->dimensions; d++)
        n *= arr->sizes[d] > 0 ? (size_t)arr->sizes[d] : 0;
    return kind == CSWS_AARR ? n * ksmps : n;
}

/* MYFLTs from one a[] element to the next: Csound sizes an a[]'s elements
   for the orchestra's ksmps, also in an instrument or UDO that runs at a
   smaller one of its own (setksmps), whose ksmps samples come first. */
static size_t a_stride(const ARRAYDAT *arr, uint32_t ksmps)
{
    size_t member = arr->arrayMemberSize > 0 ? (size_t)arr->arrayMemberSize / sizeof(MYFLT) : 0;
    return member > ksmps ? member : ksmps;
}

/* The most bytes of a string input to read: within its buffer, at most a message. */
static size_t string_limit(const STRINGDAT *str)
{
    size_t room = csws_string_room(str);
    return room < CSWS_MAX_STRING ? room : CSWS_MAX_STRING;
}

static int is_array(int kind)
{
    return kind == CSWS_KARR || kind == CSWS_AARR || kind == CSWS_IARR;
}

static void share_commit(csws_share *sh);
static void from_web_control(WEBSOCKET *p, csws_var *v);

static int deinit_websocket(CSOUND *cs, void *pp)
{
    WEBSOCKET *p = (WEBSOCKET *)pp;
    int i;
    (void)cs;
    if (p->handle) {
        for (i = 0; i < p->nvars; i++) {
            csws_share *sh = p->vars[i].share;
            sh->members--;
            /* the others have written the frame under way: it is complete */
            if (sh->kcycle && sh->written >= sh->members)
                share_commit(sh);
        }
        p->api->detach(p->handle);
        p->handle = NULL;
    }
    return OK;
}

static int init_websocket(CSOUND *cs, WEBSOCKET *p)
{
    int nout = csws_out_count(cs, &p->h), nin = csws_in_count(cs, &p->h) - 1;
    int i, port;
    csws_var_spec specs[CSWS_MAX_ARGS];
    char err[1024];

    /* Counted first: beyond CSWS_ARG_SLOTS, Csound has written argument
       pointers over this struct's other fields, so touch none of them. */
    if (nout + nin > CSWS_MAX_ARGS)
        return csws_init_error(cs, "websocket: %d arguments given, at most %d "
                             "(outputs and inputs together) are allowed",
                             nout + nin, CSWS_MAX_ARGS);
    /* Re-init (reinit, a tied note, a reused instance): start from nothing.
       The variables stay on offer with their clients while this note takes
       them again below. */
    deinit_websocket(cs, p);
    if (csws_insno(&p->h) == 0)
        return csws_init_error(cs, "websocket: in the orchestra header (instr 0) it would run "
                             "once, at init, and never pass values on: put the line in an "
                             "instrument that plays for as long as it is needed (e.g. "
                             "alwayson, or a score note), and use global variables to share "
                             "the values");
    if (nout + nin == 0)
        return csws_init_error(cs, "websocket: give at least one output or input "
                             "besides the port");
    {
        MYFLT portf = *p->args[nout];
        if (portf < 1 || portf > 65535 || portf != (MYFLT)(int)portf)
            return csws_init_error(cs, "websocket: port %g is not a whole number "
                                 "from 1 to 65535", (double)portf);
        port = (int)portf;
    }
    p->ksmps = csws_ksmps(&p->h);
    p->engine_kcycle = UINT64_MAX;      /* none yet: the first call starts a count */
    p->nvars = nout + nin;
    memset(specs, 0, sizeof specs);
    for (i = 0; i < p->nvars; i++) {
        int is_out = i < nout;
        void *arg = is_out ? (void *)p->args[i] : (void *)p->args[i + 1];
        char tname[32];
        int kind = kind_of(cs, arg, tname, sizeof tname);
        csws_var *v = &p->vars[i];
        csws_var_spec *s = &specs[i];
        const char *name = is_out ? csws_out_name(cs, &p->h, i)
                                  : csws_in_name(cs, &p->h, i - nout + 1);
        memset(v, 0, sizeof *v);
        if (kind < 0)
            return csws_init_error(cs, "websocket: %s has type '%s'; supported are "
                                 "k, a, i, S, k[], a[] and i[]",
                                 name ? name : "an argument", tname);
        v->arg = arg;
        v->kind = kind;
        v->direction = is_out ? CSWS_FROM_WEB : CSWS_TO_WEB;
        s->name = name ? name : "";
        s->kind = kind;
        s->direction = v->direction;
        switch (kind) {
        case CSWS_K: case CSWS_I:
            s->frame_bytes = sizeof(MYFLT);
            break;
        case CSWS_A:
            s->frame_bytes = p->ksmps * sizeof(MYFLT);
            break;
        case CSWS_S: {
            STRINGDAT *str = (STRINGDAT *)arg;
            s->frame_bytes = CSWS_MAX_STRING;
            if (is_out && (str->data == NULL || str->size < CSWS_MAX_STRING + 1)) {
                /* Make room now: the perf routine never allocates. */
                int fresh = str->data == NULL || str->size == 0;
                csws_string_reserve(cs, str, CSWS_MAX_STRING + 1);
                if (fresh)
                    str->data[0] = '\0';
            }
            if (!is_out && str->data) {
                s->init_data = str->data;
                s->init_bytes = strnlen(str->data, string_limit(str));
            }
            break;
        }
        default: {
            ARRAYDAT *arr = (ARRAYDAT *)arg;
            if (arr->data == NULL || arr->sizes == NULL || arr->dimensions < 1)
                return csws_init_error(cs, "websocket: array %s must be initialised "
                                     "before websocket uses it (e.g. %s[] init 8), "
                                     "so that its size is known", s->name, s->name);
            s->frame_bytes = array_values(arr, kind, p->ksmps) * sizeof(MYFLT);
            s->dimensions = arr->dimensions;
            s->sizes = arr->sizes;
        }
        }
        if (!is_out && (kind == CSWS_I || kind == CSWS_IARR)) {
            s->init_data = kind == CSWS_I ? (void *)arg : (void *)((ARRAYDAT *)arg)->data;
            s->init_bytes = s->frame_bytes;
        }
    }

    p->api = csws_python_api(err, sizeof err);
    if (p->api == NULL)
        return csws_init_error(cs, "websocket: %s", err);
    started_api = p->api;
    err[0] = '\0';
    p->handle = p->api->attach(cs, host_table(cs), port, p->ksmps, csws_engine_ksmps(cs), csws_sr(cs, &p->h),
                               csws_insno(&p->h), (uint64_t)(uintptr_t)p->h.optext,
                               specs, p->nvars, &p->wake, &p->order, err, sizeof err);
    if (p->handle == NULL)
        return csws_init_error(cs, "websocket: %s", err[0] ? err : "cannot start");
    for (i = 0; i < p->nvars; i++) {
        csws_var *v = &p->vars[i];
        v->share = specs[i].share;
        v->share->members++;
        if (v->direction == CSWS_FROM_WEB) {
            v->ring = csws_share_ring(v->share);
            /* audio: from the next block on; control: the newest value, now */
            v->cursor = v->kind == CSWS_A || v->kind == CSWS_AARR ? csws_ring_head(v->ring) : 0;
        }
    }
    csws_on_deinit(cs, p, deinit_websocket);
    for (i = 0; i < p->nvars; i++)
        if (p->vars[i].direction == CSWS_FROM_WEB && p->vars[i].kind != CSWS_A &&
            p->vars[i].kind != CSWS_AARR)
            from_web_control(p, &p->vars[i]);
    return OK;
}

/* ---- performance: to the web ---- */

/* The frame several notes put together in a k-cycle goes out. */
static void share_commit(csws_share *sh)
{
    csws_ring *r = (csws_ring *)(uintptr_t)sh->open_ring;
    sh->kcycle = 0;
    csws_ring_commit(r);
}

/* A string goes out only when it changed: compare with the last frame sent. */
static int same_string(csws_ring *r)
{
    uint64_t head = csws_ring_head(r);
    uint32_t n, last;
    if (head == 0)
        return 0;
    memcpy(&n, csws_ring_write_slot(r), 4);
    memcpy(&last, csws_ring_slot(r, head - 1), 4);
    return n == last && memcmp(csws_ring_write_slot(r) + 4, csws_ring_slot(r, head - 1) + 4, n) == 0;
}

static void write_frame(WEBSOCKET *p, csws_var *v, unsigned char *slot, size_t nvals)
{
    switch (v->kind) {
    case CSWS_S: {
        const STRINGDAT *str = (const STRINGDAT *)v->arg;
        uint32_t n = str->data ? (uint32_t)strnlen(str->data, string_limit(str)) : 0;
        memcpy(slot, &n, 4);
        memcpy(slot + 4, str->data, n);
        return;
    }
    case CSWS_KARR: case CSWS_AARR: {
        const ARRAYDAT *arr = (const ARRAYDAT *)v->arg;
        uint32_t bytes = (uint32_t)(nvals * sizeof(MYFLT));
        memcpy(slot, &bytes, 4);
        if (v->kind == CSWS_AARR)
            csws_interleave((double *)(slot + CSWS_ARRAY_HEADER), arr->data,
                            nvals / p->ksmps, p->ksmps, a_stride(arr, p->ksmps));
        else
            csws_copy((double *)(slot + CSWS_ARRAY_HEADER), arr->data, nvals);
        return;
    }
    default:
        csws_copy((double *)slot, (const MYFLT *)v->arg, nvals);
    }
}

/* Audio from one more note: added to the frame, as Csound's outputs add up.
   Arrays add the elements both have. */
static void add_frame(WEBSOCKET *p, csws_var *v, unsigned char *slot, size_t nvals)
{
    if (v->kind == CSWS_A) {
        csws_add((double *)slot, (const MYFLT *)v->arg, nvals);
    } else {
        const ARRAYDAT *arr = (const ARRAYDAT *)v->arg;
        uint32_t bytes;
        size_t fe, ne = nvals / p->ksmps;
        memcpy(&bytes, slot, 4);
        fe = bytes / sizeof(MYFLT) / p->ksmps;
        csws_mix_interleaved((double *)(slot + CSWS_ARRAY_HEADER), fe, arr->data,
                             ne < fe ? ne : fe, p->ksmps, a_stride(arr, p->ksmps));
    }
}

static void to_web(WEBSOCKET *p, csws_var *v)
{
    csws_share *sh = v->share;
    csws_ring *r;
    uint64_t kc = p->kcycle;
    size_t nvals = 1;
    unsigned char *slot;
    int sum = v->kind == CSWS_A || v->kind == CSWS_AARR;
    switch (v->kind) {
    case CSWS_I: case CSWS_IARR:
        return;                         /* sent once to each client on connect */
    case CSWS_A:
        nvals = p->ksmps;
        break;
    case CSWS_KARR: case CSWS_AARR:
        nvals = array_values((const ARRAYDAT *)v->arg, v->kind, p->ksmps);
        if (CSWS_LOAD_RLX(&sh->values) != nvals)
            CSWS_STORE_REL(&sh->values, nvals);
        r = csws_share_ring(sh);
        if (nvals * sizeof(MYFLT) + CSWS_ARRAY_HEADER > r->slot_bytes) {
            /* grown past the ring's frames: the I/O thread makes a bigger
               ring; until then these frames are lost */
            CSWS_STORE_REL(&sh->want_bytes, nvals * sizeof(MYFLT) + CSWS_ARRAY_HEADER);
            return;
        }
        break;
    default:
        break;
    }
    /* A frame left open last k-cycle (a note that did not run its line) goes first. */
    if (sh->kcycle && sh->kcycle != kc)
        share_commit(sh);
    if (sh->kcycle == 0) {
        sh->kcycle = kc;
        sh->written = 0;
        sh->open_ring = (uint64_t)(uintptr_t)csws_share_ring(sh);
    }
    r = (csws_ring *)(uintptr_t)sh->open_ring;
    slot = csws_ring_write_slot(r);
    if (sh->written == 0 || (!sum && p->order > sh->best)) {
        write_frame(p, v, slot, nvals);
        sh->best = p->order;
    } else if (sum) {
        add_frame(p, v, slot, nvals);
    }
    if (++sh->written >= sh->members) {
        if (v->kind == CSWS_S && same_string(r))
            sh->kcycle = 0;
        else
            share_commit(sh);
    }
}

/* ---- performance: from the web ---- */

/* The ring to read now: a grown array's bigger one starts a new count. */
static csws_ring *from_ring(csws_var *v)
{
    csws_ring *r = csws_share_ring(v->share);
    if (r != v->ring) {
        v->ring = r;
        v->cursor = 0;
    }
    return r;
}

/* An array frame into the array as it is now: as many values as both have. */
static void frame_to_array(WEBSOCKET *p, csws_var *v, const unsigned char *frame)
{
    ARRAYDAT *arr = (ARRAYDAT *)v->arg;
    size_t have = array_values(arr, v->kind, p->ksmps), got, ne, fe, stride;
    uint32_t bytes;
    const double *src = (const double *)(frame + CSWS_ARRAY_HEADER);
    memcpy(&bytes, frame, 4);
    got = bytes / sizeof(MYFLT);
    if (v->kind != CSWS_AARR) {
        csws_copy(arr->data, src, got < have ? got : have);
        return;
    }
    fe = got / p->ksmps;
    ne = have / p->ksmps;
    stride = a_stride(arr, p->ksmps);
    if (fe == ne)
        csws_deinterleave(arr->data, src, ne, p->ksmps, stride);
    else
        csws_deinterleave_some(arr->data, ne, src, fe, p->ksmps, stride);
}

/* A string frame into an S output, never past the output's buffer: the
   orchestra may have shrunk it since (Csound 6 does when it copies a string
   in).  Then the spare buffer the I/O thread keeps ready takes its place
   (Csound's thread allocates nothing), and the old one goes back to the I/O
   thread to free.  With no spare ready (a second shrink within a moment), the
   string waits: 0, and the I/O thread is woken to make one. */
static int string_to_output(WEBSOCKET *p, csws_var *v, const unsigned char *frame)
{
    STRINGDAT *str = (STRINGDAT *)v->arg;
    csws_share *sh = v->share;
    uint32_t len;
    memcpy(&len, frame, 4);
    if (len > CSWS_MAX_STRING)
        len = CSWS_MAX_STRING;
    if (csws_string_room(str) < (size_t)len + 1) {
        char *spare = (char *)(uintptr_t)CSWS_LOAD_ACQ(&sh->spare), *old;
        if (spare == NULL || CSWS_LOAD_ACQ(&sh->retired) != 0) {
            wake_io(p);
            return 0;
        }
        CSWS_STORE_REL(&sh->spare, 0);
        old = csws_string_swap(str, spare, CSWS_MAX_STRING + 1);
        if (old != NULL)
            CSWS_STORE_REL(&sh->retired, (uint64_t)(uintptr_t)old);
        wake_io(p);                      /* to free the old one and make the next spare */
    }
    memcpy(str->data, frame + 4, len);
    str->data[len] = '\0';
    return 1;
}

/* Control data: the newest frame wins; i-rate latches the first. */
static void from_web_control(WEBSOCKET *p, csws_var *v)
{
    csws_ring *r = from_ring(v);
    uint64_t head = csws_ring_head(r);
    unsigned char *tmp = csws_ring_scratch(r);
    if (head == v->cursor || v->latched)
        return;
    memcpy(tmp, csws_ring_slot(r, head - 1), (size_t)r->slot_bytes);
    if (!csws_ring_still_valid(r, head - 1))
        return;                          /* torn by a newer frame: next cycle */
    if (v->kind == CSWS_S) {
        if (!string_to_output(p, v, tmp))
            return;                      /* no room yet: the string waits a k-cycle */
    } else if (is_array(v->kind)) {
        frame_to_array(p, v, tmp);
    } else {
        csws_copy((MYFLT *)v->arg, (const double *)tmp, 1);
    }
    v->cursor = head;
    if (v->kind == CSWS_I || v->kind == CSWS_IARR)
        v->latched = 1;
}

/* --sample-accurate: in a block where the note starts or ends, the samples
   outside it are zero, as Csound's own opcodes leave them (the block is
   still consumed whole: one block per k-cycle). */
static void silence_outside_note(WEBSOCKET *p, MYFLT *out, size_t nelems, size_t stride)
{
    uint32_t offset = csws_offset(&p->h), early = csws_early(&p->h);
    if (out == NULL || (offset == 0 && early == 0) || offset + early > p->ksmps)
        return;
    csws_silence(out, nelems, stride, 0, offset);
    csws_silence(out, nelems, stride, p->ksmps - early, early);
}

/* Audio: a FIFO, one block per k-cycle; silence on underrun. */
static void from_web_audio(WEBSOCKET *p, csws_var *v)
{
    csws_ring *r = from_ring(v);
    uint64_t head = csws_ring_head(r);
    uint64_t oldest = csws_ring_oldest(r, head);
    const ARRAYDAT *arr = v->kind == CSWS_AARR ? (const ARRAYDAT *)v->arg : NULL;
    MYFLT *out = arr ? arr->data : (MYFLT *)v->arg;
    size_t nelems = arr ? array_values(arr, v->kind, p->ksmps) / p->ksmps : 1;
    size_t stride = arr ? a_stride(arr, p->ksmps) : p->ksmps;
    if (v->cursor < oldest) {
        csws_ring_add_lost(r, oldest - v->cursor);
        v->cursor = oldest;
    }
    if (v->cursor < head) {
        unsigned char *src = csws_ring_slot(r, v->cursor);
        if (v->kind == CSWS_AARR)
            frame_to_array(p, v, src);
        else
            csws_copy(out, (const double *)src, p->ksmps);
        if (csws_ring_still_valid(r, v->cursor)) {
            v->cursor++;
            silence_outside_note(p, out, nelems, stride);
            return;
        }
        csws_ring_add_lost(r, 1);
        v->cursor++;
    } else if (v->cursor > 0) {
        csws_ring_add_underrun(r);  /* the stream has started, and ran dry */
    }
    if (out != NULL && nelems > 0)  /* each element's ksmps samples, and what lies between */
        memset(out, 0, ((nelems - 1) * stride + p->ksmps) * sizeof(MYFLT));
}

/* Arrays from the web: what size a client must send now (/csws.json). */
static void publish_size(WEBSOCKET *p, csws_var *v)
{
    size_t n = array_values((const ARRAYDAT *)v->arg, v->kind, p->ksmps);
    if (CSWS_LOAD_RLX(&v->share->values) != n)
        CSWS_STORE_REL(&v->share->values, n);
}

static int perf_websocket(CSOUND *cs, WEBSOCKET *p)
{
    int i, sent = 0;
    uint64_t ekc;
    if (p->handle == NULL)
        return OK;
    /* Which frame this is: an instrument or UDO with a smaller ksmps of its own
       runs several times per engine k-cycle, each a frame of its own; notes of
       one line (one local ksmps) agree on the count, so their frames add up. */
    ekc = csws_kcycle(cs);
    p->kcycle = ekc == p->engine_kcycle ? p->kcycle + 1 : (ekc + 1) << 24;
    p->engine_kcycle = ekc;
    for (i = 0; i < p->nvars; i++) {
        csws_var *v = &p->vars[i];
        if (v->direction == CSWS_TO_WEB) {
            to_web(p, v);
            sent = 1;
            continue;
        }
        if (is_array(v->kind))
            publish_size(p, v);
        if (v->kind == CSWS_A || v->kind == CSWS_AARR)
            from_web_audio(p, v);
        else
            from_web_control(p, v);
    }
    if (sent && csws_wake_clients(p->wake))
        wake_io(p);
    return OK;
}

/* ---- websocket_config "name", "value": a setting from the orchestra ---- */

typedef struct {
    OPDS h;
    STRINGDAT *name, *value;
} WEBSOCKET_CONFIG;

static int init_config(CSOUND *cs, WEBSOCKET_CONFIG *p)
{
    char err[1024];
    const csws_api *api = csws_python_api(err, sizeof err);
    if (api == NULL)
        return csws_init_error(cs, "websocket_config: %s", err);
    started_api = api;
    if (api->configure(cs, p->name->data, p->value->data, err, sizeof err) != 0)
        return csws_init_error(cs, "websocket_config: %s", err);
    return OK;
}

/* ---- websocket_ui iport: the port with Csound's channels and the page, no variables ---- */

typedef struct {
    OPDS h;
    MYFLT *port;
    const csws_api *api;
    void *handle;
    csws_wake *wake;
    uint64_t order;
} WEBSOCKET_UI;

static int deinit_ui(CSOUND *cs, void *pp)
{
    WEBSOCKET_UI *p = (WEBSOCKET_UI *)pp;
    (void)cs;
    if (p->handle) {
        p->api->detach(p->handle);
        p->handle = NULL;
    }
    return OK;
}

static int init_ui(CSOUND *cs, WEBSOCKET_UI *p)
{
    char err[1024];
    MYFLT portf = *p->port;
    deinit_ui(cs, p);
    if (portf < 1 || portf > 65535 || portf != (MYFLT)(int)portf)
        return csws_init_error(cs, "websocket_ui: port %g is not a whole number from 1 to 65535",
                               (double)portf);
    p->api = csws_python_api(err, sizeof err);
    if (p->api == NULL)
        return csws_init_error(cs, "websocket_ui: %s", err);
    started_api = p->api;
    err[0] = '\0';
    /* An instance without variables: it keeps the port open for as long as it
       lives (in the header: the whole performance). */
    p->handle = p->api->attach(cs, host_table(cs), (int)portf, csws_engine_ksmps(cs),
                               csws_engine_ksmps(cs), csws_engine_sr(cs), csws_insno(&p->h),
                               (uint64_t)(uintptr_t)p->h.optext, NULL, 0, &p->wake, &p->order,
                               err, sizeof err);
    if (p->handle == NULL)
        return csws_init_error(cs, "websocket_ui: %s", err[0] ? err : "cannot start");
    csws_on_deinit(cs, p, deinit_ui);
    return OK;
}

/* ---- module ---- */

/* takeover.c copies the first over any other library's `websocket` entry
   that Csound would choose before these. */
static const OENTRY csws_entries[] = {
    /* receive-only, `kval websocket 8888`: Csound's parser will not let a
       '*' input list be empty, so this signature has its own entry */
    CSWS_ENTRY("websocket", sizeof(WEBSOCKET), 3, "*", "i",
               init_websocket, perf_websocket, deinit_websocket),
    CSWS_ENTRY("websocket", sizeof(WEBSOCKET), 3, "*", "i*",
               init_websocket, perf_websocket, deinit_websocket),
    CSWS_ENTRY("websocket_config", sizeof(WEBSOCKET_CONFIG), 1, "", "SS",
               init_config, NULL, NULL),
    CSWS_ENTRY("websocket_ui", sizeof(WEBSOCKET_UI), 1, "", "i",
               init_ui, NULL, deinit_ui),
};

/* Its presence makes Csound treat the library as a module with init and
   destroy functions; there is nothing to do this early. */
PUBLIC int csoundModuleCreate(CSOUND *cs)
{
    (void)cs;
    return OK;
}

PUBLIC int csoundModuleInit(CSOUND *cs)
{
    int err = cs->AppendOpcodes(cs, csws_entries,
                                (int)(sizeof csws_entries / sizeof csws_entries[0]));
    csws_take_over_websocket(cs, &csws_entries[0]);
    return err;
}

PUBLIC int csoundModuleDestroy(CSOUND *cs)
{
    (void)cs;
    if (started_api)
        started_api->shutdown(cs);
    return OK;
}

/* Csound asks this first and refuses a plugin of another major without a
   word about what to load instead: say it, naming the right plugin. */
PUBLIC int csoundModuleInfo(void)
{
    csws_check_host_major(CSWS_CALLER_ADDRESS(), CSWS_CSOUND_MAJOR);
    return CSWS_MODULE_INFO;
}
