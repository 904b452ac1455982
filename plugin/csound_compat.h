/*
 * csound_compat.h - everything in the plugin that differs between Csound 6
 * and Csound 7, in one place.  The opcode (csws_plugin.c) is written once
 * against these names; meson compiles it once per major, each time against
 * that major's headers (CS_VERSION comes from them).
 *
 * In short, Csound 7 moved argument access to inline functions on
 * OPDS, asks for ksmps per instance, replaced deinit callbacks by an OENTRY
 * field, renamed the opcode lookup and stopped appending newlines to
 * InitError and Warning.
 */
#ifndef CSWS_CSOUND_COMPAT_H
#define CSWS_CSOUND_COMPAT_H

#include <csound/csdl.h>
#include <stdarg.h>
#include <stdio.h>

#if CS_VERSION >= 7

#define CSWS_CSOUND_MAJOR 7
/* A table entry: Csound 7 knows what runs from which routines are set. */
#define CSWS_ENTRY(name, size, thread, outs, ins, init, perf, deinit) \
    {(name), (size), 0, (outs), (ins), (SUBR)(init), (SUBR)(perf), (SUBR)(deinit), NULL, 0}
#define CSWS_EOL "\n"
#define CSWS_MODULE_INFO CSOUND_MODULE_INFO
typedef const CS_TYPE csws_type;

static inline int csws_out_count(CSOUND *cs, OPDS *h) { (void)cs; return GetOutputArgCnt(h); }
static inline int csws_in_count(CSOUND *cs, OPDS *h) { (void)cs; return GetInputArgCnt(h); }
static inline const char *csws_out_name(CSOUND *cs, OPDS *h, int i)
{ (void)cs; return GetOutputArgName(h, (uint32_t)i); }
static inline const char *csws_in_name(CSOUND *cs, OPDS *h, int i)
{ (void)cs; return GetInputArgName(h, (uint32_t)i); }
static inline csws_type *csws_arg_type(CSOUND *cs, void *arg) { (void)cs; return GetTypeForArg(arg); }
static inline uint32_t csws_engine_ksmps(CSOUND *cs)
{ return (uint32_t)(cs->GetEngineSr(cs) / cs->GetEngineKr(cs) + 0.5); }
static inline double csws_sr(CSOUND *cs, OPDS *h) { (void)cs; return (double)GetLocalSr(h); }
static inline double csws_engine_sr(CSOUND *cs) { return (double)cs->GetEngineSr(cs); }
/* The entry's deinit field does it. */
static inline void csws_on_deinit(CSOUND *cs, void *p, int (*fn)(CSOUND *, void *))
{ (void)cs; (void)p; (void)fn; }
static inline OENTRY *csws_find_opcode(CSOUND *cs, char *name, char *outs, char *ins)
{ return (OENTRY *)cs->FindOpcode(cs, 0, name, outs, ins); }
static inline SUBR csws_entry_init(const OENTRY *ep) { return ep->init; }
/* The engine's k-cycle count (notes with a local ksmps count their own). */
static inline uint64_t csws_kcycle(CSOUND *cs) { return cs->GetEngineKcounter(cs); }
static inline int csws_channel_ptr(CSOUND *cs, MYFLT **p, const char *name, int type)
{ return cs->GetChannelPtr(cs, (void **)p, name, type); }

/* A string output's buffer, at least n bytes.  Csound 7 may share a string's
   buffer between variables (refcount > 0): never resize a shared one, give
   this variable a buffer of its own instead. */
static inline void csws_string_reserve(CSOUND *cs, STRINGDAT *s, size_t n)
{
    if (s->refcount != 0 || s->data == NULL) {
        char *fresh = cs->Calloc(cs, n);
        if (s->data != NULL)
            snprintf(fresh, n, "%s", s->data);
        s->data = fresh;
        s->refcount = 0;
    } else {
        s->data = cs->ReAlloc(cs, s->data, n);
    }
    s->size = n;
}

/* Bytes the string's buffer may take now: none while it is shared. */
static inline size_t csws_string_room(const STRINGDAT *s)
{ return s->data != NULL && s->refcount == 0 ? s->size : 0; }

/* Put a buffer of n bytes in; the one it replaces, if it is ours to free. */
static inline char *csws_string_swap(STRINGDAT *s, char *buf, size_t n)
{
    char *old = s->refcount == 0 ? s->data : NULL;
    s->data = buf;
    s->size = n;
    s->refcount = 0;
    return old;
}

