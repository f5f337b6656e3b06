"""FLO transaction codec and signature hash: every flo-chain.md vector, Flo Core's corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.chain.script import address_from_script, p2pkh_script, parse_p2pkh_script_sig
from flocloud.chain.tx import (
    MAX_FLO_DATA_SIZE,
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
    check_flo_data,
    sign_p2pkh_input,
    verify_p2pkh_input,
)
from flocloud.protocol.errors import TxFormatError
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import MAINNET, TESTNET

CORPUS = json.loads((Path(__file__).parents[1] / "vectors" / "flo_sighash.json").read_text())[1:]

V1 = "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4904ffff001d010441536c617368646f74202d203137204a756e652032303133202d205361756469204172616269612053657420546f2042616e2057686174734170702c20536b797065ffffffff0100e40b54020000004341040184710fa689ad5023690c80f3a49c8f13f8d45b8c857fbcbc8bc4a8e4d3eb4b10f4d4604fa08dce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9ac000000001d746578743a466c6f72696e636f696e2067656e6573697320626c6f636b"
V2_COINBASE = "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff530334f216062f503253482f04b29d675608f80000021d000000392f7374726174756d506f6f6c2ffabe6d6dc59870924a3754d580bd95b253f7f83dd5a9a85b853885f2a0fb3e1ec2af211e080000000000000000000000011046372b010000001976a91411d268c5e823c9470bbce47970217c5829ae292688ac00000000094d756c7469706f6f6c"
V2_USER = "0200000001f116f09b96377e8cf6b22dff244cc4b5d25462b4a1f02a073c51cb10c5cce29b010000006b483045022100b3e8229d12e2d6093a4f811f5beff06b3a3cfc3d42dc07e093939aeb072c889802204c1de9f77d7dec5e5d7e1eb1ff39f344fe0ca3156d9c25fd105906d0c7fb93840121028f47c3de96f2a92a88fbd67149a19e183a6c4eaa061da8a69149295a05cc8c42ffffffff0200b7da52020000001976a914e33354a73c175829e72c9fc20ade3d09276fd1d588acecb61a00000000001976a91401a4dd7be92863c933277603fe207306fa2ea75c88ac0000000000"
V2_PROHASHING = "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff520331f216062f503253482f04b29c6756fabe6d6dc4b29b9914906e18cce74a7234f5b7deef9002752f476237ca899e5441410a13100000000000000008c8000560070000000c2f514b5858504c4d524b392f000000000100f2052a010000001976a914463c99e9b7a8aed20b7a73049241c975c159673e88ac000000000a50726f68617368696e67"
V3 = "020000000180636567f4a4ee725aeb85dff063f2e7081e13a83cb60b81373dd1fe7df38e8c010000006a47304402206097d819cd1043446e09359e9c3c094805888d502e6e7ad51b0460035282c779022029f822e40c24df61b947e220cc4a21f62d7f8632e2667122abbe8bfd968441950121024f5374c77ad80945578b1894246798d3ef6abdacba254c0b5b937d3d8b331bb4ffffffff0280969800000000001976a914964cc27f77366fcd03166c0127f004ac126a026888ac228006b1000000001976a91440b1a4a6fc7c8b88ef2a1beac1fe3de118e8d08888ac0000000000"

V4_KEY = PrivateKey.from_wif("cP3LMhqT32oBKJcf8hBRDUAZopQtcajX4ZF2bVoxzakNkmnj6Wb1")
V4_SPK = p2pkh_script(hash160(V4_KEY.public_key))
V4_TXIDS = {
    (0x01, 0): "757af4885e405d1c6b93956337d054e13ed1d41717bc53cf03f1300a97d87e62",
    (0x01, 540): "6501cf009ca7d67ea00c8dbcf6adab00866082a6cb635252a728f49e450da1e9",
    (0x01, 1040): "5ba8445d9c4f6ed8cea702df09bae0fd09580ab2ba362b633c7dc40ea81bf73e",
    (0x02, 0): "0c58ed9376e424eda906091f16cb60a3d7954878eced5d16e33fb7443fcc904a",
    (0x02, 540): "597338582abcbe127b3d378625fb8e84f79f9489b916a596355b66ac320cd2f5",
    (0x02, 1040): "296ba85b061cce1528b53d30212e3355c15b4df98b3b72622c74074eb4ce2b17",
    (0x81, 0): "4ac6cbf0fb080deb049daa356af9fcf535ac7eb9f75adf84bde64031c11ea5c8",
    (0x81, 540): "278a68b66d55eb5b64a0cd2f95fb319c166e262b13e2aa0ef2355e9dbf05ee3a",
    (0x81, 1040): "bfd7c6642cd052734540748772fa27606334c49d2c741e4aeeb2f12ac7c341f3",
}
V4_SIGHASH_ALL = {
    0: "e979dfa9fc4cf6e782529d4c1cc061254ae69a0f3b125a1fdb4153672fe3c099",
    540: "5bb5fb49af48548bcf43cf10deb0d26c790b0adc80312c9374727d61b3206b6d",
    1040: "bcc2336855c9f0185ff291b0516bcb1409c0ef161ce357ebdebb102514be3b62",
}
V4_BITCOIN_STYLE = "743e46e5f28b8fe13d66ed5d7710198db46722637adaa7322e763ecabd0bcfd2"


def v4_unsigned(flo_len: int) -> Transaction:
    prev = OutPoint("d95b264f29d09bdeae76a995921579d74597d83228795637db16fcea21653375", 1)
    return Transaction(2, (TxIn(prev),), (TxOut(99_000_000, V4_SPK),), 0, b"a" * flo_len)


def spk_of_input(tx: Transaction, i: int) -> bytes:
    parsed = parse_p2pkh_script_sig(tx.inputs[i].script_sig)
    assert parsed is not None
    return p2pkh_script(hash160(parsed[1]))


class TestRealTransactions:
    @pytest.mark.parametrize(
        ("raw", "txid", "flo_data"),
        [
            (
                V1,
                "730f0c8ddc5a592d5512566890e2a73e45feaa6748b24b849d1c29a7ab2b2300",
                b"text:Florincoin genesis block",
            ),
            (
                V2_COINBASE,
                "6ef3979d414d76a4a8e1978c2187d81efb90f6ec60a0508eee600da4541a7178",
                b"Multipool",
            ),
            (V2_USER, "3c01744c79cc873a32ac246a732ad5925bc20150f6dbbc1193f135c4ea394973", b""),
            (
                V2_PROHASHING,
                "84a8e44eacb88d3ebc78cbec4d67dd2fa073b61eb4fa080beb0be0b79483d6ee",
                b"Prohashing",
            ),
            (V3, "d701ebbbce03ba7491f920dd2130265bea166ef7d7a39d7a2689813b6c12cc68", b""),
        ],
        ids=["V1-genesis", "V2-coinbase", "V2-user", "V2-prohashing", "V3"],
    )
    def test_round_trip_and_txid(self, raw: str, txid: str, flo_data: bytes) -> None:
        """Real transactions re-serialize byte for byte and hash to their txid (floData inside)."""
        tx = Transaction.from_hex(raw)
        assert tx.to_hex() == raw
        assert tx.txid == txid
        assert tx.flo_data == flo_data

    def test_genesis_txid_needs_flo_data(self) -> None:
        """Without the trailing floData field the genesis txid would differ (V1)."""
        tx = Transaction.from_hex(V1)
        assert Transaction(1, tx.inputs, tx.outputs, tx.locktime).txid != tx.txid

    @pytest.mark.parametrize("raw", [V2_USER, V3], ids=["V2", "V3"])
    def test_real_signatures_commit_to_flo_data(self, raw: str) -> None:
        """Mainnet signatures verify with the floData-including sighash, not Bitcoin's."""
        tx = Transaction.from_hex(raw)
        spk = spk_of_input(tx, 0)
        assert verify_p2pkh_input(tx, 0, spk)
        parsed = parse_p2pkh_script_sig(tx.inputs[0].script_sig)
        assert parsed is not None
        from flocloud.protocol.signatures import verify_digest

        bitcoin_style = tx.signature_hash(0, spk, 0x41)  # 0x40: floData left out
        assert not verify_digest(parsed[1], parsed[0][:-1], bitcoin_style)

    def test_v2_sighash_and_sender(self) -> None:
        """V2's sighash digest and sender address."""
        tx = Transaction.from_hex(V2_USER)
        assert tx.signature_hash(0, spk_of_input(tx, 0), 1).hex() == (
            "bc04746e0dfcac49c25436f1874668a9d2dcdbac5ee5f552b94fd1bade4ed9a3"
        )
        assert (
            address_from_script(spk_of_input(tx, 0), MAINNET)
            == "FRHSikcCPYDDsyJdnbdVzic97NT8jHfm8f"
        )


