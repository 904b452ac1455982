"""Install Csound's plugin headers from a pinned Csound source release.

    python csound_headers.py PREFIX [--source ARCHIVE_OR_DIR]

Puts csound/csdl.h and everything it includes under PREFIX/include/csound.
The wheel builds need only headers: the plugin links no Csound library
(Csound hands a plugin its API when it loads it). So rather than building
Csound (whose CMake configure insists on libsndfile and more), this copies the
release's include/ directory and fills in the two headers CMake would
generate from templates, float-version.h (double precision, like every Csound
6 distribution) and version.h. Then it checks that every header csdl.h pulls
in, directly or not, is there. Standard library only, so the Python of a
manylinux image or a Windows runner can run it.
"""
from __future__ import annotations

import argparse
import io
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

VERSION = (6, 18, 1)
TAG = ".".join(map(str, VERSION))
URL = f"https://github.com/csound/csound/archive/refs/tags/{TAG}.tar.gz"


def fetch(source: str | None, into: Path) -> Path:
    """The unpacked source tree: from --source (an archive or a directory) or the release URL."""
    if source and Path(source).is_dir():
        return Path(source)
    if source:
        data = Path(source).read_bytes()
    else:
        print(f"csound_headers: fetching {URL}", flush=True)
        with urllib.request.urlopen(URL, timeout=120) as r:
            data = r.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if "/include/" in m.name and m.isfile()]
        tar.extractall(into, members=members)
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        sys.exit(f"csound_headers: unexpected archive layout: {tops}")
    return tops[0]


def configure(template: str, values: dict[str, str]) -> str:
    """What CMake's configure_file does with ${VAR}, @VAR@ and #cmakedefine."""
    text = re.sub(r"\$\{(\w+)\}|@(\w+)@", lambda m: values[m.group(1) or m.group(2)], template)
    return re.sub(r"^#cmakedefine (\w+).*$",
                  lambda m: f"#define {m.group(1)}" if m.group(1) in values else f"/* #undef {m.group(1)} */",
                  text, flags=re.MULTILINE)


def local_includes(header: Path) -> set[str]:
    return set(re.findall(r'^\s*#\s*include\s+"([^"]+)"', header.read_text(errors="replace"), re.MULTILINE))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefix", type=Path)
    ap.add_argument("--source", help="a Csound source archive (.tar.gz) or unpacked tree, instead of downloading")
    args = ap.parse_args()

    dest = args.prefix / "include" / "csound"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = fetch(args.source, Path(tmp)) / "include"
        for h in sorted(src.iterdir()):
            if h.suffix in (".h", ".hpp"):
                shutil.copy2(h, dest / h.name)
        values = {"CS_VERSION": str(VERSION[0]), "CS_SUBVER": str(VERSION[1]),
                  "CS_PATCHLEVEL": str(VERSION[2]), "USE_DOUBLE": "1"}
        for name in ("float-version.h", "version.h"):
            template = src / f"{name}.in"
            if template.exists():
                (dest / name).write_text(configure(template.read_text(), values))
            elif not (dest / name).exists():
                sys.exit(f"csound_headers: neither {name} nor {name}.in in {src}")

    # Headers csdl.h reaches with #include "...": some sit in #ifdef branches for building Csound
    # itself (csoundCore.h's sort.h), so a missing one is only reported; meson's has_header check
    # and the plugin's compile are the real test.
    if not (dest / "csdl.h").exists():
        sys.exit(f"csound_headers: csdl.h is missing from {dest}")
    seen: set[str] = set()
    todo = ["csdl.h"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = dest / name
        if path.exists():
            todo.extend(local_includes(path))
        else:
            print(f"csound_headers: note: {name} (named in a header csdl.h includes) is not in the release's include/")
    if "#define USE_DOUBLE" not in (dest / "float-version.h").read_text():
        sys.exit("csound_headers: float-version.h does not select double precision")
    print(f"csound_headers: Csound {TAG} headers in {dest} ({len(seen)} reached from csdl.h)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
