"""The Windows branch of the plugin's search for Python, run under Wine.

tools/check_windows_wine.sh builds with MinGW-w64 the plugin's pyembed.c and pyembed_windows.c
into a DLL named as the plugin, a driver that loads it as Csound does and asks for the bridge as
an opcode's init does, and a stand-in python311.dll that says what it was asked.  Each test lays
out files as a Windows install would (a venv, a copy with its `.site`, a link) and checks what
the plugin loads, what it tells Python, and its messages when something is missing.  Skipped
where Wine or MinGW-w64 is absent (.ci/run installs both).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SOURCE, patience

pytestmark = pytest.mark.skipif(
    not (shutil.which("wine") and shutil.which("x86_64-w64-mingw32-gcc")),
    reason="needs Wine and MinGW-w64 (apt-get install wine wine64 gcc-mingw-w64-x86-64)",
)

PLUGIN = "csws_opcodes6.dll"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wine-build")
    subprocess.run(["bash", str(SOURCE / "tools" / "check_windows_wine.sh"), "build", str(out)], check=True,
                   timeout=patience(300))
    return out


def win(path: Path) -> str:
    """The path as Wine's programs see it: the Unix root is drive Z:."""
    return "Z:" + str(path).replace("/", "\\")


def run(built: Path, plugin: Path, *, env: dict[str, str] | None = None,
        preload: Path | None = None) -> tuple[int, str]:
    """Load the plugin as Csound does and ask it for the bridge: the driver's exit code and output."""
    base_env = {k: v for k, v in os.environ.items() if k != "CSWS_LIBPYTHON" and not k.startswith("STANDIN_")}
    wine_env = {**base_env, "WINEPREFIX": str(SOURCE / ".cache" / "wine"), "WINEDEBUG": "-all",
                "WINEDLLOVERRIDES": "mscoree,mshtml=", "LANG": "C.UTF-8", **(env or {})}
    args = ["--preload", win(preload)] if preload else []
    proc = subprocess.run(["wine", str(built / "load_plugin.exe"), *args, win(plugin)], env=wine_env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=patience(180))
    return proc.returncode, proc.stdout.decode("utf-8", "replace").replace("\r\n", "\n")


def make_venv(built: Path, root: Path, *, base_dll: Path | None = None) -> tuple[Path, Path]:
    """A venv with csws installed and its base interpreter's directory, as Windows' Python lays
    them out (pyvenv.cfg written in text mode: CRLF). Returns (the plugin, the base)."""
    venv, base = root / "venv", root / "base"
    site = venv / "Lib" / "site-packages"
    (site / "csws").mkdir(parents=True)
    (venv / "Scripts").mkdir()
    (venv / "Scripts" / "python.exe").touch()
    base.mkdir()
    (base / "python.exe").touch()
    shutil.copy(base_dll or built / "python311.dll", base / "python311.dll")
    (venv / "pyvenv.cfg").write_bytes(
        f"home = {win(base)}\r\ninclude-system-site-packages = false\r\nversion = 3.11.9\r\n".encode())
    plugin = site / "csws" / PLUGIN
    shutil.copy(built / PLUGIN, plugin)
    return plugin, base


def sys_path_entry(out: str) -> str:
    """The directory the plugin put first on Python's sys.path."""
    line = next(line for line in out.splitlines() if line.startswith("p = "))
    return line[len("p = '"):-1].replace("\\\\", "\\")


def test_a_venv_loads_its_base_pythons_dll_and_starts_it_as_the_venvs_python(built, tmp_path):
    plugin, base = make_venv(built, tmp_path)
    code, out = run(built, plugin)
    assert code == 0, out
    assert f"standin: loaded from {win(base / 'python311.dll')}" in out
    assert f"standin: program {win(tmp_path / 'venv' / 'Scripts' / 'python.exe')}" in out
    assert "standin: Py_InitializeEx(0)" in out, "Csound keeps its signal handlers"
    assert sys_path_entry(out) == win(tmp_path / "venv" / "Lib" / "site-packages")
    assert "driver: got the bridge" in out


def test_an_install_without_venv_is_its_own_base(built, tmp_path):
    site = tmp_path / "Python311" / "Lib" / "site-packages"
    (site / "csws").mkdir(parents=True)
    shutil.copy(built / PLUGIN, site / "csws" / PLUGIN)
    shutil.copy(built / "python311.dll", tmp_path / "Python311" / "python311.dll")
    (tmp_path / "Python311" / "python.exe").touch()
    code, out = run(built, site / "csws" / PLUGIN)
    assert code == 0, out
    assert f"standin: program {win(tmp_path / 'Python311' / 'python.exe')}" in out
    assert sys_path_entry(out) == win(site)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_a_copy_finds_csws_through_its_site_file_written_by_a_windows_editor(built, tmp_path, bom):
    """csws install --copy writes <plugin>.site; Notepad adds a BOM and CRLF, and user profiles'
    names are often not ASCII."""
    plugin, base = make_venv(built, tmp_path / "Jörg Åström")
    copy_dir = tmp_path / "plugins64"
    copy_dir.mkdir()
    shutil.copy(plugin, copy_dir / PLUGIN)
    site = plugin.parent.parent
    (copy_dir / (PLUGIN + ".site")).write_bytes(bom + win(site).encode() + b"\r\n")
    code, out = run(built, copy_dir / PLUGIN)
    assert code == 0, out
    assert sys_path_entry(out) == win(site)
    assert f"standin: loaded from {win(base / 'python311.dll')}" in out