class TestSigning:
    @pytest.mark.parametrize(("hash_type", "flo_len"), sorted(V4_TXIDS))
    def test_v4_signing_reproduced(self, hash_type: int, flo_len: int) -> None:
        """Signing reproduces every V4 transaction exactly (RFC 6979, low S)."""
        signed = sign_p2pkh_input(v4_unsigned(flo_len), 0, V4_KEY, hash_type)
        assert signed.txid == V4_TXIDS[(hash_type, flo_len)]
        assert verify_p2pkh_input(signed, 0, V4_SPK)
        assert Transaction.from_hex(signed.to_hex()) == signed

    @pytest.mark.parametrize("flo_len", [0, 540, 1040])
    def test_v4_sighash_digests(self, flo_len: int) -> None:
        """V4 digests with floData, and the Bitcoin-style one selected by the 0x40 bit."""
        tx = v4_unsigned(flo_len)
        assert tx.signature_hash(0, V4_SPK, 1).hex() == V4_SIGHASH_ALL[flo_len]
        assert tx.signature_hash(0, V4_SPK, 0x41).hex() == V4_BITCOIN_STYLE

    def test_flo_data_is_signed(self) -> None:
        """Replacing floData of a signed transaction breaks its signature."""
        signed = sign_p2pkh_input(v4_unsigned(10), 0, V4_KEY)
        from dataclasses import replace

        assert not verify_p2pkh_input(replace(signed, flo_data=b"b" * 10), 0, V4_SPK)

    def test_core_fallback_accepts_bitcoin_style_signature(self) -> None:
        """As Flo Core's CheckSig, a hash-type-0x01 signature over the no-floData preimage passes."""
        from dataclasses import replace

        from flocloud.chain.script import push_data
        from flocloud.protocol.signatures import sign_digest

        tx = v4_unsigned(5)
        sig = sign_digest(V4_KEY, tx.signature_hash(0, V4_SPK, 0x41)) + b"\x01"
        script_sig = push_data(sig) + push_data(V4_KEY.public_key)
        signed = replace(tx, inputs=(replace(tx.inputs[0], script_sig=script_sig),))
        assert verify_p2pkh_input(signed, 0, V4_SPK)

    def test_never_signs_with_omit_bit(self) -> None:
        """Signing refuses hash types with 0x40 or an undefined base type."""
        for bad in (0x41, 0x04, 0x00):
            with pytest.raises(TxFormatError):
                sign_p2pkh_input(v4_unsigned(0), 0, V4_KEY, bad)


