"""Who may talk to a port: Host, Origin and token checks, and quiet warnings.

Protocol logic only, no I/O: the port's server asks `check()` about every
request before it answers it (plain HTTP or websocket handshake) and gets
either None (go on) or a refusal to send back, with a warning for Csound.

By default a port listens on 127.0.0.1 and accepts websocket clients that
send no Origin (programs, not browsers), pages from localhost / 127.0.0.1 /
[::1] on any port, and pages this server served itself.  Everything else
(other sites, `Origin: null` of pages opened from disk) is refused unless the
user lists it.  A token, once set, guards the orchestra: every websocket and
/csws.json.  It travels only in URLs (?token=), never in a cookie: browsers
send a cookie to every port of a host, so it would reach other servers.
"""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Refusal:
    """A request that is not let in: what to answer and what to tell the user."""

    status: HTTPStatus
    body: str  # the HTTP answer's text (never contains the token)
    warning: str | None = None  # for Csound's messages (rate-limited by the caller)
    key: str = ""  # what the warning is about, for rate-limiting


def is_loopback(host: str) -> bool:
    """True if an address or name only reaches this computer."""
    name = host.strip("[]").lower()
    if name in ("localhost",) or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.partition("%")[0])  # fe80::1%eth0: scope ids
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def _split_host(hostport: str) -> tuple[str, str]:
    """("name", "port") of a Host header or an origin's authority; names lower-case."""
    hostport = hostport.strip().lower()
    if hostport.startswith("["):  # [::1]:8888
        end = hostport.find("]")
        return hostport[1:end], hostport[end + 2:] if hostport[end + 1:end + 2] == ":" else ""
    name, _, port = hostport.partition(":")
    return name, port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def normalise_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], lower-case, no path."""
    origin = origin.strip().lower().rstrip("/")
    if origin in ("null", "*"):
        return origin
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return origin
    default = {"http": "80", "https": "443"}.get(parts.scheme)
    name, port = _split_host(parts.netloc)
    host = f"[{name}]" if ":" in name else name
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str | None, host_header: str | None, listens_on_loopback: bool,
                   allowed: tuple[str, ...], scheme: str = "http") -> bool:
    """Whether a websocket handshake with this Origin header may go on."""
    if origin is None:  # not a browser: browsers always send Origin on websockets
        return True
    wanted = {normalise_origin(a) for a in allowed}
    if "*" in wanted:
        return True
    origin = normalise_origin(origin)
    if origin in wanted:
        return True
    if origin == "null":  # pages from disk and sandboxed frames of any site: only when listed
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False
    name, _ = _split_host(parts.netloc)
    if name in LOOPBACK_NAMES:
        return True
    # A page this server served: its origin is our own address as the browser saw it.
    # On loopback only a loopback name or IP counts, else a page of any site could
    # rebind its DNS name to 127.0.0.1 and pass for ours.
    if host_header and parts.scheme == scheme:  # https on a TLS port
        own = normalise_origin(f"{scheme}://" + host_header)
        if origin == own:
            hname, _ = _split_host(host_header)
            return not listens_on_loopback or is_loopback(hname) or _is_ip(hname)
    return False


def host_allowed(host_header: str | None, listens_on_loopback: bool, allowed: tuple[str, ...]) -> bool:
    """Whether a request's Host may be answered (DNS rebinding: see origin_allowed)."""
    if not listens_on_loopback or host_header is None:
        return True
    name, _ = _split_host(host_header)
    if is_loopback(name) or _is_ip(name):
        return True
    listed = {urlsplit(normalise_origin(a)).hostname for a in allowed}
    return "*" in allowed or name in listed


def presented_token(path: str) -> str | None:
    """The token a request carries: ?token=... in its URL (csws.js adds it for a page)."""
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_ok(expected: str, presented: str | None) -> bool:
    if not expected:
        return True
    # Constant time: the answer must not tell how much of a guess was right.
    import hmac  # here: it loads OpenSSL, which a port nobody knocks on need not pay for

    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


