"""tools/csound_headers.py --source pypi: the sdist as it is, from the package index, with no pip.

pip download would build the sdist's build dependencies (Cython) from source just to read its
metadata: minutes on a small machine, for a file of headers. The tool runs here with an audit
hook that refuses to start any process, so pip (or a compiler) cannot be used behind its back.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import patience

TOOL = Path(__file__).resolve().parent.parent / "tools" / "csound_headers.py"

pytestmark = pytest.mark.skipif(not TOOL.is_file(), reason="no tools/ beside tests/ (installed copy)")

NO_PROCESSES = """
import runpy, sys
def refuse(event, args):
    if event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"):
        raise RuntimeError(f"csound_headers started a process: {event} {args}")
sys.addaudithook(refuse)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def headers_from_pypi(prefix: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_PROCESSES, str(TOOL), str(prefix), "--version", "7.0.0",
                           "--source", "pypi"], capture_output=True, text=True, timeout=patience(120), env=env)


def test_pypi_source_downloads_the_sdist_without_pip(tmp_path, monkeypatch):
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    start = time.monotonic()
    out = headers_from_pypi(tmp_path, dict(os.environ))
    if "URLError" in out.stderr:
        pytest.skip(f"PyPI is out of reach: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert time.monotonic() - start < 60, "a download, not a build"
    assert "Csound 7.0.0 headers in" in out.stdout
    assert "#define USE_DOUBLE" in (tmp_path / "include" / "csound" / "float-version.h").read_text()
    assert (tmp_path / "include" / "csound" / "csdl.h").is_file()


def test_pypi_source_uses_pip_index_url_and_checks_the_sha256(tmp_path):
    """A PEP 503 (HTML) index, as PIP_INDEX_URL may name, serving a file that is not cycsound's."""
    project = tmp_path / "simple" / "cycsound"
    project.mkdir(parents=True)
    (project / "index.html").write_text('<a href="../../files/cycsound-0.2.3.tar.gz#sha256=0">cycsound-0.2.3</a>')
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "cycsound-0.2.3.tar.gz").write_bytes(b"not cycsound")
    asked: list[str] = []

    class Index(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Index, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = dict(os.environ, PIP_INDEX_URL=f"http://127.0.0.1:{server.server_address[1]}/simple/")
        out = headers_from_pypi(tmp_path / "prefix", env)
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["/simple/cycsound/", "/files/cycsound-0.2.3.tar.gz"]
    assert out.returncode != 0 and "sha256" in out.stderr, out.stdout + out.stderr
    assert not (tmp_path / "prefix" / "include" / "csound" / "csdl.h").exists()