class TestSighashEdges:
    @pytest.mark.parametrize("row", [r for r in CORPUS if not r[3] & 0x40], ids=lambda r: str(r[3]))
    def test_flo_core_corpus(self, row: list[object]) -> None:
        """Rows of Flo Core's sighash.json (random txs, scripts and hash types) match."""
        raw, script, index, hash_type, expected = row
        tx = Transaction.from_hex(str(raw))
        assert tx.to_hex() == raw
        digest = tx.signature_hash(int(str(index)), bytes.fromhex(str(script)), int(str(hash_type)))
        assert digest[::-1].hex() == expected

    def test_single_without_matching_output_and_bad_index(self) -> None:
        """SIGHASH_SINGLE past the outputs, and an input index out of range, give uint256 1."""
        tx = Transaction(
            2, (TxIn(OutPoint("11" * 32, 0)), TxIn(OutPoint("22" * 32, 0))), (TxOut(1, b""),)
        )
        one = b"\x01" + b"\x00" * 31
        assert tx.signature_hash(1, b"", 3) == one
        assert tx.signature_hash(5, b"", 1) == one
        assert tx.signature_hash(0, b"", 3) != one

    def test_codeseparators_removed(self) -> None:
        """OP_CODESEPARATOR bytes are dropped from the script code, pushed 0xab bytes are not."""
        tx = v4_unsigned(0)
        with_sep = bytes([0xAB]) + V4_SPK + bytes([0xAB])
        assert tx.signature_hash(0, with_sep, 1) == tx.signature_hash(0, V4_SPK, 1)
        pushed = b"\x01\xab"
        assert tx.signature_hash(0, pushed, 1) != tx.signature_hash(0, b"", 1)


