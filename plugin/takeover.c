/*
 * takeover.c - see takeover.h.
 */
#include "takeover.h"

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

void csws_take_over_websocket(CSOUND *cs, const OENTRY *ours)
{
    /* Argument types to resolve with: the shapes an orchestra commonly uses. */
    static char *probes[][2] = {{"k", "ik"}, {"a", "ia"}, {"k", "i"}, {"", "ik"}};
    size_t i;
    for (i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        OENTRY *ep = csws_find_opcode(cs, "websocket", probes[i][0], probes[i][1]);
        if (ep != NULL && csws_entry_init(ep) != csws_entry_init(ours)) {
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
               receive-only form, our entries (later in Csound's list) the rest. */
            *ep = *ours;
            ep->opname = opname;
            cs->Message(cs, "csws: csound-websocket's `websocket` replaces another "
                        "library's (such as Debian's websocketIO plugin)\n");
        }
    }
}
