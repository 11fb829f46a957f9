"""The lab's personas, derived from recorded transcripts and real-world cases (data with provenance).

Every persona is built by code from data shipped inside the package:

* ``scanner/lab/data/recorded/<software>.jsonl`` — what real pool software (and redis-server) answered on
  loopback; identical copies live in ``tests/transcripts/recorded/`` (provenance: ``tests/transcripts/README.md``).
* ``scanner/lab/data/cases.jsonl`` — exchanges from public bug reports (``../shared/cases/``), keyed by case id.

Reply bytes are taken from those files byte for byte; only the request id is replaced by a template
(:func:`scanner.lab.emulator.template_id`). Where a recording lacks an answer that a probe asks for, the rule
says where its bytes come from instead (``../shared/reference/protocols.md`` section, with the pool software
file it cites) — or the persona stays silent. Each :class:`~scanner.lab.emulator.Rule` carries ``source``.

Use :func:`get` / :func:`all_personas`; ``python -m scanner.lab.personas [NAME]`` prints personas as JSON.
"""

from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from scanner.lab.emulator import Persona, Route, Rule, WriteStyle, template_id

DATA = Path(__file__).resolve().parent / "data"
PROTO = "../shared/reference/protocols.md"

SILENT = Rule(action="silent", source="not in the source: stay silent")


