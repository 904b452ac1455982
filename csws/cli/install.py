"""`csws install` / `csws uninstall`: our plugin in each Csound major's per-user plugin directory.

Csound 6.16 and later load the per-user directory by default, after the system
one, so every host (the csound command, CsoundQt, Cabbage, ctcsound, cycsound)
gets the opcode with no option.  The plugin goes there as a symlink to the
installed package's file: the plugin finds the Python and the csws package
that installed it from its own real path (plugin/pyembed_posix.c: dladdr, then
realpath; pyembed_windows.c likewise).  Where symlinks cannot be made (Windows
without the privilege, some file systems) or with --copy it is a copy, with a
file beside it, <plugin>.site, that names the site-packages directory holding
csws (SITE_SUFFIX, read by csws_find_places() in those two files).

What install made is recorded in a manifest, so that install never replaces a
file it did not make and uninstall removes exactly what it made.  Both act only
in this environment's per-user plugin directories (HOME, CS_USER_PLUGINDIR as
they are now): a HOME copied with cp -a brings its record along, naming the
original's files, which are not the copy's to remove.  A link there to this
csws's plugin is taken as csws's own, recorded or not (the copy's own links).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import csws
from csws import plugin_majors, plugin_path
from csws.hosting import library

SITE_SUFFIX = ".site"  # plugin/pyembed.h CSWS_SITE_SUFFIX


def site_file(plugin: Path) -> Path:
    """The file beside a copy of the plugin that names csws's site-packages directory."""
    return plugin.with_name(plugin.name + SITE_SUFFIX)


def manifest_path() -> Path:
    """Where install records what it made (the platform's per-user data directory)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "csws" / "installed.json"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "csws" / "installed.json"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "csws" / "installed.json"


def load_manifest() -> dict:
    """{"files": {path: what it points to}, "dirs": [directories install created]}."""
    try:
        return json.loads(manifest_path().read_text())
    except (OSError, ValueError):
        return {"files": {}, "dirs": []}


def _load() -> tuple[dict, dict]:
    """The record, split in two: the entries for this environment's per-user plugin directories,
    which install and uninstall act on, and those for other places, which they leave alone (each
    said once) and keep while the file is there; what is gone from another place is forgotten."""
    manifest = load_manifest()
    dirs = {library.user_plugin_dir(major) for major in (6, 7)}  # every major's: another csws may have had both
    here: dict = {"files": {}, "dirs": []}
    aside: dict = {"files": {}, "dirs": []}
    for name, made in manifest["files"].items():
        if Path(name).parent in dirs:
            here["files"][name] = made
        elif os.path.lexists(name):
            aside["files"][name] = made
            print(f"csws: the record names {name}, outside this environment's per-user plugin directories "
                  f"(a copied HOME's record names the original's files; or CS_USER_PLUGINDIR was different): "
                  f"left alone")
    for name in manifest["dirs"]:
        if any(Path(name) == d or Path(name) in d.parents for d in dirs):  # install makes a directory's parents too
            here["dirs"].append(name)
        elif os.path.isdir(name):
            aside["dirs"].append(name)
    return here, aside


def _save(manifest: dict, aside: dict) -> None:
    """Write the record: what was done here, and the entries for other places as they were."""
    manifest = {"files": {**aside["files"], **manifest["files"]}, "dirs": aside["dirs"] + manifest["dirs"]}
    path = manifest_path()
    if not manifest["files"] and not manifest["dirs"]:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")


def _ours(path: Path, manifest: dict) -> bool:
    """A file install made and nobody has replaced since."""
    recorded = manifest["files"].get(str(path))
    if recorded is None or not os.path.lexists(path):
        return False
    if path.is_symlink():
        return os.readlink(path) == recorded
    return recorded in ("copy", "site")


def _adopt(target: Path, source: Path, manifest: dict) -> bool:
    """Record a link to this csws's plugin that the record misses (a copied HOME's own link, or
    one made by hand), so that install and uninstall treat it as theirs."""
    if _ours(target, manifest) or not target.is_symlink() or os.path.realpath(target) != os.path.realpath(source):
        return False
    manifest["files"][str(target)] = os.readlink(target)
    return True


def _made_dirs(directory: Path) -> list[Path]:
    """The directories that creating `directory` makes, outermost first."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    return missing[::-1]


