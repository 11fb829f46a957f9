"""A closed pool is named by its coinbase tag when nothing else names the software; the server's own replies
(here ckpool's subscribe shape and its own tag) outrank a relayed closed-pool tag."""

from fpdata import COINB2_WC, S1_AUTHORIZE, S1_CONFIGURE, S1_SUBSCRIBE, _coinb1, _notify, _t

from scanner.fingerprint import classify, load_fingerprints

FPS = load_fingerprints()


def _job(tag: bytes, subscribe_reply: str):
    return _t("stratum1", [S1_CONFIGURE, S1_SUBSCRIBE, S1_AUTHORIZE], [
        subscribe_reply, '{"id":3,"result":true,"error":null}\n', _notify("5e1", _coinb1(tag), COINB2_WC)])


GENERIC = '{"id":2,"result":[[["mining.set_difficulty","1"],["mining.notify","2"]],"0a0b0c0d",4],"error":null}\n'


def test_tag_names_the_closed_pool():
    for tag, software in ((b"/ViaBTC/Mined by x/", "viabtc"), (b"/F2Pool/", "f2pool"), (b"Mined by AntPool", "antpool")):
        v = classify(_job(tag, GENERIC), FPS)
        assert (v.is_pool, v.protocol, v.software) == (True, "stratum1", software), v.evidence


def test_own_replies_outrank_a_relayed_closed_pool_tag():
    ckpool_subscribe = '{"result":[[["mining.notify","6b0bd0bf"]],"bfd00b6b",8],"id":2,"error":null}\n'
    v = classify(_job(b"/ViaBTC/", ckpool_subscribe), FPS)
    assert v.software == "ckpool", v.evidence
    assert any("viabtc" in e for e in v.evidence)