# ------------------------------------------------------------------------------------------- data access
@lru_cache(maxsize=None)
def recordings(software: str) -> tuple[dict[str, Any], ...]:
    """All records of ``data/recorded/<software>.jsonl`` in file order."""
    with open(DATA / "recorded" / f"{software}.jsonl", encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def record(software: str, port: int, probe_id: str, *, note: str | None = None, last: bool = False) -> dict[str, Any]:
    """The record of ``software`` for ``port`` and ``probe_id`` (whose notes contain ``note``; the last match
    when ``last``). Raises ``LookupError`` when there is none."""
    found = [r for r in recordings(software)
             if r["port"] == port and r["probe_id"] == probe_id and (note is None or note in (r.get("notes") or ""))]
    if not found:
        raise LookupError(f"no record {software} port {port} probe {probe_id} note {note!r}")
    return found[-1] if last else found[0]


def received_lines(rec: dict[str, Any]) -> list[str]:
    """The bytes a record received, cut into lines that keep their ``\\n`` (a last line may lack it)."""
    text = "".join(c.get("data", "") for c in rec.get("received") or ())
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


@lru_cache(maxsize=None)
def cases() -> dict[str, dict[str, Any]]:
    """The cases of ``data/cases.jsonl`` keyed by id (``C01``...)."""
    with open(DATA / "cases.jsonl", encoding="utf-8") as fh:
        return {c["id"]: c for c in (json.loads(line) for line in fh if line.strip())}


def case_recv(case_id: str) -> list[str]:
    """The case's server lines in order (empty strings = the server closed)."""
    return [t["data"] for t in cases()[case_id]["transcript"] if t["dir"] == "recv"]


def nl(line: str) -> str:
    """Terminate a case line with ``\\n`` (the cases do not show line terminators; pools send ``\\n``)."""
    return line if line.endswith("\n") else line + "\n"


def expect(is_pool: bool | None, protocol: str | None = None, software: str | None = None,
           coin: str | None = None, algo: str | None = None, label: str | None = None) -> dict[str, Any]:
    """The right verdict for a persona (vocabulary of :class:`scanner.model.Verdict`)."""
    return {"is_pool": is_pool, "protocol": protocol, "software": software, "coin": coin, "algo": algo,
            "label": label}


def rec_source(software: str, rec: dict[str, Any]) -> str:
    return (f"recorded from {rec['software_version_or_commit'].split(',')[0]} "
            f"(tests/transcripts/recorded/{software}.jsonl port {rec['port']} {rec['probe_id']})")


# --------------------------------------------------------------------------------------------- recorded
def _ckpool(solo: bool) -> Persona:
    sw = "ckpool"
    ver = recordings(sw)[0]["software_version_or_commit"]
    configure = Rule(
        lines=['{"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"id":{{id}},"error":null}\n'],
        source=f"NOT RECORDED: {PROTO} §1.5 (ckpool stratifier.c 'mining.configure' answers the configured "
               "version_mask, default 1fffe000, ckpool.c); key order result,id,error as ckpool's recorded replies",
    )
    unknown = [
        Rule(action="silent", after="mining.subscribe",
             source=f"{PROTO} §6.1 (stratifier.c: unknown method from a subscribed client is ignored)"),
        Rule(action="close", source="recorded: P3/P4/P6 before subscribe -> connection dropped without a reply"),
    ]
    if not solo:
        p1 = record(sw, 3333, "P1")
        sub, diff, notify, auth = received_lines(p1)
        methods = {
            "mining.configure": [configure],
            "mining.subscribe": [Rule(lines=[template_id(sub, 1), diff, notify], source=rec_source(sw, p1))],
            "mining.authorize": [Rule(lines=[template_id(auth, 2)], source=rec_source(sw, p1) +
                                      "; pool mode accepts any username")],
            "*": unknown,
        }
        name, port, note = "ckpool", 3333, "pool mode"
    else:
        x1 = record(sw, 3334, "X1_btc_addr_authorize")
        sub, diff, *after = received_lines(x1)
        methods = {
            "mining.configure": [configure],
            "mining.subscribe": [Rule(lines=[template_id(sub, 1), diff], source=rec_source(sw, x1) +
                                      " (same reply as the faithful P1 on 3334, other session id)")],
            "mining.authorize": [Rule(lines=[template_id(x, 2) for x in after], source=rec_source(sw, x1) +
                                      ": solo mode with a valid address as username (the probe's "
                                      "1BitcoinEater... address is valid base58check)")],
            "*": unknown,
        }
        name, port, note = "ckpool-solo", 3334, "btcsolo mode (-B)"
    return Persona(
        name=name, port=port, methods=methods,
        source=f"recorded from {ver}, {note}: tests/transcripts/recorded/ckpool.jsonl",
        expect=expect(True, "stratum1", "ckpool", "BTC", "sha256d"),
        http=Rule(action="close", source=rec_source(sw, record(sw, port, "P5"))),
        non_json=Rule(action="close", source=rec_source(sw, record(sw, port, "P5"))),
    )


def _nomp() -> Persona:
    sw = "nomp"
    p1 = record(sw, 3032, "P1")
    sub, diff, notify, auth = received_lines(p1)
    return Persona(
        name="nomp", port=3032,
        source="recorded from NOMP zone117x/node-open-mining-portal b1b4daaa + node-stratum-pool d1e71daf, "
               "port 3032 (diff 32, varDiff): tests/transcripts/recorded/nomp.jsonl",
        expect=expect(True, "stratum1", "nomp", "BTC", "sha256d"),
        methods={
            "mining.subscribe": [Rule(lines=[template_id(sub, 1), diff, notify], source=rec_source(sw, p1))],
            "mining.authorize": [Rule(lines=[template_id(auth, 2)], source=rec_source(sw, p1) +
                                      " (NOMP validates the whole worker name with validateaddress)")],
            "*": [Rule(action="silent", source="recorded: P3/P4/P6 got no reply (NOMP ignores unknown methods; "
                                               f"{PROTO} §1.5: no mining.configure handler)")],
        },
        http=Rule(action="close", source=rec_source(sw, record(sw, 3032, "P5"))),
        non_json=Rule(action="close", source=f"{PROTO} §6.2 (lib/stratum.js destroys the socket on bad JSON)"),
        max_line=10240,
    )


def _cryptonote_nodejs_pool(name: str = "cryptonote-nodejs-pool", port: int = 4444, tls: bool = False) -> Persona:
    sw = "cryptonote-nodejs-pool"
    x4 = record(sw, 3333, "X4_xmr_valid_login")
    p6 = record(sw, 3333, "P6")
    p5 = record(sw, 3333, "P5")
    return Persona(
        name=name, port=port, tls=tls,
        source="recorded from cryptonote-nodejs-pool dvandal fa3bbb67 (config_examples/monero.json): "
               "tests/transcripts/recorded/cryptonote-nodejs-pool.jsonl port 3333"
               + ("; served inside TLS (the software's SSL port option, left out of the recording)" if tls else ""),
        expect=expect(True, "cryptonote", "cryptonote-nodejs-pool", "XMR", "randomx"),
        methods={
            "login": [Rule(lines=[template_id(x, 1) for x in received_lines(x4)],
                           source=rec_source(sw, x4) + " (login with a valid Monero address)")],
            "*": [Rule(lines=[template_id(x, 9) for x in received_lines(p6)], source=rec_source(sw, p6))],
        },
        http=Rule(lines=received_lines(p5), close_after=True, source=rec_source(sw, p5) +
                  " (answer recorded to an HTTP/1.0 GET)"),
        non_json=Rule(action="close", source="[inferred] lib/pool.js ends the socket on malformed JSON"),
    )


def _xmrig_proxy() -> Persona:
    sw = "xmrig-proxy"
    x4 = record(sw, 3335, "X4_xmr_valid_login", note="state B")
    return Persona(
        name="xmrig-proxy", port=14444,
        source="recorded from xmrig-proxy 6.26.0 (0dc23f69), state B (upstream up): "
               "tests/transcripts/recorded/xmrig-proxy.jsonl port 3335",
        expect=expect(True, "cryptonote", "xmrig-proxy", "XMR", "randomx"),
        require_brace=True,
        methods={
            "login": [Rule(lines=[template_id(x, 1) for x in received_lines(x4)], source=rec_source(sw, x4))],
            "*": [
                Rule(after="login",
                     lines=['{"id":{{id}},"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid method"}}\n'],
                     source=f"NOT RECORDED: {PROTO} §6.10 (src/proxy/Miner.cpp: unknown method after login)"),
                Rule(action="close", source="recorded: P1/P2/P3/P6 state B -> closed without a reply"),
            ],
        },
        http=Rule(action="close", source=rec_source(sw, record(sw, 3335, "P5", note="state B"))),
        non_json=Rule(action="close", source=f"{PROTO} §6.10 (line must start with '{{')"),
    )


def _oep_stratum() -> Persona:
    sw = "open-ethereum-pool"
    x3 = record(sw, 8008, "X3_eth_valid_login")
    login, work = received_lines(x3)
    p6 = record(sw, 8008, "P6")
    return Persona(
        name="open-ethereum-pool", port=8008,
        source="recorded from open-ethereum-pool sammy007 bcfc0eb0, stratum port: "
               "tests/transcripts/recorded/open-ethereum-pool.jsonl port 8008",
        expect=expect(True, "ethproxy", "open-ethereum-pool", None, "ethash"),
        methods={
            "eth_submitLogin": [Rule(lines=[template_id(login, 1)], source=rec_source(sw, x3) +
                                     " (non-zero address; the probe's ...dEaD address is valid too)")],
            "eth_getWork": [Rule(lines=[template_id(work, 2)], source=rec_source(sw, x3))],
            "*": [Rule(lines=[template_id(x, 9) for x in received_lines(p6)], close_after=True,
                       source=rec_source(sw, p6) + " (and P1/P2/P4: -3 Method not found, then close)")],
        },
        http=Rule(action="close", source=rec_source(sw, record(sw, 8008, "P5"))),
        non_json=Rule(action="close", source="[inferred from P5] the stratum server closes on non-JSON"),
    )


def _http_response(rec: dict[str, Any], version: str = "HTTP/1.1") -> str:
    h = rec["http"]
    head = f"{version} {h['status']} {h['reason']}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h["headers"])
    return head + "\r\n" + h["body_prefix"]


def _oep_http() -> Persona:
    sw = "open-ethereum-pool"
    p1 = record(sw, 8888, "P1")
    get = record(sw, 8888, "HTTP GET /")
    post = record(sw, 8888, "HTTP POST eth_getWork /")
    post_ok = record(sw, 8888, "HTTP POST eth_getWork /0xb85150eb365e7df0941f0cf08235f987ba91506a/rig1")
    recon = " (status, headers and body as recorded, rebuilt into raw bytes)"
    return Persona(
        name="open-ethereum-pool-http", port=8888, kind="http",
        source="recorded from open-ethereum-pool sammy007 bcfc0eb0, HTTP getwork proxy (Go net/http): "
               "tests/transcripts/recorded/open-ethereum-pool.jsonl port 8888",
        expect=expect(True, "getwork", "open-ethereum-pool", None, "ethash"),
        notes="the getwork proxy only answers POST /<address>/<worker> (proxy/proxy.go routes "
              "/{login:0x[0-9a-fA-F]{40}}/{id:[0-9a-zA-Z-_]{1,8}}); GET / and POST / get Go's 404 page. "
              "poolscan's getwork probe posts to /<burn address>/poolscan.",
        non_http=Rule(lines=received_lines(p1), close_after=True, source=rec_source(sw, p1)),
        routes=[
            Route(method="POST", path=r"re:/0x[0-9a-fA-F]{40}(/[0-9a-zA-Z_-]{1,8})?",
                  response=_http_response(post_ok),
                  source=rec_source(sw, post_ok) + recon + "; any address/worker path answers alike "
                         "(sammy007/open-ethereum-pool proxy/proxy.go Start: mux routes with path parameters)"),
            Route(method="POST", response=_http_response(post), source=rec_source(sw, post) + recon),
            Route(method="*", response=_http_response(get), source=rec_source(sw, get) + recon),
        ],
    )


def _redis() -> Persona:
    recs = recordings("redis")
    line = next(r for r in recs if r["probe_id"] == "stratum1")
    http = next(r for r in recs if r["probe_id"] == "http")
    src = rec_source("redis", line)
    err = Rule(lines=received_lines(line), close_after=True,
               source=src + ": every probe line contains quotes, which the inline-command parser rejects")
    return Persona(
        name="redis", port=6379,
        source=f"recorded from {line['software_version_or_commit']}: tests/transcripts/recorded/redis.jsonl",
        expect=expect(False, None, None, None, None, "redis"),
        notes="lines without double quotes would get other redis errors; poolscan's probes always contain quotes",
        methods={"*": [err]}, non_json=err,
        http=Rule(action="close", source=rec_source("redis", http) + " (security check on 'Host:' closes)"),
    )


# ------------------------------------------------------------------------------------------------ cases
def _case_source(cid: str) -> str:
    return f"case {cid} ({cases()[cid]['source'].split(';')[0]}): scanner/lab/data/cases.jsonl"


def _case(cid: str, exp: dict[str, Any], **kw: Any) -> Persona:
    port = kw.pop("port", None)
    return Persona(name=f"case-{cid}", source=_case_source(cid), expect=exp, port=port, **kw)


def _case_personas() -> list[Persona]:
    out: list[Persona] = []
    r = case_recv
    cs = lambda cid: f"case {cid}"  # noqa: E731 - short source tag per rule

    c = r("C01")
    out.append(_case("C01", expect(True, "stratum1", "nicehash", None, "sha256d"), port=9200, methods={
        "mining.configure": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C01") + " recv 1")],
        "mining.subscribe": [Rule(lines=[nl(template_id(c[1], 2))], source=cs("C01") + " recv 2")],
        "mining.authorize": [Rule(lines=[nl(template_id(c[3], 4))], source=cs("C01") + " recv 4 (authorize "
                                  "reply of another session, id 4)")],
        "*": [SILENT]}))

    c = r("C02")
    out.append(_case("C02", expect(True, "stratum1", "public-pool", "BTC", "sha256d"), port=21496, methods={
        "mining.configure": [Rule(lines=['{"id":{{id}},"error":null,"result":{"version-rolling":true,'
                                         '"version-rolling.mask":"1fffe000"}}\n'],
                                  source=f"NOT IN CASE: {PROTO} §6.11 (public-pool ConfigurationMessage.ts)")],
        "mining.subscribe": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C02") + " recv 1")],
        "mining.authorize": [Rule(lines=[nl(template_id(c[1], 3587156))], close_after=True,
                                  source=cs("C02") + " recv 2, then the server closed (recv '')")],
        "*": [Rule(action="silent", source=f"{PROTO} §6.11 (unknown methods: no reply)")]}))

    c = r("C04")
    out.append(_case("C04", expect(True, "stratum1", "btcpool", None, "sha256d"), port=1800, methods={
        "mining.configure": [Rule(action="silent", source="NOT IN CASE: btcpool answers mining.configure "
                                  f"({PROTO} §6.12) but its reply bytes are not in the sources: silent")],
        "mining.subscribe": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C04") + " recv 1")],
        "mining.authorize": [Rule(lines=[nl(template_id(c[2], 1))], source=cs("C04") + " recv 3 "
                                  "(that session's authorize had id 1)")],
        "*": [Rule(lines=['{"id":{{id}},"result":null,"error":[26,"Illegal method",null]}\n'],
                   source=f"NOT IN CASE: {PROTO} §6.12 (btcpool Stratum.h code 26 'Illegal method', "
                          "error array shape of the case's recv 3)")]}))

    c = r("C06")
    out.append(_case("C06", expect(True, "stratum1", "ocean", "BTC", "sha256d"), port=None, methods={
        "mining.subscribe": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C06") + " recv 1")],
        "mining.configure": [Rule(lines=['{"error": null, "id": {{id}}, "result": null}\n'], then=[nl(c[1])],
                                  source=cs("C06") + ": notes say configure got a null result (line rebuilt in "
                                  "the server's spacing and key order); then recv 2 (set_difficulty)")],
        "mining.authorize": [Rule(lines=[nl(c[2])], source=cs("C06") + " recv 3 (notify, truncated in the "
                                  "source: not valid JSON)")],
        "*": [SILENT]}))

    c = r("C08")
    out.append(_case("C08", expect(True, "stratum1", "ckpool", "BTC", "sha256d"), port=None,
                     first_request=Rule(lines=[c[0]], then=[nl(c[1])], then_delay_s=0.05,
                                        source=cs("C08") + ": recv-only; one notify line in two reads"),
                     methods={"*": [SILENT]}))

    c = r("C10")
    out.append(_case("C10", expect(True, "stratum1", "sri-translator", "BTC", "sha256d"), port=None, methods={
        "mining.subscribe": [Rule(lines=[template_id(c[0], 3642, as_string=True)],
                                  source=cs("C10") + " recv 1 (integer id answered as a string)")],
        "*": [SILENT]}))

    c = r("C12")
    out.append(_case("C12", expect(True, "ethstratum", None, None, "ethash"), port=None, methods={
        "mining.subscribe": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C12") + " recv 1")],
        "mining.authorize": [Rule(lines=[nl(template_id(c[1], 2)), nl(c[2]), nl(c[3])],
                                  source=cs("C12") + " recv 2-4")],
        "*": [SILENT]}))

    c = r("C14")
    out.append(_case("C14", expect(True, "ethstratum", None, None, "ethash"), port=1883, methods={
        "mining.subscribe": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C14") + " recv 1")],
        "mining.authorize": [Rule(lines=[nl(c[1]), nl(c[2])], source=cs("C14") + " recv 2-3 (no authorize "
                                  "reply in the source)")],
        "*": [SILENT]}))

    c = r("C15")
    out.append(_case("C15", expect(True, None, None, None, None), port=6688, methods={
        "mining.subscribe": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C15") + " recv 1")],
        "*": [SILENT]}))

    c = r("C16")
    out.append(_case("C16", expect(True, "ethstratum", "miningcore", None, "ethash"), port=4073, methods={
        "eth_submitLogin": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C16") + " recv 1")],
        "eth_getWork": [Rule(lines=[nl(template_id(c[1], 0)), nl(c[2])], source=cs("C16") + " recv 2-3")],
        "mining.subscribe": [Rule(action="silent", source="NOT IN CASE: the EthereumStratum subscribe reply of "
                                  "miningcore is not in the sources: silent")],
        "mining.authorize": [Rule(action="silent", source="NOT IN CASE: silent")],
        "*": [Rule(lines=['{"error":{"code":20,"message":"Unsupported request {{method}}","data":null},'
                          '"id":{{id}}}\n'],
                   source=cs("C16") + " recv 1 with the method name substituted "
                          f"({PROTO} §6.5: miningcore answers every unknown method so)")]}))

    c = r("C18")
    out.append(_case("C18", expect(True, "ethproxy", "open-ethereum-pool", None, "ethash"), port=7774, methods={
        "eth_submitLogin": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C18") + " recv 1")],
        "*": [Rule(action="silent", source="NOT IN CASE: the eth_getWork reply was cut in the source: silent")]}))

    c = r("C19")
    out.append(_case("C19", expect(True, "cryptonote", "nodejs-pool", "XMR", "cryptonight"), port=5555, methods={
        "login": [Rule(lines=[template_id(c[0], 1)],
                       source=cs("C19") + " recv 1 (recv-only case; the reply is a login result, so it is "
                              "played to login)")],
        "*": [Rule(action="silent", source=f"{PROTO} §6.7 (nodejs-pool: unknown method, no reply)")]}))

    c = r("C21")
    out.append(_case("C21", expect(True, "cryptonote", "cryptonote-nodejs-pool", None, None), port=7777,
                     methods={"login": [Rule(lines=[nl(template_id(c[0], 1))], source=cs("C21") + " recv 1")],
                              "*": [SILENT]}))

    c = r("C22")
    out.append(_case("C22", expect(True, "grin-stratum", "grin", "GRIN", "cuckatoo"), port=13416, methods={
        "login": [Rule(lines=[nl(template_id(c[0], "Stratum"))], source=cs("C22") + " recv 1")],
        "*": [SILENT]}))

    c = r("C25")
    out.append(_case("C25", expect(True, None, None, None, None), port=14433, tls=True,
                     notes="TLS only: plaintext fails the TLS handshake and the server closes (no bytes)",
                     http=Rule(lines=[c[1]], close_after=True,
                               source=cs("C25") + " recv 2 (HTTPS GET answered 'Mining Server Online'; headers "
                                      "not in the source, body only)"),
                     methods={"*": [Rule(action="silent", source="NOT IN CASE: the login reply inside TLS is "
                                         "not in the source: silent")]}))

    c = r("C27")
    out.append(_case("C27", expect(True, "ironfish-stratum", None, "IRON", None), port=18133,
                     first_request=Rule(lines=[nl(c[0]), nl(c[1])], source=cs("C27") + ": recv-only, played "
                                        "after the first request line"),
                     methods={"*": [SILENT]}))

    out.append(_case("C29", expect(True, "stratum2", None, None, "sha256d"), port=34254, kind="sv2",
                     notes="SV2 responder: 234 random bytes after 64 (protocols.md §4; SRI noise-sv2)"))

    electrum = _electrum("case-C30")
    bitcoind = _bitcoind("case-C31")
    eth = _eth_node("case-C33")
    out.extend([electrum, bitcoind, eth])
    return out


def _electrum(name: str = "electrum", port: int = 50001, tls: bool = False) -> Persona:
    c = case_recv("C30")
    unknown = c[1].replace("'server.version'", "'{{method}}'")
    return Persona(
        name=name, port=port, tls=tls,
        source=_case_source("C30") + ("; TLS as on ElectrumX's SSL port 50002 (case C30 notes)" if tls else ""),
        expect=expect(False, None, None, None, None, "electrum"),
        methods={
            "server.version": [Rule(lines=[nl(template_id(c[0], "msg_id"))], source="case C30 recv 1")],
            "*": [Rule(lines=[nl(template_id(unknown, "msg_id"))],
                       source="case C30 recv 2 with the method name substituted")],
        },
        non_json=Rule(action="close", source="[inferred] electrs disconnects on bad requests (case C30 notes)"),
    )


_LIBEVENT_NOTE = ("[reconstructed] status and body from Bitcoin Core httprpc.cpp as quoted in "
                  f"{PROTO} §5 and case C31; headers in libevent's style (not recorded); Date of case C31")


def _bitcoind(name: str = "bitcoind-rpc") -> Persona:
    c = case_recv("C31")
    date = "Thu, 27 Apr 2023 13:38:01 GMT"
    body405 = c[2]
    return Persona(
        name=name, port=8332, kind="http", source=_case_source("C31"),
        expect=expect(False, None, None, None, None, "bitcoind-rpc"),
        non_http=Rule(lines=[c[0]], close_after=True, source="case C31 recv 1 (libevent 400 to a JSON line)"),
        routes=[
            Route(method="POST", source=_LIBEVENT_NOTE + " (401 to a POST without credentials)",
                  response=f'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="jsonrpc"\r\n'
                           f"Date: {date}\r\nContent-Length: 0\r\nContent-Type: text/html; charset=ISO-8859-1\r\n\r\n"),
            Route(method="*", source=_LIBEVENT_NOTE + " (405 to anything but POST)",
                  response=f"HTTP/1.1 405 Method Not Allowed\r\nDate: {date}\r\nContent-Length: {len(body405)}\r\n"
                           f"Content-Type: text/html; charset=ISO-8859-1\r\n\r\n{body405}"),
        ],
    )


def _go_400() -> list[str]:
    return received_lines(record("open-ethereum-pool", 8888, "P1"))


def _eth_node(name: str = "ethereum-node") -> Persona:
    c = case_recv("C33")
    date = "Sun, 29 Nov 2026 07:33:56 GMT"
    unknown = c[0].replace("web3_clientVersion", "{{method}}")

    def ok(body: str) -> str:
        return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: {date}\r\n"
                f"Content-Length: {{{{length}}}}\r\n\r\n{body}")

    hdr = ("[reconstructed] JSON bodies from case C33 (id substituted); HTTP headers in Go net/http's order as "
           "seen in the open-ethereum-pool recording (not recorded from a node)")
    return Persona(
        name=name, port=8545, kind="http", source=_case_source("C33"),
        expect=expect(False, None, None, None, None, "ethereum-node"),
        non_http=Rule(lines=_go_400(), close_after=True,
                      source="recorded Go net/http 400 (open-ethereum-pool.jsonl port 8888 P1); case C33 notes: "
                             "a raw JSON line gets a 400 from Go's net/http"),
        routes=[
            Route(method="POST", rpc_method="web3_clientVersion", response=ok(nl(template_id(c[0], 67))),
                  source=hdr + "; web3_clientVersion -> recv 1"),
            Route(method="POST", rpc_method="eth_getWork", response=ok(nl(template_id(c[1], 1))),
                  source=hdr + "; eth_getWork -> recv 2 (getwork triple)"),
            Route(method="POST", response=ok(nl(template_id(unknown, 67))),
                  source=hdr + "; other methods -> recv 1 with the method name substituted"),
            Route(method="GET", response=f"HTTP/1.1 200 OK\r\nDate: {date}\r\nContent-Length: 0\r\n\r\n",
                  source="[from memory, unverified] go-ethereum rpc/http.go answers an empty GET with 200 "
                         "(health check)"),
        ],
    )


