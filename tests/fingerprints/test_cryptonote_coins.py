"""A CryptoNote job whose algorithm belongs to one coin names the coin (WOW, RTM...); rx/0 does not."""

import pytest

from scanner.fingerprint import classify, load_fingerprints
from scanner.model import Exchange, Status, Transcript

LOGIN = b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x","pass":"x","agent":"poolscan/0.1.0"}}\n'


def login_reply(algo: str) -> bytes:
    # the reply shape of cryptonote-nodejs-pool (tests/transcripts/recorded), with the job's algo varied
    return (b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"558412630019612","job":{"blob":"1010'
            + b"ab" * 70 + b'","job_id":"283904223316931","target":"b88d0600","algo":"' + algo.encode()
            + b'"},"status":"OK"}}\n')


@pytest.mark.parametrize("algo, coin, algo_name", [
    ("rx/wow", "WOW", "randomx-wow"), ("ghostrider", "RTM", "ghostrider"), ("cn/half", "MSR", "cryptonight-half"),
    ("rx/0", None, "randomx"),
])
def test_single_coin_algorithms(algo, coin, algo_name):
    t = Transcript(ip="192.0.2.1", port=3333, probe="cryptonote", status=Status.SUCCESS,
                   exchanges=(Exchange(0.0, "send", LOGIN), Exchange(0.01, "recv", login_reply(algo))))
    v = classify([t], load_fingerprints())
    assert (v.is_pool, v.protocol, v.algo) == (True, "cryptonote", algo_name)
    assert v.coin == coin, v.evidence
