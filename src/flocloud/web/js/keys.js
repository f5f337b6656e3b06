// FLO keys and IDs (docs/protocol.md §1, §2). Pure except Key.generate (randomness).
// Invariants: an ID is Base58Check(version || HASH160(pubkey)) in the key's own encoding
// (compressed and uncompressed forms are two IDs); WIF = Base58Check(prefix || secret
// [|| 01]); decoders accept every FLO version byte, encoders emit the first; signatures are
// RFC 6979, low-S, strict DER over SHA-256 of the bytes; verifiers require strict DER and
// accept high S.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ripemd160 } from "@noble/hashes/legacy.js";
import { bytesToHex, hexToBytes as nobleHexToBytes } from "@noble/hashes/utils.js";
import { createBase58check } from "@scure/base";
import { FlocloudError, fail } from "./errors.js";

export const base58check = createBase58check(sha256);
export const utf8 = (s) => new TextEncoder().encode(s);
export { bytesToHex };

export function hexToBytes(hex, what = "hex") {
  if (typeof hex !== "string" || hex.length % 2 || !/^[0-9a-fA-F]*$/.test(hex)) {
    fail("bad-format", `${what} is not hex`);
  }
  return nobleHexToBytes(hex);
}

export const hash160 = (bytes) => ripemd160(sha256(bytes));

/** FLO networks (flo-chain.md §1); regtest shares testnet's version bytes. */
export const NETWORKS = Object.freeze({
  mainnet: Object.freeze({ name: "mainnet", p2pkh: 0x23, p2sh: [0x5e, 0x08], wif: [0xa3, 0xb0] }),
  testnet: Object.freeze({ name: "testnet", p2pkh: 0x73, p2sh: [0x3a, 0xc6], wif: [0xef] }),
  regtest: Object.freeze({ name: "regtest", p2pkh: 0x73, p2sh: [0x3a, 0xc6], wif: [0xef] }),
});

export function network(name) {
  if (typeof name === "object" && name && name.p2pkh !== undefined) return name;
  const n = NETWORKS[{ main: "mainnet", test: "testnet" }[name] || name];
  if (!n) fail("bad-format", `unknown network ${name}: use mainnet, testnet or regtest`);
  return n;
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
};
export { concat };

/**
 * Decode and validate an address: {address, network, kind: "p2pkh"|"p2sh", hash160, version}.
 * `network` (optional) must accept it, else `wrong-network`.
 */
export function decodeAddress(address, net) {
  if (typeof address !== "string" || address.length < 25 || address.length > 36) {
    fail("invalid-address", "an address is a 25-36 character Base58Check string");
  }
  let raw;
  try {
    raw = base58check.decode(address);
  } catch (e) {
    fail("invalid-address", `invalid address: ${e.message}`);
  }
  if (raw.length !== 21) fail("invalid-address", "invalid address: payload is not 21 bytes");
  const version = raw[0];
  for (const n of [NETWORKS.mainnet, NETWORKS.testnet]) {
    const kind = version === n.p2pkh ? "p2pkh" : n.p2sh.includes(version) ? "p2sh" : null;
    if (kind) {
      const info = { address, network: n.name, kind, hash160: raw.slice(1), version };
      if (net !== undefined && net !== null) {
        const want = network(net);
        const ok = kind === "p2pkh" ? version === want.p2pkh : want.p2sh.includes(version);
        if (!ok) fail("wrong-network", `${address} is a ${n.name} address, not ${want.name}`);
      }
      return info;
    }
  }
  fail("invalid-address", `invalid address: unknown version byte 0x${version.toString(16)}`);
}

/** Validate a FLO ID (P2PKH) for a network; returns it. */
export function checkAddress(address, net) {
  const info = decodeAddress(address, net);
  if (info.kind !== "p2pkh") fail("invalid-address", `${address} is a script address, not a FLO ID`);
  return address;
}

export function addressFromPubKey(pub, net = "mainnet") {
  return base58check.encode(concat([network(net).p2pkh], hash160(pub)));
}

/** A public key (hex or bytes) of 33 or 65 bytes on secp256k1, as bytes; else invalid-key. */
export function parsePubKey(pub) {
  let bytes = pub;
  if (typeof pub === "string") {
    try { bytes = hexToBytes(pub); } catch { fail("invalid-key", "public key is not hex"); }
  }
  const okPrefix = bytes.length === 33 ? bytes[0] === 2 || bytes[0] === 3 : bytes.length === 65 && bytes[0] === 4;
  if (!okPrefix) fail("invalid-key", "public key must be 33 (compressed) or 65 (uncompressed) bytes");
  try {
    secp256k1.Point.fromBytes(bytes).assertValidity();
  } catch {
    fail("invalid-key", "public key is not a point on secp256k1");
  }
  return bytes;
}

