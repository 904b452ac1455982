/*
 * host_version.h - the Csound library that hosts the plugin: tell a user who
 * gave Csound the plugin of the other major which plugin to give instead
 * (Csound refuses such a plugin after asking csoundModuleInfo(), with a message
 * that does not say what to load), and find the library's path, for Python to
 * call Csound's own API.
 */
#ifndef CSWS_HOST_VERSION_H
#define CSWS_HOST_VERSION_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define CSWS_CALLER_ADDRESS() __builtin_return_address(0)
#elif defined(_MSC_VER)
#include <intrin.h>
#define CSWS_CALLER_ADDRESS() _ReturnAddress()
#else
#define CSWS_CALLER_ADDRESS() ((void *)0)
#endif

/* `caller`: an address inside the Csound library that called us.  Prints a
   line to stderr when that library is not of Csound `major`. */
void csws_check_host_major(void *caller, int major);

/* The path of the library that holds `address` (a function of Csound's), in
   out (n bytes); "" when it cannot be told. */
void csws_library_path(void *address, char *out, size_t n);

#endif /* CSWS_HOST_VERSION_H */