def _copy(source: Path, target: Path, manifest: dict) -> str:
    """A copy of the plugin, and beside it the site-packages directory it is to use."""
    site = site_file(target)
    if os.path.lexists(site) and not _ours(site, manifest):
        raise FileExistsError(f"{site} exists and csws install did not make it")
    shutil.copy2(source, target)
    manifest["files"][str(target)] = "copy"
    site.write_text(f"{Path(csws.__file__).resolve().parent.parent}\n", encoding="utf-8")  # the plugin reads UTF-8
    manifest["files"][str(site)] = "site"
    return f"a copy of {source}, with {site.name}"


def install(majors: list[int] | None = None, copy: bool = False) -> int:
    """Put the plugin of each major into its per-user directory (a link, or with copy a
    copy); prints what it did."""
    chosen = majors or plugin_majors()
    if not chosen:
        print("csws: this csound-websocket has no plugin at all: reinstall it (docs/csound-versions.md)",
              file=sys.stderr)
        return 1
    if majors is None and os.environ.get("CS_USER_PLUGINDIR") and len(chosen) > 1:
        # One directory for both majors: each would refuse the other's plugin with a warning.
        print(f"csws: CS_USER_PLUGINDIR={os.environ['CS_USER_PLUGINDIR']} is the per-user directory of every "
              "Csound major: say which major's plugin to put there (csws install --csound 6 or --csound 7)",
              file=sys.stderr)
        return 1
    manifest, aside = _load()
    status = 0
    for major in chosen:
        try:
            source = Path(plugin_path(major))
        except FileNotFoundError as e:
            print(f"csws: {e}", file=sys.stderr)
            status = 1
            continue
        directory = library.user_plugin_dir(major)
        target = directory / source.name
        if _adopt(target, source, manifest):
            _save(manifest, aside)
            print(f"Csound {major}: {target} links to this csws's plugin: recorded as csws's")
        if _ours(target, manifest):
            if not copy and target.is_symlink() and os.readlink(target) == str(source):
                print(f"Csound {major}: {target} is already installed (-> {source})")
                continue
            target.unlink()  # ours, from another install of csws (or a copy): this one replaces it
            site = site_file(target)
            if _ours(site, manifest):
                site.unlink()
                del manifest["files"][str(site)]
        elif os.path.lexists(target):
            print(f"csws: Csound {major}: {target} exists and csws install did not make it: left alone. "
                  f"Remove it yourself if it is an old copy of this plugin, then run csws install again",
                  file=sys.stderr)
            status = 1
            continue
        for made in _made_dirs(directory):
            made.mkdir()
            manifest["dirs"].append(str(made))
        try:
            if copy:
                how = _copy(source, target, manifest)
            else:
                try:
                    target.symlink_to(source)
                    manifest["files"][str(target)] = str(source)
                    how = f"-> {source}"
                except OSError:  # no symlinks here (Windows without the privilege)
                    how = _copy(source, target, manifest)
        except FileExistsError as e:
            print(f"csws: Csound {major}: {e}: left alone. Remove it yourself, then run csws install again",
                  file=sys.stderr)
            status = 1
            _save(manifest, aside)
            continue
        _save(manifest, aside)
        print(f"Csound {major}: installed {target} ({how})")
    if manifest["files"]:
        print("Every Csound host now finds the websocket opcode (csws doctor checks it). "
              "To undo: csws uninstall")
    return status


def uninstall() -> int:
    """Remove exactly what install made in this environment's per-user plugin directories (files
    still as install left them, links to this csws's plugin, and the directories it created, if empty)."""
    manifest, aside = _load()
    for major in plugin_majors():
        source = Path(plugin_path(major))
        _adopt(library.user_plugin_dir(major) / source.name, source, manifest)
    if not manifest["files"] and not manifest["dirs"]:
        print("csws: nothing to uninstall (csws install has made nothing here)")
    status = 0
    for name in list(manifest["files"]):
        path = Path(name)
        if _ours(path, manifest):
            path.unlink()
            print(f"removed {path}")
        elif os.path.lexists(path):
            print(f"csws: {path} was replaced since csws install made it: left alone", file=sys.stderr)
            status = 1
        del manifest["files"][name]
    for name in reversed(manifest["dirs"]):
        try:
            Path(name).rmdir()
            print(f"removed {name}/")
        except FileNotFoundError:
            pass
        except OSError:
            print(f"csws: {name}/ is not empty (other plugins?): left alone")
    manifest["dirs"] = []
    _save(manifest, aside)
    return status
