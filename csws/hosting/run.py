"""Hosting Csound in this process for `csws run` and `csws demo`: the piece
with the plugin loaded, Ctrl-C stopping it cleanly."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from csws import plugin_path

if TYPE_CHECKING:  # imported where used: `csws run` loads Csound's modules only once it runs
    from csws.hosting.library import Csound, Library


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    """While Csound stops and cleans up: a second signal (a shell or `timeout` may signal the
    whole process group) must not interrupt that halfway, e.g. inside a deinit closing ports."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


DEFAULT_PORT = 8888  # the page's port for a piece without websocket lines


def run(args: list[str], csound: str | None = None,
        compile_error: str = "csws: Csound could not compile the piece", ui_port: int | None = None) -> int:
    """Host Csound (csound: 6, 7 or a libcsound's path) in this process with the plugin loaded;
    Ctrl-C stops it.  Exits as the csound command would: 1 after any error, init errors included.

    The piece's page and Csound's channels are served on ui_port from the start (websocket_ui);
    without it, on the piece's own websocket ports, or on DEFAULT_PORT for a piece that has none."""
    from csws.hosting import library as csound_lib
    from csws.protocol.pages import piece_csd, uses_sound_card, websocket_ports

    try:
        lib = csound_lib.find(csound)
        plugin = plugin_path(lib.major)
    except (RuntimeError, FileNotFoundError) as e:
        print(f"csws: {e}", file=sys.stderr)
        return 1

    # The port serves the piece's faces (its <html>, CsoundQt or Cabbage panel, else the generated
    # surface: docs/panels.md), unless told otherwise.
    page = piece_csd(args)
    if page is not None and not os.environ.get("CSWS_INDEX_HTML"):
        os.environ["CSWS_INDEX_HTML"] = page
    if threading.current_thread() is threading.main_thread():
        # Stop as cleanly as on Ctrl-C, also when started with SIGINT ignored
        # (as a shell's background job is).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    cs = csound_lib.create(lib)
    print(f"csws: Csound {cs.version} ({lib.path}, {lib.origin})", file=sys.stderr, flush=True)
    try:
        if cs.compile([f"--opcode-lib={plugin}", *args]) != 0:
            if uses_sound_card(args) and "audio" not in compile_error:
                compile_error += (" or open the audio device (Csound's messages above say which; "
                                  "-+rtaudio=null after the piece runs it without one)")
            print(compile_error, file=sys.stderr)
            return 1
        cs.answer_invalue(plugin)  # csws is the host: invalue/outvalue go to the channels pages see
        if page is not None:
            _start_panel(cs, lib, page)
        ports = websocket_ports(args)
        if ui_port is None and ports is None:
            ui_port = DEFAULT_PORT
        if ui_port is not None and cs.compile_orc(f"websocket_ui {ui_port}\n") != 0:
            print(f"csws: could not serve the page on port {ui_port} (Csound's messages above say why)",
                  file=sys.stderr)
            return 1
        shown = ui_port if ui_port is not None else (ports[0] if ports else None)
        if shown is not None:
            host = os.environ.get("CSWS_HOST", "127.0.0.1")
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            scheme = "https" if os.environ.get("CSWS_TLS_CERT") else "http"
            when = "" if ui_port is not None else " (while the piece's websocket notes play)"
            print(f"csws: the piece's page: {scheme}://{host}:{shown}/{when}", file=sys.stderr, flush=True)
        result: list[int] = []
        worker = threading.Thread(target=lambda: result.append(cs.perform()), name="csound")
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            print("\ncsws: stopping", file=sys.stderr)
            _ignore_signals()
            cs.stop()
            worker.join()
        return 0 if (not result or result[0] >= 0) and cs.errors() == 0 else 1
    finally:
        _ignore_signals()
        cs.destroy()


def _start_panel(cs: Csound, lib: Library, csd: str) -> None:
    """Give the channels of the piece's widget panel their start values, as CsoundQt and Cabbage
    do before a performance (csws/protocol/faces.py); this also makes the channels, so pages can
    set them before the orchestra first reads them.  A channel the orchestra already made as
    another type (a string channel for a slider) keeps what it has."""
    from csws.bridge.csound_api import CsoundAPI
    from csws.protocol.faces import chnset_code, faces_of_file, start_values

    faces = faces_of_file(csd)
    panel = faces and (faces.csoundqt or faces.cabbage)
    if not panel:
        return
    made = CsoundAPI(lib.path, lib.major, cs.address).channels()
    values = {name: v for name, v in start_values(panel).items()
              if name not in made or made[name].type == ("string" if isinstance(v, str) else "control")}
    if values and cs.compile_orc(chnset_code(values)) != 0:
        print("csws: could not give the panel's channels their start values (Csound's messages above say why)",
              file=sys.stderr)


DEMO_REALTIME = ["-odac", "-+rtaudio=null", "-b32", "-B64"]  # real-time pacing, no sound card


def demo(port: int, audio: str | None, csound: str | None = None, rtaudio: str | None = None,
         secure: bool = False) -> int:
    """Run the bundled synth and serve its page; Ctrl-C stops it."""
    from importlib import resources

    files = resources.files("csws.hosting") / "demo"
    with resources.as_file(files / "demo.csd") as csd, resources.as_file(files / "index.html") as page:
        os.environ["CSWS_INDEX_HTML"] = str(page)
        options = [f"-o{audio}", "-b256", "-B1024"] if audio else DEMO_REALTIME
        if audio and rtaudio:
            options.append(f"-+rtaudio={rtaudio}")
        host = os.environ.get("CSWS_HOST", "127.0.0.1")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        scheme = "https" if secure or os.environ.get("CSWS_TLS_CERT") else "http"
        print(f"csws demo: open {scheme}://{shown}:{port}/ in a browser (Ctrl-C stops)", flush=True)
        # The bundled piece compiles: with a sound card, a failure is the sound card's.
        failed = ("csws demo: Csound could not open the audio device (its messages above say why). "
                  "List the devices with `csound --devices`, then choose one: csws demo --audio dac:hw:1,0 "
                  "(ALSA) or --audio dac2 (PortAudio); --rtaudio pulse|alsa|jack|portaudio picks the driver"
                  if audio else "csws: Csound could not compile the piece")
        return run([str(csd), f"--omacro:PORT={port}", *options], csound, failed)
