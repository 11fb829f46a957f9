"""ASN/country lookups against real .mmdb files written with mmdb-writer, one per vendor layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.enrich import EnrichOptions, enrich, geo

from .conftest import probe_result, run, write_mmdb

# Layouts as the vendors publish them (see scanner/enrich/geo.py for the sources).
LAYOUTS = {
    "geolite2-asn": ("GeoLite2-ASN", {
        "autonomous_system_number": 15169, "autonomous_system_organization": "Google LLC"}),
    "geolite2-country": ("GeoLite2-Country", {
        "continent": {"code": "NA", "geoname_id": 6255149, "names": {"en": "North America"}},
        "country": {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States"}},
        "registered_country": {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States"}}}),
    "geolite2-city": ("GeoLite2-City", {
        "city": {"geoname_id": 5375480, "names": {"en": "Mountain View"}},
        "country": {"iso_code": "US", "names": {"en": "United States"}},
        "location": {"latitude": 37.386, "longitude": -122.0838, "accuracy_radius": 1000},
        "registered_country": {"iso_code": "US"}}),
    "dbip-country-lite": ("DBIP-Country-Lite", {
        "continent": {"code": "NA", "geoname_id": 6255149, "names": {"en": "North America"}},
        "country": {"geoname_id": 6252001, "iso_code": "US", "is_in_european_union": False,
                    "names": {"en": "United States"}}}),
    "dbip-asn-lite": ("DBIP-ASN-Lite (compat=GeoLite2-ASN)", {
        "autonomous_system_number": 15169, "autonomous_system_organization": "Google LLC"}),
    "ipinfo-lite": ("ipinfo lite.mmdb", {
        "asn": "AS15169", "as_name": "Google LLC", "as_domain": "google.com", "country_code": "US",
        "country": "United States", "continent_code": "NA", "continent": "North America"}),
    "ipinfo-country-asn": ("ipinfo country_asn.mmdb", {
        "country": "US", "country_name": "United States", "continent": "NA", "asn": "AS15169",
        "as_name": "Google LLC", "as_domain": "google.com"}),
    "ip-location-db": ("country ipvAll", {"country_code": "US"}),
}
EXPECTED = {
    "geolite2-asn": {"asn": 15169, "as_org": "Google LLC"},
    "geolite2-country": {"country": "US"},
    "geolite2-city": {"country": "US"},
    "dbip-country-lite": {"country": "US"},
    "dbip-asn-lite": {"asn": 15169, "as_org": "Google LLC"},
    "ipinfo-lite": {"asn": 15169, "as_org": "Google LLC", "country": "US"},
    "ipinfo-country-asn": {"asn": 15169, "as_org": "Google LLC", "country": "US"},
    "ip-location-db": {"country": "US"},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_vendor_layout_normalises(tmp_path: Path, layout: str) -> None:
    dbtype, record = LAYOUTS[layout]
    db = write_mmdb(tmp_path / f"{layout}.mmdb", dbtype, {"8.8.8.0/24": record})
    fields, errors = geo.lookup("8.8.8.8", [str(db)])
    assert errors == []
    assert fields == {**EXPECTED[layout], "geo_source": f"{layout}.mmdb"}


def test_registered_country_used_when_country_missing(tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "c.mmdb", "GeoLite2-Country",
                    {"203.0.113.0/24": {"registered_country": {"iso_code": "JP"}}})
    assert geo.lookup("203.0.113.9", [str(db)])[0]["country"] == "JP"


def test_first_database_wins_and_sources_are_named(tmp_path: Path) -> None:
    asn = write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "10.77.0.0/24": {"autonomous_system_number": 64512, "autonomous_system_organization": "Lab Pool Net"}})
    ipinfo = write_mmdb(tmp_path / "ipinfo.mmdb", "ipinfo lite.mmdb", {
        "10.77.0.0/24": {"asn": "AS64999", "as_name": "Other", "country_code": "NL"}})
    country = write_mmdb(tmp_path / "country.mmdb", "country ipvAll", {"10.77.0.0/16": {"country_code": "DE"}})
    fields, errors = geo.lookup("10.77.0.15", [str(asn), str(ipinfo), str(country)])
    assert errors == []
    # asn/as_org from the first db, country from the first db that has one (ipinfo)
    assert fields == {"asn": 64512, "as_org": "Lab Pool Net", "country": "NL",
                      "geo_source": "asn.mmdb,ipinfo.mmdb"}


def test_no_record_is_reported_not_invented(tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "8.8.8.0/24": {"autonomous_system_number": 15169, "autonomous_system_organization": "Google LLC"}})
    fields, errors = geo.lookup("10.77.0.5", [str(db)])
    assert fields == {}
    assert errors == ["geo: no record for 10.77.0.5 in asn.mmdb"]


def test_reader_is_opened_once_and_reused(tmp_path: Path, monkeypatch) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "8.8.8.0/24": {"autonomous_system_number": 15169, "autonomous_system_organization": "G"}})
    opened = []
    real_open = geo.maxminddb.open_database
    monkeypatch.setattr(geo.maxminddb, "open_database", lambda p, *a: opened.append(p) or real_open(p, *a))
    for _ in range(50):
        assert geo.lookup("8.8.8.8", [str(db)])[0]["asn"] == 15169
    assert len(opened) == 1
    assert geo.open_reader(str(db)) is geo.open_reader(str(db))
    # the file replaced on disk (another size) is reopened, not served stale
    write_mmdb(db, "GeoLite2-ASN", {
        "8.8.8.0/24": {"autonomous_system_number": 64500, "autonomous_system_organization": "Replaced Org"}})
    os.utime(db, ns=(1, 1))
    assert geo.lookup("8.8.8.8", [str(db)])[0]["asn"] == 64500
    assert len(opened) == 2


def test_broken_missing_and_bad_input_never_raise(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(os.urandom(4096))
    good = write_mmdb(tmp_path / "good.mmdb", "country ipvAll", {"8.8.8.0/24": {"country_code": "US"}})
    fields, errors = geo.lookup("8.8.8.8", [str(tmp_path / "missing.mmdb"), str(junk), str(good)])
    assert fields == {"country": "US", "geo_source": "good.mmdb"}
    assert errors[0].startswith("geo: cannot open ") and "missing.mmdb" in errors[0]
    assert errors[1].startswith("geo: cannot open ") and "junk.mmdb" in errors[1]
    assert len(errors) == 2
    assert geo.lookup("not-an-ip", [str(good)]) == ({}, ["geo: 'not-an-ip' is not an IP address"])
    assert geo.lookup("8.8.8.8", []) == ({}, [])


def test_ipv6_address_in_ipv4_only_database(tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "v4.mmdb", "GeoLite2-ASN",
                    {"8.8.8.0/24": {"autonomous_system_number": 15169}}, ip_version=4)
    fields, errors = geo.lookup("2001:db8::1", [str(db)])
    assert fields == {}
    assert errors[0] == "geo: v4.mmdb: IPv4-only database, 2001:db8::1 not looked up"


@pytest.mark.parametrize("record,expected", [
    ({"asn": "ASxyz", "country_code": "USA"}, {}),
    ({"autonomous_system_number": 0, "country": {"iso_code": 12}}, {}),
    ({"autonomous_system_number": 2**40}, {}),
    ({"asn": "as64512", "country_code": "de"}, {"asn": 64512, "country": "DE"}),
    ({"as_number": "13335", "as_organization": "  Cloudflare, Inc. "}, {"asn": 13335, "as_org": "Cloudflare, Inc."}),
    ({"traits": {"autonomous_system_number": 3320}}, {"asn": 3320}),
    ({"autonomous_system_number": True}, {}),
    ("not a mapping", {}),
    (None, {}),
])
def test_normalise_rejects_odd_values(record, expected) -> None:
    assert geo.normalise(record) == expected


def test_asn_csv_converts_to_a_geolite2_asn_layout(tmp_path: Path) -> None:
    csv_path = tmp_path / "asn-ipv4.csv"
    csv_path.write_text("1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
                        "8.8.8.0,8.8.8.255,15169,Google LLC\n"
                        "garbage line\n"
                        "9.9.9.0,9.9.9.255,notanumber,Quad9\n", encoding="utf-8")
    out = tmp_path / "asn.mmdb"
    assert geo.asn_csv_to_mmdb(str(csv_path), str(out)) == 2
    assert geo.open_reader(str(out)).metadata().database_type == "GeoLite2-ASN"
    assert geo.lookup("1.0.0.7", [str(out)])[0] == {"asn": 13335, "as_org": "Cloudflare, Inc.", "geo_source": "asn.mmdb"}
    assert geo.lookup("9.9.9.9", [str(out)])[0] == {}
    assert not (tmp_path / "asn.mmdb.tmp").exists()


def test_enrich_carries_geo_fields_and_errors(tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "127.0.0.0/8": {"autonomous_system_number": 64512, "autonomous_system_organization": "Loopback Test AS",
                        "country": {"iso_code": "ZZ"}}})
    data = run(lambda: enrich(probe_result(), EnrichOptions(mmdb=[str(db)], web=False)))
    assert data == {"asn": 64512, "as_org": "Loopback Test AS", "country": "ZZ", "geo_source": "asn.mmdb",
                    "errors": []}
    data = run(lambda: enrich(probe_result(ip="10.77.0.5"), EnrichOptions(mmdb=str(db), web=False)))
    assert data == {"errors": ["geo: no record for 10.77.0.5 in asn.mmdb"]}


GEODB = Path(__file__).resolve().parents[2] / "results" / "geodb"


@pytest.mark.skipif(not (GEODB / "geo-whois-asn-country.mmdb").exists(),
                    reason="real databases not installed (scripts/fetch-geodb.sh)")
def test_real_offline_databases_when_installed() -> None:
    paths = [str(GEODB / "asn-ipv4.mmdb"), str(GEODB / "geo-whois-asn-country.mmdb")]
    paths = [p for p in paths if os.path.exists(p)]
    fields, _errors = geo.lookup("8.8.8.8", paths)
    assert fields["country"] == "US"
    if any(p.endswith("asn-ipv4.mmdb") for p in paths):
        assert fields["asn"] == 15169
    assert geo.lookup("10.77.0.5", paths)[0] == {}
