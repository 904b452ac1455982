"""`csws doctor`: one screen answering "why doesn't my websocket work?".

For each Csound found it shows the version, the library, the plugin
directories in effect and where csws's plugin is, then runs a one-line piece
in that Csound in a child process, with no csws option (as a piece in
CsoundQt, Cabbage or the csound command runs), to see which `websocket` it
gets: ours, another library's (Debian's websocketIO) or none.  Every problem
comes with the command that fixes it.  Exit status 0 when every Csound found
gets our opcode.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import csws
from csws import __version__, plugin_majors
from csws.cli.install import SITE_SUFFIX, site_file
from csws.hosting import library as cs_lib

TRIAL_TIMEOUT = 60.0

# Run in a child process: one Csound per process, and a crash there is only a finding.
_TRIAL = """
import sys
from csws.hosting import library as csound
lib = csound.Library({path!r}, {major}, {origin!r})
cs = csound.create(lib)
if cs.compile([{csd!r}, "-n", "-d"]) == 0:
    cs.perform()
cs.destroy()
"""

_PIECE = """<CsoundSynthesizer>
<CsInstruments>
sr = 48000
ksmps = 64
nchnls = 1
instr 1
  kx websocket {port}, k(0)
endin
</CsInstruments>
<CsScore>
i1 0 0.01
</CsScore>
</CsoundSynthesizer>
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _csound_command(lib: cs_lib.Library) -> str | None:
    """The stock csound command, if it runs this Csound: the host where the plugin starts Python itself."""
    command = shutil.which("csound")
    if command is None or lib.origin != "system":
        return None
    try:
        out = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"Csound version (\d+)", out.stdout + out.stderr)
    return command if m and int(m.group(1)) == lib.major else None


def trial(lib: cs_lib.Library) -> tuple[str, str]:
    """Which websocket a piece gets in this Csound: ("ours" | "other" | "none" | "failed", Csound's output).
    Run by the csound command where it runs this Csound, else by a Python host."""
    with tempfile.TemporaryDirectory(prefix="csws-doctor-") as tmp:
        csd = Path(tmp) / "trial.csd"
        csd.write_text(_PIECE.format(port=_free_port()))
        command = _csound_command(lib)
        code = _TRIAL.format(path=lib.path, major=lib.major, origin=lib.origin, csd=str(csd))
        argv = [command, str(csd), "-n", "-d"] if command else [sys.executable, "-c", code]
        env = {k: v for k, v in os.environ.items() if k != "CSWS_CSOUND"}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, env=env, timeout=TRIAL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return "failed", f"the trial piece did not end within {TRIAL_TIMEOUT:.0f} s"
    out = proc.stdout + proc.stderr
    if "csws: websocket server on" in out:
        return "ours", out
    if re.search(r"(unable to find opcode|no legal opcode).*websocket", out, re.S):
        return "none", out
    if proc.returncode == 0:
        return "other", out
    return "failed", out


def _site_of(plugin: Path) -> Path:
    """The site-packages directory the plugin imports csws from, worked out as its
    csws_find_places() does (plugin/pyembed_posix.c, pyembed_windows.c): named by the .site
    file beside a copy, else two levels up from its real path."""
    try:
        return Path(site_file(plugin).read_text(encoding="utf-8-sig").splitlines()[0])
    except (OSError, IndexError):
        return plugin.resolve().parent.parent


def _python_of(plugin: Path) -> str:
    """The Python the plugin starts in a host that has none (the csound command)."""
    site = _site_of(plugin)
    if sys.platform == "win32":  # <prefix>\Lib\site-packages
        prefix, py = site.parent.parent, f"python{sys.version_info.major}.{sys.version_info.minor}"
    else:  # <prefix>/lib/pythonX.Y/site-packages
        prefix, py = site.parent.parent.parent, site.parent.name
    cfg = prefix / "pyvenv.cfg"
    where = f"{prefix}" + (" (a virtual environment)" if cfg.exists() else "")
    return f"{py} of {where}"


def _installed(major: int) -> tuple[Path | None, str | None]:
    """csws's plugin in the major's per-user directory (or None), and a problem with it."""
    directory = cs_lib.user_plugin_dir(major)
    found = sorted(f for f in directory.glob(f"*csws_opcodes{major}.*") if f.suffix != SITE_SUFFIX) \
        if directory.is_dir() else []
    if not found:
        return None, None
    plugin = found[0]
    if plugin.is_symlink() and not plugin.exists():
        return plugin, f"{plugin} points to {os.readlink(plugin)}, which is gone: csws uninstall && csws install"
    if not plugin.is_symlink() and not (_site_of(plugin) / "csws").is_dir():
        return plugin, (f"{plugin} is a copy that does not know where csws is (or csws has moved): "
                        "csws uninstall && csws install")
    return plugin, None


