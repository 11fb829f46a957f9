"""The bytes poolscan's probes put on the wire, as the lab's tests and recorder replay them.

Source: the probe list agreed in the project brief (``/tmp/brief.md`` "The probes the engine sends"), which
the probe engine (``scanner/probes/``) implements. This module is a copy of those wire facts for the lab: the
emulator tests send exactly these lines to each persona and compare the answers with the recordings, and
:mod:`scanner.lab.record` sends them to real servers. It is not used by the probe engine itself.

Each probe is a list of *steps*; a step is the bytes written in one ``write`` (lines that the engine sends
together are in one step). ``HOST`` in the HTTP probes is replaced by ``host:port`` of the target.
"""

from __future__ import annotations

USER_AGENT = "poolscan/0.1.0"

#: a syntactically valid Monero address with a valid checksum that nobody holds keys for (recorded
#: xmrig-proxy/cryptonote-nodejs-pool transcripts, ``X4_xmr_valid_login``, use the same shape).
XMR_ADDRESS = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

STRATUM1_A = (
    b'{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    b'{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}\n'
)
STRATUM1_B = b'{"id":2,"method":"mining.subscribe","params":["poolscan/0.1.0"]}\n'
STRATUM1_AUTH = b'{"id":3,"method":"mining.authorize","params":["1BitcoinEaterAddressDontSendf59kuE.poolscan","x"]}\n'
STRATUM1_UNKNOWN = b'{"id":4,"method":"mining.poolscan","params":[]}\n'

ETHSTRATUM_SUB = b'{"id":1,"method":"mining.subscribe","params":["poolscan/0.1.0","EthereumStratum/1.0.0"]}\n'
ETHSTRATUM_AUTH = (
    b'{"id":2,"method":"mining.authorize","params":["0x000000000000000000000000000000000000dEaD.poolscan","x"]}\n'
)

ETHPROXY_LOGIN = (
    b'{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["0x000000000000000000000000000000000000dEaD"],'
    b'"worker":"poolscan"}\n'
)
ETHPROXY_GETWORK = b'{"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[]}\n'

CRYPTONOTE_LOGIN = (
    b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"' + XMR_ADDRESS.encode() + b'","pass":"x",'
    b'"agent":"poolscan/0.1.0","algo":["rx/0","cn/r","cn/half","cn-heavy/xhv","argon2/chukwav2","rx/wow",'
    b'"rx/arq","ghostrider"]}}\n'
)
CRYPTONOTE_UNKNOWN = b'{"id":2,"jsonrpc":"2.0","method":"poolscan","params":{}}\n'

ELECTRUM_VERSION = b'{"id":1,"method":"server.version","params":["poolscan/0.1.0","1.4"]}\n'


def http_get(host: str) -> bytes:
    """The ``http`` probe: ``GET /`` with the brief's headers; ``host`` is ``ip:port``."""
    return (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode()


def http_post_jsonrpc(host: str, method: str) -> bytes:
    """The ``getwork``/``web3`` probes: ``POST /`` with a JSON-RPC 2.0 body calling ``method``."""
    body = ('{"id":1,"jsonrpc":"2.0","method":"%s","params":[]}' % method).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


#: probe id -> steps (each step one write). The follow-up lines (authorize, getWork, unknown method) are
#: sent by the engine only after a reply; the recorder sends them after a pause instead.
PROBES: dict[str, list[bytes]] = {
    "stratum1": [STRATUM1_A + STRATUM1_B, STRATUM1_AUTH, STRATUM1_UNKNOWN],
    "ethstratum": [ETHSTRATUM_SUB, ETHSTRATUM_AUTH],
    "ethproxy": [ETHPROXY_LOGIN, ETHPROXY_GETWORK],
    "cryptonote": [CRYPTONOTE_LOGIN, CRYPTONOTE_UNKNOWN],
    "electrum": [ELECTRUM_VERSION],
}