def test_a_link_to_the_plugin_leads_back_to_its_site_packages(built, tmp_path):
    """csws install links the plugin into Csound's plugin directory where Windows lets it."""
    plugin, base = make_venv(built, tmp_path)
    link_dir = tmp_path / "plugins64"
    link_dir.mkdir()
    (link_dir / PLUGIN).symlink_to(plugin)
    code, out = run(built, link_dir / PLUGIN)
    assert code == 0, out
    assert sys_path_entry(out) == win(plugin.parent.parent)
    assert f"standin: loaded from {win(base / 'python311.dll')}" in out


def test_csws_libpython_names_the_dll_to_load(built, tmp_path):
    plugin, base = make_venv(built, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(built / "python311.dll", other / "python311.dll")
    code, out = run(built, plugin, env={"CSWS_LIBPYTHON": win(other / "python311.dll")})
    assert code == 0, out
    assert f"standin: loaded from {win(other / 'python311.dll')}" in out


def test_csws_libpython_naming_no_file_says_so(built, tmp_path):
    plugin, _ = make_venv(built, tmp_path)
    missing = win(tmp_path / "nowhere" / "python311.dll")
    code, out = run(built, plugin, env={"CSWS_LIBPYTHON": missing})
    assert code == 1, out
    assert f"driver: error: CSWS_LIBPYTHON={missing}: " in out and "(error 126)" in out, out


def test_a_base_without_pythons_dll_is_named_with_the_way_out(built, tmp_path):
    plugin, base = make_venv(built, tmp_path)
    (base / "python311.dll").unlink()
    code, out = run(built, plugin)
    assert code == 1, out
    assert f"cannot find python311.dll for the Python at {win(base)}" in out, out
    assert "set CSWS_LIBPYTHON to the full path of Python 3.11's python311.dll, or run the piece with `csws run`" \
        in out, out


def test_a_python_dll_missing_a_dll_it_needs_is_told_apart(built, tmp_path):
    plugin, base = make_venv(built, tmp_path, base_dll=built / "needsdep" / "python311.dll")
    code, out = run(built, plugin)
    assert code == 1, out
    assert f"cannot load {win(base / 'python311.dll')}: a DLL it needs (vcruntime140.dll?) was not found" in out, out


def test_a_python_dll_lacking_the_c_api_is_refused(built, tmp_path):
    plugin, _ = make_venv(built, tmp_path, base_dll=built / "nolib" / "python311.dll")
    code, out = run(built, plugin)
    assert code == 1, out
    assert "driver: error: libpython lacks Py_SetProgramName" in out, out


def test_a_python_of_another_version_is_refused_before_it_starts(built, tmp_path):
    plugin, _ = make_venv(built, tmp_path)
    code, out = run(built, plugin, env={"STANDIN_VERSION": "3.12.4 (stand-in)"})
    assert code == 1, out
    assert "this process already runs Python 3.12.4" in out and "built for Python 3.11" in out, out
    assert "Py_InitializeEx" not in out


@pytest.mark.parametrize("failure, message", [
    ("STANDIN_NO_BRIDGE", "cannot import csws._bridge from {site} (Python 3.11, started by the plugin)"),
    ("STANDIN_OLD_BRIDGE", "csws._bridge at {site} does not match this plugin (reinstall csound-websocket)"),
])
def test_a_bridge_that_cannot_be_used_is_reported_with_where_it_was(built, tmp_path, failure, message):
    plugin, _ = make_venv(built, tmp_path)
    code, out = run(built, plugin, env={failure: "1"})
    assert code == 1, out
    assert "standin: PyErr_Print" in out, "Python's own traceback goes to the console"
    assert message.format(site=win(plugin.parent.parent)) in out, out


def test_a_python_host_keeps_its_own_interpreter(built, tmp_path):
    """In a Python host (ctcsound), python311.dll is already loaded and running: the plugin uses
    it, never loads another, never starts it again."""
    plugin, base = make_venv(built, tmp_path)
    host = tmp_path / "host"
    host.mkdir()
    shutil.copy(built / "python311.dll", host / "python311.dll")
    code, out = run(built, plugin, env={"STANDIN_INITIALIZED": "1"}, preload=host / "python311.dll")
    assert code == 0, out
    assert f"standin: loaded from {win(host / 'python311.dll')}" in out
    assert win(base / "python311.dll") not in out
    assert "Py_InitializeEx" not in out and "standin: program" not in out
