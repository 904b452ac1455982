/*
 * invalue.h - answer invalue and outvalue from Csound's named channels, for a
 * host that has nothing else to answer them with: `csws run` installs these
 * (csoundSetInputChannelCallback, csoundSetOutputChannelCallback).  Without
 * callbacks invalue gives 0 and outvalue goes nowhere; with these,
 * `invalue "freq"` reads the channel "freq" that pages write through the port,
 * and `outvalue "level", k` writes the channel "level" that pages watch.
 * (CsoundQt answers them with its own widgets.)
 */
#ifndef CSWS_INVALUE_H
#define CSWS_INVALUE_H

#include "csound_compat.h"

PUBLIC void csws_invalue(CSOUND *cs, const char *name, void *value, const void *type);
PUBLIC void csws_outvalue(CSOUND *cs, const char *name, void *value, const void *type);

#endif /* CSWS_INVALUE_H */
