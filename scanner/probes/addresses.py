"""Addresses the probes log in with: valid-looking, checksum-correct, and nobody holds their keys.

Pools validate the login before they send a job (NOMP and miningcore ask the coin daemon's
``validateaddress``; cryptonote-nodejs-pool decodes the address: ``lib/utils.js``), so a random string only
ever gets an error. poolscan must never log in with a real person's wallet, so it uses addresses whose
private keys provably nobody has:

* :data:`BTC_BURN_ADDRESS` — ``1BitcoinEaterAddressDontSendf59kuE``, a vanity-checksum P2PKH address whose
  hash160 was chosen as text, not derived from a key; widely documented as a burn address.
* :data:`ETH_BURN_ADDRESS` — ``0x000000000000000000000000000000000000dEaD``, the conventional Ethereum burn
  address (EIP-55 checksum case), no known key.
* :data:`XMR_PROBE_ADDRESS` — a standard Monero mainnet address (network byte 18) whose spend and view public
  keys are *nothing-up-my-sleeve* curve points: ``y = keccak256(tag || counter)`` decoded as an ed25519 point,
  multiplied by the cofactor 8, with tags ``b"poolscan probe address: spend key"`` and ``...view key``
  (counter 1 for both). Nobody knows their discrete logarithms, so nobody can spend or even scan for funds
  sent there. ``tests/protocols/test_addresses.py`` re-derives it and checks the checksum
  (keccak256 of the 65-byte body, first 4 bytes; Monero base58 in 8-byte blocks:
  monero-project/monero ``src/common/base58.cpp``, ``src/cryptonote_basic/cryptonote_basic_impl.cpp``).
"""

BTC_BURN_ADDRESS = "1BitcoinEaterAddressDontSendf59kuE"
ETH_BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"
XMR_PROBE_ADDRESS = (
    "48mit32f5TNa4C26cfM7uYSKKEx1irTFaedSiA7ieQUTU7egHjcXbFh3x1q11sHMD8b5V6ETTE4NDXnASD5dGBq76zNLK2D"
)
XMR_KEY_TAGS = (b"poolscan probe address: spend key", b"poolscan probe address: view key")
