"""Test data for the classifier: recorded transcripts and cases from ``../shared`` turned into
:class:`scanner.model.Transcript` objects, plus small synthetic transcripts for shapes no recording has.

References (as used in the fingerprint files' ``examples:``/``near_misses:``):
  ``transcript:<software>.jsonl#<probe_id>@<port>[:<n>]`` - the n-th (1-based) record with that probe id
      and port in ``../shared/transcripts/<software>.jsonl``
  ``case:<Cnn>`` - every connection of case Cnn in ``../shared/cases/cases.jsonl``
  ``synthetic:<name>`` - :data:`SYNTHETIC` below (each says what it imitates and from which source)
  ``real:<stem>[@<port>]`` - every transcript of ``tests/transcripts/real/<stem>.jsonl`` (real software answering
      poolscan's own probes; see that directory's README), or only those of the ProbeResult for ``port``
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

from scanner.model import Exchange, Status, Transcript

_REPO = Path(__file__).resolve().parents[2]
# The repository's own copies of ../shared/transcripts and ../shared/cases (byte-identical; tests/lab checks
# that), so the suite runs on a clone without ../shared beside it.
TRANSCRIPTS = _REPO / "tests" / "transcripts" / "recorded"
CASES = _REPO / "scanner" / "lab" / "data" / "cases.jsonl"
EXPECTED = Path(__file__).resolve().parents[1] / "cases" / "expected.yaml"
REAL = Path(__file__).resolve().parents[1] / "transcripts" / "real"

# The recording's probe ids -> poolscan probe ids (../shared/transcripts/README.md).
PROBE_MAP = {
    "P1": "stratum1", "P2": "ethstratum", "P3": "ethproxy", "P4": "cryptonote", "P5": "http",
    "P6": "unknown-method", "X1_btc_addr_authorize": "stratum1", "X2_nicehash_eth_authorize": "ethstratum",
    "X5_zcash_taddr_authorize": "stratum1", "X3_eth_valid_login": "ethproxy", "X4_xmr_valid_login": "cryptonote",
}


@functools.lru_cache(maxsize=None)
def records(software: str) -> tuple[dict[str, Any], ...]:
    with open(TRANSCRIPTS / f"{software}.jsonl", encoding="utf-8") as fh:
        return tuple(json.loads(x) for x in fh if x.strip())


def _status(has_bytes: bool, closed: bool) -> Status:
    if has_bytes:
        return Status.SUCCESS
    return Status.CLOSED if closed else Status.NO_REPLY


def record_to_transcript(rec: dict[str, Any], ip: str = "127.0.0.1") -> Transcript:
    """One recorded probe -> Transcript. Sends are spaced 0.3 s apart (README: the P1 authorize line was
    sent 300 ms after subscribe); reads keep their ``t_ms``."""
    pid = rec["probe_id"]
    port = int(rec["port"])
    ex: list[Exchange] = []
    if pid.startswith("HTTP "):
        method, path = pid.split(" ")[1], pid.split(" ")[-1]
        if method == "POST":
            body = rec["sent"][1].encode()
            ex.append(Exchange(0.0, "send", f"POST {path} HTTP/1.1\r\nHost: {ip}:{port}\r\n"
                               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body))
            probe = "getwork"
        else:
            ex.append(Exchange(0.0, "send", f"GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\n\r\n".encode()))
            probe = "http"
        h = rec.get("http") or {}
        if "status" not in h:
            return Transcript(ip=ip, port=port, probe=probe, status=Status.IO_TIMEOUT, exchanges=tuple(ex),
                              error=str(h.get("error", "no answer")))
        head = f"HTTP/1.1 {h['status']} {h['reason']}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h["headers"]) + "\r\n"
        ex.append(Exchange(float(h.get("t_ms", 0)) / 1000, "recv", head.encode() + h["body_prefix"].encode()))
        return Transcript(ip=ip, port=port, probe=probe, status=Status.SUCCESS, exchanges=tuple(ex))
    probe = PROBE_MAP[pid]
    events: list[tuple[float, int, Exchange]] = []
    for i, s in enumerate(rec.get("sent") or ()):
        events.append((0.3 * i, 0, Exchange(0.3 * i, "send", s.encode())))
    for r in rec.get("received") or ():
        t = float(r["t_ms"]) / 1000
        events.append((t, 1, Exchange(t, "recv", r["data"].encode())))
    events.sort(key=lambda e: (e[0], e[1]))
    ex = [e for _, _, e in events]
    has = any(e.dir == "recv" and e.data for e in ex)
    closed = bool(rec.get("closed_by_server"))
    return Transcript(ip=ip, port=port, probe=probe, status=_status(has, closed), exchanges=tuple(ex),
                      closed_by_peer=closed)


def transcript_ref(ref: str) -> list[Transcript]:
    """Resolve ``<software>.jsonl#<probe_id>@<port>[:<n>]``."""
    fname, rest = ref.split("#", 1)
    nth = 1
    if ":" in rest.rsplit("@", 1)[-1]:
        rest, n = rest.rsplit(":", 1)
        nth = int(n)
    pid, port = rest.rsplit("@", 1)
    hits = [r for r in records(fname.removesuffix(".jsonl")) if r["probe_id"] == pid and int(r["port"]) == int(port)]
    if len(hits) < nth:
        raise KeyError(f"no record {ref}")
    return [record_to_transcript(hits[nth - 1])]


