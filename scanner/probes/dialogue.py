"""Dialogues: sans-IO state machines that decide what a probe sends next from what it has received.

A dialogue never touches a socket. The transport (``scanner.transport.run``) calls:

* ``start()`` -> :class:`Step` with the first bytes to send and how long to wait for an answer;
* ``feed(data)`` with every chunk read (``b""`` means the peer closed) -> :class:`Step`;
* ``expire()`` when the wait of the last step ran out with nothing more read -> :class:`Step`.

A :class:`Step` says what to send now, how many seconds to wait for more (``wait``), and whether the dialogue
is over (``done``). Tests drive dialogues with lists of byte chunks and no event loop.

What each dialogue puts on the wire, and why, is documented on its class with the source of every protocol
fact. The wire format is in ``../shared/reference/protocols.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from scanner import USER_AGENT
from scanner.probes.addresses import BTC_BURN_ADDRESS, ETH_BURN_ADDRESS, XMR_PROBE_ADDRESS
from scanner.protocols import jsonrpc
from scanner.protocols.framing import LineFramer, LineTooLong
from scanner.transport.limits import Limits


@dataclass(frozen=True, slots=True)
class Step:
    """What the transport does next: write ``send`` (may be empty), then wait up to ``wait`` seconds for
    data, unless ``done``. ``error`` is set when the dialogue ends because the peer broke a bound or the
    protocol (the transport maps it to a status). ``optional`` marks a step that only gathers extra evidence
    (the unknown-method question): the transport skips it, ending the dialogue, when the engine says the
    verdict is already confident."""

    send: bytes = b""
    wait: float = 0.0
    done: bool = False
    error: str | None = None
    optional: bool = False


DONE = Step(done=True)

_STEPS: dict[tuple[bytes, float, bool], Step] = {}


def step(send: bytes = b"", wait: float = 0.0, optional: bool = False) -> Step:
    """``Step(send=send, wait=wait, optional=optional)``, shared: a Step is frozen, so one instance serves
    every dialogue, and a probe's sends and waits are the same few values per run (the request lines are
    constants; the waits come from :class:`~scanner.transport.limits.Limits`). At most 256 distinct steps
    are kept; past that a new one is built each time."""
    key = (send, wait, optional)
    got = _STEPS.get(key)
    if got is None:
        got = Step(send=send, wait=wait, optional=optional)
        if len(_STEPS) < 256:
            _STEPS[key] = got
    return got


class Dialogue:
    """Base class. ``probe_id`` names the probe (``fingerprints/probes/<id>.yaml``)."""

    probe_id = "base"

    def __init__(self, limits: Limits, host: str = "", port: int = 0, fast: bool = False) -> None:
        self.limits = limits
        self.host = host
        self.port = port
        self.fast = fast
        self.received = 0

    def start(self) -> Step:  # pragma: no cover - abstract
        raise NotImplementedError

    def feed(self, data: bytes) -> Step:  # pragma: no cover - abstract
        raise NotImplementedError

    def expire(self) -> Step:
        return DONE


class LineDialogue(Dialogue):
    """A dialogue over newline-delimited JSON (every stratum dialect, CryptoNote login, ETHProxy).

    Subclasses implement ``on_message(msg)`` and ``on_expire()``, and use ``request()`` to build lines.
    Bounded: a line over ``limits.max_line`` bytes ends the dialogue with ``error="line too long"``.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.framer = LineFramer(self.limits.max_line)
        self.messages: list[jsonrpc.Message] = []
        self.eof = False

    def feed(self, data: bytes) -> Step:
        if not data:
            self.eof = True
        try:
            self.framer.feed(data)
        except LineTooLong as exc:
            return Step(done=True, error=f"line too long: {exc}")
        got: Step | None = None
        decode, keep, on_message = jsonrpc.decode, self.messages.append, self.on_message
        for line in self.framer.lines():
            msg = decode(line)
            keep(msg)
            nxt = on_message(msg)
            got = nxt if got is None else self._merge(got, nxt)
            if got.done:
                return got
        if self.eof:
            return DONE
        return got if got is not None else step(wait=self.current_wait())

    def expire(self) -> Step:
        return self.on_expire()

    @staticmethod
    def _merge(a: Step | None, b: Step) -> Step:
        """The step of two messages read in one chunk: both sends in order, the rest from ``b``; optional
        only when both are."""
        if a is None:
            return b
        if not a.send and (a.optional or not b.optional):
            return b  # what the general case would build, field for field
        return Step(send=a.send + b.send, wait=b.wait, done=b.done, error=b.error, optional=a.optional and b.optional)

    # -- for subclasses -------------------------------------------------------------------------------
    def current_wait(self) -> float:
        return self.limits.reply_s

    def on_message(self, msg: jsonrpc.Message) -> Step:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_expire(self) -> Step:
        return DONE

    def replies_to(self, msg: jsonrpc.Message, req_id: Any) -> bool:
        return isinstance(msg, jsonrpc.Response) and jsonrpc.same_id(msg.id, req_id)


