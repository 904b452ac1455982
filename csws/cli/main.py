"""The `csws` command: run a piece, or tell Csound where the plugin is."""
from __future__ import annotations

import argparse
import os
import sys

from csws import __version__, plugin_majors, plugin_path
from csws.cli import commands, edge
from csws.hosting.run import demo, run
from csws.protocol.nats_subjects import check_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="csws", description="The websocket opcode for Csound: stream signals to web pages and back."
    )
    majors = ", ".join(map(str, plugin_majors())) or "none"
    parser.add_argument("--version", action="version", version=f"csws {__version__} (plugins for Csound {majors})")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a piece (a .csd, plus any csound options) with the opcode loaded")
    choose = "which Csound: 6, 7 or a libcsound's path (CSWS_CSOUND; default: a system Csound, newer first, " \
             "else the csound extra's)"
    p_run.add_argument("--csound", metavar="6|7|PATH", help=choose)
    p_run.add_argument("--static", metavar="DIR", help="serve the files of DIR over HTTP on the piece's ports")
    p_run.add_argument("--port", type=int, metavar="N",
                       help="serve the page and Csound's channels on port N from the start (default: the "
                            "piece's websocket ports; 8888 for a piece without any)")
    p_run.add_argument("--allow-code", action="store_true",
                       help="let pages compile and evaluate orchestra code (on loopback, or with --token)")
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
    tls_help = "serve https and wss with a certificate made for this machine on first use (needs the tls extra)"
    p_run.add_argument("--tls", choices=["self-signed"], help=tls_help)
    p_run.add_argument("--tls-cert", metavar="FILE", help="serve https and wss with this PEM certificate")
    p_run.add_argument("--tls-key", metavar="FILE", help="the certificate's key (default: in the same file)")
    p_run.add_argument("--nats", metavar="URL[,URL]",
                       help="also publish the piece's ports on these NATS servers, for csws edge (docs/protocol.md, NATS)")
    p_run.add_argument("--nats-name", metavar="NAME", help="the ports' stream name on NATS (default: the port number)")
    p_run.add_argument("csound_args", nargs=argparse.REMAINDER, help="piece.csd [csound options]")
    p_demo = sub.add_parser("demo", help="run a bundled synth and serve its web page (http://127.0.0.1:8888/)")
    p_demo.add_argument("--port", type=int, default=8888, help="the port for the page and websockets (8888)")
    p_demo.add_argument("--audio", nargs="?", const="dac", metavar="DEVICE",
                        help="play through the sound card (default: none): dac, or a device such as dac:hw:1,0 "
                             "(csound --devices lists them)")
    p_demo.add_argument("--rtaudio", metavar="MODULE", help="the audio driver with --audio: pulse, alsa, jack...")
    p_demo.add_argument("--csound", metavar="6|7|PATH", help=choose)
    p_demo.add_argument("--tls", choices=["self-signed"], help=tls_help + ": for phones (with --host 0.0.0.0)")
    p_demo.add_argument("--host", help="the address to listen on (127.0.0.1; 0.0.0.0: every interface)")
    p_path = sub.add_parser("plugin-path", help="print the plugin library's path, for csound --opcode-lib=")
    p_path.add_argument("--csound", choices=["6", "7"], help="the Csound major (default: the one csws run would use)")
    commands.add_parsers(sub)  # ls, tail, send: clients of a running piece (csws/cli/commands.py)
    edge.add_parser(sub)  # csws edge: a Csound's ports served from NATS (csws/cli/edge.py)
    p_inst = sub.add_parser("install", help="put the plugin where every Csound host loads it (per-user directory)")
    p_inst.add_argument("--csound", choices=["6", "7"], help="only this Csound major's (default: every one)")
    p_inst.add_argument("--copy", action="store_true",
                        help="copy the plugin instead of linking it (for file systems or hosts without links)")
    sub.add_parser("uninstall", help="remove what csws install made")
    sub.add_parser("doctor", help="why doesn't my websocket work? Each Csound found, and which websocket it gets")
    ns = parser.parse_args(argv)
    if ns.command in ("install", "uninstall"):
        from csws.cli import install

        return install.install([int(ns.csound)] if ns.csound else None, ns.copy) if ns.command == "install" \
            else install.uninstall()
    if ns.command == "doctor":
        from csws.cli.doctor import doctor

        return doctor()
    if ns.command == "edge":
        return edge.main(ns)
    if ns.command in commands.COMMANDS:
        return commands.main(ns)
    if ns.command == "plugin-path":
        try:
            print(plugin_path(ns.csound))
        except (RuntimeError, FileNotFoundError) as e:
            print(f"csws: {e}", file=sys.stderr)
            return 1
        return 0
    if ns.command == "demo":
        if ns.tls:
            os.environ["CSWS_TLS_CERT"] = ns.tls
        if ns.host:
            os.environ["CSWS_HOST"] = ns.host
        return demo(ns.port, ns.audio, ns.csound, ns.rtaudio, bool(ns.tls))
    flags = {
        "CSWS_STATIC_DIR": os.path.abspath(ns.static) if ns.static else None,
        "CSWS_HOST": ns.host,
        "CSWS_ORIGINS": ",".join(ns.origin) if ns.origin else None,
        "CSWS_TOKEN": ns.token,
        "CSWS_MAX_CLIENTS": ns.max_clients,
        "CSWS_MAX_STRING": ns.max_string,
        "CSWS_HANDSHAKE_TIMEOUT": ns.handshake_timeout,
        "CSWS_TLS_CERT": ns.tls or (os.path.abspath(ns.tls_cert) if ns.tls_cert else None),
        "CSWS_TLS_KEY": os.path.abspath(ns.tls_key) if ns.tls_key else None,
        "CSWS_ALLOW_CODE": 1 if ns.allow_code else None,
        "CSWS_NATS": ns.nats,
        "CSWS_NATS_NAME": ns.nats_name,
    }
    for name, value in flags.items():
        if value is not None:
            os.environ[name] = str(value)
    if not ns.csound_args:
        parser.error("run: give a piece, e.g. csws run piece.csd")
    # Everything after the piece goes to Csound, which would not know csws's flags.
    ours = {a.split("=")[0] for a in ns.csound_args[1:]} & {
        o for a in p_run._actions for o in a.option_strings if o not in ("-h", "--help")}
    if ours:
        flag = sorted(ours)[0]
        parser.error(f"run: {flag} is csws's flag, not Csound's: put it before the piece "
                     f"(csws run {flag} ... piece.csd [csound options])")
    if ns.nats_name is not None:
        try:
            check_name(ns.nats_name)
        except ValueError as e:
            parser.error(f"run: --nats-name: {e}")
    if ns.static and not os.path.isdir(ns.static):
        parser.error(f"run: --static {ns.static}: no such directory")
    if ns.port is not None and not 1 <= ns.port <= 65535:
        parser.error(f"run: --port {ns.port}: give a port from 1 to 65535")
    return run(ns.csound_args, ns.csound, ui_port=ns.port)
