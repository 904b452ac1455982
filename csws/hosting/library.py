"""Csound's library through ctypes, for `csws run`: which Csound, and hosting it.

Every difference between Csound 6 and 7 on the host side lives here: the
library names, csoundCreate's arguments, and how a performance runs (6:
csoundPerform and csoundStop; 7: csoundStart after compiling, then a
csoundPerformKsmps loop with a stop flag). ctypes and the Cython loop release
the GIL around Csound's calls, so the performance runs without it.

Which Csound (docs/csound-versions.md): `--csound 6|7|PATH` or CSWS_CSOUND; else
a system-wide Csound (the newer major if there are both), else the Csound 7
that `pip install csound-websocket[csound]` brings (the cycsound wheel).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MAJORS = (6, 7)
CSOUNDINIT_NO_SIGNAL_HANDLER = 1  # csound.h
CSOUNDINIT_NO_ATEXIT = 2
EXTRA = "pip install 'csound-websocket[csound]'"


@dataclass(frozen=True)
class Library:
    """A libcsound on this machine."""

    path: str
    major: int
    origin: str  # "system", "the csound extra (cycsound)" or "given"


def _system_names(major: int) -> list[str]:
    if sys.platform == "darwin":
        return ["/Library/Frameworks/CsoundLib64.framework/CsoundLib64"]
    if sys.platform == "win32":
        return [f"csound{major}_64.dll" if major >= 7 else "csound64.dll"]
    return [f"libcsound64.so.{major}.0"]


def _linux_library_dirs() -> list[str]:
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=5).stdout
        dirs += [os.path.dirname(line.split(" => ")[1]) for line in out.splitlines() if " => " in line]
    except (OSError, subprocess.SubprocessError):
        pass
    return dirs + ["/usr/local/lib", "/usr/lib", "/usr/lib64", f"/usr/lib/{os.uname().machine}-linux-gnu"]


def _system(major: int) -> Library | None:
    if sys.platform.startswith("linux"):
        for d in dict.fromkeys(_linux_library_dirs()):
            for name in _system_names(major):
                if os.path.exists(os.path.join(d, name)):
                    return Library(os.path.join(d, name), major, "system")
        return None
    # Elsewhere the library name does not tell the major: ask it, in a child process,
    # so that this one never holds two Csounds.
    for name in _system_names(major) + [ctypes.util.find_library("csound64") or ""]:
        if name and probe_major(name) == major:
            return Library(name, major, "system")
    return None


def _bundled() -> Library | None:
    """The Csound 7 inside the cycsound wheel (the `csound` extra), if installed."""
    import importlib.util

    spec = importlib.util.find_spec("cycsound")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = Path(next(iter(spec.submodule_search_locations)))
    for pattern in ("cycsound.libs/*csound64*", "cycsound.libs/*csound7*", "cycsound/.dylibs/*csound*",
                    "cycsound/*csound64*"):
        found = sorted(glob.glob(str(pkg.parent / pattern)))
        if found:
            return Library(found[0], 7, "the csound extra (cycsound)")
    return None


def probe_version(path: str) -> int | None:
    """csoundGetVersion() of the Csound library at path (6181: 6.18.1), asked in a child process."""
    code = f"import ctypes; print(ctypes.CDLL({path!r}).csoundGetVersion())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        return int(out.stdout.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def probe_major(path: str) -> int | None:
    """The major of the Csound library at path, asked in a child process."""
    version = probe_version(path)
    return version // 1000 if version is not None else None


def version_text(version: int) -> str:
    """csoundGetVersion()'s number as Csound writes it: 6181 -> 6.18.1."""
    return f"{version // 1000}.{version // 10 % 100}.{version % 10}"