# Subscription ids of miningcore: 13 characters of base32 [0-9A-V] (oliverw/miningcore
# src/Miningcore/Util/CorrelationIdGenerator.cs). miningcore bans an IP after a failed authorize
# (BitcoinPool.cs OnAuthorizeAsync, BanOnLoginFailure default true), and sends a job right after subscribe,
# so a good citizen skips authorize there.
MININGCORE_SUBSCRIPTION_ID = re.compile(r"^[0-9A-V]{13}$")


# Request lines (constant per process: encoded once, not per connection).
_S1_CONFIGURE_SUBSCRIBE = jsonrpc.encode(
    "mining.configure",
    [["version-rolling"], {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}],
    1,
) + jsonrpc.encode("mining.subscribe", [USER_AGENT], 2)
_S1_AUTHORIZE = jsonrpc.encode("mining.authorize", [f"{BTC_BURN_ADDRESS}.poolscan", "x"], 3)
_S1_UNKNOWN = jsonrpc.encode("mining.poolscan", [], 4)


class Stratum1Dialogue(LineDialogue):
    """Stratum v1 (Bitcoin family): configure + subscribe, authorize, wait for a job, one unknown method.

    Wire (ZIP 301; BIP 310 for ``mining.configure``; ``../shared/reference/protocols.md`` §1):

    1. ``mining.configure`` (id 1, version-rolling, as ASIC firmware sends first: BIP 310, case C01) and
       ``mining.subscribe`` (id 2, params ``[user agent]``) in one write.
    2. On the reply to id 2 (or after ``reply_s`` if only the configure answer came):
       ``mining.authorize`` (id 3) with a burn address (:data:`BTC_BURN_ADDRESS`) and worker ``poolscan``.
       Skipped when the subscription id is miningcore's (ban on failed auth) — miningcore sends a job
       right after subscribe anyway.
    3. Wait up to ``job_s`` for ``mining.notify`` (NOMP and ckpool send work only after authorize).
    4. Unless ``fast``: ``mining.poolscan`` (id 4), an unknown method, then ``idle_s`` of listening.
       Silence is evidence (NOMP, ckpool ignore it); errors name the software (miningcore code 20
       ``Unsupported request``, yiimp ``[20,"Not supported"]``, btcpool ``[26,"Illegal method"]``).
    Never submits a share.
    """

    probe_id = "stratum1"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.state = "subscribe"
        self.got_notify = False
        self.subscribe_answered = False

    def start(self) -> Step:
        return step(_S1_CONFIGURE_SUBSCRIBE, self.limits.reply_s)

    def _authorize(self) -> Step:
        self.state = "authorize"
        return step(_S1_AUTHORIZE, self.limits.reply_s)

    def _after_job(self) -> Step:
        if self.fast:
            return DONE
        self.state = "unknown"
        return step(_S1_UNKNOWN, self.limits.idle_s, True)

    def on_message(self, msg: jsonrpc.Message) -> Step:
        kind = type(msg)
        if kind is jsonrpc.Malformed:
            # Not JSON: HTTP, a banner, binary. Nothing more to learn in this dialect.
            return DONE
        if kind is jsonrpc.Notification and msg.method == "mining.notify":  # type: ignore[union-attr]
            self.got_notify = True
        if self.state == "subscribe" and self.replies_to(msg, 2):
            self.subscribe_answered = True
            result = msg.result if isinstance(msg, jsonrpc.Response) else None
            if result is None or result is False:
                # Subscribe refused: the error is the answer; only the unknown method is left to ask.
                return self._after_job()
            sub_id = _subscription_id(result)
            if sub_id is not None and MININGCORE_SUBSCRIPTION_ID.match(sub_id):
                self.state = "job"
            else:
                return self._authorize()
        elif self.state == "authorize" and self.replies_to(msg, 3):
            self.state = "job"
        elif self.state == "unknown" and self.replies_to(msg, 4):
            return DONE
        if self.state == "job" and self.got_notify:
            return self._after_job()
        return step(wait=self.current_wait())

    def current_wait(self) -> float:
        state = self.state
        if state == "subscribe" or state == "authorize":
            return self.limits.reply_s
        return self.limits.job_s if state == "job" else self.limits.idle_s

    def on_expire(self) -> Step:
        if self.state == "subscribe":
            if self.messages and not self.subscribe_answered:
                # Something answered (configure only, or a push): give authorize a chance.
                return self._authorize()
            return DONE
        if self.state in ("authorize", "job"):
            return self._after_job()
        return DONE