# ------------------------------------------------------------------------------------------- non-pools
def _nginx() -> Persona:
    date = "Sun, 29 Nov 2026 07:00:00 GMT"
    page = ("<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome</title>\n</head>\n<body>\n<h1>It works.</h1>\n"
            "<p>Default page of an nginx-like web server (poolscan lab).</p>\n</body>\n</html>\n")
    err = ("<html>\r\n<head><title>{code}</title></head>\r\n<body>\r\n<center><h1>{code}</h1></center>\r\n"
           "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n")
    e400, e405 = err.format(code="400 Bad Request"), err.format(code="405 Not Allowed")
    src = "written for the lab: nginx-like headers and error pages (nginx 1.22 style, from memory; not recorded)"
    return Persona(
        name="http-nginx", port=8080, kind="http", source=src,
        expect=expect(False, None, None, None, None, "http"),
        non_http=Rule(lines=[f"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nDate: {date}\r\n"
                             f"Content-Type: text/html\r\nContent-Length: {len(e400)}\r\nConnection: close\r\n\r\n"
                             + e400], close_after=True, source=src),
        routes=[
            Route(method="GET", source=src, response=(
                f"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: {date}\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(page)}\r\nLast-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\n"
                f'Connection: close\r\nETag: "66fbc7a0-{len(page):x}"\r\nAccept-Ranges: bytes\r\n\r\n{page}')),
            Route(method="*", source=src, response=(
                f"HTTP/1.1 405 Not Allowed\r\nServer: nginx/1.22.1\r\nDate: {date}\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(e405)}\r\nConnection: close\r\n\r\n{e405}")),
        ],
    )


