"""The seed's example in each host: `csws run`, the stock `csound`, a Python program.

Debian's csound-plugins is installed, so the original websocketIO plugin is
loaded too; each test proves that csound-websocket's opcode is the one that
ran (our server answers, with our Server header and our messages).
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import ssl
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

from conftest import REALTIME, csound_include, make_csd, patience
from wsclient import connect_var, f64, frames

# Debian's websocketIO, in this machine's multiarch directory (aarch64-linux-gnu on a Pi).
ORIGINAL = f"/usr/lib/{sysconfig.get_config_var('MULTIARCH')}/csound/plugins64-6.0/libwebsocketIO.so"

# Another library's `websocket`, as Debian's websocketIO is for Csound 6 (Csound 7 has
# none): built by the test against the major's headers, loaded from the per-user
# plugin directory, so before csound-websocket, as a system plugin would be.
RIVAL_C = r"""
#include <csound/csdl.h>
typedef struct { OPDS h; MYFLT *out, *port, *in; } RIVAL;
static int rival_init(CSOUND *cs, void *p) { (void)p; cs->Message(cs, "the rival websocket ran\n"); return OK; }
static OENTRY localops[] = {
#if CS_VERSION >= 7
    {"websocket", sizeof(RIVAL), 0, "k", "ik", (SUBR)rival_init, NULL, NULL, NULL, 0},
#else
    {"websocket", sizeof(RIVAL), 0, 1, "k", "ik", (SUBR)rival_init, NULL, NULL, NULL},
#endif
};
LINKAGE
"""



def seed_orc(port: int) -> str:
    # The seed's scenario: a k-rate LFO goes out, a slider value comes in.
    return f"""instr 1
  klfo lfo 1, 2
  kslider websocket {port}, klfo
  printks "slider %.3f\\n", 0.1, kslider
endin"""


def exercise_seed(port: int) -> list[float]:
    async def main():
        lfo = await connect_var(port, "klfo")
        assert lfo.response.headers["Server"].startswith("csws/"), "another websocket server answered"
        got = [f64(m)[0] for m in await frames(lfo, 50)]
        slider = await connect_var(port, "kslider")
        await slider.send(np.array([0.625]).tobytes())
        return got

    return asyncio.run(main())


@pytest.mark.parametrize("host", ["csws", "csound"])
def test_seed_example(perform, port, host, csound):
    p = perform(seed_orc(port), "i1 0 30", host=host)
    values = exercise_seed(port)
    assert all(-1 <= v <= 1 for v in values) and len(set(values)) > 10, "the LFO should move"
    p.wait_for(r"slider 0\.625")
    out = p.output
    if csound == 6 and os.path.exists(ORIGINAL):  # Debian's websocketIO (there is none for 7)
        assert "replaces another library's" in out
    assert "csws: websocket server on ws://127.0.0.1:%d/" % port in out


def test_stock_csound_starts_its_own_python(perform, port):
    """With Csound's Python plugin omitted, no Python is in the process: ours loads one."""
    p = perform(seed_orc(port), "i1 0 30", host="csound", env={"CS_OMIT_LIBS": "libpy"})
    exercise_seed(port)
    p.wait_for(r"slider 0\.625")
    assert "libpy.so omitted" in p.output