def _subscription_id(result: Any) -> str | None:
    """The first subscription id of a subscribe result ``[[["mining.notify", ID], ...], EN1, N2]``."""
    try:
        subs = result[0]
        if isinstance(subs, list) and subs and isinstance(subs[0], list):
            return str(subs[0][1])
        if isinstance(subs, list) and len(subs) >= 2 and isinstance(subs[1], str):
            return subs[1]
    except (TypeError, IndexError, KeyError):
        return None
    return None


class EthStratumDialogue(LineDialogue):
    """EthereumStratum/1.0.0 (NiceHash spec ``nicehash/Specifications EthereumStratum_NiceHash_v1.0.0.txt``).

    ``mining.subscribe`` (id 1, params ``[user agent, "EthereumStratum/1.0.0"]``), then on its reply
    ``mining.authorize`` (id 2) with the burn address :data:`ETH_BURN_ADDRESS` + ``.poolscan``, then wait up to
    ``job_s`` for ``mining.set_difficulty`` / ``mining.notify`` (seed hash and header hash: the epoch gives
    the chain). Never submits a share.
    """

    probe_id = "ethstratum"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.state = "subscribe"

    def start(self) -> Step:
        return Step(send=jsonrpc.encode("mining.subscribe", [USER_AGENT, "EthereumStratum/1.0.0"], 1),
                    wait=self.limits.reply_s)

    def on_message(self, msg: jsonrpc.Message) -> Step:
        if isinstance(msg, jsonrpc.Malformed):
            return DONE
        if isinstance(msg, jsonrpc.Notification) and msg.method == "mining.notify" and self.state == "job":
            return DONE
        if self.state == "subscribe" and self.replies_to(msg, 1):
            if isinstance(msg, jsonrpc.Response) and msg.result in (None, False):
                return DONE
            self.state = "authorize"
            return Step(send=jsonrpc.encode("mining.authorize", [f"{ETH_BURN_ADDRESS}.poolscan", "x"], 2),
                        wait=self.limits.reply_s)
        if self.state == "authorize" and self.replies_to(msg, 2):
            self.state = "job"
            if any(isinstance(m, jsonrpc.Notification) and m.method == "mining.notify" for m in self.messages):
                return DONE
            return Step(wait=self.limits.job_s)
        return Step(wait=self.current_wait())

    def current_wait(self) -> float:
        return self.limits.job_s if self.state == "job" else self.limits.reply_s

    def on_expire(self) -> Step:
        return DONE


class EthProxyDialogue(LineDialogue):
    """ETHProxy over TCP (``sammy007/open-ethereum-pool docs/STRATUM.md``, ``proxy/stratum.go``).

    ``eth_submitLogin`` (id 1, JSON-RPC 2.0, the burn address :data:`ETH_BURN_ADDRESS`, ``"worker"`` key as
    Claymore/ethminer send), then on its reply ``eth_getWork`` (id 2): ``[header, seed, boundary]``.
    """

    probe_id = "ethproxy"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.state = "login"

    def start(self) -> Step:
        line = jsonrpc.encode("eth_submitLogin", [ETH_BURN_ADDRESS], 1, jsonrpc=True, extra={"worker": "poolscan"})
        return Step(send=line, wait=self.limits.reply_s)

    def on_message(self, msg: jsonrpc.Message) -> Step:
        if isinstance(msg, jsonrpc.Malformed):
            return DONE
        if self.state == "login" and self.replies_to(msg, 1):
            self.state = "work"
            return Step(send=jsonrpc.encode("eth_getWork", [], 2, jsonrpc=True), wait=self.limits.reply_s)
        if self.state == "work" and self.replies_to(msg, 2):
            return DONE
        return Step(wait=self.limits.reply_s)


