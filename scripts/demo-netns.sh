#!/usr/bin/env bash
# The root half of `make demo`: the network-namespace lab (emulated pools on several addresses in a target
# namespace, joined to a scanner namespace by a veth pair, no route out) and a masscan sweep inside it.
# Everything runs inside the scanner namespace: the lab's addresses exist nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
OUT=results
NAME=${LAB_NAME:-psl}
HOSTS=${LAB_HOSTS:-3}
mkdir -p "$OUT/demo"

"$BIN/poolscan" lab down --name "$NAME" >/dev/null 2>&1 || true
trap '"$BIN/poolscan" lab down --name "$NAME" >/dev/null 2>&1 || true' EXIT
"$BIN/poolscan" lab up --name "$NAME" --hosts "$HOSTS" --json > "$OUT/demo/lab-netns.json"
STATE=$OUT/demo/lab-netns.json
MANIFEST=$("$BIN/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['manifest'])" "$STATE")
for _ in $(seq 1 300); do
  [ -s "$MANIFEST" ] && "$BIN/python" -c "import json,sys; json.load(open(sys.argv[1]))" "$MANIFEST" 2>/dev/null && break
  sleep 0.1
done
echo "scanner namespace $NAME-scan, route table (must hold no default route):"
ip netns exec "$NAME-scan" ip route | sed 's/^/  /'
if ip netns exec "$NAME-scan" ip route | grep -q '^default'; then echo "demo: default route in $NAME-scan, refusing" >&2; exit 1; fi
"$BIN/python" - "$MANIFEST" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
hosts = sorted({e["host"] for e in m})
kinds = {True: "pool", False: "not a pool", None: "can't tell"}
per = {}
for e in m:
    per.setdefault((e["persona"], e["port"]), e)
print(f"lab: {len(per)} services on each of {len(hosts)} hosts ({', '.join(hosts)})")
for (name, port), e in sorted(per.items(), key=lambda kv: kv[0][1]):
    exp = e.get("expect") or {}
    print(f"  :{port:<6} {name:<28} {kinds.get(exp.get('is_pool'), '?'):<11} {exp.get('software') or exp.get('label') or ''}")
PY
FIRST=$("$BIN/python" -c "import json,sys; h=json.load(open(sys.argv[1]))['hosts']; print(h[0] + '-' + h[-1])" "$STATE")
PORTS=$("$BIN/python" -c "import json,sys; print(','.join(sorted({str(e['port']) for e in json.load(open(sys.argv[1]))}, key=int)))" "$MANIFEST")
echo
echo "\$ ip netns exec $NAME-scan poolscan scan --targets $FIRST --ports $PORTS --engine masscan --rate 1000 --passes 2 --allow-reserved --all"
ip netns exec "$NAME-scan" "$BIN/poolscan" scan --targets "$FIRST" --ports "$PORTS" --engine masscan --rate 1000 \
  --passes 2 --allow-reserved --all --db "$OUT/poolscan.db" --out "$OUT"
