// Encryption to a public key: flocloud-ecies-v1 (docs/protocol.md §4), with WebCrypto
// AES-256-GCM. Invariants: a fresh ephemeral key and nonce per message unless the caller
// gives them (vectors); the sender and receiver IDs are bound as associated data; any
// failure to decrypt is `decryption-failed`, an unknown first byte `unsupported-version`.
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base64 } from "@scure/base";
import { FlocloudError, fail } from "./errors.js";
import { Key, concat, parsePubKey, utf8 } from "./keys.js";

export const ENC_NAME = "flocloud-ecies-v1";
const VERSION = 0x01;
const INFO = utf8(ENC_NAME);
const HEADER = 1 + 33 + 12;
const TAG = 16;

function aad(senderId, receiverId) {
  const s = utf8(senderId), r = utf8(receiverId);
  if (s.length > 255 || r.length > 255) fail("bad-format", "IDs longer than 255 bytes");
  return concat(INFO, [s.length], s, [r.length], r);
}

async function aesKey(shared, epk, receiver33) {
  const raw = hkdf(sha256, shared, concat(epk, receiver33), INFO, 32);
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

const compressed = (pub) => secp256k1.Point.fromBytes(pub).toBytes(true);

/**
 * Encrypt bytes for the holder of `receiverPub`'s key.
 * `ephemeralSecret` and `nonce` are for vectors only; leave them out.
 */
export async function encrypt(plaintext, receiverPub, { senderId, receiverId, ephemeralSecret, nonce } = {}) {
  const pub = parsePubKey(receiverPub);
  const eph = new Key(ephemeralSecret ?? secp256k1.utils.randomSecretKey());
  const iv = nonce ?? crypto.getRandomValues(new Uint8Array(12));
  if (iv.length !== 12) fail("bad-format", "nonce must be 12 bytes");
  const epk = eph.publicKey;
  const key = await aesKey(eph.sharedPoint(pub), epk, compressed(pub));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(senderId ?? "", receiverId ?? ""), tagLength: 128 }, key, plaintext),
  );
  return concat([VERSION], epk, iv, sealed);
}

/** Decrypt a blob made by `encrypt` with `key` (the receiver ID defaults to key.id). */
export async function decrypt(blob, key, { senderId, receiverId } = {}) {
  if (!blob || !blob.length) fail("decryption-failed", "empty ciphertext");
  if (blob[0] !== VERSION) fail("unsupported-version", `encryption version ${blob[0]} is not supported (this is 1)`);
  if (blob.length < HEADER + TAG) fail("decryption-failed", "ciphertext is truncated");
  const epk = blob.slice(1, 34), iv = blob.slice(34, 46), sealed = blob.slice(46);
  let shared;
  try {
    shared = key.sharedPoint(epk);
  } catch {
    fail("decryption-failed", "ephemeral key is not a point on secp256k1");
  }
  const own33 = compressed(key.publicKey);
  try {
    const aes = await aesKey(shared, epk, own33);
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: aad(senderId ?? "", receiverId ?? key.id), tagLength: 128 }, aes, sealed,
    );
    return new Uint8Array(plain);
  } catch (e) {
    if (e instanceof FlocloudError && e.code !== "decryption-failed") throw e;
    fail("decryption-failed", "cannot decrypt: wrong key, wrong sender/receiver IDs or tampered data");
  }
}

export const isSealed = (payload) =>
  payload !== null && typeof payload === "object" && !Array.isArray(payload) && payload.enc === ENC_NAME;

/** An encrypted message payload carrying `value` (its UTF-8 JSON text). */
export async function sealJson(value, receiverPub, opts) {
  const blob = await encrypt(utf8(JSON.stringify(value)), receiverPub, opts);
  return { enc: ENC_NAME, ct: base64.encode(blob) };
}

/** The value inside a payload made by `sealJson`. */
export async function openJson(payload, key, opts) {
  if (!isSealed(payload) || typeof payload.ct !== "string") {
    fail("bad-format", `not an encrypted payload ({"enc": "${ENC_NAME}", "ct": ...})`);
  }
  let blob;
  try { blob = base64.decode(payload.ct); } catch { fail("decryption-failed", "ciphertext is not valid base64"); }
  const plain = await decrypt(blob, key, opts);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    fail("decryption-failed", "decrypted payload is not JSON");
  }
}