class CryptoNoteDialogue(LineDialogue):
    """CryptoNote ``login`` as xmrig sends it (``xmrig/xmrig src/base/net/stratum/Client.cpp login()``).

    One ``login`` (id 1, JSON-RPC 2.0, params an object: the probe address :data:`XMR_PROBE_ADDRESS`,
    ``pass``, ``agent``, ``algo`` list). The line is longer than 32 bytes, starts with ``{``, has an integer id
    and object params, as xmrig-proxy requires (``src/proxy/Miner.cpp``), and carries ``params`` as
    nodejs-pool requires (``lib/pool.js`` ignores messages without it). The reply carries a job
    (``blob``, ``target``, ``algo``, ``height``, ``seed_hash``) or an error whose wording names the software.
    Unless ``fast``: one unknown method (id 2) — ``Invalid method`` (cryptonote-nodejs-pool, xmrig-proxy),
    ``Unknown RPC method`` (MoneroOcean), silence (nodejs-pool). Skipped when the login reply has P2Pool's
    shape (:func:`_p2pool_login`): P2Pool bans the client address on any unknown method.
    """

    probe_id = "cryptonote"
    ALGOS = ["rx/0", "cn/r", "cn/half", "cn-heavy/xhv", "argon2/chukwav2", "rx/wow", "rx/arq", "ghostrider"]

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.state = "login"
        self.job: dict[str, Any] | None = None  # ``result.job`` of the login reply, when it carried one

    def start(self) -> Step:
        algos = tuple(self.ALGOS)
        line = _CN_LOGIN.get(algos)
        if line is None:  # encoded once per algo list (a subclass may change ALGOS)
            params = {"login": XMR_PROBE_ADDRESS, "pass": "x", "agent": USER_AGENT, "algo": list(algos)}
            line = _CN_LOGIN[algos] = jsonrpc.encode("login", params, 1, jsonrpc=True)
        return step(line, self.limits.reply_s)

    def on_message(self, msg: jsonrpc.Message) -> Step:
        if isinstance(msg, jsonrpc.Malformed):
            return DONE
        if self.state == "login" and self.replies_to(msg, 1):
            result = msg.result if isinstance(msg, jsonrpc.Response) else None
            if isinstance(result, dict) and isinstance(result.get("job"), dict):
                self.job = result["job"]
            if self.fast or _p2pool_login(msg):
                return DONE
            self.state = "unknown"
            return step(_CN_UNKNOWN, self.limits.idle_s, True)
        if self.state == "unknown" and self.replies_to(msg, 2):
            return DONE
        return step(wait=self.current_wait())

    def current_wait(self) -> float:
        return self.limits.idle_s if self.state == "unknown" else self.limits.reply_s


_CN_LOGIN: dict[tuple[str, ...], bytes] = {}
_CN_UNKNOWN = jsonrpc.encode("poolscan", {}, 2, jsonrpc=True)


def _p2pool_login(msg: jsonrpc.Message) -> bool:
    """True for a login reply shaped like Monero P2Pool's: no ``error`` key at all and ``result.extensions``
    exactly ``["algo"]`` (SChernykh/p2pool ``src/stratum_server.cpp`` @14b6a63c ``on_login`` writes the reply by
    hand with these keys; ``process_request`` returns false for any other method than login/submit/keepalived
    and the caller bans the client's IP). A good citizen does not ask it an unknown method."""
    if not isinstance(msg, jsonrpc.Response) or msg.has_error:
        return False
    result = msg.result
    return isinstance(result, dict) and result.get("extensions") == ["algo"]


class ElectrumDialogue(LineDialogue):
    """Electrum ``server.version`` (Electrum protocol docs; case C30): tells an Electrum server (a wallet
    back end speaking JSON-RPC lines, historically called "Stratum") from a pool. Run only to label a
    JSON-RPC service that is not a pool."""

    probe_id = "electrum"

    def start(self) -> Step:
        return Step(send=jsonrpc.encode("server.version", [USER_AGENT, "1.4"], 1), wait=self.limits.reply_s)

    def on_message(self, msg: jsonrpc.Message) -> Step:
        return DONE if self.replies_to(msg, 1) or isinstance(msg, jsonrpc.Malformed) else Step(wait=self.limits.reply_s)


