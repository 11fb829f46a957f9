"""The ``poolscan classify --db`` path outside the classifier (issue 8): the store's read path (JSON columns
parsed by the C scanner, rows rebuilt without the dataclass constructors) gives exactly what ``json.loads`` and
the constructors give, for the rows the writers make and for rows they do not (old, hand-edited, foreign);
the compare step reports the same changes; ``poolscan CMD`` imports only CMD's module and says the same."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.cli.classify import COMPARED, changes
from scanner.model import Exchange, ProbeResult, Status, Transcript, Verdict
from scanner.model import _slot_setters
from scanner.model import make_exchange as _exchange
from scanner.model import make_transcript as _new_transcript
from scanner.store import Store, _load
from scanner.store.known import KnownPools

ROOT = Path(__file__).resolve().parents[2]

_NOT_JSON = object()


def _reference(text, default):
    """What ``_load`` did before issue 8: ``json.loads`` with ValueError -> default."""
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


@pytest.mark.parametrize("text", [
    '[{"t":0.5,"dir":"send","text":"a\\"b\\n\\u00e9\\ud83d\\ude00"}]',  # what the writers store
    '{"a":[1,2.5,true,false,null],"b":{}}',
    "null", "0", "-1.5e3", '"x"', "[]", "{}", "NaN", "[Infinity]",
    ' [1] ', "[1]\n", "\ufeff[1]",  # whitespace and a BOM: json.loads' own answer (value or error)
    "[1] x", "[1,]", "{'a': 1}", "[", "nul", '"\\ud800"', '"unterminated',
    b'[{"t":1}]', bytearray(b"[2]"),  # a BLOB column
    None, "",
])
def test_load_is_json_loads(text):
    got, want = _load(text, _NOT_JSON), _reference(text, _NOT_JSON)
    assert repr(got) == repr(want)  # (repr: NaN != NaN)
    assert type(got) is type(want)


def test_fast_constructors_build_the_same_records():
    # the fast path is really in use for the current classes...
    assert _slot_setters(Exchange, ("t", "dir", "data")) is not None
    assert _exchange is not Exchange and _new_transcript is not Transcript
    e = _exchange(0.25, "recv", b"\x00\xff")
    assert e == Exchange(0.25, "recv", b"\x00\xff") and hash(e) == hash(Exchange(0.25, "recv", b"\x00\xff"))
    assert repr(e) == repr(Exchange(0.25, "recv", b"\x00\xff"))
    args = ("192.0.2.1", 3333, "stratum1", Status.SUCCESS, (e,), True, {"version": "TLSv1.3"}, "boom", True,
            False, 12.5, 0.75)
    t = _new_transcript(*args)
    ref = Transcript(*args)
    assert t == ref and repr(t) == repr(ref) and t.received == b"\x00\xff"
    assert dataclasses.replace(t, port=1) == dataclasses.replace(ref, port=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.port = 1  # type: ignore[misc]

    # ...and falls back to the constructor when the class no longer has exactly those fields
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise AssertionError("must run")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Grown:
        t: float
        dir: str
        data: bytes
        extra: int = 0

    assert _slot_setters(Checked, ("a",)) is None
    assert _slot_setters(Grown, ("t", "dir", "data")) is None
    assert _slot_setters(Exchange, ("dir", "t", "data")) is None


def _transcript(probe: str, **kw) -> Transcript:
    base = dict(ip="198.51.100.9", port=4444, probe=probe, status=Status.SUCCESS, started_at=1.0, duration_s=0.5)
    base.update(kw)
    return Transcript(**base)


def test_results_read_rows_the_writers_do_not_make(tmp_path):
    """Rows written as they are today round-trip; rows in other JSON spellings (old, hand-edited in
    Datasette, NULL/empty columns) read back as json.loads reads them."""
    store = Store.open(tmp_path / "p.db", known_pools=KnownPools())
    run = store.start_run("scan", {})
    ts = (
        _transcript("stratum1", exchanges=(Exchange(0.0, "send", b'{"id":1}\n'), Exchange(0.01, "recv", b"\xff\x00"))),
        _transcript("http", tls=True, tls_info={"version": "TLSv1.3", "san": ["a.example"]},
                    exchanges=(Exchange(0.0, "send", "GET / \u00e9\U0001f600\n".encode()),)),
        _transcript("cryptonote", status=Status.NO_REPLY, error="silent", truncated=True, closed_by_peer=True),
    )
    r = ProbeResult(ip="198.51.100.9", port=4444, status=Status.SUCCESS,
                    verdict=Verdict(is_pool=False, label="http", confidence=0.5, evidence=("e1", "e2"),
                                    fingerprints_version="fp"),
                    transcripts=ts, tls=True, enrichment={"asn": 64500})
    store.save_result(run, r)
    [back] = list(store.results(run))
    assert back == r

    conn = store.db.conn
    seq = {p: s for s, p in conn.execute("SELECT seq, probe FROM transcripts")}
    with conn:
        conn.execute("UPDATE transcripts SET exchanges = ?, tls_info = ? WHERE seq = ?",
                     ('[ {"dir": "send", "b64": "AP8="},\n  {"t": 2, "dir": "recv", "text": "ok"} ]\n',
                      ' {"version": "TLSv1.2"} ', seq["stratum1"]))
        conn.execute("UPDATE transcripts SET exchanges = NULL, tls_info = 'not json' WHERE seq = ?", (seq["http"],))
        conn.execute("UPDATE transcripts SET exchanges = '' WHERE seq = ?", (seq["cryptonote"],))
        conn.execute("UPDATE verdicts SET evidence = ' [\"x\"] ', enrichment = 'null'")
    [back] = list(store.results(run))
    s1, http, cn = back.transcripts
    assert s1.exchanges == (Exchange(0.0, "send", b"\x00\xff"), Exchange(2.0, "recv", b"ok"))
    assert s1.tls_info == {"version": "TLSv1.2"}
    assert (http.exchanges, http.tls_info) == ((), None)
    assert cn.exchanges == () and cn.error == "silent" and cn.truncated and cn.closed_by_peer
    assert back.verdict.evidence == ("x",) and back.enrichment == {}
    store.close()


def test_changes_reports_only_the_compared_fields():
    old = Verdict(is_pool=True, protocol="stratum1", software="ckpool", coin="BTC", algo="sha256d",
                  confidence=0.9, evidence=("a",), fingerprints_version="old")
    # confidence, evidence and the fingerprint version are not compared
    same = dataclasses.replace(old, confidence=0.4, evidence=("b", "c"), fingerprints_version="new")
    assert changes(old, same) == {}
    new = dataclasses.replace(old, software=None, coin="BCH", label="x")
    assert changes(old, new) == {"software": ["ckpool", None], "coin": ["BTC", "BCH"], "label": [None, "x"]}
    assert list(changes(Verdict(), old)) == [k for k in COMPARED if k != "label"]


# ---------------------------------------------------------------- CLI start-up: one command module


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_every_command_maps_to_the_module_that_defines_it():
    p = _python(
        "import json, scanner.cli as c\n"
        "c._load_commands(['--help'])\n"
        "print(json.dumps({n: cmd.callback.__module__ for n, cmd in c.cli.commands.items()}))\n"
        "print(json.dumps([c.COMMAND_OF, list(c.COMMAND_MODULES)]))\n")
    assert p.returncode == 0, p.stderr
    defined_in, (command_of, modules) = (json.loads(line) for line in p.stdout.splitlines())
    assert {"classify", "unknowns", "probe", "scan", "db"} <= set(defined_in)
    assert {n: f"scanner.cli.{command_of[n]}" for n in defined_in} == defined_in
    assert set(command_of.values()) <= set(modules)


def test_classify_imports_only_its_module():
    heavy = ["scanner.cli.scan", "scanner.cli.probe", "scanner.cli.export", "scanner.cli.campaign",
             "scanner.pipeline", "scanner.probes.engine", "rich", "asyncio", "ssl", "aiohttp", "stix2", "pymisp"]
    code = ("import sys, scanner.cli as c\nc._load_commands(sys.argv[1:])\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    lazy = subprocess.run([sys.executable, "-c", code, "classify", "--db", "x.db"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert lazy.returncode == 0, lazy.stderr
    assert lazy.stdout.strip() == "[]"
    full = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert "scanner.cli.scan" in full.stdout  # the check above can see an import


@pytest.mark.parametrize("argv", [
    ["classify", "--help"], ["unknowns", "--help"], ["classify"], ["classify", "--db", "no/such.db"],
    ["classify", "--bogus"], ["--help"], ["--version"], ["no-such-command"], ["db", "--help"], [],
])
def test_lazy_start_up_says_the_same(argv):
    """``poolscan ARGV`` (one command module) prints and exits exactly as with every module imported."""
    run = ("import sys, scanner.cli as c\n{load}c.main(sys.argv[1:])\n")
    lazy = subprocess.run([sys.executable, "-c", run.format(load=""), *argv], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    full = subprocess.run([sys.executable, "-c", run.format(load="c._load_commands(['--help'])\n"), *argv],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (lazy.returncode, lazy.stdout, lazy.stderr) == (full.returncode, full.stdout, full.stderr)
    assert lazy.stdout or lazy.stderr


# ---------------------------------------------------------------- classify --db writes: verdicts only


def _pool_result(ip: str, port: int, verdict: Verdict) -> ProbeResult:
    t = _transcript("stratum1", ip=ip, port=port, started_at=1_767_225_600.0 + port,
                    exchanges=(Exchange(0.0, "send", b'{"id":1}\n'), Exchange(0.02, "recv", b'{"id":1,"result":1}\n')))
    return ProbeResult(ip=ip, port=port, status=Status.SUCCESS, verdict=verdict, transcripts=(t,),
                       enrichment={"asn": 64500, "cert_names": ["pool.example.org"]})


def _rows(store: Store) -> dict[str, list]:
    out = {}
    for table in ("verdicts", "transcripts", "pools", "open_ports"):
        rows = [dict(r) for r in store.db.query(f"SELECT * FROM {table} ORDER BY id")]
        for r in rows:
            r.pop("saved_at", None)
        out[table] = rows
    return out


def test_save_verdicts_leaves_the_rows_save_results_leaves(tmp_path):
    ckpool = Verdict(is_pool=True, protocol="stratum1", software="ckpool", coin="BTC", algo="sha256d",
                     confidence=0.9, evidence=("ckpool: welcome",), fingerprints_version="new")
    http = Verdict(is_pool=False, label="http", confidence=0.6, fingerprints_version="new")
    old = [_pool_result("192.0.2.1", 3333, Verdict(evidence=("blank",))),      # becomes a pool
           _pool_result("192.0.2.2", 3334, ckpool),                            # stops being one
           _pool_result("192.0.2.3", 3335, ckpool)]                            # unchanged
    new = [replace_verdict(old[0], ckpool), replace_verdict(old[1], http), old[2]]
    stores = []
    for name in ("results", "verdicts"):
        store = Store.open(tmp_path / f"{name}.db", known_pools=KnownPools())
        run = store.start_run("scan", {}, run_id="run-1")
        other = store.start_run("scan", {}, run_id="run-2")
        store.save_results(run, old)
        store.save_results(other, old[1:2])  # the same endpoint in another run: its pools row stays
        read_back = {(r.ip, r.port): r for r in store.results(run)}
        news = [replace_verdict(read_back[(r.ip, r.port)], r.verdict) for r in new]
        if name == "results":
            store.save_results(run, news)
        else:
            assert store.save_verdicts(run, news) == 3
        stores.append(store)
    by_results, by_verdicts = (_rows(s) for s in stores)
    assert by_verdicts == by_results
    pools = {p["ip"]: (p["software"], p["seen_count"]) for p in stores[1].pools()}
    assert pools == {"192.0.2.1": ("ckpool", 1), "192.0.2.2": ("ckpool", 1), "192.0.2.3": ("ckpool", 1)}
    [v] = [r.verdict for r in stores[1].results("run-1") if r.ip == "192.0.2.2"]
    assert (v.is_pool, v.label, v.fingerprints_version) == (False, "http", "new")

    # a result that was never saved in the run: nothing written, nothing counted
    stray = _pool_result("192.0.2.99", 1, ckpool)
    assert stores[1].save_verdicts("run-1", [stray]) == 0
    assert stores[1].save_verdicts("no-such-run", new) == 0
    assert _rows(stores[1]) == by_verdicts
    for s in stores:
        s.close()


def replace_verdict(r: ProbeResult, v: Verdict) -> ProbeResult:
    return dataclasses.replace(r, verdict=v)
