// The signed message envelope, protocol version 1 (docs/protocol.md §3). Pure.
// Invariants: the signature covers exactly utf8(body) as transmitted (no canonical form);
// the message id is hex(SHA-256(utf8(body))); validation runs in the order of §3.3 and the
// first failure is reported with its stable code; unknown body fields are rejected.
import { sha256 } from "@noble/hashes/sha2.js";
import { FlocloudError, fail } from "./errors.js";
import {
  bytesToHex, decodeAddress, hash160, hexToBytes, parsePubKey, utf8, verifyData,
} from "./keys.js";

export const PROTOCOL_VERSION = 1;
export const DEFAULT_LIMITS = Object.freeze({ maxBodyBytes: 65536, maxDepth: 32, maxSkewMs: 300000 });
const FIELDS = ["v", "type", "senderID", "receiverID", "application", "time", "payload", "comment"];
const REQUIRED = FIELDS.filter((f) => f !== "comment");

export const messageId = (bodyBytes) => bytesToHex(sha256(bodyBytes));

/** Throw too-deep when arrays/objects nest deeper than maxDepth. */
export function checkDepth(value, maxDepth) {
  const stack = [[value, 1]];
  while (stack.length) {
    const [item, depth] = stack.pop();
    if (item === null || typeof item !== "object") continue;
    if (depth > maxDepth) fail("too-deep", `nesting deeper than ${maxDepth}`);
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
}

const codePoints = (s) => [...s].length;

function strField(d, name, max) {
  const value = d[name];
  if (typeof value !== "string") fail("bad-format", `body.${name} must be a string`);
  if (codePoints(value) > max) fail("too-large", `body.${name} longer than ${max} characters`);
  return value;
}

function checkBody(body, pub) {
  const sender = decodeAddress(body.senderID);
  if (sender.kind !== "p2pkh") fail("bad-format", "senderID must be a P2PKH FLO ID");
  const receiver = decodeAddress(body.receiverID);
  if (receiver.kind !== "p2pkh") fail("bad-format", "receiverID must be a P2PKH FLO ID");
  if (receiver.network !== sender.network) fail("wrong-network", "receiverID and senderID are on different networks");
  if (bytesToHex(hash160(pub)) !== bytesToHex(sender.hash160)) fail("id-mismatch", "pubKey does not hash to senderID");
}

const isWellFormed = (s) =>
  typeof s.isWellFormed === "function" ? s.isWellFormed() : !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

/**
 * Build and sign a message from `key`.
 * @returns {{wire: {body: string, pubKey: string, sign: string}, id: string, body: object}}
 */
export function signEnvelope(key, { receiver, payload, application = "", type = "message", comment, time }) {
  const body = {
    v: PROTOCOL_VERSION, type, senderID: key.id, receiverID: receiver, application,
    time: time ?? Date.now(), payload: payload === undefined ? null : payload,
  };
  if (comment !== undefined && comment !== null) body.comment = comment;
  let text;
  try {
    text = JSON.stringify(body);
  } catch (e) {
    fail("bad-format", `payload is not JSON: ${e.message}`);
  }
  checkBody(body, key.publicKey);
  const raw = utf8(text);
  return {
    wire: { body: text, pubKey: key.pubKeyHex, sign: bytesToHex(key.sign(raw)) },
    id: messageId(raw),
    body: JSON.parse(text),
  };
}

/**
 * Validate a wire envelope (object or JSON text); returns {body, bodyText, pubKey, sign, id}.
 * `nowMs: null` skips the clock check (stored messages).
 */
export function parseEnvelope(wire, { nowMs = null, limits = DEFAULT_LIMITS } = {}) {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (typeof wire === "string") {
    if (wire.length > lim.maxBodyBytes * 2 + 1024) fail("too-large", "envelope too large");
    try { wire = JSON.parse(wire); } catch { fail("bad-format", "envelope is not valid JSON"); }
  }
  if (wire === null || typeof wire !== "object" || Array.isArray(wire)) fail("bad-format", "envelope must be a JSON object");
  const keys = Object.keys(wire).sort().join(",");
  if (keys !== "body,pubKey,sign") fail("bad-format", "envelope must have exactly body, pubKey and sign");
  const { body: text, pubKey: pubHex, sign: sigHex } = wire;
  if (typeof text !== "string" || typeof pubHex !== "string" || typeof sigHex !== "string") {
    fail("bad-format", "body, pubKey and sign must be strings");
  }
  if (!isWellFormed(text)) fail("bad-format", "body is not valid Unicode (lone surrogate)");
  const raw = utf8(text);
  if (raw.length > lim.maxBodyBytes) fail("too-large", `body larger than ${lim.maxBodyBytes} bytes`);
  let d;
  try { d = JSON.parse(text); } catch { fail("bad-format", "body is not valid JSON"); }
  if (d === null || typeof d !== "object" || Array.isArray(d)) fail("bad-format", "body must be a JSON object");
  const have = Object.keys(d);
  const missing = REQUIRED.filter((f) => !have.includes(f));
  const extra = have.filter((f) => !FIELDS.includes(f));
  if (missing.length || extra.length) fail("bad-format", `body fields: missing [${missing}], unknown [${extra}]`);
  if (!Number.isInteger(d.v)) fail("bad-format", "body.v must be an integer");
  if (d.v !== PROTOCOL_VERSION) fail("unsupported-version", `protocol version ${d.v} is not supported (this is 1)`);
  if (!Number.isInteger(d.time) || d.time < 0 || d.time >= 2 ** 53) {
    fail("bad-format", "body.time must be an integer number of milliseconds");
  }
  if (d.comment !== undefined && d.comment !== null) strField(d, "comment", 1024);
  checkDepth(d.payload, lim.maxDepth);
  for (const [name, max] of [["type", 128], ["senderID", 40], ["receiverID", 40], ["application", 128]]) {
    strField(d, name, max);
  }
  let pub, sig;
  try { pub = hexToBytes(pubHex); } catch { fail("bad-format", "pubKey is not hex"); }
  if (pub.length !== 33 && pub.length !== 65) fail("bad-format", "pubKey must be 33 or 65 bytes");
  try { sig = hexToBytes(sigHex); } catch { fail("bad-format", "sign is not hex"); }
  checkBody(d, pub);
  if (nowMs !== null && Math.abs(nowMs - d.time) > lim.maxSkewMs) {
    fail("stale-time", `message time is more than ${lim.maxSkewMs} ms from node time`);
  }
  if (!verifyData(pub, sig, raw)) {
    try { parsePubKey(pub); } catch (e) {
      if (e instanceof FlocloudError) fail("bad-format", `pubKey: ${e.message}`);
      throw e;
    }
    fail("invalid-signature", "signature does not match body and pubKey");
  }
  return { body: d, bodyText: text, pubKey: pubHex.toLowerCase(), sign: sigHex.toLowerCase(), id: messageId(raw) };
}
