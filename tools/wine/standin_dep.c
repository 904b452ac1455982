/* standin_dep.c - a DLL that the stand-in Python built with -DSTANDIN_NEEDS_DEP
   imports from: left out, it makes that Python fail to load (error 126). */
__declspec(dllexport) int standin_dep(void) { return 0; }