#else /* Csound 6 */

#define CSWS_CSOUND_MAJOR 6
#define CSWS_ENTRY(name, size, thread, outs, ins, init, perf, deinit) \
    {(name), (uint16)(size), 0, (thread), (outs), (ins), (SUBR)(init), (SUBR)(perf), NULL, NULL}
#define CSWS_EOL ""
#define CSWS_MODULE_INFO ((CS_APIVERSION << 16) + (CS_APISUBVER << 8) + (int)sizeof(MYFLT))
typedef CS_TYPE csws_type;

static inline int csws_out_count(CSOUND *cs, OPDS *h) { return cs->GetOutputArgCnt(h); }
static inline int csws_in_count(CSOUND *cs, OPDS *h) { return cs->GetInputArgCnt(h); }
static inline const char *csws_out_name(CSOUND *cs, OPDS *h, int i) { return cs->GetOutputArgName(h, i); }
static inline const char *csws_in_name(CSOUND *cs, OPDS *h, int i) { return cs->GetInputArgName(h, i); }
static inline csws_type *csws_arg_type(CSOUND *cs, void *arg) { return cs->GetTypeForArg(arg); }
static inline uint32_t csws_engine_ksmps(CSOUND *cs) { return (uint32_t)cs->GetKsmps(cs); }
static inline double csws_sr(CSOUND *cs, OPDS *h) { (void)h; return (double)cs->GetSr(cs); }
static inline double csws_engine_sr(CSOUND *cs) { return (double)cs->GetSr(cs); }
static inline void csws_on_deinit(CSOUND *cs, void *p, int (*fn)(CSOUND *, void *))
{ cs->RegisterDeinitCallback(cs, p, fn); }
static inline OENTRY *csws_find_opcode(CSOUND *cs, char *name, char *outs, char *ins)
{ return cs->find_opcode_new(cs, name, outs, ins); }
static inline SUBR csws_entry_init(const OENTRY *ep) { return ep->iopadr; }
static inline uint64_t csws_kcycle(CSOUND *cs) { return cs->GetKcounter(cs); }
static inline int csws_channel_ptr(CSOUND *cs, MYFLT **p, const char *name, int type)
{ return cs->GetChannelPtr(cs, p, name, type); }

static inline void csws_string_reserve(CSOUND *cs, STRINGDAT *s, size_t n)
{
    s->data = cs->ReAlloc(cs, s->data, n);
    s->size = (int)n;
}

/* Bytes the string's buffer surely holds: its size, which Csound 6 lowers to a
   shorter string's when it copies one in place, and sets exactly when it
   reallocates (strcpyk, =, sprintfk). */
static inline size_t csws_string_room(const STRINGDAT *s)
{ return s->data != NULL && s->size > 0 ? (size_t)s->size : 0; }

static inline char *csws_string_swap(STRINGDAT *s, char *buf, size_t n)
{
    char *old = s->data;
    s->data = buf;
    s->size = (int)n;
    return old;
}

#endif

/* The ksmps of the instrument or UDO instance an opcode runs in (setksmps):
   its perf routine runs engine_ksmps / ksmps times per engine k-cycle. */
static inline uint32_t csws_ksmps(OPDS *h) { return h->insdshead->ksmps; }

/* Sample-accurate notes (--sample-accurate): the samples of this block
   before the note starts, and after it ends (the same fields on both majors). */
static inline uint32_t csws_offset(OPDS *h) { return h->insdshead->ksmps_offset; }
static inline uint32_t csws_early(OPDS *h) { return h->insdshead->ksmps_no_end; }

/* The instrument an opcode runs in: 0 for the orchestra header. */
static inline int csws_insno(OPDS *h) { return h->insdshead ? h->insdshead->insno : 0; }

/* InitError and Warning with one formatted line; Csound 6 ends it itself. */
static inline int csws_init_error(CSOUND *cs, const char *fmt, ...)
{
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return cs->InitError(cs, "%s" CSWS_EOL, text);
}

static inline void csws_warning(CSOUND *cs, const char *text)
{
    cs->Warning(cs, "%s" CSWS_EOL, text);
}

#endif /* CSWS_CSOUND_COMPAT_H */
