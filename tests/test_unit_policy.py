"""Who may talk to a port, without Csound: csws.protocol.policy.check() on requests
made up here, and the rules under it that test_security.py's first section
does not already cover.  Run once, not per Csound major.
"""
from __future__ import annotations

from http import HTTPStatus

import pytest
from websockets.datastructures import Headers

from csws.protocol import policy

TOKEN = "s3cret"


def ask(*headers: tuple[str, str], path: str = "/", websocket: bool = True, loopback: bool = True,
        token: str = "", origins: tuple[str, ...] = ()) -> policy.Refusal | None:
    """check() for a request to port 8888 with these headers (Host 127.0.0.1:8888 unless given)."""
    if not any(name == "Host" for name, _ in headers):
        headers = (("Host", "127.0.0.1:8888"), *headers)
    return policy.check(8888, Headers(headers), path, websocket, loopback=loopback, token=token,
                          origins=origins, guarded=("/csws.json",))


def test_a_program_and_a_local_page_are_let_in():
    assert ask() is None
    assert ask(("Origin", "http://localhost:5173")) is None


def test_a_page_of_another_site_is_refused_with_how_to_allow_it():
    refusal = ask(("Origin", "http://evil.example"), origins=("http://mybox.local:8000",))
    assert refusal.status == HTTPStatus.FORBIDDEN
    assert refusal.body == ("csws: Origin http://evil.example refused; allowed: no Origin, localhost, "
                            "this server's own pages, http://mybox.local:8000\n")
    assert "CSWS_ORIGINS=http://evil.example, csws run --origin http://evil.example" in refusal.warning


def test_a_page_opened_from_a_file_is_told_what_to_do():
    refusal = ask(("Origin", "null"))
    assert refusal.status == HTTPStatus.FORBIDDEN
    assert policy.NULL_HINT in refusal.body and policy.NULL_HINT in refusal.warning
    assert ask(("Origin", "null"), origins=("null",)) is None


def test_plain_http_from_another_site_is_answered():
    """Browsers keep other sites from reading the answer (CORS); only websockets need the Origin check."""
    assert ask(("Origin", "http://evil.example"), path="/csws.js", websocket=False) is None


def test_a_foreign_host_name_on_loopback_is_refused():
    """DNS rebinding: a site's name resolving to 127.0.0.1 is not this computer's page."""
    refusal = ask(("Host", "evil.example:8888"), path="/csws.json", websocket=False)
    assert refusal.status == HTTPStatus.FORBIDDEN
    assert refusal.body == "csws: this server answers to localhost, not to 'evil.example:8888'\n"
    assert "CSWS_ORIGINS=http://evil.example:8888" in refusal.warning
    assert ask(("Host", "other.example"), websocket=False).key == refusal.key, "one warning key for every name"
    assert ask(("Host", "mybox.local:8888"), websocket=False, origins=("http://mybox.local:8888",)) is None
    assert ask(("Host", "mybox.local:8888"), websocket=False, loopback=False) is None


def test_the_host_check_holds_with_the_right_token():
    refusal = ask(("Host", "evil.example:8888"), path=f"/?token={TOKEN}", token=TOKEN)
    assert refusal.status == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("name", ["Host", "Origin"])
def test_a_header_that_comes_twice_is_a_bad_request(name):
    refusal = ask((name, "localhost"), (name, "evil.example"))
    assert refusal.status == HTTPStatus.BAD_REQUEST
    assert refusal.body == f"csws: more than one {name} header\n"


@pytest.mark.parametrize("path, websocket, status", [
    ("/", True, HTTPStatus.UNAUTHORIZED),
    (f"/?token={TOKEN}x", True, HTTPStatus.UNAUTHORIZED),
    (f"/?a=1&token={TOKEN}", True, None),
    ("/csws.json", False, HTTPStatus.UNAUTHORIZED),
    (f"/csws.json?token={TOKEN}", False, None),
    ("/csws.js", False, None),  # the page's files are public
    ("/", False, None),
])
def test_a_token_guards_websockets_and_the_description_not_files(path, websocket, status):
    refusal = ask(path=path, websocket=websocket, token=TOKEN)
    assert (refusal.status if refusal else None) == status
    if refusal:
        assert TOKEN not in refusal.body + refusal.warning
        assert "add ?token=... to the address" in refusal.body


def test_own_page_over_tls_is_let_in_on_its_scheme_only():
    page = "https://mybox.local:8888"
    assert policy.origin_allowed(page, "mybox.local:8888", False, (), scheme="https")
    assert not policy.origin_allowed(page, "mybox.local:8888", False, (), scheme="http")


@pytest.mark.parametrize("origin, normal", [
    ("HTTP://MyBox.Local:80/", "http://mybox.local"),
    ("https://box:443", "https://box"),
    ("https://box:8443/", "https://box:8443"),
    ("http://[::1]:8000", "http://[::1]:8000"),
    (" NULL ", "null"),
    ("*", "*"),
])
def test_origins_compare_as_browsers_send_them(origin, normal):
    assert policy.normalise_origin(origin) == normal


@pytest.mark.parametrize("name, loopback", [
    ("localhost", True), ("LocalHost", True), ("app.localhost", True), ("[::1]", True), ("127.255.0.1", True),
    ("localhost.evil.example", False), ("example.com", False), ("10.0.0.1", False),
])
def test_names_that_only_reach_this_computer(name, loopback):
    assert policy.is_loopback(name) is loopback


def test_listening_beyond_this_computer_without_a_token_says_how_to_set_one():
    warning = policy.listen_warning("", 9000, "", loopback=False)
    assert warning.startswith("csws: WARNING: port 9000 listens on every address, beyond this computer")
    assert "CSWS_TOKEN (csws run --token SECRET)" in warning
