"""The `csws` command: run a piece, or tell Csound where the plugin is."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from csws import __version__, commands, plugin_path


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: list[str]) -> int:
    """Host Csound in this process with the plugin loaded; Ctrl-C stops it."""
    from csws.csound import Csound
    from csws.http import csd_with_html

    # A .csd that carries its own page (<html> element) serves it at / (unless told otherwise).
    page = csd_with_html(args)
    if page is not None and not os.environ.get("CSWS_INDEX_HTML"):
        os.environ["CSWS_INDEX_HTML"] = page
    if threading.current_thread() is threading.main_thread():
        # Stop as cleanly as on Ctrl-C, also when started with SIGINT ignored
        # (as a shell's background job is).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    cs = Csound()
    try:
        if cs.compile([f"--opcode-lib={plugin_path()}", *args]) != 0:
            print("csws: Csound could not compile the piece", file=sys.stderr)
            return 1
        result: list[int] = []
        worker = threading.Thread(target=lambda: result.append(cs.perform()), name="csound")
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            print("\ncsws: stopping", file=sys.stderr)
            cs.stop()
            worker.join()
        return 0 if not result or result[0] >= 0 else 1
    finally:
        cs.destroy()


DEMO_REALTIME = ["-odac", "-+rtaudio=null", "-b32", "-B64"]  # real-time pacing, no sound card


def demo(port: int, audio: bool) -> int:
    """Run the bundled synth and serve its page; Ctrl-C stops it."""
    from importlib import resources

    files = resources.files("csws") / "demo"
    with resources.as_file(files / "demo.csd") as csd, resources.as_file(files / "index.html") as page:
        os.environ["CSWS_INDEX_HTML"] = str(page)
        options = ["-odac", "-b256", "-B1024"] if audio else DEMO_REALTIME
        host = os.environ.get("CSWS_HOST", "127.0.0.1")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        print(f"csws demo: open http://{shown}:{port}/ in a browser (Ctrl-C stops)", flush=True)
        return run([str(csd), f"--omacro:PORT={port}", *options])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="csws", description="The websocket opcode for Csound: stream signals to web pages and back."
    )
    parser.add_argument("--version", action="version", version=f"csws {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a piece (a .csd, plus any csound options) with the opcode loaded")
    p_run.add_argument("--static", metavar="DIR", help="serve the files of DIR over HTTP on the piece's ports")
    # Who may connect (docs/settings.md): each flag sets its CSWS_* variable for the Csound hosted here.
    p_run.add_argument("--host", help="the address to listen on (127.0.0.1; 0.0.0.0: every interface)")
    p_run.add_argument("--origin", action="append", metavar="ORIGIN",
                       help="also allow web pages from ORIGIN, e.g. http://mybox.local:8000 (repeatable; "
                            "null: pages opened from a file; *: any)")
    p_run.add_argument("--token", help="clients must present ?token=TOKEN")
    p_run.add_argument("--max-clients", type=int, metavar="N", help="websocket clients per port (64)")
    p_run.add_argument("--max-string", type=int, metavar="BYTES", help="largest string from a client (4096)")
    p_run.add_argument("--handshake-timeout", type=float, metavar="SECONDS",
                       help="time a client may take to open its websocket (5)")
    p_run.add_argument("csound_args", nargs=argparse.REMAINDER, help="piece.csd [csound options]")
    p_demo = sub.add_parser("demo", help="run a bundled synth and serve its web page (http://127.0.0.1:8888/)")
    p_demo.add_argument("--port", type=int, default=8888, help="the port for the page and websockets (8888)")
    p_demo.add_argument("--audio", action="store_true", help="play through the sound card (default: none)")
    sub.add_parser("plugin-path", help="print the plugin library's path, for csound --opcode-lib=")
    commands.add_parsers(sub)  # ls, tail, send: clients of a running piece (csws/commands.py)
    ns = parser.parse_args(argv)
    if ns.command in commands.COMMANDS:
        return commands.main(ns)
    if ns.command == "plugin-path":
        print(plugin_path())
        return 0
    if ns.command == "demo":
        return demo(ns.port, ns.audio)
    flags = {
        "CSWS_STATIC_DIR": os.path.abspath(ns.static) if ns.static else None,
        "CSWS_HOST": ns.host,
        "CSWS_ORIGINS": ",".join(ns.origin) if ns.origin else None,
        "CSWS_TOKEN": ns.token,
        "CSWS_MAX_CLIENTS": ns.max_clients,
        "CSWS_MAX_STRING": ns.max_string,
        "CSWS_HANDSHAKE_TIMEOUT": ns.handshake_timeout,
    }
    for name, value in flags.items():
        if value is not None:
            os.environ[name] = str(value)
    if not ns.csound_args:
        parser.error("run: give a piece, e.g. csws run piece.csd")
    return run(ns.csound_args)
