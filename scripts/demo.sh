#!/usr/bin/env bash
# make demo: start the embedded lab (emulated pools built from recorded real pool software, real-world cases,
# non-pool services and hostile peers), run a full `poolscan scan` over it, and show what was found.
# As root with masscan available: the network-namespace lab and a masscan sweep inside it (no route out).
# Otherwise: the loopback lab and the TCP connect sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=results
mkdir -p "$OUT/demo"
export COLUMNS="${COLUMNS:-170}"

wait_manifest() {  # wait until the lab's JSON manifest is complete
  for _ in $(seq 1 300); do
    if [ -s "$1" ] && "$BIN/python" -c "import json,sys; json.load(open(sys.argv[1]))" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: the lab did not start (see $OUT/demo/lab.log)" >&2; return 1
}

lab_summary() {
  "$BIN/python" - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
kinds = {True: "pool", False: "not a pool", None: "can't tell"}
print(f"lab: {len(m)} services")
for e in m:
    exp = e.get("expect") or {}
    what = exp.get("software") or exp.get("label") or e["persona"]
    print(f"  {e['host']}:{e['port']:<6} {e['persona']:<28} {kinds.get(exp.get('is_pool'), '?'):<16} {what}")
PY
}

if [ "$(id -u)" = 0 ] && command -v masscan >/dev/null && command -v ip >/dev/null && [ "${DEMO_LOOPBACK:-0}" != 1 ]; then
  echo "== poolscan demo: network-namespace lab + masscan (root) =="
  bash scripts/demo-netns.sh
  exit $?
fi

echo "== poolscan demo: loopback lab + TCP connect sweep =="
MMDB=()
if bash scripts/fetch-geodb.sh "$OUT/geodb"; then
  for f in "$OUT/geodb/asn-ipv4.mmdb" "$OUT/geodb/geo-whois-asn-country.mmdb"; do [ -s "$f" ] && MMDB+=(--mmdb "$f"); done
fi
[ "$(id -u)" = 0 ] || echo "(not root: the network-namespace lab and masscan need root; using loopback)"
rm -f "$OUT/demo/lab.json"
"$BIN/python" -m scanner.lab.serve --host 127.0.0.1 --personas default --manifest "$OUT/demo/lab.json" \
  >"$OUT/demo/lab.log" 2>&1 &
LAB=$!
trap 'kill $LAB 2>/dev/null || true; wait $LAB 2>/dev/null || true' EXIT
wait_manifest "$OUT/demo/lab.json"
lab_summary "$OUT/demo/lab.json"
PORTS=$("$BIN/python" -c "import json,sys; print(','.join(sorted({str(e['port']) for e in json.load(open(sys.argv[1]))}, key=int)))" "$OUT/demo/lab.json")
echo
echo "\$ poolscan scan --targets 127.0.0.1 --ports $PORTS --allow-reserved --all"
"$BIN/poolscan" scan --targets 127.0.0.1 --ports "$PORTS" --allow-reserved --all \
  --db "$OUT/poolscan.db" --out "$OUT" "${MMDB[@]}"
