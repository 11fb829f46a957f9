"""The HTML report: self-contained (no external asset, no script), right content (cards, new pools,
counts, chart of pools per run), and every server-supplied string escaped — checked by parsing the HTML
(html.parser) and by rendering it in headless Chromium (--dump-dom and a screenshot)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest
from campaign_helpers import poolscan
from store_fixtures import add_run, pool

from scanner.report import report_data, write_report
from scanner.store import Store
from scanner.textsafe import safe_text

HOSTILE = '<script>alert("pwn")</script><img src=x onerror=alert(1)>\x1b[31m\u202e"\'&'
HOSTILE_CERT = '</td></tr></table><iframe src="http://evil.test/"></iframe>'


class Tags(HTMLParser):
    """Collects start tags with attributes, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Tags:
    t = Tags()
    t.feed(page)
    t.close()
    return t


@pytest.fixture
def nights(tmp_path):
    """Three finished nights and a hostile pool in the last one."""
    store = Store.open(tmp_path / "p.db")
    r1 = add_run(store, "night", [pool("127.0.0.1", 3333), pool("127.0.0.1", 3032, software="nomp")])
    r2 = add_run(store, "night", [pool("127.0.0.1", 3333), pool("127.0.0.1", 3032, software="nomp"),
                                  pool("127.0.0.1", 4444, software="cryptonote-nodejs-pool", coin="XMR",
                                       protocol="cryptonote", algo="randomx", country="DE", asn=64500,
                                       as_org="Example AS")])
    r3 = add_run(store, "night", [
        pool("127.0.0.1", 3333),
        pool("127.0.0.1", 4444, software="nodejs-pool", coin="XMR", protocol="cryptonote", algo="randomx",
             country="DE", asn=64500),
        pool("127.0.0.1", 6666, software=HOSTILE, coin=HOSTILE, protocol="stratum1", algo=HOSTILE,
             tls_sha="ab" * 32, cert_names=[HOSTILE_CERT], country=HOSTILE, asn=64501, as_org=HOSTILE,
             evidence=(f"banner: {HOSTILE}",), banner=HOSTILE.encode()),
        pool("127.0.0.1", 8080, is_pool=False),
    ], status="running")
    yield store, (r1, r2, r3)
    store.close()


def test_report_data(nights):
    store, (r1, r2, r3) = nights
    d = report_data(store, r3, status="ok")
    assert d["status"] == "ok" and d["previous"] == r2
    assert [p["id"] for p in d["new"]] == ["127.0.0.1:6666"]
    assert [p["id"] for p in d["diff"]["gone"]] == ["127.0.0.1:3032"]
    assert [c["id"] for c in d["diff"]["changed"]] == ["127.0.0.1:4444"]
    assert d["counts"] == {"open_ports": 0, "probed": 4, "pools": 3, "not_pools": 1, "unknown": 0}
    assert [(h["id"], h["pools"], h["new"]) for h in d["history"]] == [(r1, 2, 2), (r2, 3, 1), (r3, 3, 1)]
    assert ("3333", 1) in d["by_port"] and ("XMR", 1) in d["by_coin"] and ("BTC", 1) in d["by_coin"]
    assert ("DE", 1) in d["by_country"]
    # an older run's report shows that run as it was, and history up to it
    d1 = report_data(store, r1)
    assert d1["previous"] is None and [p["id"] for p in d1["new"]] == ["127.0.0.1:3032", "127.0.0.1:3333"]
    assert [h["id"] for h in d1["history"]] == [r1]


def test_report_escapes_hostile_values_and_is_self_contained(nights, tmp_path):
    store, (r1, r2, r3) = nights
    path = write_report(store, r3, tmp_path / "out" / "report.html", status="ok")
    page = path.read_text(encoding="utf-8")
    tags = parse(page)
    names = [t for t, _ in tags.tags]
    # No element came from the server: no script, img, iframe, no event handler attribute.
    assert "script" not in names and "img" not in names and "iframe" not in names
    assert not [a for _, attrs in tags.tags for a in attrs if a.startswith("on")]
    # Self-contained: nothing loaded from elsewhere.
    assert not [a for _, attrs in tags.tags for a in attrs if a in ("src", "href", "srcset", "action", "data")]
    assert "link" not in names and "object" not in names and "embed" not in names
    assert not re.search(r"@import|url\(", page, re.I)
    assert "<style>" in page and "<svg" in page
    # The hostile strings are there, as text (control and bidi characters shown as escapes).
    text = "".join(tags.text)
    assert safe_text(HOSTILE, 300) in text
    assert safe_text(HOSTILE_CERT, 200) in text
    assert "\x1b" not in page and "\u202e" not in page
    assert html.escape('<script>alert("pwn")</script>') in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _chrome(exe: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="poolscan-chrome-") as profile:
        return subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=90)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(nights, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the html.parser tests still ran")
    store, (r1, r2, r3) = nights
    path = write_report(store, r3, tmp_path / "report.html", status="ok")
    r = _chrome(exe, "--dump-dom", path.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    tags = parse(dom)
    # The browser built no element out of the hostile values.
    names = [t for t, _ in tags.tags]
    assert "script" not in names and "img" not in names and "iframe" not in names
    # Content as rendered: the cards, the new pool, the counts, the chart's three bars.
    cards = dict(re.findall(r'<div class="card" data-key="([^"]+)"><div class="n">([^<]+)</div>', dom))
    assert cards == {"pools": "3", "new": "1", "gone": "1", "changed": "1", "open ports": "0", "probed": "4",
                     "not pools": "1", "unknown": "0"}
    new_rows = re.findall(r'<table id="new-pools">.*?</table>', dom, re.S)[0]
    assert 'data-endpoint="127.0.0.1:6666"' in new_rows and "127.0.0.1:3333" not in new_rows
    bars = re.findall(r'<g class="run" data-run="([^"]+)" data-pools="(\d+)" data-new="(\d+)"', dom)
    assert bars == [(r1, "2", "2"), (r2, "3", "1"), (r3, "3", "1")]
    assert '<span id="status" class="ok">ok</span>' in dom
    assert "nodejs-pool" in re.findall(r'<table id="changed">.*?</table>', dom, re.S)[0]
    # A screenshot renders (non-trivial PNG).
    shot = tmp_path / "report.png"
    s = _chrome(exe, "--window-size=1200,1600", f"--screenshot={shot}", path.as_uri())
    assert s.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000


def test_cli_report_command(nights, tmp_path):
    store, (r1, r2, r3) = nights
    out = tmp_path / "r2.html"
    r = poolscan("campaign", "report", r2, "--db", str(tmp_path / "p.db"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert f"run {r2}" in page and 'data-endpoint="127.0.0.1:4444"' in page
    bad = poolscan("campaign", "report", "nope", "--db", str(tmp_path / "p.db"), "--out", str(out))
    assert bad.returncode == 2 and "run 'nope' not found" in bad.stderr


def test_report_of_an_empty_first_run(tmp_path):
    store = Store.open(tmp_path / "e.db")
    run = add_run(store, "quiet", [pool("127.0.0.1", 8080, is_pool=False)])
    page = write_report(store, run, tmp_path / "e.html").read_text()
    tags = parse(page)
    assert '<h2 class="new">New pools (0)</h2><p class="muted">None.</p>' in page
    assert "no earlier finished run" in page
    bars = re.findall(r'<g class="run" data-run="[^"]+" data-pools="(\d+)" data-new="(\d+)"', page)
    assert bars == [("0", "0")]
    assert "script" not in [t for t, _ in tags.tags]
    store.close()
