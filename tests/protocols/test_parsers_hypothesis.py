"""The protocol parsers return a value or None on any input; they raise nothing on peer data."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.protocols import coinbase, cryptonote, ethstratum, http, stratum1, stratum2
from scanner.protocols.keccak import keccak256

leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=30),
                 st.text(alphabet="0123456789abcdefx", max_size=80))
value = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=9), st.dictionaries(
    st.sampled_from(["id", "job", "blob", "job_id", "target", "algo", "height", "seed_hash", "extensions", "status"]), c, max_size=8)),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(value)
def test_value_parsers_are_total(v) -> None:
    stratum1.parse_subscribe(v)
    stratum1.parse_notify(v)
    stratum1.parse_configure(v)
    stratum1.nbits_difficulty(v)
    ethstratum.parse_ethstratum_notify(v)
    ethstratum.parse_getwork(v)
    j = cryptonote.parse_job(v)
    if j is not None:
        _ = j.difficulty
    cryptonote.parse_login(v)
    coinbase.parse_coinbase(v, v)
    coinbase.partial_coinbase(v)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_byte_parsers_are_total(b: bytes) -> None:
    http.parse_response(b)
    http.parse_response(b"HTTP/1.1 200 OK\r\n" + b)
    http.split_request(b)
    http.split_request(b"POST / HTTP/1.1\r\n" + b)
    stratum2.is_act2(b)
    coinbase.bip34_height(b)
    coinbase.printable_runs(b)
    assert len(keccak256(b)) == 32
