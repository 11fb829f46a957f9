"""The probe addresses are checksum-valid and derived from nothing-up-my-sleeve points (nobody holds keys)."""

import hashlib

from scanner.probes.addresses import BTC_BURN_ADDRESS, ETH_BURN_ADDRESS, XMR_KEY_TAGS, XMR_PROBE_ADDRESS
from scanner.protocols.keccak import keccak256

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P


def test_keccak_vectors():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    # ethash: seed of epoch 1 = keccak256(32 zero bytes)
    assert keccak256(bytes(32)).hex() == "290decd9548b62a8d60345a988386fc84ba6bc95484008f6362f93160ef3e563"
    assert keccak256(b"a" * 200).hex() != keccak256(b"a" * 199).hex()


def test_btc_burn_address_checksum():
    n = 0
    for ch in BTC_BURN_ADDRESS:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes(25, "big")
    assert raw[0] == 0x00  # P2PKH mainnet
    assert hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


def test_eth_burn_address_eip55():
    hexpart = ETH_BURN_ADDRESS[2:]
    h = keccak256(hexpart.lower().encode()).hex()
    expected = "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c.lower() for i, c in enumerate(hexpart))
    assert hexpart == expected


def _xmr_b58decode(s: str) -> bytes:
    sizes = {0: 0, 2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}
    out = b""
    for i in range(0, len(s), 11):
        blk = s[i : i + 11]
        n = 0
        for ch in blk:
            n = n * 58 + B58.index(ch)
        out += n.to_bytes(sizes[len(blk)], "big")
    return out


def _hash_point(tag: bytes) -> bytes:
    i4 = pow(2, (P - 1) // 4, P)
    ctr = 0
    while True:
        y = int.from_bytes(keccak256(tag + bytes([ctr])), "little") & ((1 << 255) - 1)
        xx = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
        x = pow(xx, (P + 3) // 8, P)
        if (x * x - xx) % P:
            x = x * i4 % P
        if y < P and (x * x - xx) % P == 0:
            if x & 1:
                x = P - x
            pt = (x, y)
            for _ in range(3):
                x1, y1 = pt
                pt = ((2 * x1 * y1) * pow(1 + D * x1 * x1 * y1 * y1, P - 2, P) % P,
                      (y1 * y1 + x1 * x1) * pow(1 - D * x1 * x1 * y1 * y1, P - 2, P) % P)
            return (pt[1] | ((pt[0] & 1) << 255)).to_bytes(32, "little")
        ctr += 1


def test_xmr_probe_address_is_valid_and_keyless():
    raw = _xmr_b58decode(XMR_PROBE_ADDRESS)
    assert len(XMR_PROBE_ADDRESS) == 95 and len(raw) == 69
    assert raw[0] == 18  # Monero mainnet standard address
    assert keccak256(raw[:65])[:4] == raw[65:]
    assert raw[1:33] == _hash_point(XMR_KEY_TAGS[0])
    assert raw[33:65] == _hash_point(XMR_KEY_TAGS[1])