/** BIP 66 IsValidSignatureEncoding without the hash-type byte. */
export function isStrictDER(sig) {
  const n = sig.length;
  if (n < 8 || n > 72 || sig[0] !== 0x30 || sig[1] !== n - 2 || sig[2] !== 0x02) return false;
  const lenR = sig[3];
  if (lenR === 0 || 5 + lenR >= n || sig[4 + lenR] !== 0x02) return false;
  const lenS = sig[5 + lenR];
  if (lenS === 0 || lenR + lenS + 6 !== n) return false;
  for (const [start, len] of [[4, lenR], [6 + lenR, lenS]]) {
    if (sig[start] & 0x80) return false;
    if (len > 1 && sig[start] === 0 && !(sig[start + 1] & 0x80)) return false;
  }
  return true;
}

/** True when `sig` (strict DER, any S) signs SHA-256(data) under `pub`. Never throws. */
export function verifyData(pub, sig, data) {
  if (!isStrictDER(sig)) return false;
  try {
    return secp256k1.verify(sig, data, pub, { prehash: true, lowS: false, format: "der" });
  } catch {
    return false;
  }
}

/**
 * Verify a RanchiMall floCrypto.signData signature (flo-chain.md V7): its "digest" is the
 * SHA-256 hex string of the message read as a decimal number. Never used for flocloud
 * messages; kept apart so it is not used by accident.
 */
export function verifyFlocryptoLegacy(pub, sig, message) {
  if (!isStrictDER(sig)) return false;
  let e = 0n;
  for (const ch of bytesToHex(sha256(utf8(message)))) e = e * 10n + BigInt(parseInt(ch, 16));
  const digest = hexToBytes(e.toString(16).padStart(64, "0"));
  try {
    return secp256k1.verify(sig, digest, pub, { prehash: false, lowS: false, format: "der" });
  } catch {
    return false;
  }
}

const N = secp256k1.Point.CURVE().n;

export class Key {
  #secret;

  /** @param {Uint8Array} secret 32 bytes in 1..n-1 */
  constructor(secret, net = "mainnet", { compressed = true } = {}) {
    const s = typeof secret === "string" ? hexToBytes(secret, "secret") : secret;
    const x = s.length === 32 ? BigInt("0x" + bytesToHex(s)) : 0n;
    if (x <= 0n || x >= N) fail("invalid-key", "a private key is 32 bytes in 1..n-1");
    this.#secret = Uint8Array.from(s);
    this.network = network(net).name;
    this.compressed = compressed;
    this.publicKey = secp256k1.getPublicKey(this.#secret, compressed);
    this.pubKeyHex = bytesToHex(this.publicKey);
    this.id = addressFromPubKey(this.publicKey, this.network);
    Object.freeze(this);
  }

  /** A new random key (WebCrypto's generator). */
  static generate(net = "mainnet") {
    return new Key(secp256k1.utils.randomSecretKey(), net);
  }

  /** Decode a WIF; the network comes from the prefix unless one is given. */
  static fromWIF(wif, net) {
    let raw;
    try {
      raw = base58check.decode(String(wif).trim());
    } catch (e) {
      fail("invalid-key", `invalid WIF: ${e.message}`);
    }
    let compressed;
    if (raw.length === 33) compressed = false;
    else if (raw.length === 34 && raw[33] === 0x01) compressed = true;
    else fail("invalid-key", "invalid WIF: wrong length or compression flag");
    const prefix = raw[0];
    const candidates = net ? [network(net)] : [NETWORKS.mainnet, NETWORKS.testnet];
    for (const n of candidates) {
      if (n.wif.includes(prefix)) return new Key(raw.slice(1, 33), n.name, { compressed });
    }
    if (net) fail("wrong-network", `WIF prefix 0x${prefix.toString(16)} is not a ${network(net).name} key`);
    fail("invalid-key", `invalid WIF: unknown prefix 0x${prefix.toString(16)}`);
  }

  toWIF() {
    const suffix = this.compressed ? [1] : [];
    return base58check.encode(concat([network(this.network).wif[0]], this.#secret, suffix));
  }

  /** DER signature (low S, RFC 6979) of SHA-256(bytes). */
  sign(bytes) {
    return secp256k1.sign(bytes, this.#secret, { prehash: true, lowS: true, format: "der" });
  }

  /** The ECDH point with `pub`, compressed (33 bytes). */
  sharedPoint(pub) {
    return secp256k1.getSharedSecret(this.#secret, pub, true);
  }

  toString() {
    return `Key(${this.id})`; // never the secret
  }
}

export function isKey(k) {
  return k instanceof Key;
}

export { FlocloudError };
