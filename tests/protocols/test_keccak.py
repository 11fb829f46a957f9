"""Keccak-256 (Ethereum padding) and the ethash seed chain."""

import hashlib

from scanner.protocols.ethstratum import seed_epoch
from scanner.protocols.keccak import keccak256


def test_known_vectors() -> None:
    # Keccak team / Ethereum test vectors
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    # multi-block input (> 136-byte rate)
    assert keccak256(b"a" * 200) != keccak256(b"a" * 199)


def test_differs_from_sha3_padding() -> None:
    assert keccak256(b"").hex() != hashlib.sha3_256(b"").hexdigest()


def test_rate_boundary_lengths_are_distinct() -> None:
    digests = {keccak256(b"x" * n) for n in (134, 135, 136, 137, 271, 272, 273)}
    assert len(digests) == 7


def test_seed_epochs() -> None:
    # epoch 0 seed is 32 zero bytes; epoch 1 seed = keccak256(zero seed)
    assert seed_epoch("0x" + "00" * 32) == 0
    assert seed_epoch(keccak256(bytes(32)).hex()) == 1
    assert seed_epoch("0x" + keccak256(keccak256(bytes(32))).hex().upper()) == 2
    # seeds of cases C12 (NiceHash spec example) and C14 (Poolin 2020)
    assert seed_epoch("5197b2a3898b31d4d8afb33e2216b2ef6e166b09122e514323701e9af3b09643") == 38
    assert seed_epoch("8ae454df8790ee9925f11cd620843de9a12356ab60c67e1d8a8c85a5555b85d8") == 364
    assert seed_epoch("ff" * 32) is None
    assert seed_epoch("not a hash") is None and seed_epoch(None) is None