def port_transcripts(software: str, port: int, notes_contains: str | None = None,
                     exclude_notes: str | None = None) -> list[Transcript]:
    """All records of one software on one port (optionally filtered by their notes), as one ip:port."""
    out = []
    for r in records(software):
        if int(r["port"]) != port:
            continue
        notes = r.get("notes") or ""
        if notes_contains and notes_contains not in notes:
            continue
        if exclude_notes and exclude_notes in notes:
            continue
        out.append(record_to_transcript(r))
    return out


# ---------------------------------------------------------------------------------------------- cases

@functools.lru_cache(maxsize=None)
def cases() -> dict[str, dict[str, Any]]:
    with open(CASES, encoding="utf-8") as fh:
        return {d["id"]: d for d in (json.loads(x) for x in fh if x.strip())}


def _probe_of_send(data: str) -> str | None:
    """Which poolscan probe a case's send line corresponds to; None = continues the current dialogue."""
    if data.startswith("GET "):
        return "http"
    if data.startswith("POST "):
        if "web3_clientVersion" in data:
            return "web3"
        if "eth_getWork" in data:
            return "getwork"
        return "http"
    try:
        obj = json.loads(data.strip().splitlines()[0])
    except (ValueError, IndexError):
        return "raw"
    if not isinstance(obj, dict):
        return "raw"
    m = str(obj.get("method", ""))
    if m == "server.version":
        return "electrum"
    if m.startswith("eth_"):
        return "ethproxy"
    if m in ("login", "getjob", "submit", "keepalived") and isinstance(obj.get("params"), dict):
        return "cryptonote"
    if m == "mining.subscribe" and "EthereumStratum/1.0.0" in json.dumps(obj.get("params")):
        return "ethstratum"
    if m.startswith("mining."):
        return None
    return "raw"


# Cases whose source shows the server's side only: the probe that would have drawn it, and the request
# poolscan sends first (so replies can be matched by id).
CASE_FIRST_PROBE = {
    "C08": ("stratum1", None),
    "C19": ("cryptonote", '{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge","pass":"x","agent":"poolscan/0.1.0"}}\n'),
    "C27": ("stratum1", None),
}
CASE_TLS = {"C25": {"http"}}  # case notes: the GET was answered after TLS (1143 is a TLS port)


