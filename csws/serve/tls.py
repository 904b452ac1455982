"""TLS for the ports: certificates, SSL contexts, and plain http on a TLS port.

Browsers give audio worklets and the microphone only to secure pages
(https, or http on localhost), so a phone on the LAN needs the port to speak
https and wss.  Serving uses the standard library's ssl; a self-signed
certificate (`CSWS_TLS_CERT=self-signed`, `csws run --tls self-signed`) is
made with the `cryptography` package (the `tls` extra) on first use, for the
machine's names and addresses, kept in the user's config folder and reused
while it still covers them.

A TLS port accepts its connections itself (serve()): a client whose first
byte opens a TLS handshake is handed to the websocket server over TLS; one
that speaks plain http gets a plain answer that names the https address,
instead of a handshake error its browser would show as "connection reset".
"""
from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

SELF_SIGNED = "self-signed"
VALID_DAYS = 825  # the longest validity Apple's devices accept for a server certificate
RENEW_DAYS = 30  # made again when it would expire within this many days
TLS_HANDSHAKE = 0x16  # the first byte of every TLS connection (a handshake record)
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$")


def config_dir() -> Path:
    """The user's csws config folder (created if need be)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = base / "csws"
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine_names() -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) a browser on this machine or the LAN may use for it."""
    host = socket.gethostname()
    names = ["localhost", host]
    if "." not in host:
        names.append(host + ".local")  # mDNS: what phones resolve
    addresses = {"127.0.0.1", "::1"}
    try:
        addresses.update(info[4][0] for info in socket.getaddrinfo(host, None))
    except OSError:
        pass
    # The address of the interface that routes out (no packet is sent by a UDP connect).
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((target, 9))
                addresses.add(s.getsockname()[0])
        except OSError:
            pass
    addresses = {a.split("%", 1)[0] for a in addresses}  # no IPv6 zone ids in a certificate
    return sorted(set(names)), sorted(addresses)


def fingerprint(cert: str | Path) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as browsers show it (AB:CD:...)."""
    der = ssl.PEM_cert_to_DER_cert(Path(cert).read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def self_signed(directory: Path | None = None) -> tuple[Path, Path]:
    """(certificate, key) files of this machine's self-signed certificate, made if need be."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise RuntimeError("a self-signed certificate needs the cryptography package: "
                           "pip install 'csound-websocket[tls]'") from None
    folder = directory or config_dir()
    cert_path, key_path = folder / "tls-cert.pem", folder / "tls-key.pem"
    names, addresses = machine_names()
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert_path.is_file() and key_path.is_file():
        old = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        covered = set(san.get_values_for_type(x509.DNSName)) >= set(names) and \
            {str(a) for a in san.get_values_for_type(x509.IPAddress)} >= set(addresses)
        if covered and old.not_valid_after_utc - now > datetime.timedelta(days=RENEW_DAYS):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"csws on {socket.gethostname()}")])
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first, readable by its owner only.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def certificate(cert: str, key: str) -> tuple[Path, Path | None]:
    """The files a tls_cert/tls_key setting names (self-signed: made or reused)."""
    if cert == SELF_SIGNED:
        return self_signed()
    return Path(cert), Path(key) if key else None


def server_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server's SSL context: the standard library's defaults (TLS 1.2 and up)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"TLS certificate {cert} (key {key or 'in the same file'}): {e}") from None
    return ctx


def plain_answer(request: bytes, port: int) -> bytes:
    """What a plain http request to a TLS port gets: 400 and the https address."""
    host = f"127.0.0.1:{port}"
    for line in request.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        candidate = value.strip().decode("ascii", "replace")
        if name.strip().lower() == b"host" and _HOST.match(candidate):
            host = candidate
            break
    body = (f"csws: this port speaks https and wss only: open https://{host}/ "
            "(a self-signed certificate: check its SHA-256 fingerprint, printed by Csound)\n").encode()
    head = (f"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


async def serve(sock: socket.socket, factory: Callable[[], asyncio.Protocol], context: ssl.SSLContext,
                timeout: float) -> None:
    """Accept on a listening socket until cancelled: TLS clients go to factory's protocol."""
    loop = asyncio.get_running_loop()
    port = sock.getsockname()[1]
    pending: set[asyncio.Task] = set()
    try:
        while True:
            conn, _ = await loop.sock_accept(sock)
            task = asyncio.ensure_future(_sniff(loop, conn, factory, context, timeout, port))
            pending.add(task)
            task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()


async def _sniff(loop: asyncio.AbstractEventLoop, conn: socket.socket, factory, context: ssl.SSLContext,
                 timeout: float, port: int) -> None:
    conn.setblocking(False)
    handed = False
    try:
        readable = loop.create_future()
        loop.add_reader(conn, lambda: readable.done() or readable.set_result(None))
        try:
            await asyncio.wait_for(readable, timeout)
        finally:
            loop.remove_reader(conn)
        first = conn.recv(4096, socket.MSG_PEEK)  # left in the socket for the TLS handshake
        if first[:1] == bytes([TLS_HANDSHAKE]):
            await loop.connect_accepted_socket(factory, conn, ssl=context, ssl_handshake_timeout=timeout)
            handed = True
        elif first:
            await asyncio.wait_for(loop.sock_sendall(conn, plain_answer(first, port)), timeout)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        pass  # gone, silent or a failed handshake: nothing to tell anyone
    finally:
        if not handed:
            conn.close()