def test_stock_csound_serves_tls_beside_csounds_python_plugin(perform, port, tmp_path):
    """Csound's libpy.so brings the system's libpython: csws's Python runs on it with that
    build's own standard library (its _ssl), whichever build of the same version installed csws."""
    pytest.importorskip("cryptography")
    env = {"CSWS_TLS_CERT": "self-signed", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    p = perform(seed_orc(port), "i1 0 30", host="csound", env=env)
    p.wait_for("websocket server on wss://")
    context = ssl.create_default_context(cafile=tmp_path / "config" / "csws" / "tls-cert.pem")
    context.check_hostname = False  # the certificate names this machine; 127.0.0.1 is enough here

    async def main():
        ws = await connect_var(port, "klfo", url=f"wss://127.0.0.1:{port}/", ssl=context)
        return await frames(ws, 10)

    assert len(asyncio.run(main())) == 10
    assert "libpy.so omitted" not in p.output


# A user's own Python program, in each major's own binding: ctcsound (6), cycsound (7).
PYTHON_HOSTS = {
    6: """
        import time

        import ctcsound
        import csws

        cs = ctcsound.Csound()
        cs.setOption("--opcode-lib=" + csws.plugin_path())
        for opt in {options!r}:
            cs.setOption(opt)
        cs.start()  # loads the plugin: do it before compiling the orchestra
        assert cs.compileCsd({csd!r}) == 0
        thread = ctcsound.CsoundPerformanceThread(cs.csound())
        thread.play()
        time.sleep(4)  # a csd compiled after start() plays on: stop it ourselves
        thread.stop()
        thread.join()
        print("stats", csws.stats(), flush=True)
        cs.reset()  # (ending)
    """,
    7: """
        import cycsound
        import csws

        cs = cycsound.Csound()
        cs.set_option("--opcode-lib=" + csws.plugin_path())
        for opt in {options!r}:
            cs.set_option(opt)
        assert cs.compile_csd({csd!r}) == 0
        cs.start()
        thread = cycsound.CsoundPerformanceThread(cs)
        thread.play()
        thread.join()  # to the end of the score
        print("stats", csws.stats(), flush=True)
        cs.reset()  # (ending)
    """,
}


@pytest.mark.parametrize("ending", ["reset", "exit"])
def test_python_host_program(tmp_path, port, csound, ending):
    """A Python program that creates its own Csound (ctcsound for 6, cycsound for 7) loads
    the plugin by path; csws.plugin_path() picks the one for the Csound it has loaded.
    Many scripts end without resetting Csound: Python's exit then says nothing amiss."""
    binding = "ctcsound" if csound == 6 else "cycsound"
    if importlib.util.find_spec(binding) is None:  # not imported here: this process loads no Csound
        pytest.skip(f"{binding} is not installed")
    csd = tmp_path / "seed.csd"
    # The score outlasts the client's first connection on a slow machine (an emulated CPU), where
    # the program's start and the first client's handshake take seconds.
    csd.write_text(make_csd(seed_orc(port), f"i1 0 {patience(4):g}"))
    program = tmp_path / "host.py"
    source = PYTHON_HOSTS[csound].format(options=REALTIME, csd=str(csd))
    if ending == "exit":
        source = "\n".join(line for line in source.splitlines() if "(ending)" not in line)
    program.write_text(textwrap.dedent(source))
    log = tmp_path / "host.log"
    with open(log, "wb") as out:
        # Without CSWS_CSOUND: the program's own Csound decides which plugin it gets.
        env = {k: v for k, v in os.environ.items() if k != "CSWS_CSOUND"}
        proc = subprocess.Popen([sys.executable, str(program)], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env=env)
        try:
            exercise_seed(port)
            assert proc.wait(patience(30)) == 0, "the Python host should end with its score"
        finally:
            if proc.poll() is None:
                proc.kill()
    out = log.read_text(errors="replace")
    assert "slider 0.625" in out
    assert f"({port}, 'kslider')" in out, "csws.stats() from Python"
    assert f"csws: port {port} klfo (to web): sent" in out, out[-3000:]
    assert "failed" not in out and "Traceback" not in out, out[-3000:]


# A host that shows Csound's messages in a window, as CsoundQt does: it takes them from a
# message buffer, and destroys the buffer after the performance, before it resets Csound.
CONSOLE_HOST = """
import ctypes, sys
from csws import plugin_path
from csws.hosting import library
cs = library.create(library.find())
lib, handle = cs._lib, ctypes.c_void_p(cs._cs)
lib.csoundGetFirstMessage.restype = ctypes.c_char_p
lib.csoundCreateMessageBuffer(handle, 0)
assert cs.compile(["--opcode-lib=" + plugin_path(), *sys.argv[1:]]) == 0
cs.perform()
if cs.library.major == 6:
    lib.csoundCleanup(handle)
console = []
while lib.csoundGetMessageCnt(handle) > 0:
    console.append(lib.csoundGetFirstMessage(handle).decode())
    lib.csoundPopFirstMessage(handle)
lib.csoundDestroyMessageBuffer(handle)
print("CONSOLE<<" + "".join(console) + ">>CONSOLE", flush=True)
cs.destroy()
"""


def test_counters_reach_a_hosts_console(tmp_path, port, csound):
    """The end-of-run counters are printed while the host still shows Csound's messages."""
    csd = tmp_path / "seed.csd"
    csd.write_text(make_csd(seed_orc(port), f"i1 0 {patience(3):g}"))   # as in test_python_host_program
    proc = subprocess.Popen([sys.executable, "-c", CONSOLE_HOST, str(csd), *REALTIME], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        exercise_seed(port)
        out = proc.communicate(timeout=patience(60))[0].decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
    console = out.partition("CONSOLE<<")[2].partition(">>CONSOLE")[0]
    assert "slider 0.625" in console, out[-3000:]
    assert f"csws: port {port} kslider (from web): received 1" in console, out[-3000:]
    assert f"csws: port {port} klfo (to web): sent" in console, out[-3000:]


def test_plugin_of_the_other_major_is_refused_clearly(tmp_path, port, csound):
    """Csound refuses the other major's plugin; the plugin says which one to give."""
    other = 13 - csound
    csd = tmp_path / "seed.csd"
    csd.write_text(make_csd(seed_orc(port), "i1 0 0.1"))
    script = (f"from csws import plugin_path\nfrom csws.hosting.library import create\n"
              f"create().compile(['--opcode-lib=' + plugin_path({other}), {str(csd)!r}, '-n'])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=patience(60))
    out = proc.stdout + proc.stderr
    assert f"csound-websocket's plugin for Csound {other}, and Csound {csound}." in out, out[-3000:]
    assert f'--opcode-lib="$(csws plugin-path --csound {csound})"' in out, out[-3000:]
    assert "a `websocket` in the piece is another library's" in out and "websocketIO" in out, out[-3000:]


def test_takes_over_another_librarys_websocket(perform, port, csound, tmp_path):
    """A plugin that Csound loads first also registers `websocket`: ours replaces its entry."""
    plugins = tmp_path / "user-plugins"
    plugins.mkdir()
    (tmp_path / "rival.c").write_text(RIVAL_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-DUSE_DOUBLE", *csound_include(csound), str(tmp_path / "rival.c"),
                    "-o", str(plugins / "librival.so")], check=True)
    p = perform(seed_orc(port), "i1 0 30", env={"CS_USER_PLUGINDIR": str(plugins)})
    exercise_seed(port)  # our server answers
    p.wait_for(r"slider 0\.625")
    assert "replaces another library's" in p.output
    assert "the rival websocket ran" not in p.output
