/*
 * pyembed.h - find the Python interpreter that installed csws and get the
 * bridge's function table from it.
 *
 * The plugin links no libpython: in a Python host (csws run, ctcsound) the
 * interpreter is already in the process; in the stock csound command the
 * plugin loads the interpreter that installed the package, by full path.
 */
#ifndef CSWS_PYEMBED_H
#define CSWS_PYEMBED_H

#include <stddef.h>
#include "bridge.h"

/* Beside a copy of the plugin, a file of this name's suffix names the
   site-packages directory that holds the csws package (csws install --copy). */
#define CSWS_SITE_SUFFIX ".site"

/* The bridge's table, loading and starting Python on first use.  NULL on
   failure, with a message for the user in err. */
const csws_api *csws_python_api(char *err, size_t errlen);

#endif /* CSWS_PYEMBED_H */
