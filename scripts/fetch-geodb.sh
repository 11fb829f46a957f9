#!/usr/bin/env bash
# fetch-geodb.sh — put free, offline-usable IP->country and IP->ASN databases into results/geodb/
#
# Usage: scripts/fetch-geodb.sh [DEST]     (DEST defaults to results/geodb, relative to the caller's cwd)
#   env: PYTHON (default .venv/bin/python), GEODB_VERSION (npm version or dist-tag of the
#        @ip-location-db packages; default pinned below), GEODB_ASN=0 to skip the ASN conversion.
#
# What it installs (npm registry, via `npm pack`; nothing else is contacted):
#   geo-whois-asn-country.mmdb  from @ip-location-db/geo-whois-asn-country-mmdb  — npm licence CC0-1.0;
#                               the package also ships NRO_LICENSE (NRO statistics, CC BY 4.0:
#                               attribute nro.net), copied next to it; flat records
#                               {"country_code": "US"} (IPv4 + IPv6)
#   asn-ipv4.mmdb               converted from @ip-location-db/asn (asn-ipv4.csv) with mmdb-writer
#                               into the GeoLite2-ASN layout — licence CC BY 4.0 (DB-IP) + RouteViews
#                               terms (ROUTEVIEWS-LICENSE / DBIP-LICENSE are copied next to it)
# Idempotent: a database already present is kept. Offline or registry down: prints one line and
# exits 0 (enrichment then reports "no database"); the lab's own addresses are in no real database
# anyway. Source for the packages and the conversion: ../shared/reference/environment.md §3.
set -u

DEST=$(realpath -m "${1:-results/geodb}")
cd "$(dirname "$0")/.." || exit 0   # repo root: `python -m scanner.enrich.geo` and .venv are found from here
PYTHON=${PYTHON:-.venv/bin/python}
VERSION=${GEODB_VERSION:-2.3.2026061719}
NPM_FLAGS=(--silent --fetch-retries=1 --fetch-retry-mintimeout=1000 --fetch-retry-maxtimeout=3000 --fetch-timeout=30000)

mkdir -p "$DEST" || { echo "fetch-geodb: cannot create $DEST"; exit 0; }
TMP=$(mktemp -d) || exit 0
trap 'rm -rf "$TMP"' EXIT

# fetch PACKAGE into $TMP/PACKAGE-dir and print that dir; non-zero on failure
fetch_pkg() {
    local pkg=$1 dir
    dir="$TMP/$(echo "$pkg" | tr '/@' '__')"
    mkdir -p "$dir"
    if ! (cd "$dir" && npm pack "${NPM_FLAGS[@]}" "$pkg@$VERSION" >/dev/null 2>"$dir/npm.err"); then
        return 1
    fi
    tar -xzf "$dir"/*.tgz -C "$dir" 2>/dev/null || return 1
    echo "$dir/package"
}

status=()
COUNTRY="$DEST/geo-whois-asn-country.mmdb"
if [ -s "$COUNTRY" ]; then
    status+=("country: kept $COUNTRY")
elif ! command -v npm >/dev/null 2>&1; then
    echo "fetch-geodb: npm not installed; skipped (pass your own .mmdb files with --mmdb)"
    exit 0
else
    if pkgdir=$(fetch_pkg @ip-location-db/geo-whois-asn-country-mmdb); then
        cp "$pkgdir/geo-whois-asn-country.mmdb" "$COUNTRY.tmp" && mv "$COUNTRY.tmp" "$COUNTRY"
        for f in "$pkgdir"/*LICENSE*; do [ -e "$f" ] && cp "$f" "$DEST/geo-whois-asn-country.$(basename "$f")"; done
        status+=("country: installed $COUNTRY ($(du -h "$COUNTRY" | cut -f1), CC0-1.0 + NRO data CC-BY-4.0)")
    else
        echo "fetch-geodb: npm registry unreachable (offline?); skipped — enrichment will say 'no database'"
        exit 0
    fi
fi

ASN="$DEST/asn-ipv4.mmdb"
if [ "${GEODB_ASN:-1}" = "0" ]; then
    status+=("asn: skipped (GEODB_ASN=0)")
elif [ -s "$ASN" ]; then
    status+=("asn: kept $ASN")
elif ! command -v npm >/dev/null 2>&1; then
    status+=("asn: skipped (npm not installed)")
elif ! "$PYTHON" -c "import mmdb_writer, netaddr" 2>/dev/null; then
    status+=("asn: skipped (mmdb-writer not installed in $PYTHON)")
elif pkgdir=$(fetch_pkg @ip-location-db/asn); then
    if "$PYTHON" -m scanner.enrich.geo asn-csv "$pkgdir/asn-ipv4.csv" "$ASN" >/dev/null; then
        for f in "$pkgdir"/*LICENSE*; do [ -e "$f" ] && cp "$f" "$DEST/asn.$(basename "$f")"; done
        status+=("asn: installed $ASN ($(du -h "$ASN" | cut -f1), CC-BY-4.0 DB-IP + RouteViews)")
    else
        status+=("asn: conversion failed")
    fi
else
    status+=("asn: npm registry unreachable; skipped")
fi
echo "fetch-geodb: $(IFS=';'; echo "${status[*]}")"
exit 0