NULL_HINT = (
    "a page opened from a file (or a sandboxed frame) sends Origin: null, refused by default; "
    "let csws serve the page (csws run --static DIR, or the .csd's <html>) "
    "or allow it with CSWS_ORIGINS=null (csws run --origin null)"
)


class DuplicateHeader(ValueError):
    """A request with two Host or Origin headers: which one a proxy or browser meant is unknowable."""


def _single(headers, name: str) -> str | None:
    """A header that must come at most once; DuplicateHeader if it comes twice."""
    values = headers.get_all(name)
    if len(values) > 1:
        raise DuplicateHeader(name)
    return values[0] if values else None


def check(port: int, headers, path: str, websocket: bool, *, loopback: bool,
          token: str, origins: tuple[str, ...], guarded: tuple[str, ...] = (),
          scheme: str = "http") -> Refusal | None:
    """None if the request may go on, else how to refuse it.

    `headers` is the request's websockets Headers; `loopback`: the port listens
    on loopback addresses only; `guarded` are the plain-HTTP paths that need
    the token like websockets do (data, not the page's files).
    """
    try:
        host = _single(headers, "Host")
        origin = _single(headers, "Origin")
    except DuplicateHeader as e:
        return Refusal(HTTPStatus.BAD_REQUEST, f"csws: more than one {e} header\n",
                       f"csws: port {port}: refused a request with more than one {e} header (HTTP 400)",
                       f"duplicate {e}")  # Host or Origin: a fixed set of keys
    if not host_allowed(host, loopback, origins):
        return Refusal(
            HTTPStatus.FORBIDDEN,
            f"csws: this server answers to localhost, not to {host!r}\n",
            f"csws: port {port}: refused a request for Host {host!r} (a DNS rebinding attempt, or a "
            f"name for this computer: list it with CSWS_ORIGINS=http://{host})",
            "host",  # fixed keys: a client cycling names must not grow the throttle
        )
    if token and (websocket or path.split("?", 1)[0] in guarded):
        if not token_ok(token, presented_token(path)):
            return Refusal(
                HTTPStatus.UNAUTHORIZED,
                "csws: this server wants a token: add ?token=... to the address\n",
                f"csws: port {port}: refused a client without the right token",
                "token",
            )
    if not websocket:
        return None  # browsers keep other sites from reading plain HTTP answers (CORS)
    if origin_allowed(origin, host, loopback, origins, scheme):
        return None
    if normalise_origin(origin) == "null":
        return Refusal(
            HTTPStatus.FORBIDDEN,
            f"csws: Origin null refused: {NULL_HINT}\n",
            f"csws: port {port}: refused a websocket from Origin null: {NULL_HINT}",
            "origin null",
        )
    return Refusal(
        HTTPStatus.FORBIDDEN,
        f"csws: Origin {origin} refused; allowed: no Origin, localhost, this server's own pages"
        f"{', ' + ', '.join(origins) if origins else ''}\n",
        f"csws: port {port}: refused a websocket from Origin {origin} "
        f"(a page of another site; to allow it: CSWS_ORIGINS={origin}, csws run --origin {origin})",
        "origin",
    )


def listen_warning(host: str, port: int, token: str, loopback: bool) -> str | None:
    """The warning for a port anyone on the network can reach (`loopback`: all it bound is loopback)."""
    if loopback or token:
        return None
    return (
        f"csws: WARNING: port {port} listens on {host or 'every address'}, beyond this computer, "
        "without a token: anyone on the network can drive this orchestra. "
        "Set CSWS_TOKEN (csws run --token SECRET) and open the page with ?token=SECRET"
    )


class Throttle:
    """At most one message per key per `interval` seconds, counting the rest."""

    def __init__(self, interval: float = 5.0, clock=time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, key: str) -> int | None:
        """None to stay quiet, else how many were suppressed since the last one."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)
