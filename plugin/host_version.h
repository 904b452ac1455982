/*
 * host_version.h - tell a user who gave Csound the plugin of the other major
 * which plugin to give instead.  Csound refuses such a plugin after asking
 * csoundModuleInfo(), with a message that does not say what to load.
 */
#ifndef CSWS_HOST_VERSION_H
#define CSWS_HOST_VERSION_H

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

#endif /* CSWS_HOST_VERSION_H */
