"""Install Csound's plugin headers from a pinned Csound source release.

    python csound_headers.py PREFIX [--version 6.18.1|7.0.0] [--source ARCHIVE_OR_DIR|pypi]

Puts csound/csdl.h and everything it includes under PREFIX/include/csound, the
layout meson's -Dcsound6_include / -Dcsound7_include options take (PREFIX/include).
The source: the release's tag archive from GitHub (the default), an archive or
unpacked tree given with --source, or, for 7.0.0, `--source pypi`: the source
distribution of the cycsound package on PyPI, whose include/ holds Csound 7.0's
headers with the generated ones already made (for machines that reach PyPI but
not GitHub). It comes from the package index PIP_INDEX_URL names, else PyPI,
downloaded as it is and checked against its pinned sha256: pip download would
build the package's build dependencies (Cython) from source just to read its
metadata, minutes of compiling for a file of headers.
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
import hashlib
import html
import io
import json
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

RELEASES = ("6.18.1", "7.0.0")
# Carries Csound 7.0.0's include/, same files as the tag. PyPI never lets a file be replaced, so its
# sha256 is fixed; pinned here, it also holds for whatever index PIP_INDEX_URL names.
PYPI_SDIST = {"7.0.0": ("cycsound", "cycsound-0.2.3.tar.gz",
                        "6b621cfc2369210f32d30b6ecb8b37f8dbd962739188a0ef9a701011162c5fd6")}
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691


def url(tag: str) -> str:
    return f"https://github.com/csound/csound/archive/refs/tags/{tag}.tar.gz"


def file_url(project: str, filename: str) -> str:
    """Where the package index (PIP_INDEX_URL, else PyPI) keeps one of a project's files: from its
    project page, JSON (PEP 691) where the index offers it, else HTML (PEP 503, every index)."""
    index = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    request = urllib.request.Request(f"{index.rstrip('/')}/{project}/",
                                     headers={"Accept": f"{SIMPLE_JSON}, text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=120) as r:
        page, kind, text = r.geturl(), r.headers.get_content_type(), r.read().decode()
    if kind == SIMPLE_JSON:
        urls = [f["url"] for f in json.loads(text)["files"] if f["filename"] == filename]
    else:
        hrefs = map(html.unescape, re.findall(r'<a\s[^>]*href="([^"]*)"', text))
        urls = [href for href in hrefs if posixpath.basename(urllib.parse.urlsplit(href).path) == filename]
    if not urls:
        sys.exit(f"csound_headers: the package index at {page} has no {filename}")
    return urllib.parse.urljoin(page, urls[0])  # links may be relative to the page


def from_pypi(tag: str, into: Path) -> str:
    """Download the source distribution that carries this release's headers, as it is; its path."""
    if tag not in PYPI_SDIST:
        sys.exit(f"csound_headers: no PyPI package carries Csound {tag}'s headers; use the GitHub release")
    project, filename, sha256 = PYPI_SDIST[tag]
    link = file_url(project, filename)
    print(f"csound_headers: fetching {link}", flush=True)
    with urllib.request.urlopen(link, timeout=120) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        sys.exit(f"csound_headers: {link} is not PyPI's {filename} (sha256 {got}, not {sha256})")
    path = into / filename
    path.write_bytes(data)
    return str(path)


def fetch(source: str | None, tag: str, into: Path) -> Path:
    """The unpacked source tree: from --source (an archive, a directory, pypi) or the release URL."""
    if source == "pypi":
        (into / "sdist").mkdir()
        source = from_pypi(tag, into / "sdist")
        into = into / "tree"
        into.mkdir()
    if source and Path(source).is_dir():
        return Path(source)
    if source:
        data = Path(source).read_bytes()
    else:
        print(f"csound_headers: fetching {url(tag)}", flush=True)
        with urllib.request.urlopen(url(tag), timeout=120) as r:
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
    ap.add_argument("--version", choices=RELEASES, default=RELEASES[0], help="the Csound release (6.18.1)")
    ap.add_argument("--source", help="a Csound source archive (.tar.gz) or unpacked tree, instead of downloading; "
                                     "pypi: the PyPI package that carries the release's headers (7.0.0)")
    args = ap.parse_args()
    tag = args.version
    version = tag.split(".")

    dest = args.prefix / "include" / "csound"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = fetch(args.source, tag, Path(tmp)) / "include"
        for h in sorted(src.iterdir()):
            if h.suffix in (".h", ".hpp"):
                shutil.copy2(h, dest / h.name)
        values = {"CS_VERSION": version[0], "CS_SUBVER": version[1], "CS_PATCHLEVEL": version[2],
                  "USE_DOUBLE": "1"}
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
    major = re.search(r"#define\s+CS_VERSION\s+\(?(\d+)", (dest / "version.h").read_text())
    if not major or major.group(1) != version[0]:
        sys.exit(f"csound_headers: version.h in {dest} is not Csound {version[0]}'s")
    print(f"csound_headers: Csound {tag} headers in {dest} ({len(seen)} reached from csdl.h)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
