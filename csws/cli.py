"""The `csws` command: run a piece, or tell Csound where the plugin is."""
from __future__ import annotations

import argparse
import sys
import threading

from csws import __version__, plugin_path


def run(args: list[str]) -> int:
    """Host Csound in this process with the plugin loaded; Ctrl-C stops it."""
    from csws.csound import Csound

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="csws", description="The websocket opcode for Csound: stream signals to web pages and back."
    )
    parser.add_argument("--version", action="version", version=f"csws {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a piece (a .csd, plus any csound options) with the opcode loaded")
    p_run.add_argument("csound_args", nargs=argparse.REMAINDER, help="piece.csd [csound options]")
    sub.add_parser("plugin-path", help="print the plugin library's path, for csound --opcode-lib=")
    ns = parser.parse_args(argv)
    if ns.command == "plugin-path":
        print(plugin_path())
        return 0
    if not ns.csound_args:
        parser.error("run: give a piece, e.g. csws run piece.csd")
    return run(ns.csound_args)