class TestParsing:
    def test_v5_lengths(self) -> None:
        """floData length prefixes: 9 -> 09, 540 -> fd1c02, 1040 -> fd1004 (V5)."""
        for n, prefix in ((9, "09"), (540, "fd1c02"), (1040, "fd1004")):
            hexed = v4_unsigned(n).to_hex()
            assert hexed.endswith("00000000" + prefix + "61" * n)

    def test_version_1_has_no_flo_data(self) -> None:
        """A version-1 transaction ends at nLockTime."""
        tx = Transaction(1, (TxIn(OutPoint("11" * 32, 0)),), (TxOut(5, b"\x51"),))
        assert tx.to_hex().endswith("00000000")
        assert Transaction.from_hex(tx.to_hex()) == tx

    def test_blank_v2(self) -> None:
        """Flo Core's blanktxv2 parses and round-trips."""
        tx = Transaction.from_hex("0200000000000000000000")
        assert (tx.version, tx.inputs, tx.outputs, tx.flo_data) == (2, (), (), b"")
        assert tx.to_hex() == "0200000000000000000000"

    def test_witness_round_trip(self) -> None:
        """Segwit-serialized transactions round-trip and the txid ignores witnesses."""
        tx = Transaction(
            2, (TxIn(OutPoint("33" * 32, 1)),), (TxOut(7, b"\x51"),), 0, b"x", ((b"\x01\x02", b""),)
        )
        again = Transaction.from_hex(tx.to_hex())
        assert again == tx
        assert tx.to_hex()[8:12] == "0001"
        from dataclasses import replace

        assert replace(tx, witnesses=()).txid == tx.txid

    @pytest.mark.parametrize(
        "bad",
        ["", "zz", "02000000", V1 + "00", V1[:-2], "0200000001" + "00" * 10, "02000000fd0100"],
    )
    def test_malformed(self, bad: str) -> None:
        """Truncated, trailing or non-canonical input gives TxFormatError."""
        with pytest.raises(TxFormatError):
            Transaction.from_hex(bad)

    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=200))
    def test_fuzz_only_tx_format_errors(self, raw: bytes) -> None:
        """Arbitrary bytes parse or raise TxFormatError, and what parses round-trips."""
        try:
            tx = Transaction.from_bytes(raw)
        except TxFormatError:
            return
        assert tx.to_bytes() == raw

    @settings(max_examples=200, deadline=None)
    @given(st.integers(0, len(V2_USER) // 2 - 1), st.integers(0, 255))
    def test_fuzz_mutated_real_tx(self, pos: int, byte: int) -> None:
        """Mutating one byte of a real transaction never raises anything but TxFormatError."""
        raw = bytearray(bytes.fromhex(V2_USER))
        raw[pos] = byte
        try:
            Transaction.from_bytes(bytes(raw))
        except TxFormatError:
            pass

    def test_flo_data_limit(self) -> None:
        """1040 bytes of floData are allowed, 1041 are not."""
        check_flo_data(b"a" * MAX_FLO_DATA_SIZE)
        with pytest.raises(TxFormatError):
            check_flo_data(b"a" * (MAX_FLO_DATA_SIZE + 1))

    def test_addresses_from_scripts(self) -> None:
        """P2PKH and P2SH scripts map to addresses; others to None."""
        assert address_from_script(V4_SPK, TESTNET) == V4_KEY.address
        assert address_from_script(b"\xa9\x14" + b"\x00" * 20 + b"\x87", MAINNET) is not None
        assert address_from_script(b"\x51", MAINNET) is None