def _jsonrpc_generic() -> Persona:
    src = "written for the lab: JSON-RPC 2.0 specification §5.1 error -32601 'Method not found' to every request"
    rule = Rule(lines=['{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":{{id}}}\n'],
                source=src)
    return Persona(
        name="jsonrpc-generic", port=8090, source=src,
        expect=expect(False, None, None, None, None, "json-rpc"),
        methods={"*": [rule]},
        non_json=Rule(lines=['{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}\n'],
                      source="JSON-RPC 2.0 specification §5.1 -32700 Parse error"),
    )


# --------------------------------------------------------------------------------------- hostile peers
HOSTILE_PORTS = {"silent": 45700, "endless": 9999, "reset": 10128, "garbage": 20535, "slowloris": 45560,
                 "bigline": 13333, "banner": 2222, "tarpit": 3357}


def _hostile() -> list[Persona]:
    from scanner.lab import hostile

    # Silent peers leave the question open; peers that send bytes that are no pool protocol (garbage, an
    # endless line, a line cut by a reset) are not pools, with low confidence.
    return [Persona(name=f"hostile-{n}", kind=f"hostile:{n}", port=HOSTILE_PORTS.get(n),
                    source="written for the lab: scanner/lab/hostile.py (hostile peer, no real software)",
                    expect=expect(None if n in ("silent", "tarpit") else False),
                    notes=hostile.DESCRIPTIONS[n])
            for n in hostile.NAMES]


