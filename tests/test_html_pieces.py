"""Real HTML pieces nobody here wrote, unchanged, under `csws run`, played in Chromium.

CsoundQt's own example (Html5 Support/Minimal_Html_Example.csd) and the Csound
FLOSS Manual's (12G02_Minimal_HTML.csd), from Debian's csoundqt-examples,
fetched by name when the tests run (`apt-get download`; never kept in this
repository).  Each page uses CsoundQt's `csound` object: a slider sets a
channel, a button schedules a note, two buttons read the channel back (with a
callback, as QtWebEngine's object does, and as a return value, as QtWebKit's
did).  What the page did is checked in what Csound prints.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REALTIME, SOURCE, Performance, patience
from test_browser import browser, open_page, patience_ms  # noqa: F401 - the fixture; skips without Chromium

PACKAGE = "csoundqt-examples"
EXAMPLES = "usr/share/csoundqt/Examples"
PIECES = {
    "csoundqt": "CsoundQt/Html5 Support/Minimal_Html_Example.csd",
    "floss": "FLOSS Manual Examples/12 Csound and other Languages/12G02_Minimal_HTML.csd",
}


@pytest.fixture(scope="session")
def examples() -> Path:
    """Debian's csoundqt-examples, unpacked once into the checkout's .cache (git ignores it)."""
    root = SOURCE / ".cache" / PACKAGE
    if (root / EXAMPLES).is_dir():
        return root / EXAMPLES
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("not a Debian system: no apt-get to fetch csoundqt-examples")
    download = root.parent / f"{PACKAGE}-download"
    download.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(["apt-get", "download", PACKAGE], cwd=download, capture_output=True, text=True,
                             timeout=600)
    debs = sorted(download.glob(f"{PACKAGE}_*.deb"))
    assert debs, f"apt-get download {PACKAGE} failed (apt-get update first?): {fetched.stderr[-1000:]}"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True, timeout=300)
    shutil.rmtree(download)
    return root / EXAMPLES


@pytest.mark.parametrize("piece", sorted(PIECES))
def test_an_html_piece_plays_in_a_browser_as_in_csoundqt(browser, examples, piece, tmp_path, port):
    source = examples / PIECES[piece]
    csd = tmp_path / source.name
    shutil.copy(source, csd)  # unchanged: the test only picks the port (a new user gets 8888)
    assert csd.read_bytes() == source.read_bytes()
    p = Performance([sys.executable, "-m", "csws", "run", "--port", str(port), str(csd), *REALTIME],
                    tmp_path / "piece.log")
    context, page = open_page(browser, viewport={"width": 1000, "height": 700})
    try:
        url = p.wait_for(r"csws: the piece's page: (http://\S+/)").group(1)
        p.wait_for("websocket server on")
        page.goto(url)
        page.wait_for_function("() => window.csound && window.csound.getSr", timeout=patience_ms(10))

        # The slider sets "testChannel" (value / 100); the button plays instr 1, which prints
        # 200 + 500 * the channel: 0.62 -> 510.
        page.fill("#slider", "62")
        page.click("#button")
        p.wait_for(r"(i1|instr 1:)\s+(\x1b\[m\s*)*510\.00000", 15)  # printk2, as 6 and 7 write it

        # Read back with a callback (QtWebEngine's way): the page shows it.
        page.get_by_role("button", name="Get", exact=True).click()
        page.wait_for_function("() => document.getElementById('testChannel').textContent === '0.62'",
                               timeout=patience_ms(10))
        # ... and as a return value (QtWebKit's way): the page alerts it.
        alerts: list[str] = []
        page.on("dialog", lambda d: (alerts.append(d.message), d.accept()))
        page.get_by_role("button", name="Get as retrun value").click()
        page.wait_for_function("() => true")  # let the dialog event run
        deadline = patience(10)
        while not alerts and deadline > 0:
            page.wait_for_timeout(50)
            deadline -= 0.05
        assert alerts == ["TestChannel: 0.62"], alerts
        assert page.errors == [], page.errors
    finally:
        context.close()
        p.stop()
