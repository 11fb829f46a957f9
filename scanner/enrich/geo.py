"""ASN, AS organisation and country from MaxMind-format (``.mmdb``) databases, read with ``maxminddb``.

Readers are opened once per file and reused (:func:`open_reader` caches them by path, size and
modification time); a lookup is a memory-mapped read.

Record layouts understood (the same question has different field names per vendor):

=========================  ===========================================================================
layout                     fields read
=========================  ===========================================================================
GeoLite2-ASN / GeoIP2-ISP  ``autonomous_system_number`` (int), ``autonomous_system_organization``
DB-IP ASN Lite             same names as GeoLite2-ASN (db-ip.com mmdb format pages)
GeoLite2-Country / -City,  ``country.iso_code``; ``registered_country.iso_code`` when ``country`` is
DB-IP Country/City Lite    absent (anycast/satellite networks); GeoIP2 Enterprise also has
                           ``traits.autonomous_system_number`` / ``_organization``
IPinfo Lite                ``asn`` (str ``"AS15169"``), ``as_name``, ``as_domain``, ``country_code``,
                           ``country`` (the *name*, ``"United States"``), ``continent_code``
                           (ipinfo.io/developers/ipinfo-lite-database)
IPinfo country_asn (old)   ``country`` (the *code*), ``country_name``, ``asn``, ``as_name``
ip-location-db             flat ``{"country_code": "US"}`` (npm ``@ip-location-db/*-country-mmdb``);
                           the asn CSV columns ``as_number``, ``as_organization``
=========================  ===========================================================================

Sources: maxminddb 3.2.0 API (``open_database``, ``Reader.get_with_prefix_len``, ``metadata()``);
MaxMind GeoIP2 binary field reference; db-ip.com/db/format/ip-to-country-lite/mmdb.html;
ipinfo.io Lite schema; sapics/ip-location-db README; ../shared/reference/environment.md §3.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
import threading
from typing import Any, Iterable, Mapping, Sequence

import maxminddb

from . import dig, text_or_none

_READERS: dict[str, tuple[tuple[int, int], Any]] = {}
_LOCK = threading.Lock()
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_ASN_RE = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)


class GeoDBError(Exception):
    """A database file could not be opened or read; the message is one line naming the file."""


def open_reader(path: str) -> Any:
    """Return the cached ``maxminddb.Reader`` for ``path``, opening it on first use.

    The cache key is the real path; a file replaced on disk (other size or mtime) is reopened.
    Raises :class:`GeoDBError` (one line naming the file) when it is missing or not an mmdb.
    """
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise GeoDBError(f"cannot open {path}: {exc.strerror or exc}") from None
    stamp = (st.st_size, st.st_mtime_ns)
    with _LOCK:
        hit = _READERS.get(real)
        if hit and hit[0] == stamp:
            return hit[1]
        try:
            reader = maxminddb.open_database(real)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoDBError(f"cannot open {path}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
        if hit:
            try:
                hit[1].close()
            except Exception:
                pass
        _READERS[real] = (stamp, reader)
        return reader


def close_all() -> None:
    """Close every cached reader (tests; long-running processes that swap database files)."""
    with _LOCK:
        for _stamp, reader in _READERS.values():
            try:
                reader.close()
            except Exception:
                pass
        _READERS.clear()


def _asn(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        m = _ASN_RE.match(value.strip())
        if not m:
            return None
        n = int(m.group(1))
    else:
        return None
    return n if 0 < n < 2**32 else None


def _country(value: Any) -> str | None:
    if isinstance(value, str):
        v = value.strip().upper()
        if _COUNTRY_RE.match(v):
            return v
    return None


def normalise(record: Any) -> dict[str, Any]:
    """Map one database record (any layout in the module table) to ``{"asn", "as_org", "country"}``.

    Pure; only keys with a valid value are returned (``asn`` a positive 32-bit int, ``country`` two
    letters A-Z). Hostile or odd records give an empty dict, never an exception.
    """
    if not isinstance(record, Mapping):
        return {}
    out: dict[str, Any] = {}
    for cand in (
        record.get("autonomous_system_number"),
        record.get("asn"),
        record.get("as_number"),
        dig(record, "traits", "autonomous_system_number"),
    ):
        n = _asn(cand)
        if n is not None:
            out["asn"] = n
            break
    for cand in (
        record.get("autonomous_system_organization"),
        record.get("as_name"),
        record.get("as_organization"),
        dig(record, "traits", "autonomous_system_organization"),
    ):
        t = text_or_none(cand)
        if t:
            out["as_org"] = t
            break
    country = record.get("country")
    for cand in (
        record.get("country_code"),  # ip-location-db, IPinfo Lite
        dig(record, "country", "iso_code"),  # GeoIP2 / DB-IP
        country if isinstance(country, str) else None,  # IPinfo country_asn: the code itself
        dig(record, "registered_country", "iso_code"),
    ):
        c = _country(cand)
        if c:
            out["country"] = c
            break
    return out


def lookup(ip: str, paths: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Look ``ip`` up in each database of ``paths`` (in order; the first database that has a field
    wins) and return ``(fields, errors)``.

    fields: ``asn``, ``as_org``, ``country``, ``geo_source`` (comma-joined file names that gave a
    field); errors: ``"geo: ..."`` lines (unopenable file, bad address, no record anywhere).
    No databases configured → ``({}, [])``: not asking is not a failure.
    """
    fields: dict[str, Any] = {}
    errors: list[str] = []
    if not paths:
        return fields, errors
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return fields, [f"geo: {ip!r} is not an IP address"]
    sources: list[str] = []
    searched: list[str] = []
    for path in paths:
        name = os.path.basename(path)
        try:
            reader = open_reader(path)
        except GeoDBError as exc:
            errors.append(f"geo: {exc}")
            continue
        searched.append(name)
        try:
            if ":" in ip and reader.metadata().ip_version == 4:
                errors.append(f"geo: {name}: IPv4-only database, {ip} not looked up")
                continue
            record, _prefix = reader.get_with_prefix_len(ip)
        except ValueError as exc:  # IPv6 address in an IPv4-only database, corrupt tree...
            errors.append(f"geo: {name}: {str(exc)[:200]}")
            continue
        except Exception as exc:  # corrupt data section (InvalidDatabaseError and friends)
            errors.append(f"geo: {name}: unreadable record ({type(exc).__name__})")
            continue
        got = normalise(record)
        added = False
        for key, value in got.items():
            if key not in fields:
                fields[key] = value
                added = True
        if added:
            sources.append(name)
    if sources:
        fields["geo_source"] = ",".join(sources)
    elif searched:
        errors.append(f"geo: no record for {ip} in {', '.join(searched)}")
    return fields, errors


