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
#include "host_version.h"
#include "pyembed.h"

/* Room for argument pointers.  Csound writes one pointer per argument the
   orchestra gives, before init can refuse them, and checks no opcode's size:
   its parser stops inputs at VARGMAX (1999 in 6.18) but not outputs.  So
   reserve room for every input Csound accepts plus as many outputs, and
   report anything beyond the 20 we serve as an init error. */
#define CSWS_ARG_SLOTS 4096

typedef struct {
    MYFLT *data;               /* where Csound keeps the value(s) */
    csws_ring *ring;
    int kind, direction;
    size_t nelems;             /* arrays: element count */
    size_t frame_bytes;
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
    csws_var vars[CSWS_MAX_ARGS];
    AUXCH scratch;             /* one control frame, for torn-read checks */
    AUXCH last_string;         /* strings to the web: sent on change */
} WEBSOCKET;

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

/* The variable's kind, or -1 with its Csound type name in `why`. */
static int kind_of(CSOUND *cs, void *arg, char *why, size_t whylen)
{
    csws_type *t = csws_arg_type(cs, arg);
    const char *n = t ? t->varTypeName : "?";
    snprintf(why, whylen, "%s", n);
    if (!strcmp(n, "k")) return CSWS_K;
    if (!strcmp(n, "a")) return CSWS_A;
    if (!strcmp(n, "i") || !strcmp(n, "c")) return CSWS_I;
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

static int deinit_websocket(CSOUND *cs, void *pp)
{
    WEBSOCKET *p = (WEBSOCKET *)pp;
    (void)cs;
    if (p->handle) {
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
    size_t scratch_bytes = 0;
    int has_string_in = 0;

    /* Counted first: beyond CSWS_ARG_SLOTS, Csound has written argument
       pointers over this struct's other fields, so touch none of them. */
    if (nout + nin > CSWS_MAX_ARGS)
        return csws_init_error(cs, "websocket: %d arguments given, at most %d "
                             "(outputs and inputs together) are allowed",
                             nout + nin, CSWS_MAX_ARGS);
    /* Re-init (reinit, or a reused instance): start from nothing. */
    deinit_websocket(cs, p);
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
    p->ksmps = csws_ksmps(cs, &p->h);
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
        v->kind = kind;
        v->direction = is_out ? CSWS_FROM_WEB : CSWS_TO_WEB;
        s->name = name ? name : "";
        s->kind = kind;
        s->direction = v->direction;
        switch (kind) {
        case CSWS_K: case CSWS_I:
            v->data = (MYFLT *)arg;
            v->nelems = 1;
            break;
        case CSWS_A:
            v->data = (MYFLT *)arg;
            v->nelems = p->ksmps;
            break;
        case CSWS_S: {
            STRINGDAT *str = (STRINGDAT *)arg;
            v->data = (MYFLT *)arg;
            if (is_out && (str->data == NULL || str->size < CSWS_MAX_STRING + 1)) {
                /* Make room now: the perf routine never allocates. */
                int fresh = str->data == NULL || str->size == 0;
                csws_string_reserve(cs, str, CSWS_MAX_STRING + 1);
                if (fresh)
                    str->data[0] = '\0';
            }
            if (!is_out) {
                has_string_in = 1;
                if (str->data) {
                    s->init_data = str->data;
                    s->init_bytes = strnlen(str->data, CSWS_MAX_STRING);
                }
            }
            break;
        }
        default: {
            ARRAYDAT *arr = (ARRAYDAT *)arg;
            size_t n = 1;
            int d;
            if (arr->data == NULL || arr->sizes == NULL || arr->dimensions < 1)
                return csws_init_error(cs, "websocket: array %s must be initialised "
                                     "before websocket uses it (e.g. %s[] init 8), "
                                     "so that its size is known", s->name, s->name);
            for (d = 0; d < arr->dimensions; d++)
                n *= (size_t)arr->sizes[d];
            v->data = arr->data;
            v->nelems = n;       /* a[]: elements, each of ksmps samples */
            s->dimensions = arr->dimensions;
            s->sizes = arr->sizes;
        }
        }
        if (kind == CSWS_S)
            v->frame_bytes = CSWS_MAX_STRING;
        else if (kind == CSWS_AARR)
            v->frame_bytes = v->nelems * p->ksmps * sizeof(MYFLT);
        else
            v->frame_bytes = v->nelems * sizeof(MYFLT);
        s->frame_bytes = v->frame_bytes;
        if (!is_out && (kind == CSWS_I || kind == CSWS_IARR)) {
            s->init_data = v->data;
            s->init_bytes = v->frame_bytes;
        }
        if (is_out && kind != CSWS_A && kind != CSWS_AARR && v->frame_bytes + 4 > scratch_bytes)
            scratch_bytes = v->frame_bytes + 4;
    }

    if (scratch_bytes &&
        (p->scratch.auxp == NULL || p->scratch.size < scratch_bytes))
        cs->AuxAlloc(cs, scratch_bytes, &p->scratch);
    if (has_string_in &&
        (p->last_string.auxp == NULL || p->last_string.size < (size_t)p->nvars * (CSWS_MAX_STRING + 4)))
        cs->AuxAlloc(cs, (size_t)p->nvars * (CSWS_MAX_STRING + 4), &p->last_string);

    p->api = csws_python_api(err, sizeof err);
    if (p->api == NULL)
        return csws_init_error(cs, "websocket: %s", err);
    started_api = p->api;
    err[0] = '\0';
    p->handle = p->api->attach(cs, log_to_csound, port, p->ksmps, csws_sr(cs, &p->h),
                               specs, p->nvars, &p->wake, err, sizeof err);
    if (p->handle == NULL)
        return csws_init_error(cs, "websocket: %s", err[0] ? err : "cannot start");
    for (i = 0; i < p->nvars; i++)
        p->vars[i].ring = specs[i].ring;
    if (p->last_string.auxp)
        memset(p->last_string.auxp, 0xff, p->last_string.size);  /* "never sent" */
    csws_on_deinit(cs, p, deinit_websocket);
    return OK;
}

/* ---- performance: to the web ---- */

static void send_string(WEBSOCKET *p, int i, const STRINGDAT *str)
{
    csws_var *v = &p->vars[i];
    unsigned char *last = (unsigned char *)p->last_string.auxp + (size_t)i * (CSWS_MAX_STRING + 4);
    uint32_t n = str->data ? (uint32_t)strnlen(str->data, CSWS_MAX_STRING) : 0;
    unsigned char *slot;
    if (memcmp(last, &n, 4) == 0 && memcmp(last + 4, str->data, n) == 0)
        return;
    memcpy(last, &n, 4);
    memcpy(last + 4, str->data, n);
    slot = csws_ring_write_slot(v->ring);
    memcpy(slot, &n, 4);
    memcpy(slot + 4, str->data, n);
    csws_ring_commit(v->ring);
}

static void to_web(WEBSOCKET *p, int i)
{
    csws_var *v = &p->vars[i];
    switch (v->kind) {
    case CSWS_I: case CSWS_IARR:
        return;                         /* sent once to each client on connect */
    case CSWS_S:
        send_string(p, i, (const STRINGDAT *)v->data);
        return;
    case CSWS_AARR:
        p->api->interleave((double *)csws_ring_write_slot(v->ring), v->data,
                           v->nelems, p->ksmps);
        break;
    default:
        p->api->copy((double *)csws_ring_write_slot(v->ring), v->data, v->nelems);
    }
    csws_ring_commit(v->ring);
}

/* ---- performance: from the web ---- */

/* Control data: the newest frame wins; i-rate latches the first. */
static void from_web_control(WEBSOCKET *p, csws_var *v)
{
    uint64_t head = csws_ring_head(v->ring);
    unsigned char *tmp = (unsigned char *)p->scratch.auxp;
    size_t n = v->kind == CSWS_S ? v->frame_bytes + 4 : v->frame_bytes;
    if (head == v->cursor || v->latched)
        return;
    memcpy(tmp, csws_ring_slot(v->ring, head - 1), n);
    if (!csws_ring_still_valid(v->ring, head - 1))
        return;                          /* torn by a newer frame: next cycle */
    v->cursor = head;
    if (v->kind == CSWS_S) {
        STRINGDAT *str = (STRINGDAT *)v->data;
        uint32_t len;
        memcpy(&len, tmp, 4);
        if (len > CSWS_MAX_STRING)
            len = CSWS_MAX_STRING;
        memcpy(str->data, tmp + 4, len);
        str->data[len] = '\0';
    } else {
        p->api->copy(v->data, (const double *)tmp, v->nelems);
    }
    if (v->kind == CSWS_I || v->kind == CSWS_IARR)
        v->latched = 1;
}

/* Audio: a FIFO, one block per k-cycle; silence on underrun. */
static void from_web_audio(WEBSOCKET *p, csws_var *v)
{
    uint64_t head = csws_ring_head(v->ring);
    uint64_t oldest = csws_ring_oldest(v->ring, head);
    size_t nsamps = v->kind == CSWS_AARR ? v->nelems * p->ksmps : p->ksmps;
    if (v->cursor < oldest) {
        csws_ring_add_lost(v->ring, oldest - v->cursor);
        v->cursor = oldest;
    }
    if (v->cursor < head) {
        const double *src = (const double *)csws_ring_slot(v->ring, v->cursor);
        if (v->kind == CSWS_AARR)
            p->api->deinterleave(v->data, src, v->nelems, p->ksmps);
        else
            p->api->copy(v->data, src, p->ksmps);
        if (csws_ring_still_valid(v->ring, v->cursor)) {
            v->cursor++;
            return;
        }
        csws_ring_add_lost(v->ring, 1);
        v->cursor++;
    } else if (v->cursor > 0) {
        csws_ring_add_underrun(v->ring);  /* the stream has started, and ran dry */
    }
    memset(v->data, 0, nsamps * sizeof(MYFLT));
}

static int perf_websocket(CSOUND *cs, WEBSOCKET *p)
{
    int i, sent = 0;
    if (p->handle == NULL)
        return OK;
    for (i = 0; i < p->nvars; i++) {
        csws_var *v = &p->vars[i];
        if (v->direction == CSWS_TO_WEB) {
            to_web(p, i);
            sent = 1;
        } else if (v->kind == CSWS_A || v->kind == CSWS_AARR) {
            from_web_audio(p, v);
        } else {
            from_web_control(p, v);
        }
    }
    if (sent && csws_wake_clients(p->wake) && csws_wake_claim(p->wake))
        (void)CSWS_SEND(p->wake->fd);
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

/* ---- module ---- */

/*
 * Debian's csound-plugins ships the original websocketIO plugin, which also
 * registers `websocket`.  Csound initialises it before a library given with
 * --opcode-lib and picks the first entry that matches, so the original would
 * win.  Csound keeps its own copy of each entry: we turn any other library's
 * entry that would be chosen into ours, so that every host runs csws.
 */
static const OENTRY csws_entries[] = {
    /* receive-only, `kval websocket 8888`: Csound's parser will not let a
       '*' input list be empty, so this signature has its own entry */
    CSWS_ENTRY("websocket", sizeof(WEBSOCKET), 3, "*", "i",
               init_websocket, perf_websocket, deinit_websocket),
    CSWS_ENTRY("websocket", sizeof(WEBSOCKET), 3, "*", "i*",
               init_websocket, perf_websocket, deinit_websocket),
    CSWS_ENTRY("websocket_config", sizeof(WEBSOCKET_CONFIG), 1, "", "SS",
               init_config, NULL, NULL),
};


/* Does an orchestra compiled already use this entry?  (Then its memory was
   laid out for that entry's size, and rewriting it would break it.) */
static int entry_in_use(CSOUND *cs, const OENTRY *ep)
{
    INSTRTXT **list = cs->GetInstrumentList(cs);
    INSTRTXT *ip;
    OPTXT *op;
    for (ip = list ? list[0] : NULL; ip; ip = ip->nxtinstxt)
        for (op = ip->nxtop; op; op = op->nxtop)
            if (op->t.oentry == ep)
                return 1;
    return 0;
}

static void take_over_websocket(CSOUND *cs)
{
    /* Argument types to resolve with: the shapes an orchestra commonly uses. */
    static char *probes[][2] = {{"k", "ik"}, {"a", "ia"}, {"k", "i"}, {"", "ik"}};
    size_t i;
    for (i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        OENTRY *ep = csws_find_opcode(cs, "websocket", probes[i][0], probes[i][1]);
        if (ep != NULL && csws_entry_init(ep) != (SUBR)init_websocket) {
            char *opname = ep->opname;
            if (entry_in_use(cs, ep)) {
                csws_warning(cs, "csws: the orchestra was compiled before csound-websocket "
                             "was loaded, so another library's `websocket` (Debian's "
                             "websocketIO) will run.  Load the plugin first: give "
                             "--opcode-lib before compiling (from the API: set it, "
                             "then csoundStart(), then compile), or use `csws run`.");
                return;
            }
            /* Csound picks the first matching entry; this one now takes the
               receive-only form, ours (appended later) the rest. */
            *ep = csws_entries[0];
            ep->opname = opname;
            cs->Message(cs, "csws: csound-websocket's `websocket` replaces another "
                        "library's (such as Debian's websocketIO plugin)\n");
        }
    }
}

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
    take_over_websocket(cs);
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
