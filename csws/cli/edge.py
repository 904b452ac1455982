"""`csws edge`: serve Csound ports' websocket protocol from NATS (csws/serve/edge.py, docs/edges.md)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from csws.protocol import nats_subjects
from csws.protocol.settings import RANGES, Settings


def add_parser(sub) -> None:
    p = sub.add_parser("edge", help="serve a Csound's ports from NATS: pages, csws.js, variables, channels "
                                    "(the Csound runs with --nats)")
    p.add_argument("--nats", required=True, metavar="URL[,URL]",
                   help="NATS servers to connect to (comma-separated; the client fails over between them)")
    p.add_argument("--port", action="append", metavar="N[:NAME]",
                   help="serve on port N the Csound stream NAME (its nats_name; default: N); repeatable "
                        "(default: 8888)")
    p.add_argument("--host", help="the address to listen on (127.0.0.1; 0.0.0.0: every interface)")
    p.add_argument("--token", help="clients must present ?token=TOKEN")
    p.add_argument("--origin", action="append", metavar="ORIGIN",
                   help="also allow web pages from ORIGIN (repeatable; null: pages opened from a file; *: any)")
    p.add_argument("--max-clients", type=int, metavar="N", help="websocket clients per port (10000)")
    p.add_argument("--static", metavar="DIR", help="serve the files of DIR over HTTP on every port")
    p.add_argument("--tls", metavar="CERT|self-signed",
                   help="serve https and wss with this PEM certificate, or one made for this machine")
    p.add_argument("--tls-key", metavar="FILE", help="the certificate's key (default: in the same file)")
    p.add_argument("--also", action="append", metavar="URL", default=[],
                   help="another edge's base URL, listed in /csws.json for clients to fail over to (repeatable)")
    p.add_argument("--id", help="this edge's name in NATS messages (default: a random one)")


def _ports(specs: list[str] | None) -> list[tuple[int, str]]:
    out = []
    for spec in specs or ["8888"]:
        number, _, name = spec.partition(":")
        try:
            n = int(number)
        except ValueError:
            raise ValueError(f"--port {spec}: give N or N:NAME, N a port number") from None
        if not 1 <= n <= 65535:
            raise ValueError(f"--port {spec}: give a port from 1 to 65535")
        out.append((n, nats_subjects.check_name(name or str(n))))
    if len({n for n, _ in out}) != len(out):
        raise ValueError("--port: each port number once")
    return out


EDGE_BUFFER_SECONDS = 2.0  # docs/scaling.md: 0.25 s lost frames at an edge under load, 2 s kept every one


def settings(ns: argparse.Namespace) -> Settings:
    """The environment's CSWS_* settings with the flags over them; an edge takes the most clients
    the setting allows unless told otherwise."""
    base = Settings.from_env()
    changes: dict = {}
    if ns.host:
        changes["host"] = ns.host
    if ns.token:
        changes["token"] = ns.token
    if ns.origin:
        changes["origins"] = tuple(ns.origin)
    if ns.max_clients is not None:
        Settings.check("max_clients", str(ns.max_clients))
        changes["max_clients"] = ns.max_clients
    elif "CSWS_MAX_CLIENTS" not in os.environ:
        changes["max_clients"] = int(RANGES["max_clients"][1])
    if "CSWS_BUFFER_SECONDS" not in os.environ:
        # Frames reach an edge in bursts (a stalled server, a busy machine): a ring that holds a
        # burst loses nothing, and costs memory only (fan-out reads every new frame each wake).
        changes["buffer_seconds"] = EDGE_BUFFER_SECONDS
    if ns.static:
        if not os.path.isdir(ns.static):
            raise ValueError(f"--static {ns.static}: no such directory")
        changes["static_dir"] = os.path.abspath(ns.static)
    if ns.tls:
        changes["tls_cert"] = ns.tls if ns.tls == "self-signed" else os.path.abspath(ns.tls)
    if ns.tls_key:
        changes["tls_key"] = os.path.abspath(ns.tls_key)
    return dataclasses.replace(base, index_html="", **changes)


def main(ns: argparse.Namespace) -> int:
    try:
        import nats  # noqa: F401 - only to say at once what is missing
    except ImportError:
        print("csws edge: the NATS client is missing: pip install 'csound-websocket[nats]'", file=sys.stderr)
        return 1
    from csws.serve.edge import Edge, run  # asyncio and the server: only for this command

    try:
        ports = _ports(ns.port)
        servers = [u.strip() for u in ns.nats.split(",") if u.strip()]
        if not servers:
            raise ValueError("--nats: give at least one server URL, e.g. nats://127.0.0.1:4222")
        edge = Edge(servers, ports, settings(ns), tuple(ns.also), ns.id)
    except (ValueError, OSError) as e:
        print(f"csws edge: {e}", file=sys.stderr)
        return 2
    run(edge)
    return 0
