"""`csws install`, `csws uninstall`, `csws doctor`, and every host after an install.

Each test has a temporary HOME and no CS_USER_PLUGINDIR, so the per-user plugin
directory is the test's own; after `csws install` the hosts get no csws option
at all (no --opcode-lib, no CSWS_*): the stock `csound` command, and the
README's ctcsound and cycsound programs, exactly as written there.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MAJORS, REALTIME, Performance, make_csd, patience
from test_hosts import exercise_seed, seed_orc

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME, Csound's per-user plugin directory under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("CS_USER_PLUGINDIR", "XDG_DATA_HOME", "CSWS_CSOUND"):
        monkeypatch.delenv(name, raising=False)
    return home


def run_csws(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "csws", *args], capture_output=True, text=True,
                          timeout=patience(120))


def our_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() or p.is_symlink())


def user_dir(home: Path, major: int) -> Path:
    return home / ".local" / "lib" / "csound" / f"{major}.0" / "plugins64"


def test_install_links_each_majors_plugin_and_uninstall_removes_exactly_that(home):
    import csws

    first = run_csws("install")
    assert first.returncode == 0, first.stderr
    for major in csws.plugin_majors():
        link = user_dir(home, major) / Path(csws.plugin_path(major)).name
        assert link.is_symlink() and link.resolve() == Path(csws.plugin_path(major)).resolve()
        assert str(link) in first.stdout, "install says what it did"
    assert "csws uninstall" in first.stdout, "install says how to undo it"

    before = our_files(home)
    again = run_csws("install")
    assert again.returncode == 0 and "already installed" in again.stdout
    assert our_files(home) == before, "a second install changes nothing"

    # Someone else's plugin next to ours stays, and so does the directory holding it.
    foreign = user_dir(home, 6) / "libsomeoneelse.so"
    foreign.write_bytes(b"not ours")
    gone = run_csws("uninstall")
    assert gone.returncode == 0, gone.stderr
    assert our_files(home) == [foreign], "uninstall removes exactly what install made"
    assert not (user_dir(home, 7)).exists(), "directories install created go too when empty"


def test_install_never_overwrites_a_file_it_did_not_make(home):
    import csws

    target = user_dir(home, 6) / Path(csws.plugin_path(6)).name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"an old copy the user made")
    out = run_csws("install", "--csound", "6")
    assert out.returncode != 0
    assert "did not make it" in out.stderr and str(target) in out.stderr
    assert target.read_bytes() == b"an old copy the user made"
    assert run_csws("uninstall").returncode == 0 and target.read_bytes() == b"an old copy the user made"


def installed_majors() -> list[int]:
    """The Csound majors this machine has (an aarch64 Debian has no Csound 7)."""
    from csws.hosting.library import find

    majors = []
    for major in (6, 7):
        try:
            find(str(major))
        except RuntimeError:
            continue
        majors.append(major)
    return majors


def test_doctor_names_csws_install_until_it_is_done(home):
    majors = installed_majors()
    assert set(MAJORS) <= set(majors), "a major under test is missing"
    before = run_csws("doctor")
    assert before.returncode != 0
    assert "csws install" in before.stdout
    for major in majors:
        assert re.search(rf"Csound {major}\.\d+\.\d+: ", before.stdout), before.stdout
    assert run_csws("install").returncode == 0
    after = run_csws("doctor")
    assert after.returncode == 0, after.stdout
    assert after.stdout.count("a piece gets:     csound-websocket's") == len(majors)
    assert "Python it starts: python3." in after.stdout
    assert len(after.stdout.splitlines()) < 30, "one screen"


def links(home: Path) -> dict[Path, str]:
    """Every symlink under home, and what it points to."""
    return {p: os.readlink(p) for p in our_files(home) if p.is_symlink()}


def test_a_copied_home_is_acted_on_alone(home, tmp_path, monkeypatch):
    """cp -a of a HOME brings the record along, naming the original's links (issue 19): csws in the
    copy leaves those alone, saying so, and takes the copy's own links (to this csws's plugin) as its own."""
    import csws

    def installed(where: Path) -> dict[Path, str]:
        return {user_dir(where, m) / Path(csws.plugin_path(m)).name: csws.plugin_path(m) for m in csws.plugin_majors()}

    assert run_csws("install").returncode == 0
    assert links(home) == installed(home)
    for name in ("a", "b"):
        subprocess.run(["cp", "-a", str(home), str(tmp_path / name)], check=True)

    def in_copy(name: str, command: str) -> str:
        monkeypatch.setenv("HOME", str(tmp_path / name))
        out = run_csws(command)
        assert out.returncode == 0, out.stdout + out.stderr
        assert links(home) == installed(home), f"{command} in a copy leaves the original's links alone"
        for link in installed(home):
            assert f"{link}, outside" in out.stdout, "and says so"
        return out.stdout

    in_copy("a", "uninstall")
    assert links(tmp_path / "a") == {}, "the copy's own links go"
    in_copy("a", "install")
    assert links(tmp_path / "a") == installed(tmp_path / "a")

    assert "already installed" in in_copy("b", "install"), "the copy's own links are this csws's"
    assert links(tmp_path / "b") == installed(tmp_path / "b")
    in_copy("b", "uninstall")
    assert links(tmp_path / "b") == {}

    monkeypatch.setenv("HOME", str(home))
    assert run_csws("uninstall").returncode == 0 and our_files(home) == [], "the original's record still works"


def seed_csd(tmp_path: Path, port: int, seconds: float, options: list[str]) -> Path:
    # The piece's own header and options: a host that ignored them would run at
    # sr 44100, ksmps 10 (Csound's defaults) and write test.wav.
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(seed_orc(port), f"i1 0 {seconds}", options=" ".join(options), sr=48000, ksmps=32))
    return csd


@pytest.mark.parametrize("how", ["link", "copy"])
def test_stock_csound_gets_the_opcode_after_install_and_not_after_uninstall(home, tmp_path, port, csound, how):
    if csound != 6:
        pytest.skip("the stock csound command here (Debian's) is Csound 6")
    import csws

    assert run_csws("install", *(["--copy"] if how == "copy" else [])).returncode == 0
    if how == "copy":  # as where links cannot be made: the copy finds csws from the .site file beside it
        plugin = user_dir(home, 6) / Path(csws.plugin_path(6)).name
        assert plugin.is_file() and not plugin.is_symlink()
        site = Path(f"{plugin}.site").read_text().strip()
        assert Path(site) == Path(csws.__file__).resolve().parent.parent
        doctor = run_csws("doctor")
        assert doctor.returncode == 0 and f"{plugin} (a copy)" in doctor.stdout, doctor.stdout
    csd = seed_csd(tmp_path, port, 30, REALTIME)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSWS_")}
    p = Performance([shutil.which("csound"), str(csd)], tmp_path / "csound.log", env=env)
    try:
        exercise_seed(port)  # our Server header
        p.wait_for(r"slider 0\.625")
    finally:
        p.stop()
    # From the per-user directory our entries come first, Debian's websocketIO or not: nothing to replace
    assert "replaces another library's" not in p.output
    assert run_csws("uninstall").returncode == 0
    assert our_files(home) == [], "uninstall removes the copy and its .site file too"
    csd.write_text(make_csd(seed_orc(port), "i1 0 0.2", options="-n -d"))
    out = subprocess.run([shutil.which("csound"), str(csd)], capture_output=True, text=True, timeout=patience(60),
                         env=env)
    assert "csws: websocket server" not in out.stdout + out.stderr, "uninstalled: Csound no longer loads ours"


def readme_program(binding: str) -> str:
    """The README's Python host program for ctcsound or cycsound, exactly as written."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return next(b for b in blocks if f"import {binding}\n" in b)