def asn_rows_to_mmdb(rows: Iterable[Sequence[str]], out_path: str, ip_version: int = 4,
                     description: str = "ip-location-db asn converted by poolscan") -> int:
    """Write a GeoLite2-ASN-shaped mmdb from ``(range_start, range_end, as_number, as_organization)``
    rows (the ip-location-db asn CSV layout). Returns the number of rows written; rows that do not
    parse are skipped. Needs ``mmdb-writer`` and ``netaddr`` (test/optional dependencies).
    Writes ``out_path + ".tmp"`` then renames, so a crash never leaves a half file behind.
    """
    from mmdb_writer import MMDBWriter  # optional dependency, imported only here
    from netaddr import IPRange, IPSet

    writer = MMDBWriter(ip_version=ip_version, ipv4_compatible=(ip_version == 6),
                        database_type="GeoLite2-ASN", description=description)
    count = 0
    for row in rows:
        if len(row) < 4:
            continue
        start, end, asn_text, org = row[0], row[1], row[2], row[3]
        n = _asn(asn_text)
        if n is None:
            continue
        try:
            net = IPSet(IPRange(start, end))
        except Exception:
            continue
        writer.insert_network(net, {"autonomous_system_number": n, "autonomous_system_organization": org})
        count += 1
    tmp = out_path + ".tmp"
    writer.to_db_file(tmp)
    os.replace(tmp, out_path)
    return count


def asn_csv_to_mmdb(csv_path: str, out_path: str, ip_version: int = 4) -> int:
    """:func:`asn_rows_to_mmdb` over a CSV file (``@ip-location-db/asn``'s ``asn-ipv4.csv``)."""
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as fh:
        return asn_rows_to_mmdb(csv.reader(fh), out_path, ip_version=ip_version)


if __name__ == "__main__":  # used by scripts/fetch-geodb.sh
    import sys

    if len(sys.argv) != 4 or sys.argv[1] != "asn-csv":
        print("usage: python -m scanner.enrich.geo asn-csv IN.csv OUT.mmdb", file=sys.stderr)
        sys.exit(2)
    n = asn_csv_to_mmdb(sys.argv[2], sys.argv[3])
    print(f"{sys.argv[3]}: {n} networks")