def _csounds() -> list[cs_lib.Library]:
    found = []
    for major in cs_lib.MAJORS:
        try:
            found.append(cs_lib.find(str(major)))
        except RuntimeError:
            pass
    return found


def doctor() -> int:
    """Print the report; 0 when every Csound found would give a piece csound-websocket's opcode."""
    here = Path(csws.__file__).resolve().parent
    print(f"csws {__version__} at {here} (plugins for Csound {', '.join(map(str, plugin_majors())) or 'none'})")
    problems: list[str] = []
    libraries = _csounds()
    if not libraries:
        problems.append(f"no Csound found: install Csound (Debian: apt-get install csound), or {cs_lib.EXTRA}")
    for lib in libraries:
        major = lib.major
        version = cs_lib.probe_version(lib.path)
        shown = cs_lib.version_text(version) if version else f"{major}.?"
        print(f"\nCsound {shown}: {lib.path} ({lib.origin})")
        system, how = cs_lib.system_plugin_dir(lib)
        print(f"  system plugins:   {system or ''} ({how})")
        user = cs_lib.user_plugin_dir(major)
        rivals = [str(f) for d in (system, user) if d is not None and d.is_dir()
                  for f in sorted(d.glob("*websocket*"))]
        if rivals:
            print(f"  another websocket: {', '.join(rivals)} (csws's plugin takes its place when loaded)")
        note = "" if user.is_dir() else " (does not exist)"
        if cs_lib.skips_user_dir(lib):
            note = " (NOT loaded: this Csound skips it unless CS_USER_PLUGINDIR is set)"
            problems.append(f"Csound {major} from the official macOS installer skips the per-user directory: "
                            f"export CS_USER_PLUGINDIR={user} (e.g. in ~/.zprofile)")
        print(f"  per-user plugins: {user}{note}")
        plugin, trouble = _installed(major)
        if major not in plugin_majors():
            problems.append(f"this csound-websocket has no plugin for Csound {major}: "
                            "reinstall it where its headers are found (docs/csound-versions.md)")
        elif plugin is None:
            print("  csws's plugin:    not installed there")
        else:
            link = f" -> {os.readlink(plugin)}" if plugin.is_symlink() else " (a copy)"
            print(f"  csws's plugin:    {plugin}{link}")
            if trouble:
                problems.append(trouble)
            else:
                print(f"  Python it starts: {_python_of(plugin)} (CSWS_LIBPYTHON overrides)")
        got, out = trial(lib)
        verdict = {
            "ours": "csound-websocket's",
            "other": "ANOTHER library's websocket (e.g. Debian's websocketIO), not csound-websocket's",
            "none": "no websocket opcode at all",
            "failed": "unknown: the trial piece failed",
        }[got]
        print(f"  a piece gets:     {verdict}")
        if got != "ours":
            if got == "failed":
                lines = re.sub(r"\x1b\[[0-9;]*m", "", out).strip().splitlines()
                errors = [line for line in lines if "ERROR" in line or "Error:" in line]
                tail = "\n      ".join((errors or lines)[-4:])
                problems.append(f"Csound {major}: the trial piece failed:\n      {tail}")
                if "cannot import csws._bridge" in out and "libpy" not in os.environ.get("CS_OMIT_LIBS", ""):
                    # Csound's libpy.so plugin loads the system's libpython first; a csws installed by
                    # another build of the same Python version then fails to import.
                    problems.append("Csound's Python plugin (libpy.so) brought in another Python build than the "
                                    "one csws was installed with: export CS_OMIT_LIBS=libpy, or install csws "
                                    "with the system's python3")
            elif plugin is None:
                problems.append(f"Csound {major} does not load csound-websocket's plugin: run csws install "
                                "(or give the piece --opcode-lib=\"$(csws plugin-path --csound "
                                f"{major})\" in its <CsOptions>)")
            else:
                problems.append(f"Csound {major} did not load {plugin}: csws uninstall && csws install")
    print()
    if not problems:
        print("All good: a piece run by any of these Csounds gets csound-websocket's websocket.")
        return 0
    print(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}:")
    for p in problems:
        print(f"  - {p}")
    return 1
