"""The token, framing and Origin checks in a real browser.

Headless Chromium (as in test_browser.py) opens a port's page with its
token, then a page served by a small http.server on ANOTHER localhost port,
which records every request it gets.  That page must neither obtain the
token (no cookie, no Referer, nothing in its URLs) nor plant or use one, nor
frame the port's page.  A page opened from a file is refused, and told why.
"""
from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from test_browser import browser, sync_api  # noqa: F401 - its browser fixture (and its skip without Chromium)
from test_browser import new_context, patience_ms

TOKEN = "S3cretTok"
ORC = """instr 1
  kcount init 0
  kcount += 1
  kecho init 0
  kecho websocket {port}, kcount
  if changed2(kecho) == 1 then
    printf "got kecho %.3f\\n", kcount, kecho
  endif
endin"""

# In the other port's page: try what a hostile page can, report what worked.
ATTACK = """async (port) => {
  const base = `http://127.0.0.1:${port}`;
  for (const path of ["/csws.js?token=wrong", "/csws.d.ts?token=", "/?token=wrong"]) {
    await fetch(base + path, { mode: "no-cors", credentials: "include" }).catch(() => {});
  }
  return await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, "kcount");
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("refused");
  });
}"""


class OtherSite:
    """A page server on another localhost port that records what browsers send it."""

    def __init__(self, port: int) -> None:
        self.requests: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                site.requests.append(f"{self.requestline}\n{self.headers}")
                body = b"<!DOCTYPE html><title>another port</title><p>another port</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_site(port2) -> Iterator[OtherSite]:
    site = OtherSite(port2)
    yield site
    site.close()


@pytest.fixture
def context(browser):  # noqa: F811 - the fixture imported above
    ctx = new_context(browser)
    yield ctx
    ctx.close()


def started(perform, port: int):
    p = perform(ORC.format(port=port), "i1 0 60", env={"CSWS_TOKEN": TOKEN})
    p.wait_for("websocket server on")
    return p


def test_other_port_cannot_plant_or_use_the_token(perform, port, port2, other_site, context):
    """Issue 15, point 1: a page on another localhost port asks for the public scripts with a wrong
    token (which used to answer with the real token in a cookie), then opens a websocket."""
    started(perform, port)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port2}/")
    assert page.evaluate(ATTACK, port) == "refused"
    assert all(TOKEN not in c["value"] for c in context.cookies()), context.cookies()
    assert not any(TOKEN in r for r in other_site.requests), other_site.requests


def test_token_reaches_only_its_own_page(perform, port, port2, other_site, context):
    """Issue 15, point 2 (and 6): the page opened as documented, http://127.0.0.1:PORT/?token=...,
    works both ways; another port's server never receives the token, its page cannot use the
    port nor frame the page."""
    p = started(perform, port)
    ours = context.new_page()
    ours.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")
    # The generated page shows the variables: kcount's value keeps changing, kecho takes input.
    count = ours.get_by_role("status", name="kcount", exact=True)
    count.wait_for()
    ours.wait_for_function("(el) => Number(el.textContent) > 10", arg=count.element_handle())
    first = count.text_content()
    ours.wait_for_function("([el, v]) => el.textContent !== v", arg=[count.element_handle(), first])
    echo = ours.get_by_role("spinbutton", name="kecho", exact=True)
    echo.fill("0.625")
    echo.press("Enter")
    p.wait_for(r"got kecho 0\.625")

    theirs = context.new_page()
    theirs.goto(f"http://127.0.0.1:{port2}/")
    assert theirs.evaluate(ATTACK, port) == "refused"
    # Framing the port's page, token and all, is refused by the browser (frame-ancestors 'self').
    theirs.evaluate("""(port) => new Promise((resolve) => {
      const f = document.createElement("iframe");
      f.onload = resolve;
      setTimeout(resolve, 5000);
      f.src = `http://127.0.0.1:${port}/?token=S3cretTok`;
      document.body.append(f);
    })""", port)
    shown = [f.evaluate("() => document.body ? document.body.innerText : ''") for f in theirs.main_frame.child_frames]
    assert len(shown) == 1 and "generated control surface" not in shown[0], shown
    assert all(TOKEN not in c["value"] for c in context.cookies()), context.cookies()
    assert other_site.requests and not any(TOKEN in r for r in other_site.requests), other_site.requests


# A page as a user writes it and double-clicks: csws.js from the port, the port from ?port=.
FILE_PAGE = """<!DOCTYPE html>
<title>a page opened from a file</title>
<p id="count">-</p><p id="err"></p>
<script type="module">
const port = new URLSearchParams(location.search).get("port");
const { connect } = await import(`http://127.0.0.1:${port}/csws.js`);
const cs = connect(`http://127.0.0.1:${port}`);
window.errors = [];
cs.addEventListener("error", (e) => {
  window.errors.push(e.detail.message);
  document.getElementById("err").textContent = e.detail.message;
});
cs.subscribe("kcount", (d) => { document.getElementById("count").textContent = String(d[0]); });
</script>
"""


def test_page_from_a_file_is_told_why_and_what_to_do(perform, port, port2, context, tmp_path):
    """Issue 19, item 5: a page opened from disk sends Origin: null, refused (403) by design, which
    the browser shows only as a failed socket: csws.js's error event says what Csound's console
    says, and the fix.  The setting it names lets the same page in."""
    refusing = perform(ORC.format(port=port), "i1 0 60")
    allowing = perform(ORC.format(port=port2), "i1 0 60", env={"CSWS_ORIGINS": "null"})
    refusing.wait_for("websocket server on")
    allowing.wait_for("websocket server on")
    site = tmp_path / "site"
    site.mkdir()
    (site / "mypage.html").write_text(FILE_PAGE)
    url = (site / "mypage.html").as_uri()

    page = context.new_page()
    page.goto(f"{url}?port={port}")
    try:
        page.wait_for_function("() => window.errors && window.errors.some((m) => m.includes('Origin: null'))",
                               timeout=patience_ms(15))
    except sync_api.TimeoutError:
        raise AssertionError(f"no explanation among the errors {page.evaluate('() => window.errors')}") from None
    message = next(m for m in page.evaluate("() => window.errors") if "Origin: null" in m)
    console = refusing.wait_for(r"refused a websocket from Origin null: (.*)").group(1)
    # The fixes, as Csound's console words them, and the address to open instead.
    for fix in ("csws run --static", "CSWS_ORIGINS=null (csws run --origin null)"):
        assert fix in message and fix in console, (fix, message, console)
    assert f"http://127.0.0.1:{port}/mypage.html" in message, message
    assert page.locator("#count").text_content() == "-"

    page.goto(f"{url}?port={port2}")
    page.wait_for_function("() => Number(document.getElementById('count').textContent) > 10")
    assert page.evaluate("() => window.errors") == []