class HttpDialogue(Dialogue):
    """One HTTP/1.1 request with ``Connection: close``; reads the answer until the peer closes, the body is
    complete (``Content-Length``), the idle wait expires, or the byte cap. The bytes are parsed later by the
    classifier (``scanner.protocols.http``). Pool stratum ports answer a GET with text banners
    (nodejs-pool ``Mining Pool Online``, cryptonote-nodejs-pool ``Mining server online``: ``lib/pool.js``)."""

    probe_id = "http"
    method = "GET"

    def body(self) -> bytes:
        return b""

    def path(self) -> str:
        return "/"

    def start(self) -> Step:
        host = f"[{self.host}]" if ":" in self.host else self.host
        body = self.body()
        head = (
            f"{self.method} {self.path()} HTTP/1.1\r\nHost: {host}:{self.port}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Accept: */*\r\nConnection: close\r\n"
        )
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.buf = bytearray()
        self.scanned = 0  # bytes already searched for the end of the head
        self.want: int | None = None  # total bytes of head + body once Content-Length is known
        self.head_done = False
        return Step(send=head.encode() + b"\r\n" + body, wait=self.limits.reply_s)

    def feed(self, data: bytes) -> Step:
        # Each byte is searched once (a peer dripping one byte per packet costs O(n), not O(n^2)).
        if not data:
            return DONE
        self.buf += data[: max(0, self.limits.max_bytes - len(self.buf))]
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n", max(0, self.scanned - 3))
            self.scanned = len(self.buf)
            if end < 0:
                return Step(wait=self.limits.idle_s)
            self.head_done = True
            m = re.search(rb"(?im)^content-length:[ \t]*(\d{1,18})[ \t]*\r?$", bytes(self.buf[:end]))
            self.want = end + 4 + int(m.group(1)) if m else None
        if self.want is not None and len(self.buf) >= self.want:
            return DONE
        return Step(wait=self.limits.idle_s)


class GetworkDialogue(HttpDialogue):
    """HTTP JSON-RPC ``eth_getWork`` posted to ``/<burn address>/poolscan``: an open-ethereum-pool getwork
    proxy routes only ``/{login:0x[0-9a-fA-F]{40}}/{id}`` and answers ``[header, seed, boundary]`` there
    (``sammy007/open-ethereum-pool proxy/proxy.go``; ``GET /`` and ``POST /`` get Go's 404 page). An Ethereum
    node with mining on answers the same triple (case C33); the ``web3`` probe (``POST /``) tells it apart."""

    probe_id = "getwork"
    method = "POST"

    def path(self) -> str:
        return f"/{ETH_BURN_ADDRESS}/poolscan"

    def body(self) -> bytes:
        return b'{"id":1,"jsonrpc":"2.0","method":"eth_getWork","params":[]}'


class Web3Dialogue(GetworkDialogue):
    """HTTP JSON-RPC ``web3_clientVersion``: Ethereum nodes answer their client name (``Geth/v1...``) or
    geth's "does not exist/is not available"; pools' getwork proxies do not implement it (case C33)."""

    probe_id = "web3"

    def path(self) -> str:
        return "/"

    def body(self) -> bytes:
        return b'{"id":1,"jsonrpc":"2.0","method":"web3_clientVersion","params":[]}'


SV2_ACT1_BYTES = 64  # EllSwift-encoded ephemeral key (sv2-spec 04-Protocol-Security.md)
SV2_ACT2_BYTES = 234  # 64 + 80 + 90: stratum-mining/stratum sv2/noise-sv2/src/lib.rs


def sv2_act1() -> bytes:
    """64 random bytes for Noise act 1, with no ``\n`` or ``\r``: any 64 bytes are a valid ElligatorSwift
    encoding, and without line terminators a line-based (Stratum v1) server keeps waiting for the end of a line
    instead of parsing a random fragment, so its answer does not depend on the draw."""
    out = bytearray()
    while len(out) < SV2_ACT1_BYTES:
        out += bytes(b for b in os.urandom(SV2_ACT1_BYTES) if b not in (0x0A, 0x0D))
    return bytes(out[:SV2_ACT1_BYTES])


class Stratum2Dialogue(Dialogue):
    """Stratum V2 Noise NX act 1: 64 random bytes (every 64-byte string is a valid ElligatorSwift encoding,
    BIP 324). An SV2 responder answers act 2, exactly 234 bytes, then waits. A JSON server waits for a
    newline or closes. Reads until ``SV2_ACT2_BYTES`` + a short idle, to see whether more follows."""

    probe_id = "stratum2"

    def start(self) -> Step:
        self.got = 0
        return Step(send=sv2_act1(), wait=self.limits.reply_s)

    def feed(self, data: bytes) -> Step:
        if not data:
            return DONE
        self.got += len(data)
        if self.got > 4 * SV2_ACT2_BYTES:
            return DONE
        return Step(wait=self.limits.idle_s if self.got >= SV2_ACT2_BYTES else self.limits.reply_s)


DIALOGUES: dict[str, type[Dialogue]] = {
    d.probe_id: d
    for d in (
        Stratum1Dialogue,
        EthStratumDialogue,
        EthProxyDialogue,
        CryptoNoteDialogue,
        ElectrumDialogue,
        HttpDialogue,
        GetworkDialogue,
        Web3Dialogue,
        Stratum2Dialogue,
    )
}