def user_plugin_dir(major: int) -> Path:
    """The per-user plugin directory Csound (6.16 and later) loads after the system one:
    CS_USER_PLUGINDIR, else the platform's place for this major."""
    if os.environ.get("CS_USER_PLUGINDIR"):
        return Path(os.environ["CS_USER_PLUGINDIR"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "csound" / f"{major}.0" / "plugins64"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "csound" / f"{major}.0" / "plugins64"
    return Path.home() / ".local" / "lib" / "csound" / f"{major}.0" / "plugins64"


def plugin_dir_variable(major: int) -> str:
    """The environment variable naming a major's system plugin directory."""
    return f"OPCODE{major}DIR64"


def system_plugin_dir(lib: Library) -> tuple[Path | None, str]:
    """The system plugin directory a Csound loads, and how that is known."""
    variable = plugin_dir_variable(lib.major)
    if os.environ.get(variable):
        return Path(os.environ[variable]), variable
    if lib.origin.startswith("the csound extra"):
        # Importing cycsound sets OPCODE7DIR64 to the wheel's plugins.
        return Path(lib.path).parent.parent / "cycsound" / "plugins", "the cycsound wheel's"
    if sys.platform.startswith("linux"):
        # Debian's layout, next to the library; else Csound's built-in default.
        debian = Path(lib.path).parent / "csound" / f"plugins64-{lib.major}.0"
        if debian.is_dir():
            return debian, "next to the library"
        return Path("/usr/local/lib/csound") / f"plugins64-{lib.major}.0", "Csound's default"
    return None, "Csound's built-in directory"


OFFICIAL_MACOS_FRAMEWORK = "/Library/Frameworks/CsoundLib64.framework/"  # where csound.com's installer puts it


def skips_user_dir(lib: Library, platform: str = sys.platform) -> bool:
    """The official macOS installer's Csound is built with CS_OPCODE_DIR, which skips
    the per-user directory unless CS_USER_PLUGINDIR is set.  Homebrew's Csound is a
    CsoundLib64.framework too, elsewhere, and loads the per-user directory."""
    return platform == "darwin" and os.path.realpath(lib.path).startswith(OFFICIAL_MACOS_FRAMEWORK) \
        and not os.environ.get("CS_USER_PLUGINDIR")


def loaded_major() -> int | None:
    """The major of the Csound already loaded into this process, if any (Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    m = re.search(r"libcsound64[^/\n]*\.so\.(\d+)\.0", maps)  # also a wheel's libcsound64-<hash>.so.7.0
    return int(m.group(1)) if m else None


def find(choice: str | None = None) -> Library:
    """The Csound to host: choice (or CSWS_CSOUND) is 6, 7 or a library's path; None: the rule above."""
    choice = choice or os.environ.get("CSWS_CSOUND") or None
    if choice in ("6", "7"):
        major = int(choice)
        lib = _system(major) or (_bundled() if major == 7 else None)
        if lib is None:
            how = f"{EXTRA}, or install Csound 7 from csound.com" if major == 7 else \
                "install Csound 6 (Debian: apt-get install csound)"
            raise RuntimeError(f"no Csound {major} found: {how}")
        return lib
    if choice is not None:
        if not os.path.exists(choice):
            raise RuntimeError(f"--csound {choice}: no such file (give 6, 7 or a libcsound's path)")
        major = probe_major(choice)
        if major not in MAJORS:
            raise RuntimeError(f"--csound {choice}: not a Csound 6 or 7 library")
        return Library(os.path.abspath(choice), major, "given")
    for major in sorted(MAJORS, reverse=True):
        if (lib := _system(major)) is not None:
            return lib
    if (lib := _bundled()) is not None:
        return lib
    raise RuntimeError(f"no Csound found: install Csound (Debian: apt-get install csound), or {EXTRA}")


def _load(lib: Library) -> ctypes.CDLL:
    if lib.origin.startswith("the csound extra"):
        import cycsound  # noqa: F401 - points Csound 7 at its bundled plugins (OPCODE7DIR64), loads it globally
    try:
        # Globally: Csound 7's own plugins take Csound's symbols from the global namespace.
        dll = ctypes.CDLL(lib.path, mode=getattr(os, "RTLD_GLOBAL", 0))
    except OSError as e:
        raise RuntimeError(f"cannot load Csound's library ({lib.path}): {e}") from e
    # Python, not Csound, handles SIGINT/SIGTERM in this process: csws run turns
    # them into a stop and a clean exit (Csound's own handlers would end the
    # performance in a way that deadlocks csoundDestroy).
    dll.csoundInitialize.argtypes = [ctypes.c_int]
    dll.csoundInitialize(CSOUNDINIT_NO_SIGNAL_HANDLER | CSOUNDINIT_NO_ATEXIT)
    dll.csoundGetVersion.restype = ctypes.c_int
    dll.csoundCompile.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    dll.csoundCompile.restype = ctypes.c_int
    dll.csoundDestroy.argtypes = [ctypes.c_void_p]
    dll.csoundDestroy.restype = None
    return dll


class Csound:
    """One Csound instance of either major, compiled from command-line style arguments."""

    def __init__(self, lib: Library) -> None:
        self.library = lib
        self._lib = _load(self.library)
        self._cs: int | None = self._create()

    @property
    def version(self) -> str:
        return version_text(self._lib.csoundGetVersion())

    @property
    def address(self) -> int | None:
        """The CSOUND * of this instance, for csws.bridge.csound_api."""
        return self._cs

    def errors(self) -> int:
        """Errors so far (init errors included): the csound command exits 1 when there were any."""
        self._lib.csoundErrCnt.argtypes = [ctypes.c_void_p]
        self._lib.csoundErrCnt.restype = ctypes.c_int
        return self._lib.csoundErrCnt(self._cs)

    def _create(self) -> int:
        raise NotImplementedError

    def compile(self, args: list[str]) -> int:
        """Like the csound command's arguments (without the program name); 0 when it compiled."""
        argv = [b"csws"] + [a.encode() for a in args]
        arr = (ctypes.c_char_p * len(argv))(*argv)
        return self._lib.csoundCompile(self._cs, len(argv), arr)

    def compile_orc(self, code: str) -> int:
        """Compile orchestra code into the compiled piece (its header statements run at once); 0: it did."""
        raise NotImplementedError

    def answer_invalue(self, plugin: str) -> None:
        """invalue and outvalue read and write Csound's named channels (the plugin's callbacks,
        plugin/invalue.c), which pages reach through the port; call before the performance."""
        exported = ctypes.CDLL(plugin)  # loaded already by Csound (--opcode-lib): the same copy
        for setter, fn in (("csoundSetInputChannelCallback", exported.csws_invalue),
                           ("csoundSetOutputChannelCallback", exported.csws_outvalue)):
            call = getattr(self._lib, setter)
            call.argtypes, call.restype = [ctypes.c_void_p, ctypes.c_void_p], None
            call(self._cs, ctypes.cast(fn, ctypes.c_void_p))

    def perform(self) -> int:
        """Run to the end of the score or until stop(), without the GIL; <0 on an error."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def destroy(self) -> None:
        if self._cs:
            self._lib.csoundDestroy(self._cs)
            self._cs = None


class _Csound6(Csound):
    def _create(self) -> int:
        self._lib.csoundCreate.restype = ctypes.c_void_p
        self._lib.csoundCreate.argtypes = [ctypes.c_void_p]
        for fn in ("csoundPerform", "csoundStop"):
            getattr(self._lib, fn).argtypes = [ctypes.c_void_p]
        self._lib.csoundPerform.restype = ctypes.c_int
        self._lib.csoundStop.restype = None
        return self._lib.csoundCreate(None)

    def compile_orc(self, code: str) -> int:
        self._lib.csoundCompileOrc.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self._lib.csoundCompileOrc.restype = ctypes.c_int
        return self._lib.csoundCompileOrc(self._cs, code.encode())

    def perform(self) -> int:
        return self._lib.csoundPerform(self._cs)

    def stop(self) -> None:
        self._lib.csoundStop(self._cs)


class _Csound7(Csound):
    def _create(self) -> int:
        from csws._perform import KsmpsLoop

        self._lib.csoundCreate.restype = ctypes.c_void_p
        self._lib.csoundCreate.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self._lib.csoundStart.argtypes = [ctypes.c_void_p]
        self._lib.csoundStart.restype = ctypes.c_int
        cs = self._lib.csoundCreate(None, None)
        address = ctypes.cast(self._lib.csoundPerformKsmps, ctypes.c_void_p).value
        self._loop = KsmpsLoop(address, cs)
        return cs

    def compile(self, args: list[str]) -> int:
        # 7's csoundCompile does not start the engine; after a failed compile
        # csoundStart would still succeed and the loop would never end.
        result = super().compile(args)
        return result if result != 0 else self._lib.csoundStart(self._cs)

    def compile_orc(self, code: str) -> int:
        self._lib.csoundCompileOrc.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32]
        self._lib.csoundCompileOrc.restype = ctypes.c_int32
        return self._lib.csoundCompileOrc(self._cs, code.encode(), 0)  # 0: at once, not queued

    def perform(self) -> int:
        return self._loop.run()

    def stop(self) -> None:
        self._loop.stop()


def create(lib: Library | None = None) -> Csound:
    """A new Csound of the given library's major (default: find())."""
    lib = lib or find()
    return (_Csound7 if lib.major >= 7 else _Csound6)(lib)
