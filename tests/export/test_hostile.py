"""Hostile server strings (quotes, ``;``, newlines, escapes, NUL, bidi, lone surrogates, 70 kB values,
formula prefixes, a STIX-pattern injection in a certificate name) through every format: each output
stays valid for its consumer, and no raw control character reaches a text format."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymisp import MISPEvent
from stix2patterns.validator import run_validator
from stix2validator import ValidationOptions, validate_string
from suricata_grammar import parse_rules

from scanner.export import EXPORTERS
from scanner.export.common import POOL_FIELDS, clean
from scanner.export.misp_feed import event_files

RAW_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e]")


def test_every_text_format_is_valid_utf8(hostile_pools):
    assert len(hostile_pools) == 10
    for name, exp in EXPORTERS.items():
        if exp.kind == "text":
            exp.render(hostile_pools).encode("utf-8")  # no lone surrogate survives


def test_stix_hostile(hostile_pools):
    text = EXPORTERS["stix"].render(hostile_pools)
    res = validate_string(text, ValidationOptions(version="2.1"))
    assert res.is_valid and not res.errors, [str(e) for e in res.errors]
    assert not RAW_CONTROL.search(text)
    objs = json.loads(text)["objects"]
    inds = [o for o in objs if o["type"] == "indicator"]
    assert len(inds) == 10
    for i in inds:
        assert run_validator(i["pattern"], stix_version="2.1") == []
        assert "1.1.1.1" not in i["pattern"]  # the injected certificate name is not a hostname
        assert not RAW_CONTROL.search(i["description"]) and not RAW_CONTROL.search(i["name"])
        assert all(len(label) < 200 for label in i["labels"])
    assert not [o for o in objs if o["type"] == "x509-certificate"]  # no hostile text as a hash
    names = {o["value"] for o in objs if o["type"] == "domain-name"}
    assert names == {f"n{i}.example.org" for i in range(10)}


def test_misp_hostile(hostile_pools, tmp_path):
    text = EXPORTERS["misp"].render(hostile_pools)
    ev = MISPEvent()
    ev.load(json.loads(text))
    assert len([o for o in ev.objects if o.name == "ip-port"]) == 10
    for o in ev.objects:
        for a in o.attributes:
            for t in a.tags:
                # machine tag: namespace:predicate="value" with no quote inside the value
                assert re.fullmatch(r'poolscan:[a-z]+="[^"]*"', t.name), t.name
            if isinstance(a.value, str):
                assert not RAW_CONTROL.search(a.value)
    paths = EXPORTERS["misp-feed"].to_path(hostile_pools, tmp_path / "feed")
    for p in paths:
        if p.suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))
    [event] = event_files(tmp_path / "feed")
    MISPEvent().load(json.loads(event.read_text(encoding="utf-8")))


def test_csv_hostile(hostile_pools):
    text = EXPORTERS["csv"].render(hostile_pools)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 11 and all(len(r) == len(POOL_FIELDS) for r in rows)
    for row in rows[1:]:
        for cell in row:
            assert not RAW_CONTROL.search(cell) and "\n" not in cell and "\r" not in cell
            assert not cell.startswith(("=", "+", "-", "@")), cell[:40]
            assert len(cell) <= 1000 + 20
    soft = [dict(zip(rows[0], r))["software"] for r in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in soft and "'@SUM(1+1)" in soft and "'-2+3" in soft


def test_jsonl_hostile(hostile_pools):
    lines = EXPORTERS["jsonl"].render(hostile_pools).splitlines(keepends=False) + [""]
    assert lines[-1] == "" and len(lines) == 11
    recs = [json.loads(line) for line in lines[:-1]]
    assert {r["software"][:11] for r in recs} >= {'ck"pool";\na', "=cmd|' /C c"}  # content kept, escaped
    assert all(len(r["software"]) <= 4096 + 20 for r in recs)
    assert any("\\udcff" in r["software"] for r in recs)


def test_blocklists_hostile(hostile_pools):
    for line in EXPORTERS["ips"].render(hostile_pools).splitlines():
        ipaddress.ip_address(line)
    for line in EXPORTERS["ip-port"].render(hostile_pools).splitlines():
        ip, port = line.rsplit(":", 1)
        ipaddress.ip_address(ip.strip("[]"))
        assert 1 <= int(port) <= 65535
    bad = [{"ip": "not-an-ip", "port": 1}, {"ip": "203.0.113.1", "port": 70000}, {"ip": None, "port": None}]
    assert EXPORTERS["ips"].render(bad) == "203.0.113.1\n"
    assert EXPORTERS["ip-port"].render(bad) == ""
    assert "not-an-ip" not in EXPORTERS["stix"].render(bad)


def test_suricata_hostile(hostile_pools):
    text = EXPORTERS["suricata"].render(hostile_pools)
    rules = parse_rules(text)
    assert len([r for r in rules if r["proto"] == "tcp"]) == 10
    assert {r["content"] for r in rules if r["proto"] != "tcp"} == {f"n{i}.example.org" for i in range(10)}
    for r in rules:
        assert re.fullmatch(r"[A-Za-z0-9 ._:/()\[\]-]*", r["msg"]), r["msg"]
    assert "sid:1;" not in text  # the injected rule text did not become a rule


def test_clean_helper():
    assert clean(b"\xff\x00a") == "\\xff\\x00a"
    assert clean("a\nb\x1b") == "a\\nb\\x1b"
    assert clean("\udcff") == "\\udcff"
    assert clean("x" * 10, limit=4) == "xxxx…[+6]"
    assert clean(None) == ""


# any unicode text, and bytes decoded with surrogateescape (lone surrogates, as undecodable banners give)
_any_text = st.one_of(st.text(max_size=300),
                      st.binary(max_size=100).map(lambda b: b.decode("utf-8", "surrogateescape")))


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(software=_any_text, label=_any_text, evidence=st.lists(_any_text, max_size=3),
       names=st.lists(_any_text, max_size=3))
def test_any_string_keeps_plain_formats_valid(software, label, evidence, names):
    pool = {"id": "203.0.113.9:3333", "ip": "203.0.113.9", "port": 3333, "protocol": software,
            "software": software, "coin": label, "algo": None, "confidence": 0.5, "tls": False, "label": label,
            "evidence": evidence, "first_seen": "2026-01-01T00:00:00.000000Z",
            "last_seen": "2026-01-01T00:00:00.000000Z", "seen_count": 1, "known": False, "new": True,
            "cert_names": names, "domains": names, "web_info": {"x": software}}
    rows = list(csv.reader(io.StringIO(EXPORTERS["csv"].render([pool]))))
    assert len(rows) == 2 and len(rows[1]) == len(POOL_FIELDS)
    assert all(not RAW_CONTROL.search(c) and not c.startswith(("=", "+", "-", "@")) for c in rows[1])
    [line] = EXPORTERS["jsonl"].render([pool]).encode("utf-8").decode("utf-8").splitlines()
    assert json.loads(line)["port"] == 3333
    rules = parse_rules(EXPORTERS["suricata"].render([pool]))
    assert sum(r["proto"] == "tcp" for r in rules) == 1
    ev = MISPEvent()
    ev.load(json.loads(EXPORTERS["misp"].render([pool])))
    ips = [a.value for o in ev.objects if o.name == "ip-port" for a in o.get_attributes_by_relation("ip-dst")]
    assert ips == ["203.0.113.9"]