def case_transcripts(case_id: str, ip: str = "192.0.2.1", port: int = 3333) -> list[Transcript]:
    """The connections of one case as poolscan transcripts: a new connection starts at each send that
    belongs to another probe; an empty read is the peer closing."""
    case = cases()[case_id]
    conns: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    first = CASE_FIRST_PROBE.get(case_id)
    t = 0.0
    for item in case["transcript"]:
        t += 0.01
        data = item["data"]
        if item["dir"] == "send":
            probe = _probe_of_send(data)
            if cur is None or (probe is not None and probe != cur["probe"]):
                cur = {"probe": probe or "stratum1", "ex": [], "closed": False}
                conns.append(cur)
            cur["ex"].append(Exchange(t, "send", data.encode()))
        else:
            if cur is None:
                cur = {"probe": first[0] if first else "stratum1", "ex": [], "closed": False}
                if first and first[1]:
                    cur["ex"].append(Exchange(0.0, "send", first[1].encode()))
                conns.append(cur)
            if data == "":
                cur["closed"] = True
            else:
                cur["ex"].append(Exchange(t, "recv", data.encode()))
    out = []
    for c in conns:
        has = any(e.dir == "recv" for e in c["ex"])
        out.append(Transcript(ip=ip, port=port, probe=c["probe"], status=_status(has, c["closed"]),
                              exchanges=tuple(c["ex"]), closed_by_peer=c["closed"],
                              tls=c["probe"] in CASE_TLS.get(case_id, set())))
    if case_id == "C29":
        out += SYNTHETIC["sv2-act2"]
    return out


# ------------------------------------------------------------------------------------------ synthetic

def _t(probe: str, sends: list[str | bytes], recvs: list[str | bytes], *, status: Status | None = None,
       closed: bool = False, port: int = 3333) -> list[Transcript]:
    ex = [Exchange(0.01 * i, "send", s.encode() if isinstance(s, str) else s) for i, s in enumerate(sends)]
    ex += [Exchange(0.5 + 0.01 * i, "recv", r.encode() if isinstance(r, str) else r) for i, r in enumerate(recvs)]
    has = any(ex_.dir == "recv" for ex_ in ex)
    return [Transcript(ip="192.0.2.9", port=port, probe=probe, status=status or _status(has, closed),
                       exchanges=tuple(ex), closed_by_peer=closed)]


S1_CONFIGURE = '{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}\n'
S1_SUBSCRIBE = '{"id":2,"method":"mining.subscribe","params":["poolscan/0.1.0"]}\n'
S1_AUTHORIZE = '{"id":3,"method":"mining.authorize","params":["1BitcoinEaterAddressDontSendf59kuE.poolscan","x"]}\n'
S1_UNKNOWN = '{"id":4,"method":"mining.poolscan","params":[]}\n'
GET = "GET / HTTP/1.1\r\nHost: 192.0.2.9:3333\r\nUser-Agent: poolscan/0.1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
GETWORK = 'POST / HTTP/1.1\r\nHost: 192.0.2.9:8545\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{"id":1,"jsonrpc":"2.0","method":"eth_getWork","params":[]}'
WEB3 = 'POST / HTTP/1.1\r\nHost: 192.0.2.9:8545\r\nContent-Type: application/json\r\nContent-Length: 67\r\n\r\n{"id":1,"jsonrpc":"2.0","method":"web3_clientVersion","params":[]}'
ELECTRUM = '{"id":1,"method":"server.version","params":["poolscan/0.1.0","1.4"]}\n'
CN_LOGIN = '{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge","pass":"x","agent":"poolscan/0.1.0"}}\n'
CN_UNKNOWN = '{"id":2,"jsonrpc":"2.0","method":"poolscan","params":{}}\n'
# A plausible coinbase: version 1, null input, scriptSig with BIP34 height 0x0dbba1 (900001) + tag.
def _coinb1(tag: bytes, height_push: str = "03a1bb0d") -> str:
    script = bytes.fromhex(height_push) + tag
    return ("01000000" + "01" + "00" * 32 + "ffffffff" + f"{len(script) + 8:02x}" + script.hex())
COINB2_WC = "ffffffff0200f2052a010000001976a914" + "11" * 20 + "88ac0000000000000000266a24aa21a9ed" + "22" * 32 + "00000000"
PREV = "e4d3c2b1180706f55c4b3a29908f7e6dd4f3a2b10001c5e70000000000000000"