# ----------------------------------------------------------------------------------- framing variants
def _framing_variants() -> list[Persona]:
    out = []
    p = _nomp()
    p.name, p.port, p.write = "nomp-chunked", None, WriteStyle(chunk=7, chunk_delay_s=0.002)
    p.notes = "nomp persona written in 7-byte pieces: replies split across reads"
    out.append(p)
    p = _ckpool(False)
    p.name, p.port, p.write = "ckpool-split-lines", None, WriteStyle(split_lines=True, line_delay_s=0.01)
    p.notes = "ckpool persona with each line of a reply in its own write"
    out.append(p)
    p = _cryptonote_nodejs_pool("cryptonote-nofinalnl", None)
    p.write = WriteStyle(strip_final_newline=True)
    p.notes = "cryptonote-nodejs-pool persona without the final newline of each write"
    out.append(p)
    return out


# ------------------------------------------------------------------------------------------------- index
@lru_cache(maxsize=1)
def _index() -> dict[str, Persona]:
    ps: list[Persona] = [
        _ckpool(False), _ckpool(True), _nomp(), _cryptonote_nodejs_pool(), _xmrig_proxy(), _oep_stratum(),
        _oep_http(), _cryptonote_nodejs_pool("cryptonote-nodejs-pool-tls", 9000, tls=True),
        _electrum(), _electrum("electrum-tls", 50002, tls=True), _bitcoind(), _eth_node(), _nginx(), _redis(), _jsonrpc_generic(),
    ]
    ps += _case_personas() + _hostile() + _framing_variants()
    return {p.name: p for p in ps}


