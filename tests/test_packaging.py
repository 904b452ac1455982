"""The installed package is self-contained: what a wheel needs, checked on the installed files.

The plugin must link neither libcsound (Csound hands a plugin its API when it
loads it) nor libpython (pyembed.c finds the interpreter at run time), and the
extension modules must not link libpython either (manylinux forbids it).
These tests look at the INSTALLED files (csws.plugin_path(), the imported
extension modules), so they check the wheel, not the build tree.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import csws

FORBIDDEN = re.compile(r"(libcsound|CsoundLib|libpython|Python\.framework)", re.IGNORECASE)


def installed_binaries() -> list[Path]:
    """The plugins (one per Csound major) and the compiled extension modules, where Python installed them."""
    files = [Path(csws.plugin_path(major)) for major in (6, 7)]
    for name in ("_bridge", "_frames", "_ring", "_perform"):
        mod = importlib.import_module(f"csws.{name}")
        files.append(Path(mod.__file__))
    return files


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def test_binaries_are_installed() -> None:
    assert csws.plugin_majors() == [6, 7], "every install carries a plugin for each Csound major"
    for f in installed_binaries():
        assert f.is_file(), f


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) is not installed")
@pytest.mark.parametrize("path", installed_binaries(), ids=lambda p: p.name)
def test_elf_needs_neither_csound_nor_python(path: Path) -> None:
    if not is_elf(path):
        pytest.skip(f"{path.name} is not an ELF file on this platform")
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    bad = [n for n in needed if FORBIDDEN.search(n)]
    assert not bad, f"{path.name} links {bad}; NEEDED: {needed}"


@pytest.mark.skipif(sys.platform != "darwin" or shutil.which("otool") is None, reason="macOS only (otool)")
@pytest.mark.parametrize("path", installed_binaries(), ids=lambda p: p.name)
def test_macho_needs_neither_csound_nor_python(path: Path) -> None:
    out = subprocess.run(["otool", "-L", str(path)], capture_output=True, text=True, check=True).stdout
    linked = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
    bad = [n for n in linked if FORBIDDEN.search(n)]
    assert not bad, f"{path.name} links {bad}; all: {linked}"


def test_version_matches_metadata() -> None:
    assert csws.__version__ == importlib.metadata.version("csound-websocket")


def test_python_m_csws_version() -> None:
    out = subprocess.run([sys.executable, "-m", "csws", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"csws {csws.__version__} (plugins for Csound 6, 7)"


@pytest.mark.parametrize("major", [6, 7])
def test_plugin_path_command(major: int) -> None:
    cmd = [sys.executable, "-m", "csws", "plugin-path", "--csound", str(major)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == csws.plugin_path(major)
    assert f"csws_opcodes{major}." in Path(out.stdout.strip()).name