def _notify(job: str, coinb1: str, coinb2: str) -> str:
    return json.dumps({"id": None, "method": "mining.notify",
                       "params": [job, PREV, coinb1, coinb2, [], "20000000", "17023a04", "6920e612", True]},
                      separators=(",", ":")) + "\n"


_rng = random.Random(20261129)
SV2_ACT2 = bytes(_rng.getrandbits(8) for _ in range(234))

SYNTHETIC: dict[str, list[Transcript]] = {
    # Stratum V2 responder: 234 bytes of ciphertext to our 64-byte act 1 (protocols.md §4).
    "sv2-act2": _t("stratum2", [bytes(_rng.getrandbits(8) for _ in range(64))], [SV2_ACT2], port=34254),
    "sv2-json-reply": _t("stratum2", [bytes(64)], ['{"id":null,"result":null,"error":[-32700,"Parse error",null]}\n' + " " * 172]),
    "sv2-random-233": _t("stratum2", [bytes(64)], [SV2_ACT2[:233]]),
    # ZIP 301 subscribe reply [session, nonce1] (z-nomp form [null, "<8hex>"]).
    "zcash-subscribe": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE],
                          ['{"id":1,"result":null,"error":[20,"Not supported.",null]}\n{"id":2,"result":[null,"81000001"],"error":null}\n']),
    # s-nomp Equihash job: ZIP 301 layout + algoNK and persString (protocols.md §1.8).
    "snomp-equihash-job": _t("stratum1", [S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":2,"result":[null,"a1b2c3d4"],"error":null}\n{"id":3,"result":true,"error":null}\n',
        '{"id":null,"method":"mining.set_target","params":["0007ffff00000000000000000000000000000000000000000000000000000000"]}\n',
        json.dumps({"id": None, "method": "mining.notify", "params": [
            "1", "04000000", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", "1c0a1b2c", True, "200_9", "ZcashPoW"]},
            separators=(",", ":")) + "\n"]),
    # z-nomp (z-classic/node-stratum-pool @32fa9d9): lib/stratum.js handleSubscribe [null, extraNonce1], lib/pool.js
    # on('subscription') pushes mining.set_target + the job at once; blockTemplate.js getJobParams: 8 params, RESERVED 0s.
    "znomp-equihash-job": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":2,"result":[null,"38000001"],"error":null}\n'
        '{"id":null,"method":"mining.set_target","params":["0010000000000000000000000000000000000000000000000000000000000000"]}\n',
        json.dumps({"id": None, "method": "mining.notify", "params": [
            "cccd", "04000000", "ab" * 32, "cd" * 32, "0" * 64, "5e8a9b00", "1c0a1b2c", True]}, separators=(",", ":")) + "\n",
        '{"id":3,"result":false,"error":null}\n']),
    # Horizen job in the ZIP 301 layout, block version 3 (HorizenOfficial/zen src/primitives/block.h
    # BLOCK_VERSION_SC_SUPPORT) and a non-zero RESERVED (s-nomp blockTemplate.js hashReserved).
    "zen-equihash-job": _t("stratum1", [S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":2,"result":[null,"a1b2c3d4"],"error":null}\n{"id":3,"result":true,"error":null}\n',
        json.dumps({"id": None, "method": "mining.notify", "params": [
            "1a2b", "03000000", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", "1c0a1b2c", True]}, separators=(",", ":")) + "\n"]),
    # KawPow job (RavenCommunity/kawpow-stratum-pool lib/blockTemplate.js getJobParams, lib/stratum.js subscribe
    # [null, extraNonce1]): height 3,000,000 -> epoch 400, seed = keccak256^400(0) (scanner/protocols/ethash_seeds.txt).
    "kawpow-job": _t("stratum1", [S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":2,"result":[null,"81a2c3"],"error":null}\n{"id":3,"result":true,"error":null}\n',
        '{"id":null,"method":"mining.set_target","params":["00000000ffff0000000000000000000000000000000000000000000000000000"]}\n',
        json.dumps({"id": None, "method": "mining.notify", "params": [
            "2b1f", "9e" * 32, "312b6007e9a1bb08b78dad2afdce476501adb039bc29ea6c27ede523fe87d3d4", "00000000ffff" + "0" * 52, True, 3000000, "1b00f2a3"]},
            separators=(",", ":")) + "\n"]),
    # Ergo job as miningcore sends it (Blockchain/Ergo/ErgoJob.cs Init, ErgoPool.cs SendJob), height 1,400,000.
    "ergo-job": _t("stratum1", [S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"result":[[["mining.set_difficulty","0HMPJ2QKN3T7G"],["mining.notify","0HMPJ2QKN3T7G"]],"0a1b",6],"id":2}\n',
        '{"result":true,"id":3}\n{"jsonrpc":"2.0","method":"mining.set_difficulty","params":[1],"id":null}\n',
        json.dumps({"jsonrpc": "2.0", "method": "mining.notify", "params": [
            "1", 1400000, "5c" * 32, "", "", 2, "115792089237316195423570985008687907853269984665640564039457584007913129639", "", True],
            "id": None}, separators=(",", ":")) + "\n"]),
    # kaspa-stratum-bridge (src/gostratum/default_client.go subscribe/set_extranonce; client_handler.go notify).
    "kaspa-job": _t("stratum1", [S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":2,"jsonrpc":"2.0","result":[true,"EthereumStratum/1.0.0"],"error":null}\n',
        '{"id":3,"jsonrpc":"2.0","result":true,"error":null}\n{"jsonrpc":"2.0","method":"set_extranonce","params":["0001"],"id":null}\n',
        '{"jsonrpc":"2.0","method":"mining.set_difficulty","params":[4],"id":null}\n',
        '{"jsonrpc":"2.0","method":"mining.notify","params":["7",[2769687437080476293,2642455852654975590,16370749824715673019,15145064868898544117],1662696346000],"id":7}\n']),
    # s-nomp answer to mining.extranonce.subscribe (protocols.md §1.6).
    "snomp-extranonce": _t("stratum1", ['{"id":5,"method":"mining.extranonce.subscribe","params":[]}\n'],
                           ['{"id":5,"result":false,"error":[20,"Not supported.",null]}\n']),
    # yiimp: subscribe shape + job with yiimp\0 coinb2 + unknown method (protocols.md §6.4).
    "yiimp-subscribe": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":1,"result":false,"error":[20,"Not supported",null]}\n',
        '{"id":2,"result":[[["mining.set_difficulty","0.016"],["mining.notify","6b8b45674b8b45673b8b45672b8b4567"]],"81000a2f",4],"error":null}\n',
        '{"id":3,"result":true,"error":null}\n',
        _notify("1a2b", _coinb1(b""), "7969696d7000" + "00000000" + "01" + "00" * 8 + "00" + "00000000")]),
    "yiimp-not-supported": _t("stratum1", [S1_UNKNOWN], ['{"id":4,"result":false,"error":[20,"Not supported",null]}\n']),
    # miningcore Bitcoin subscribe (13-char base32 id, order result,error(omitted),id) + immediate job.
    "miningcore-subscribe": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], [
        '{"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"id":1}\n',
        '{"result":[[["mining.set_difficulty","0HMPJ2QKN3T7G"],["mining.notify","0HMPJ2QKN3T7G"]],"0a1b2c3d",4],"id":2}\n',
        '{"jsonrpc":"2.0","method":"mining.set_difficulty","params":[1],"id":null}\n',
        _notify("00000001", _coinb1(b"\x0aMiningcore"), COINB2_WC)]),
    "miningcore-unknown-method": _t("stratum1", [S1_UNKNOWN],
                                    ['{"error":{"code":20,"message":"Unsupported request mining.poolscan","data":null},"id":4}\n']),
    # btcpool unknown method (Stratum.h 26 Illegal method).
    "btcpool-illegal-method": _t("stratum1", [S1_UNKNOWN], ['{"id":4,"result":null,"error":[26,"Illegal method",null]}\n']),
    # public-pool: subscribe shape (order id,error,result; id == extranonce1; size 4) + job tagged Public-Pool.
    "public-pool-job": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE, S1_AUTHORIZE], [
        '{"id":1,"error":null,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"}}\n',
        '{"id":2,"error":null,"result":[[["mining.notify","5421e067"]],"5421e067",4]}\n',
        '{"id":3,"error":null,"result":true}\n',
        _notify("1", _coinb1(b"Public-Pool" + bytes(8)), COINB2_WC)]),
    # slush stratum-mining: constant subscription key + unknown method error (protocols.md §6.3).
    # NOTE (2026-11-29): the real server (tests/transcripts/real/stratum-mining.jsonl) answers a FLAT pair
    # [["mining.notify", "ae6812eb..."], "f8000001", 4] keyed error,id,result; this nested docs-shaped example is
    # kept only for the unknown-method error and as a near miss; the stratum-mining rules rest on the recording.
    "slush-subscribe": _t("stratum1", [S1_SUBSCRIBE, S1_UNKNOWN], [
        '{"id": 2, "result": [[["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]], "08000002", 4], "error": null}\n',
        '{"id": 4, "result": null, "error": [-3, "Method \'poolscan\' not found for service \'mining\'", null]}\n']),
    # nodejs-pool HTTP banner (lib/pool.js httpResponse, LF line ends).
    "nodejs-pool-http": _t("http", [GET], ["HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 18\n\nMining Pool Online"], closed=True),
    "nodejs-pool-login-error": _t("cryptonote", [CN_LOGIN],
                                  ['{"id":1,"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid payment address provided"},"result":null}\n']),
    "moneroocean-unknown": _t("cryptonote", [CN_LOGIN, CN_UNKNOWN], [
        '{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"No block template yet. Please wait."},"result":null}\n',
        '{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"Unknown RPC method"},"result":null}\n']),
    # Monero P2Pool (SChernykh/p2pool src/stratum_server.cpp @14b6a63c): on_login reply written by hand (order
    # id,jsonrpc,result; no error key; rpc id and job id log::Hex unpadded, first job "1"; autodiff target
    # AUTODIFF_START as 4 bytes; extensions exactly ["algo"]); an unknown method is not answered: the client is banned.
    "p2pool-xmr-login": _t("cryptonote", [CN_LOGIN, CN_UNKNOWN], [
        '{"id":1,"jsonrpc":"2.0","result":{"id":"3f0a9c1e","job":{"blob":"1010b4e8c2c506' + "5d" * 32 + "00000000"
        + "a7" * 32 + '2d","job_id":"1","target":"8d210000","algo":"rx/0","height":3712345,"seed_hash":"'
        + "c4" * 32 + '"},"extensions":["algo"],"status":"OK"}}\n'], closed=True),
    # on_login with no P2Pool peers: this error, then close().
    "p2pool-xmr-disconnected": _t("cryptonote", [CN_LOGIN], [
        '{"id":1,"jsonrpc":"2.0","error":{"message":"Disconnected from P2Pool network"}}\n'], closed=True),
    # send_http_response: a line starting "GET " on the stratum port (m_enableStratumHTTP default true).
    "p2pool-xmr-http": _t("http", [GET], ["HTTP/1.1 200 OK\r\nContent-Length: 21\r\nContent-Type: text/plain\r\n"
                                          "Connection: Closed\r\n\r\nP2Pool Stratum online"], closed=True),
    # Bitcoin-family P2Pool (jtoomim/p2pool @6dac42ea p2pool/bitcoin/stratum.py, util/jsonrpc.py, work.py, data.py):
    # flat subscription pair with slush's constant id, extranonce1 "", size 4 (CachingWorkerBridge 8 -> 4);
    # pushes are requests with random int ids < 2**30; job id str(random.randrange(2**128)); coinb1 ends with the
    # OP_RETURN ref-hash output (value 0, 6a28 + 32-byte ref hash + 4 of the 8 nonce bytes), coinb2 = locktime.
    # Python 2 json.dumps; key order emulated from CPython 2.7 string hashing (not recorded).
    "p2pool-btc-subscribe": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE, S1_AUTHORIZE, S1_UNKNOWN], [
        '{"error": null, "jsonrpc": "2.0", "id": 1, "result": {"version-rolling": true, "version-rolling.mask": "1fffe000"}}\n',
        '{"error": null, "jsonrpc": "2.0", "id": 2, "result": [["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"], "", 4]}\n',
        '{"params": [1024.0], "jsonrpc": "2.0", "method": "mining.set_difficulty", "id": 581234567}\n',
        '{"params": ["213808421790327265398912387661274617263", "' + PREV + '", "' + "01000000" + "01" + "00" * 32 + "ffffffff"
        + "0403491d0e" + "ffffffff02" + "1027000000000000" + "1976a914" + "33" * 20 + "88ac" + "0000000000000000" + "2a6a28" + "ab" * 32
        + "00000000" + '", "00000000", [], "20000000", "17022e5f", "6920e612", true], "jsonrpc": "2.0", "method": "mining.notify", "id": 90871234}\n',
        '{"error": null, "jsonrpc": "2.0", "id": 3, "result": true}\n',
        '{"error": {"message": "Method not found", "code": -32601, "data": null}, "jsonrpc": "2.0", "id": 4, "result": null}\n']),
    # MoneroOcean nodejs-pool @7c94599d: servers.js sendReply order jsonrpc,id,error,result; factories.js
    # sendStandardLoginResult {id, job, status} (no extensions) and buildStandardJobPayload key order; state.js
    # getNewId: decimal counter for the miner id and the job id.
    "moneroocean-login": _t("cryptonote", [CN_LOGIN], [
        '{"jsonrpc":"2.0","id":1,"error":null,"result":{"id":"48213","job":{"blob":"1010b4e8c2c506' + "5d" * 32
        + "00000000" + "a7" * 32 + '2d","algo":"rx/0","height":3712345,"seed_hash":"' + "c4" * 32
        + '","job_id":"1573920","target":"b88d0600","id":"48213"},"status":"OK"}}\n']),
    # lib/coins/index.js algoCheck: a login whose algo list holds no pool algo (sendReplyFinal, then close).
    "moneroocean-algo-error": _t("cryptonote", [CN_LOGIN], [
        '{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"algo array must include at least one supported pool algo: [cn/0]"},"result":null}\n'],
        closed=True),
    # --- non-pools ---
    "electrum": _t("electrum", [ELECTRUM], ['{"jsonrpc": "2.0", "result": ["ElectrumX 1.16.0", "1.4"], "id": 1}\n'], port=50001)
    + _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], [
        '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "unknown method \\"mining.configure\\""}, "id": 1}\n'
        '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "unknown method \\"mining.subscribe\\""}, "id": 2}\n'], port=50001),
    "bitcoind-405": _t("http", [GET], ["HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/html; charset=ISO-8859-1\r\n"
                                       "Date: Sun, 29 Nov 2026 08:00:00 GMT\r\nContent-Length: 41\r\n\r\nJSONRPC server handles only POST requests"], closed=True, port=8332)
    + _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], ["HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n"
                                                    "Content-Length: 94\r\n\r\n<HTML><HEAD>\n<TITLE>400 Bad Request</TITLE>\n</HEAD><BODY>\n<H1>Bad Request</H1>\n</BODY></HTML>\n"], closed=True, port=8332),
    "bitcoind-401": _t("getwork", [GETWORK], ['HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="jsonrpc"\r\n'
                                              "Date: Sun, 29 Nov 2026 08:00:00 GMT\r\nContent-Length: 0\r\nContent-Type: text/html; charset=ISO-8859-1\r\n\r\n"], closed=True, port=8332),
    "geth-http": _t("web3", [WEB3], ['HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 83\r\n\r\n'
                                     '{"jsonrpc":"2.0","id":1,"result":"Geth/v1.10.26-stable-e5eb32ac/linux-amd64/go1.18.5"}\n'], port=8545)
    + _t("getwork", [GETWORK], ['HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 250\r\n\r\n'
                                '{"jsonrpc":"2.0","id":1,"result":["0x9242a6ecaf0d5b2360d8fb89eda64db1f3842229c1322b29fd5e7eb0b2eb0692",'
                                '"0x0000000000000000000000000000000000000000000000000000000000000000",'
                                '"0x0000000040080100200400801002004008010020040080100200400801002004"]}\n'], port=8545)
    + _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], ["HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"], closed=True, port=8545),
    "jsonrpc-generic": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], [
        '{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}\n{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}}\n'])
    + _t("cryptonote", [CN_LOGIN], ['{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}\n'])
    + _t("ethproxy", ['{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["0x000000000000000000000000000000000000dEaD"],"worker":"poolscan"}\n'],
         ['{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}\n'])
    + _t("electrum", [ELECTRUM], ['{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}\n']),
    "jsonrpc-parse-error": _t("stratum1", [S1_SUBSCRIBE], ['{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}\n']),
    "nginx": _t("http", [GET], ["HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\nContent-Length: 615\r\n\r\n"
                                "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>"], closed=True, port=80)
    + _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], ["HTTP/1.1 400 Bad Request\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n"
                                                    "Content-Length: 157\r\nConnection: close\r\n\r\n<html>\r\n<head><title>400 Bad Request</title></head>"], closed=True, port=80),
    "redis": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], ["-ERR unknown command '{\"id\":1,\"method\":\"mining.configure\",...', with args beginning with: \r\n"
                                                           "-ERR unknown command '{\"id\":2,\"method\":\"mining.subscribe\",...', with args beginning with: \r\n"], port=6379)
    + _t("http", [GET], ["-ERR wrong number of arguments for 'get' command\r\n"], closed=True, port=6379),
    "echo": _t("stratum1", [S1_CONFIGURE + S1_SUBSCRIBE], [S1_CONFIGURE + S1_SUBSCRIBE], port=7)
    + _t("cryptonote", [CN_LOGIN], [CN_LOGIN], port=7),
    "ssh": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], ["SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n", "Invalid SSH identification string.\r\n"], closed=True, port=22),
    # a TLS 1.2 alert record (fatal, unexpected_message) to plaintext JSON: a TLS-only port
    "tls-alert": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], [b"\x15\x03\x01\x00\x02\x02\x0a"], closed=True, port=14433),
    "tarpit": _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE], [], status=Status.NO_REPLY, port=2222)
    + _t("cryptonote", [CN_LOGIN], [], status=Status.NO_REPLY, port=2222)
    + _t("http", [GET], [], status=Status.IO_TIMEOUT, port=2222),
}


@functools.lru_cache(maxsize=None)
def real_transcripts(ref: str) -> tuple[Transcript, ...]:
    """``<stem>[@<port>]``: the transcripts of a recording in ``tests/transcripts/real`` (line 1 is the
    header, every further line a ``ProbeResult.to_dict()``); KeyError when the file or port is absent."""
    from scanner.model import ProbeResult

    stem, _, port = ref.partition("@")
    path = REAL / f"{stem}.jsonl"
    if not path.is_file():
        raise KeyError(f"real:{ref}: no {path}")
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()][1:]
    out = [t for d in lines if not port or int(d["port"]) == int(port) for t in ProbeResult.from_dict(d).transcripts]
    if not out:
        raise KeyError(f"real:{ref}: no transcript")
    return tuple(out)


def resolve(ref: str) -> list[Transcript]:
    """The transcripts a fingerprint example/near-miss reference names."""
    kind, _, rest = ref.partition(":")
    if kind == "case":
        return case_transcripts(rest)
    if kind == "transcript":
        return transcript_ref(rest)
    if kind == "synthetic":
        return SYNTHETIC[rest]
    if kind == "real":
        return list(real_transcripts(rest))
    raise KeyError(ref)