def test_readme_python_program_after_install(home, tmp_path, port, csound):
    """The README's program, as written: honours the piece's header and options, ends with
    its score, cleanly, and gets our opcode from the per-user directory alone."""
    assert run_csws("install").returncode == 0
    seed_csd(tmp_path, port, patience(4), REALTIME)   # outlasts a slow machine's first handshake
    program = tmp_path / "host.py"
    program.write_text(readme_program("ctcsound" if csound == 6 else "cycsound"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSWS_")}
    log = tmp_path / "host.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(program)], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env=env)
        try:
            exercise_seed(port)
            assert proc.wait(patience(30)) == 0, log.read_text(errors="replace")[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))  # Csound 6's colours
    assert "slider 0.625" in text
    assert re.search(r"sr = 48000\.0, kr = 1500\.000, ksmps = 32", text), "the piece's header was honoured"
    assert not (tmp_path / "test.wav").exists(), "the piece's <CsOptions> were honoured"
    assert "Segmentation fault" not in text
    assert f"({port}, 'kslider')" in text, "csws.stats() from Python"


def test_cs_user_plugindir_is_one_directory_for_both_majors(home, tmp_path, monkeypatch):
    """CS_USER_PLUGINDIR overrides both majors' directories: install asks which major's plugin goes there."""
    import csws

    plugins = tmp_path / "my-plugins"
    monkeypatch.setenv("CS_USER_PLUGINDIR", str(plugins))
    both = run_csws("install")
    assert both.returncode != 0 and "--csound 6 or --csound 7" in both.stderr
    assert not plugins.exists(), "nothing made"
    one = run_csws("install", "--csound", "6")
    assert one.returncode == 0
    assert (plugins / Path(csws.plugin_path(6)).name).resolve() == Path(csws.plugin_path(6)).resolve()
    assert run_csws("uninstall").returncode == 0 and not plugins.exists()


@pytest.mark.parametrize("path, user_dir_set, skips", [
    ("/Library/Frameworks/CsoundLib64.framework/CsoundLib64", False, True),  # csound.com's installer
    ("/Library/Frameworks/CsoundLib64.framework/CsoundLib64", True, False),  # CS_USER_PLUGINDIR set: loaded
    ("/opt/homebrew/opt/csound/Frameworks/CsoundLib64.framework/CsoundLib64", False, False),  # Homebrew's
])
def test_doctor_knows_the_macos_installers_trap(monkeypatch, path, user_dir_set, skips):
    """Which macOS Csound skips the per-user directory (the check itself; no Mac here runs the installer)."""
    from csws.hosting import library

    if user_dir_set:
        monkeypatch.setenv("CS_USER_PLUGINDIR", "/Users/me/csound-plugins")
    else:
        monkeypatch.delenv("CS_USER_PLUGINDIR", raising=False)
    lib = library.Library(path, 6, "system")
    assert library.skips_user_dir(lib, platform="darwin") is skips
    assert not library.skips_user_dir(lib, platform="linux")
