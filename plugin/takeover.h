/*
 * takeover.h - our `websocket` in place of another library's.
 *
 * Debian's csound-plugins ships the original websocketIO plugin, which also
 * registers `websocket`.  Csound initialises it before a library given with
 * --opcode-lib and picks the first entry that matches, so the original would
 * win.  Csound keeps its own copy of each entry: we turn any other library's
 * entry that would be chosen into ours, so that every host runs csws.
 */
#ifndef CSWS_TAKEOVER_H
#define CSWS_TAKEOVER_H

#include "csound_compat.h"

/* After our entries are appended: every other library's `websocket` entry
   that Csound would choose becomes a copy of `ours` (our receive-only entry,
   whose init routine also tells our entries from theirs).  If an orchestra
   compiled already uses one, a warning says to load the plugin first. */
void csws_take_over_websocket(CSOUND *cs, const OENTRY *ours);

#endif /* CSWS_TAKEOVER_H */
