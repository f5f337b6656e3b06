"""The link handshake (``replication/handshake.py``) with real keys, no sockets."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest

from flocloud.protocol.errors import BadFormat, Forbidden, InvalidSignature, Unavailable
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.protocol.peering import check_peer, sign_transcript, transcript
from flocloud.replication.handshake import Initiator, LinkState, Responder


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"hs-" + label.encode()).digest(), REGTEST)


A, B, EVE = key("a"), key("b"), key("eve")
REGISTRY = {A.address: A.pubkey_hex, B.address: B.pubkey_hex}


def verify(node_id: str, sign: str, digest: bytes) -> None:
    check_peer(REGISTRY, node_id, sign, digest)


def signer(k: PrivateKey) -> Callable[[bytes], str]:
    return lambda digest: sign_transcript(k, digest)


def nonce() -> str:
    return os.urandom(32).hex()


def handshake(init: Initiator, resp: Responder, member: bool = True) -> dict[str, object]:
    hello = init.hello()
    reply = resp.on_hello(hello["node_id"], hello["nonce"], nonce(), member, signer(B))
    auth = init.on_hello(reply, verify, signer(A))
    return resp.on_auth(auth["sign"], "store-a", verify)


def test_both_sides_authenticate_and_requests_recheck_membership() -> None:
    init, resp = Initiator(A.address, B.address, nonce()), Responder(B.address)
    assert handshake(init, resp) == {"peer": A.address}
    assert init.state is resp.state is LinkState.AUTHENTICATED
    assert resp.store_id == "store-a" and resp.authenticated == A.address
    assert resp.on_request(lambda p: p in REGISTRY) == A.address
    with pytest.raises(Forbidden):  # removed from the registry: closed for good
        resp.on_request(lambda p: False)
    assert resp.state is LinkState.CLOSED and resp.authenticated is None
    with pytest.raises(Forbidden):
        resp.on_request(lambda p: True)
    with pytest.raises(Forbidden):
        resp.on_hello(A.address, nonce(), nonce(), True, signer(B))


def test_no_request_before_authentication() -> None:
    resp = Responder(B.address)
    with pytest.raises(Forbidden):
        resp.on_request(lambda p: True)
    with pytest.raises(BadFormat):
        resp.on_auth("00", "s", verify)  # auth without hello
    resp.on_hello(A.address, nonce(), nonce(), True, signer(B))
    assert resp.state is LinkState.CHALLENGED
    with pytest.raises(Forbidden):
        resp.on_request(lambda p: True)


def test_unregistered_nodes_and_bad_signatures_are_refused() -> None:
    with pytest.raises(Forbidden):
        Responder(B.address).on_hello(EVE.address, nonce(), nonce(), False, signer(B))
    # Eve claims to be A: her signature does not verify under A's registered key
    resp = Responder(B.address)
    na, nb = nonce(), nonce()
    resp.on_hello(A.address, na, nb, True, signer(B))
    # the very transcript A would sign, signed with Eve's key: only A's key can fail it
    with pytest.raises(InvalidSignature):
        resp.on_auth(
            sign_transcript(EVE, transcript("client", A.address, B.address, na, nb)), "s", verify
        )
    assert resp.authenticated is None


def test_the_initiator_checks_whom_it_reached() -> None:
    init = Initiator(A.address, B.address, nonce())
    init.hello()
    other = Responder(EVE.address)  # a node that is not the one meant
    reply = other.on_hello(A.address, init.nonce, nonce(), True, signer(EVE))
    with pytest.raises(Unavailable):
        init.on_hello(reply, verify, signer(A))
    assert init.state is LinkState.CLOSED
    # B's answer replayed to another session (another nonce) does not verify
    first, resp = Initiator(A.address, B.address, nonce()), Responder(B.address)
    h = first.hello()
    reply = resp.on_hello(h["node_id"], h["nonce"], nonce(), True, signer(B))
    second = Initiator(A.address, B.address, nonce())
    second.hello()
    with pytest.raises(InvalidSignature):
        second.on_hello(reply, verify, signer(A))


def test_store_id_is_required_and_hello_starts_over() -> None:
    init, resp = Initiator(A.address, B.address, nonce()), Responder(B.address)
    h = init.hello()
    reply = resp.on_hello(h["node_id"], h["nonce"], nonce(), True, signer(B))
    auth = init.on_hello(reply, verify, signer(A))
    with pytest.raises(BadFormat):
        resp.on_auth(auth["sign"], None, verify)
    assert resp.on_auth(auth["sign"], "sid", verify) == {"peer": A.address}
    resp.on_hello(A.address, nonce(), nonce(), True, signer(B))  # a new hello
    assert resp.authenticated is None  # not authenticated until its auth
    with pytest.raises(BadFormat):
        init.hello()  # the initiator says hello once
