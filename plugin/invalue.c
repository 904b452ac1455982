/*
 * invalue.c - see invalue.h.  The callbacks run in Csound's performance
 * thread, once per invalue/outvalue per k-cycle: they look the channel up
 * (invalue and outvalue made it at their init, so nothing is allocated) and
 * copy one number.  Strings are left alone: reading a string channel safely
 * needs its lock, which the plugin's view of Csound does not offer.
 */
#include "invalue.h"

/* The variable's type: Csound passes its CS_TYPE, whose name comes first. */
static int is_control(const void *type)
{
    const CS_TYPE *t = (const CS_TYPE *)type;
    return t != NULL && t->varTypeName != NULL && t->varTypeName[0] == 'k';
}

PUBLIC void csws_invalue(CSOUND *cs, const char *name, void *value, const void *type)
{
    MYFLT *chan;
    if (is_control(type)
        && csws_channel_ptr(cs, &chan, name, CSOUND_CONTROL_CHANNEL | CSOUND_INPUT_CHANNEL) == 0)
        *(MYFLT *)value = *chan;
}

PUBLIC void csws_outvalue(CSOUND *cs, const char *name, void *value, const void *type)
{
    MYFLT *chan;
    if (is_control(type)
        && csws_channel_ptr(cs, &chan, name, CSOUND_CONTROL_CHANNEL | CSOUND_OUTPUT_CHANNEL) == 0)
        *chan = *(MYFLT *)value;
}
