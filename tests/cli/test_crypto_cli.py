"""The id / sign / verify / encrypt / decrypt / envelope / tx commands, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "flocloud.cli"]
MAIN_WIF = "R8Gw2Mr3n2fY1ydB2X5gEehxHkdhboeUD6yw4wRtVKHaqAd9gdkK"
MAIN_PUB = "033c30b269e2d5df229f3f0ce294b19c4f0a3a8d12280415ce41e7bd3784a619c4"


def run(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*EXE, *args], input=stdin, capture_output=True, env=env, timeout=60)


def test_id_new_show_check(tmp_path: Path) -> None:
    """id new/show/check print the documented JSON keys; an invalid address exits 1."""
    new = json.loads(run("id", "new", "--testnet", "--json").stdout)
    assert set(new) == {"floID", "pubKey", "wif"} and new["floID"].startswith("o")
    shown = json.loads(run("id", "show", new["wif"], "--json").stdout)
    assert (shown["floID"], shown["pubKey"], shown["network"]) == (
        new["floID"],
        new["pubKey"],
        "testnet",
    )
    ok = json.loads(run("id", "check", "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzZ", "--json").stdout)
    assert ok == {
        "address": "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzZ",
        "valid": True,
        "network": "mainnet",
        "kind": "p2pkh",
        "hash160": "ec67d83eec7a1fc43ab9d6cd0a48e047998d44be",
    }
    bad = run("id", "check", "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzA")
    assert bad.returncode == 1 and b"checksum" in bad.stdout


def test_id_new_save_writes_private_key_file(tmp_path: Path) -> None:
    """--save writes a 0600 key file and does not print the WIF."""
    env = {**os.environ, "FLOCLOUD_CONFIG_DIR": str(tmp_path)}
    out = json.loads(run("id", "new", "--save", "--json", env=env).stdout)
    assert "wif" not in out
    path = tmp_path / "key.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert json.loads(path.read_text())["floID"] == out["floID"]
    signed = json.loads(run("sign", stdin=b"data", env=env).stdout)  # uses the key file
    assert signed["floID"] == out["floID"]
    again = run("id", "new", "--save", env=env)
    assert again.returncode != 0 and b"exists" in again.stderr


def test_encrypt_decrypt_pipe_binary(tmp_path: Path) -> None:
    """encrypt | decrypt gives back the exact bytes, binary included."""
    data = bytes(range(256)) * 40
    blob = run("encrypt", "--to", MAIN_PUB, stdin=data)
    assert blob.returncode == 0 and blob.stdout[0] == 1
    back = run("decrypt", "--wif", MAIN_WIF, stdin=blob.stdout)
    assert back.stdout == data
    tampered = bytearray(blob.stdout)
    tampered[60] ^= 1
    fail = run("decrypt", "--wif", MAIN_WIF, stdin=bytes(tampered))
    assert (
        fail.returncode != 0
        and b"decryption-failed" in fail.stderr
        and b"Traceback" not in fail.stderr
    )


def test_sign_verify(tmp_path: Path) -> None:
    """A signature verifies on its file and fails (exit 1) on other bytes."""
    (tmp_path / "f").write_bytes(b"hello")
    sig = run("sign", "--wif", MAIN_WIF, str(tmp_path / "f"))
    (tmp_path / "s").write_bytes(sig.stdout)
    assert run("verify", "--sig", str(tmp_path / "s"), str(tmp_path / "f")).returncode == 0
    assert run("verify", "--sig", str(tmp_path / "s"), stdin=b"other").returncode == 1


def test_envelope_build_check() -> None:
    """envelope build | envelope check round-trips the payload."""
    env = run(
        "envelope",
        "build",
        "--wif",
        MAIN_WIF,
        "--to",
        "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzZ",
        "--app",
        "chat",
        stdin=b'{"x": 1.5}',
    )
    checked = json.loads(run("envelope", "check", stdin=env.stdout).stdout)
    assert checked["body"]["payload"] == {"x": 1.5}
    assert (
        checked["id"]
        == __import__("hashlib").sha256(json.loads(env.stdout)["body"].encode()).hexdigest()
    )


@pytest.mark.parametrize(
    "args",
    [
        ("id", "show", "R8Gw2Mr3n2fY1ydB2X5gEehxHkdhboeUD6yw4wRtVKHaqAd9gdkL"),
        ("id", "show", "nonsense"),
        ("sign", "--wif", "bad"),
        ("encrypt", "--to", "02zz"),
        ("decrypt", "--wif", MAIN_WIF),
        ("envelope", "check"),
        ("tx", "decode", "0200"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...]) -> None:
    """Bad input: non-zero exit, a one-line error, never a traceback."""
    out = run(*args, stdin=b"garbage")
    assert out.returncode != 0
    assert b"Traceback" not in out.stderr
    assert out.stderr.strip().count(b"\n") == 0 and out.stderr.startswith(b"error")


def test_tx_decode_json() -> None:
    """tx decode --json reports txid, floData, sender and outputs."""
    raw = "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff530334f216062f503253482f04b29d675608f80000021d000000392f7374726174756d506f6f6c2ffabe6d6dc59870924a3754d580bd95b253f7f83dd5a9a85b853885f2a0fb3e1ec2af211e080000000000000000000000011046372b010000001976a91411d268c5e823c9470bbce47970217c5829ae292688ac00000000094d756c7469706f6f6c"
    info = json.loads(run("tx", "decode", raw, "--json").stdout)
    assert info["txid"] == "6ef3979d414d76a4a8e1978c2187d81efb90f6ec60a0508eee600da4541a7178"
    assert info["floData"] == "Multipool"
    assert info["inputs"][0]["coinbase"] is True
    assert info["outputs"][0]["value"] == 5_020_010_000  # 0x012b374610 sat