RECORDED = ("ckpool", "ckpool-solo", "nomp", "cryptonote-nodejs-pool", "xmrig-proxy", "open-ethereum-pool",
            "open-ethereum-pool-http")
NON_POOLS = ("electrum", "electrum-tls", "bitcoind-rpc", "ethereum-node", "http-nginx", "redis", "jsonrpc-generic")

#: the default lab (``make demo``): persona -> port wanted (real pool ports where the sources name them)
DEFAULT_LAB: dict[str, int] = {
    "ckpool": 3333, "ckpool-solo": 3334, "nomp": 3032, "cryptonote-nodejs-pool": 4444, "xmrig-proxy": 14444,
    "open-ethereum-pool": 8008, "open-ethereum-pool-http": 8888,
    "case-C16": 4073, "case-C02": 21496, "case-C04": 1800, "case-C19": 5555, "case-C22": 13416,
    "case-C29": 34254, "case-C25": 14433,
    "electrum": 50001, "bitcoind-rpc": 8332, "ethereum-node": 8545, "http-nginx": 8080, "redis": 6379,
    "jsonrpc-generic": 8090,
    "hostile-endless": 9999, "hostile-reset": 10128,
}


def names() -> list[str]:
    """All persona names."""
    return list(_index())


def get(name: str) -> Persona:
    """A fresh copy of persona ``name``. Raises ``KeyError`` naming the known personas when unknown."""
    idx = _index()
    if name not in idx:
        raise KeyError(f"unknown persona {name!r}; known: {', '.join(idx)}")
    return Persona.from_dict(json.loads(json.dumps(idx[name].to_dict())))


def all_personas() -> list[Persona]:
    """Fresh copies of every persona."""
    return [get(n) for n in _index()]


def case_ids() -> list[str]:
    """The case ids that have a persona (``C01``...)."""
    return [n[5:] for n in _index() if n.startswith("case-")]


def main(argv: list[str] | None = None) -> int:
    """``python -m scanner.lab.personas [NAME...]``: print personas as JSON (all when no name)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        chosen = [get(n) for n in argv] if argv else all_personas()
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    json.dump([p.to_dict() for p in chosen], sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
