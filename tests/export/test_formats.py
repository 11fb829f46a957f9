"""Each export format on a real store: the right pools, the right values, valid syntax for its consumer."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from pymisp import MISPEvent
from stix2patterns.validator import run_validator
from stix2validator import ValidationOptions, validate_string
from suricata_grammar import parse_rules

from scanner.export import EXPORTERS
from scanner.export.common import POOL_FIELDS
from scanner.export.misp_feed import event_files, write_feed

POOL_IDS = {"198.51.100.7:3333", "198.51.100.20:443", "[2001:db8::7]:4444"}
NON_POOLS = ("198.51.100.30", "198.51.100.31")


def stix_validate(text: str):
    """stix2-validator results; the only warning allowed is 301 (network-traffic without src_port: we
    observe the pool side only)."""
    res = validate_string(text, ValidationOptions(version="2.1"))
    warnings = [w for w in (res.warnings or [])]
    assert res.is_valid, [str(e) for e in res.errors]
    assert not res.errors
    assert all("{301}" in str(w) for w in warnings), [str(w) for w in warnings]
    return res


def test_registry_names():
    assert set(EXPORTERS) == {"stix", "misp", "misp-feed", "csv", "jsonl", "ips", "ip-port", "suricata"}
    assert {n for n, e in EXPORTERS.items() if e.kind == "dir"} == {"misp-feed"}


def test_pool_rows(pools):
    assert {p["id"] for p in pools} == POOL_IDS
    btc = next(p for p in pools if p["ip"] == "198.51.100.7")
    assert btc["first_seen"] == "2026-01-01T00:00:00.000000Z" and btc["last_seen"] == "2026-01-02T00:00:00.000000Z"
    assert btc["seen_count"] == 2 and btc["new"] is False


def test_stix_bundle(pools):
    text = EXPORTERS["stix"].render(pools)
    stix_validate(text)
    bundle = json.loads(text)
    objs = bundle["objects"]
    by_type: dict[str, list[dict]] = {}
    for o in objs:
        by_type.setdefault(o["type"], []).append(o)
    assert len(by_type["indicator"]) == 3 and len(by_type["infrastructure"]) == 3
    assert len(by_type["observed-data"]) == 3 and len(by_type["network-traffic"]) == 3
    [identity] = by_type["identity"]
    assert identity["name"] == "poolscan"
    for o in objs:
        if o["type"] in ("indicator", "infrastructure", "observed-data", "relationship", "location"):
            assert o["created_by_ref"] == identity["id"], o["id"]
    ind = {i["name"]: i for i in by_type["indicator"]}
    btc = ind["mining pool 198.51.100.7:3333"]
    assert btc["pattern"] == ("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = "
                              "'198.51.100.7' AND network-traffic:dst_port = 3333]")
    assert btc["valid_from"].startswith("2026-01-01T00:00:00")
    assert btc["confidence"] == 95
    assert set(btc["labels"]) == {"mining-pool", "protocol:stratum1", "software:ckpool", "coin:BTC",
                                  "algo:sha256d"}
    xmr = ind["mining pool 198.51.100.20:443"]
    assert "[domain-name:value = 'xmr.pool.example.org']" in xmr["pattern"]
    assert "*.pool" not in xmr["pattern"] and "tls" in xmr["labels"] and xmr["confidence"] == 80
    v6 = ind["mining pool [2001:db8::7]:4444"]
    assert "'ipv6-addr'" in v6["pattern"] and "'2001:db8::7'" in v6["pattern"]
    for i in by_type["indicator"]:
        assert run_validator(i["pattern"], stix_version="2.1") == [], i["pattern"]
    rels = {(r["source_ref"].split("--")[0], r["relationship_type"], r["target_ref"].split("--")[0])
            for r in by_type["relationship"]}
    assert {("indicator", "indicates", "infrastructure"), ("indicator", "based-on", "observed-data"),
            ("infrastructure", "consists-of", "ipv4-addr"), ("infrastructure", "consists-of", "ipv6-addr"),
            ("infrastructure", "located-at", "location")} <= rels
    obs = [o for o in by_type["observed-data"] if o["number_observed"] == 2]
    assert len(obs) == 1 and obs[0]["first_observed"].startswith("2026-01-01")
    assert {o["value"] for o in by_type["ipv4-addr"]} == {"198.51.100.7", "198.51.100.20"}
    assert {o["number"] for o in by_type["autonomous-system"]} == {64500, 64501}
    [cert] = by_type["x509-certificate"]
    assert cert["hashes"] == {"SHA-256": "0f" * 32}
    assert ("infrastructure", "consists-of", "x509-certificate") in rels
    for non in NON_POOLS:
        assert non not in text


def test_stix_ids_stable_across_exports(pools):
    a = json.loads(EXPORTERS["stix"].render(pools))["objects"]
    b = json.loads(EXPORTERS["stix"].render(list(reversed(pools))))["objects"]
    assert sorted(o["id"] for o in a) == sorted(o["id"] for o in b)


def test_misp_event(pools):
    text = EXPORTERS["misp"].render(pools)
    data = json.loads(text)
    ev = MISPEvent()
    ev.load(json.loads(text))
    assert {t.name for t in ev.tags} >= {'circl:incident-classification="cryptojacking"',
                                         "sentinel-threattype:CryptoMining", "tlp:clear"}
    ipports = [o for o in ev.objects if o.name == "ip-port"]
    assert len(ipports) == 3
    values = {(o.get_attributes_by_relation("ip-dst")[0].value, o.get_attributes_by_relation("dst-port")[0].value)
              for o in ipports}
    assert values == {("198.51.100.7", "3333"), ("198.51.100.20", "443"), ("2001:db8::7", "4444")}
    btc = next(o for o in ipports if o.get_attributes_by_relation("ip-dst")[0].value == "198.51.100.7")
    assert btc.get_attributes_by_relation("first-seen")[0].value.isoformat().startswith("2026-01-01T00:00:00")
    assert btc.get_attributes_by_relation("last-seen")[0].value.isoformat().startswith("2026-01-02T00:00:00")
    assert btc.get_attributes_by_relation("AS")[0].value == "AS64500"
    assert btc.get_attributes_by_relation("ip-dst")[0].to_ids is True
    assert {t.name for t in btc.get_attributes_by_relation("ip-dst")[0].tags} == {
        'poolscan:protocol="stratum1"', 'poolscan:software="ckpool"', 'poolscan:coin="BTC"',
        'poolscan:algo="sha256d"'}
    [x509] = [o for o in ev.objects if o.name == "x509"]
    assert x509.get_attributes_by_relation("x509-fingerprint-sha256")[0].value == "0f" * 32
    [dip] = [o for o in ev.objects if o.name == "domain-ip"]
    assert [a.value for a in dip.get_attributes_by_relation("domain")] == ["xmr.pool.example.org"]
    # deterministic: same pools -> same event and attribute uuids
    assert json.loads(EXPORTERS["misp"].render(pools))["Event"]["uuid"] == data["Event"]["uuid"]


def test_misp_feed_layout(pools, tmp_path):
    feed = tmp_path / "feed"
    written = write_feed(pools, feed)
    assert {p.name for p in feed.iterdir()} == {p.name for p in written}
    [event_file] = event_files(feed)
    uuid = event_file.stem
    manifest = json.loads((feed / "manifest.json").read_text())
    assert list(manifest) == [uuid]
    entry = manifest[uuid]
    assert entry["Orgc"]["name"] == "poolscan" and entry["info"].startswith("poolscan: 3 mining pool")
    assert int(entry["timestamp"]) == 1767312000  # newest last_seen, 2026-01-02T00:00:00Z
    assert {"date", "analysis", "threat_level_id", "Tag"} <= set(entry)
    event = json.loads(event_file.read_text())
    assert event["Event"]["uuid"] == uuid
    assert "_manifest" not in event["Event"] and "_hashes" not in event["Event"]
    ev = MISPEvent()
    ev.load(json.loads(event_file.read_text()))  # load() consumes the dict it is given
    assert len([o for o in ev.objects if o.name == "ip-port"]) == 3
    attrs = [a for o in event["Event"]["Object"] for a in o["Attribute"]]
    lines = (feed / "hashes.csv").read_text().splitlines()
    assert len(lines) == len(attrs)  # one md5 per attribute value (PyMISP pymisp/tools/feed.py layout)
    plain = {f"{hashlib.md5(a['value'].encode()).hexdigest()},{uuid}" for a in attrs if a["type"] != "datetime"}
    assert plain <= set(lines)
    assert f"{hashlib.md5(b'198.51.100.7').hexdigest()},{uuid}" in lines
    # re-export of the same pools: same event, no duplicate lines; a different export adds an event
    write_feed(pools, feed)
    assert len(event_files(feed)) == 1 and len((feed / "hashes.csv").read_text().splitlines()) == len(lines)
    write_feed(pools[:1], feed)
    manifest = json.loads((feed / "manifest.json").read_text())
    assert len(manifest) == 2 and len(event_files(feed)) == 2
    hashes = (feed / "hashes.csv").read_text().splitlines()
    assert {h.split(",")[1] for h in hashes} == set(manifest)


def test_csv(pools):
    text = EXPORTERS["csv"].render(pools)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(POOL_FIELDS)
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert {r["id"] for r in body} == POOL_IDS
    xmr = next(r for r in body if r["ip"] == "198.51.100.20")
    assert (xmr["protocol"], xmr["software"], xmr["coin"], xmr["algo"]) == ("cryptonote", "nodejs-pool", "XMR", "randomx")
    assert xmr["confidence"] == "0.8" and xmr["tls"] == "true" and xmr["new"] == "true" and xmr["known"] == "false"
    assert json.loads(xmr["cert_names"]) == ["xmr.pool.example.org", "*.pool.example.org"]
    assert json.loads(xmr["evidence"]) == ["cryptonote: login result has job with blob, target, job_id"]


def test_jsonl(pools):
    lines = EXPORTERS["jsonl"].render(pools).splitlines()
    recs = [json.loads(line) for line in lines]
    assert len(recs) == 3 and all(list(r) == list(POOL_FIELDS) for r in recs)
    btc = next(r for r in recs if r["ip"] == "198.51.100.7")
    assert btc["seen_count"] == 2 and btc["confidence"] == 0.95 and btc["tls"] is False and btc["asn"] == 64500


def test_blocklists(pools):
    assert EXPORTERS["ips"].render(pools) == "198.51.100.7\n198.51.100.20\n2001:db8::7\n"
    assert EXPORTERS["ip-port"].render(pools) == "198.51.100.7:3333\n198.51.100.20:443\n[2001:db8::7]:4444\n"
    assert EXPORTERS["ips"].render([]) == ""


def test_suricata(pools):
    text = EXPORTERS["suricata"].render(pools)
    rules = parse_rules(text)
    tcp = [r for r in rules if r["proto"] == "tcp"]
    assert {(r["dst"], r["dst_port"]) for r in tcp} == {("198.51.100.7", "3333"), ("198.51.100.20", "443"),
                                                         ("2001:db8::7", "4444")}
    assert all(dict(r["options"])["flow"] == "established,to_server" for r in tcp)
    dns = [r for r in rules if r["proto"] in ("dns", "tls")]
    assert {(r["proto"], r["content"]) for r in dns} == {("dns", "xmr.pool.example.org"),
                                                         ("tls", "xmr.pool.example.org")}
    assert all(1_700_000 <= r["sid"] < 2_000_000 for r in rules)
    # sids are stable: the same endpoint keeps its sid when other pools come and go
    again = {(r["dst"], r["dst_port"]): r["sid"] for r in parse_rules(EXPORTERS["suricata"].render(pools[:1]))}
    first = {(r["dst"], r["dst_port"]): r["sid"] for r in tcp}
    assert all(first[k] == v for k, v in again.items())


def test_suricata_sid_collisions_stay_unique():
    many = [{"ip": f"10.{i // 250}.{i % 250}.1", "port": 3333, "confidence": 0.5} for i in range(3000)]
    rules = parse_rules(EXPORTERS["suricata"].render(many, sid_span=4000))
    assert len(rules) == 3000 and len({r["sid"] for r in rules}) == 3000
    with pytest.raises(ValueError, match="do not fit"):
        EXPORTERS["suricata"].render(many, sid_span=100)


def test_exporter_to_path(pools, tmp_path):
    [p] = EXPORTERS["csv"].to_path(pools, tmp_path / "out" / "pools.csv")
    assert p.read_text().count("\n") == 4
    paths = EXPORTERS["misp-feed"].to_path(pools, tmp_path / "feed")
    assert {x.name for x in paths} >= {"manifest.json", "hashes.csv"}
