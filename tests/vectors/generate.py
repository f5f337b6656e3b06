"""Regenerate the protocol vectors: keys, envelope, encryption, objects, fingerprint (.json).

Run by hand: ``.venv/bin/python tests/vectors/generate.py``. The tests read these files and
require our code to reproduce them exactly, so a change here is a protocol change: it must
come with a protocol version bump. The script refuses to overwrite a file whose content
would change unless ``--force`` is given.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from flocloud.protocol.encryption import encrypt, seal_json
from flocloud.protocol.envelope import Limits, build_envelope
from flocloud.protocol.fingerprint import (
    Fingerprint,
    PrefixIndex,
    id_parts,
    key_position,
    write_parts,
)
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objectlog import ObjectOp, fold
from flocloud.protocol.objects import merge_diff, merge_patch, object_id
from flocloud.protocol.params import MAINNET, TESTNET
from flocloud.protocol.signatures import sign_data

HERE = Path(__file__).parent
T0 = 1_700_000_000_000


def det(label: str, network: Any = MAINNET) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), network)


def keys() -> dict[str, Any]:
    return {
        "description": "FLO keys and addresses (flo-chain.md V6, libs.md §2)",
        "keys": [
            {
                "secret": "16b6aca5ff6a3bf3a1332dd4edf87880b2883cb4fe16effd073e2e866aa141aa",
                "wif": "R8Gw2Mr3n2fY1ydB2X5gEehxHkdhboeUD6yw4wRtVKHaqAd9gdkK",
                "pubKey": "033c30b269e2d5df229f3f0ce294b19c4f0a3a8d12280415ce41e7bd3784a619c4",
                "floID": "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzZ",
                "network": "mainnet",
                "compressed": True,
            },
            {
                "secret": "16b6aca5ff6a3bf3a1332dd4edf87880b2883cb4fe16effd073e2e866aa141aa",
                "wif": "6U2Lwgcai1q9qhvWTdGZTCiT7y73raE2BSpnnJKKv63rMUczZSk",
                "floID": "FECvQnjkp9XSvBzj4jF9Fmv2QhqrLHSWNy",
                "network": "mainnet",
                "compressed": False,
            },
            {
                "wif": "cP3LMhqT32oBKJcf8hBRDUAZopQtcajX4ZF2bVoxzakNkmnj6Wb1",
                "pubKey": "0235dbc5de310bde64bf53276d93f5347d55bd5b1f64c4885039b5bfd8afe2dfa7",
                "floID": "oZdUBH31q6Zesnx6mSW57nNCo8XzJ2b3cd",
                "network": "testnet",
                "compressed": True,
            },
            {
                "secret": "00" * 31 + "01",
                "wif": "R7WnCJjdY4LQqMAD9MLZmNRPZpkL5DCVY1YFD3US2zr1uTVbv7Sr",
                "pubKey": "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                "floID": "FGWP1xKhDP5RmV525TmUoEwX9mTZwp3sJn",
                "network": "mainnet",
                "compressed": True,
            },
            {
                "secret": "00" * 31 + "01",
                "wif": "cMahea7zqjxrtgAbB7LSGbcQUr1uX1ojuat9jZodMN87JcbXMTcA",
                "floID": "oTYdneAk1p9XCADx32QybGiTW852p1CKGT",
                "network": "testnet",
                "compressed": True,
            },
            {
                "secret": "4e909daa060d235226dd157a7fbfff14977496452e3c5a68f187c956e7ab2294",
                "wif": "RA9Vx5thKESfP8vfw3LKuQGgQxVRA9FdsLHVW3T7LMRZQwemmpRv",
                "network": "mainnet",
                "compressed": True,
            },
        ],
        "addresses": [
            {
                "address": "FNw4NsyQm94QsGDqYz5Gi7MaHTsXPF6yXG",
                "hash160": "bb9a0f19b1232f7d162801cf1331c35457ed9859",
                "network": "mainnet",
                "kind": "p2pkh",
            },
            {
                "address": "4bsKkyri7WQ4HMYc5tSKFQJDXnWGWbegcK",
                "hash160": "f31e9ea7408f5b2fc12de928a06887053b4b3d70",
                "network": "mainnet",
                "kind": "p2sh",
            },
            {
                "address": "fCwCSKVVB2FQcdY4By5ixBhsfAfPeu5DWH",
                "hash160": "f31e9ea7408f5b2fc12de928a06887053b4b3d70",
                "network": "mainnet",
                "kind": "p2sh",
            },
            {
                "address": "oZB7KohBdHQB6sir6ZHzproALBcysjo9yW",
                "hash160": "b2dd0e15700f9e8f35ac5672e6d99d62ce65255d",
                "network": "testnet",
                "kind": "p2pkh",
            },
            {
                "address": "F9gmhAXGzA8oB9zUofz6dAjT9CgSScitzH",
                "hash160": "2a4cac308b5a411caeaa901e1de46aa4594bae45",
                "network": "mainnet",
                "kind": "p2pkh",
            },
            {
                "address": "FAPiw7EFMYmYK1mUuQQekyLsmimUBQT9zd",
                "hash160": "320b6c674c8bc353942046981ff7ac73f5ceae46",
                "network": "mainnet",
                "kind": "p2pkh",
            },
            {
                "address": "FMg9M7GPuUAGKvhWmgWjoqYtMqmckD4tRF",
                "hash160": "adcfd792793fb204ec4e8cf2d0215fea6963b973",
                "network": "mainnet",
                "kind": "p2pkh",
            },
            {
                "address": "oX8YUMFwRhQdqGvuVGpLJz8BcYmM87e9ee",
                "hash160": "9c708c27ce34ead174a7a9b4f47afafb3d906d0d",
                "network": "testnet",
                "kind": "p2pkh",
            },
        ],
        "invalid_addresses": [
            {
                "address": "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzA",
                "code": "invalid-address",
                "why": "checksum",
            },
            {
                "address": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
                "code": "invalid-address",
                "why": "bitcoin version byte",
            },
            {
                "address": "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRz0",
                "code": "invalid-address",
                "why": "not base58",
            },
            {"address": "FTP7LL7Qjh", "code": "invalid-address", "why": "too short"},
        ],
        "invalid_wifs": [
            {
                "wif": "R8Gw2Mr3n2fY1ydB2X5gEehxHkdhboeUD6yw4wRtVKHaqAd9gdkL",
                "code": "invalid-key",
                "why": "checksum",
            },
            {
                "wif": "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ",
                "code": "invalid-key",
                "why": "bitcoin prefix 0x80",
            },
        ],
        "flocrypto_legacy": [
            {
                "pubKey": "033c30b269e2d5df229f3f0ce294b19c4f0a3a8d12280415ce41e7bd3784a619c4",
                "message": "vivek",
                "sign": "3045022039747449a6fbac008d04d763a3a62f2261d1c5a35ee6a21a8354d8757d27593802210085a4d4b9886de6d06c3563c97160c8d70f492ce56f9e00dbcd7276004369402e",
            }
        ],
    }


def envelopes() -> dict[str, Any]:
    alice, bob = det("alice"), det("bob")
    tbob = det("bob", TESTNET)
    valid = []
    for name, kw in [
        ("ascii", {"payload": {"text": "hello"}, "application": "chat", "type": "message"}),
        ("non-ascii", {"payload": {"text": "héllo wörld ✓ 你好 🚀"}, "application": "chat"}),
        ("floats", {"payload": {"x": 1.5, "y": -0.0, "z": 1e-7, "big": 12345678901234567890}}),
        ("nested", {"payload": [{"a": [1, [2, [3, {"b": None}]]]}, True, False, None]}),
        ("comment", {"payload": "plain string", "comment": "a comment", "type": "note"}),
        ("scalar-null", {"payload": None}),
    ]:
        env = build_envelope(alice, receiver=bob.address, time_ms=T0, **kw)
        valid.append(
            {"name": name, "wire": env.to_wire(), "id": env.id, "body": env.body.to_dict()}
        )
    base = build_envelope(alice, receiver=bob.address, payload={"n": 1}, time_ms=T0)
    wire = base.to_wire()
    other = build_envelope(bob, receiver=alice.address, payload={"n": 1}, time_ms=T0)

    def resign(body: dict[str, Any], key: PrivateKey = alice) -> dict[str, str]:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        return {"body": text, "pubKey": key.pubkey_hex, "sign": sign_data(key, text.encode()).hex()}

    b = base.body.to_dict()
    invalid = [
        {
            "name": "tampered body",
            "wire": {**wire, "body": wire["body"].replace('"n":1', '"n":2')},
            "code": "invalid-signature",
        },
        {
            "name": "signature of another body",
            "wire": {**wire, "sign": other.signature.hex()},
            "code": "invalid-signature",
        },
        {
            "name": "pubKey of another ID",
            "wire": {**wire, "pubKey": bob.pubkey_hex},
            "code": "id-mismatch",
        },
        {"name": "unknown field", "wire": resign({**b, "extra": 1}), "code": "bad-format"},
        {
            "name": "missing field",
            "wire": resign({k: v for k, v in b.items() if k != "time"}),
            "code": "bad-format",
        },
        {"name": "wrong version", "wire": resign({**b, "v": 2}), "code": "unsupported-version"},
        {
            "name": "receiver on another network",
            "wire": resign({**b, "receiverID": tbob.address}),
            "code": "wrong-network",
        },
        {
            "name": "invalid receiver",
            "wire": resign({**b, "receiverID": "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzA"}),
            "code": "invalid-address",
        },
        {
            "name": "too deep",
            "wire": resign({**b, "payload": [[[[[[[[[[1]]]]]]]]]]}),
            "code": "too-deep",
            "limits": {"max_depth": 5},
        },
        {
            "name": "too large",
            "wire": resign({**b, "payload": "x" * 2000}),
            "code": "too-large",
            "limits": {"max_body_bytes": 1024},
        },
        {"name": "stale time", "wire": wire, "code": "stale-time", "now_ms": T0 + 10 * 60 * 1000},
        {"name": "body not JSON", "wire": {**wire, "body": "{not json"}, "code": "bad-format"},
        {"name": "extra envelope key", "wire": {**wire, "x": "1"}, "code": "bad-format"},
        {
            "name": "non-DER signature",
            "wire": {**wire, "sign": "00" + wire["sign"]},
            "code": "invalid-signature",
        },
    ]
    return {
        "description": "Envelope v1: valid wire forms with their ids, invalid ones with error codes",
        "now_ms": T0,
        "default_limits": {
            "max_body_bytes": Limits().max_body_bytes,
            "max_depth": Limits().max_depth,
            "max_skew_ms": Limits().max_skew_ms,
        },
        "valid": valid,
        "invalid": invalid,
    }


def encryption() -> dict[str, Any]:
    alice, bob = det("alice"), det("bob")
    cases = []
    for i, plaintext in enumerate([b"", b"hello", "héllo ✓".encode(), bytes(range(256))]):
        eph = hashlib.sha256(f"ephemeral-{i}".encode()).digest()
        nonce = hashlib.sha256(f"nonce-{i}".encode()).digest()[:12]
        blob = encrypt(
            plaintext,
            bob.public_key,
            sender_id=alice.address,
            receiver_id=bob.address,
            ephemeral_secret=eph,
            nonce=nonce,
        )
        cases.append(
            {
                "plaintext": plaintext.hex(),
                "ephemeral_secret": eph.hex(),
                "nonce": nonce.hex(),
                "sender_id": alice.address,
                "receiver_id": bob.address,
                "blob": blob.hex(),
            }
        )
    eph = hashlib.sha256(b"ephemeral-json").digest()
    nonce = hashlib.sha256(b"nonce-json").digest()[:12]
    sealed = seal_json(
        {"secret": "meet at noon", "n": 3},
        bob.public_key,
        sender_id=alice.address,
        receiver_id=bob.address,
        ephemeral_secret=eph,
        nonce=nonce,
    )
    return {
        "description": "flocloud-ecies-v1 with fixed ephemeral keys and nonces",
        "receiver_wif": bob.to_wif(),
        "receiver_pubKey": bob.pubkey_hex,
        "sender_wif": alice.to_wif(),
        "cases": cases,
        "json": {
            "value": {"secret": "meet at noon", "n": 3},
            "ephemeral_secret": eph.hex(),
            "nonce": nonce.hex(),
            "payload": sealed,
        },
    }


def objects() -> dict[str, Any]:
    ids = [
        {"application": app, "name": name, "network": net.name, "id": object_id(app, name, net)}
        for app, name in [("chat", "settings"), ("", "x"), ("app ✓", "名前")]
        for net in (MAINNET, TESTNET)
    ]
    # RFC 7386 Appendix A
    rfc = [
        [{"a": "b"}, {"a": "c"}, {"a": "c"}],
        [{"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}],
        [{"a": "b"}, {"a": None}, {}],
        [{"a": "b", "b": "c"}, {"a": None}, {"b": "c"}],
        [{"a": ["b"]}, {"a": "c"}, {"a": "c"}],
        [{"a": "c"}, {"a": ["b"]}, {"a": ["b"]}],
        [{"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}],
        [{"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}],
        [["a", "b"], ["c", "d"], ["c", "d"]],
        [{"a": "b"}, ["c"], ["c"]],
        [{"a": "foo"}, None, None],
        [{"a": "foo"}, "bar", "bar"],
        [{"e": None}, {"a": 1}, {"e": None, "a": 1}],
        [[1, 2], {"a": "b", "c": None}, {"a": "b"}],
        [{}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}],
    ]
    diffs = []
    for a, b in [
        ({"x": 1, "y": {"z": 2}}, {"x": 1, "y": {"z": 3, "w": [1]}}),
        ({"x": 1}, {}),
        ({"x": 1}, {"x": None}),
    ]:
        diffs.append({"from": a, "to": b, "patch": merge_diff(a, b)})
    for target, patch, result in rfc:
        assert merge_patch(target, patch) == result
    return {
        "description": "Object IDs and RFC 7386 merge patches (Appendix A) and diffs",
        "object_ids": ids,
        "merge_patch": [{"target": t, "patch": p, "result": r} for t, p, r in rfc],
        "merge_diff": diffs,
        **object_log(),
    }


def object_log() -> dict[str, Any]:
    """Fold, version ids and exact diffs (docs/protocol.md §5)."""

    def w(label: str, time: int, parents: list[str], kind: str, change: Any) -> dict[str, Any]:
        return {"id": hashlib.sha256(label.encode()).hexdigest(), "time": time,
                "parents": sorted(parents), "kind": kind, "change": change}  # fmt: skip

    root = w("root", 10, [], "reset", {"title": "todo", "items": [1, 2, 3]})
    rm = w("rm", 20, [root["id"]], "list", {"op": "remove", "path": ["items"], "item": 1})
    add = w("add", 20, [root["id"]], "list", {"op": "append", "path": ["items"], "item": 4})
    t1 = w("t1", 30, [root["id"]], "patch", {"title": "TODO"})
    t2 = w("t2", 25, [root["id"]], "patch", {"title": "Todo", "done": False})
    merge = w("merge", 40, sorted([rm["id"], add["id"], t1["id"], t2["id"]]), "patch", {"n": 1.0})
    orphan = w("orphan", 5, ["ab" * 32], "reset", "never applied")
    cases = [
        ("one reset", [root]),
        ("concurrent list writes", [add, rm, root]),
        ("concurrent patches, tie-break by time", [t1, t2, root]),
        ("merged heads", [merge, t1, rm, root, t2, add]),
        ("a write waiting for its parent", [root, orphan]),
    ]
    fold_cases = []
    for name, writes in cases:
        f = fold(
            ObjectOp(x["id"], x["time"], tuple(x["parents"]), x["kind"], x["change"])
            for x in writes
        )
        fold_cases.append({"name": name, "writes": writes, "order": list(f.order),
                           "heads": list(f.heads), "version": f.version, "value": f.value})  # fmt: skip
    exact = []
    for a, b in [
        ({"x": 1}, {"x": True}),
        ({"x": 1}, {"x": 1.0}),
        ([1], [1.0]),
        ({"a": [1, None]}, {"a": [None, 1]}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": 2}}),
        ({"a": 0.0}, {"a": -0.0}),
        ({"a": 1}, {"a": 1, "b": None}),
        ({"a": {"b": 1}}, None),
    ]:
        exact.append({"from": a, "to": b, "patch": merge_diff(a, b)})
    return {"fold": fold_cases, "exact_diff": exact}


def fingerprints() -> dict[str, Any]:
    ids = [hashlib.sha256(f"msg-{i}".encode()).hexdigest() for i in range(6)]
    prefixes = ["", ids[0][:1], ids[0][:2], "f"]
    index = PrefixIndex([(i, Fingerprint.of([i])) for i in ids])
    return {
        "description": "Anti-entropy range fingerprints (docs/protocol.md §9): [count, s1, s2]",
        "ids": ids,
        "parts": [list(id_parts(i)) for i in ids],
        "write_parts": [
            {"id": i, "dots": [list(d) for d in dots], "parts": list(write_parts(i, dots))}
            for i, dots in zip(
                ids[:3],
                [[("a" * 32, 1)], [("a" * 32, 2), ("b" * 32, 7)], [("c1", 2**53 - 1)]],
                strict=True,
            )
        ],
        "ranges": [{"prefix": p, "fp": index.fingerprint(p).to_wire()} for p in prefixes],
        "key_positions": [
            {"key": k.address, "position": key_position(k.address)}
            for k in (det("alice"), det("alice", TESTNET), det("bob"))
        ],
    }


def cursors() -> dict[str, Any]:
    from flocloud.protocol.cursor import Cursor

    a, b = "a" * 32, "b" * 32
    steps = [
        ("add", [[a, 1], [a, 2]]),
        ("add", [[a, 4], [b, 1]]),
        ("advance", [a, [3]]),
        ("add", [[b, 3]]),
        ("advance", [b, [2, 5]]),
    ]
    cur = Cursor()
    out = []
    for op, arg in steps:
        cur = cur.add([(o, c) for o, c in arg]) if op == "add" else cur.advance(arg[0], arg[1])
        out.append({"op": op, "arg": arg, "token": cur.encode(),
                    "entries": [[o, f, list(x)] for o, f, x in cur.entries]})  # fmt: skip
    return {
        "description": "Cursor tokens (docs/protocol.md §8.2): each step applied to the last",
        "steps": out,
        "invalid": [
            "c2.W10",
            "c1.!!",
            "c1." + "W1siYSIsMSxbMV1dXQ",
            "x",
            "c1.W1siYiIsMCxbXV0sWyJhIiwwLFtdXV0",
        ],
    }


def main() -> None:
    force = "--force" in sys.argv
    for name, make in [
        ("keys", keys),
        ("envelope", envelopes),
        ("encryption", encryption),
        ("objects", objects),
        ("fingerprint", fingerprints),
        ("cursor", cursors),
    ]:
        path = HERE / f"{name}.json"
        text = json.dumps(make(), indent=1, ensure_ascii=False) + "\n"
        if path.exists() and path.read_text() != text and not force:
            print(f"WARNING: {path.name} would change (a protocol change!); rerun with --force")
            continue
        path.write_text(text)
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
