// flocloud.js: the flocloud browser client, built by scripts/build-web from src/flocloud/web/js (do not edit)
// sources-sha256: b10dff4c9f394cfddc79003190c0b526bb8017b0a5a52106e7383dce7a4c422b
// bundle-sha256: 65078b9963eee45ab331e17585647e963595a6387eb985c9ef27401095e213a6
// js/errors.js
var ERROR_CODES = Object.freeze([
  "bad-format",
  "invalid-signature",
  "id-mismatch",
  "invalid-address",
  "wrong-network",
  "invalid-key",
  "too-large",
  "too-deep",
  "stale-time",
  "unsupported-version",
  "decryption-failed",
  "schema-mismatch",
  "forbidden",
  "rate-limited",
  "quota-exceeded",
  "duplicate",
  "version-conflict",
  "not-found",
  "unavailable",
  "tx-format",
  "explorer",
  "insufficient-funds",
  "chain",
  "internal"
]);
var FlocloudError = class extends Error {
  /**
   * @param {string} code a stable code of ERROR_CODES
   * @param {string} message
   * @param {object} [extra] e.g. {replicas} for an `unavailable` write below quorum
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "FlocloudError";
    this.code = ERROR_CODES.includes(code) ? code : "internal";
    Object.assign(this, extra);
  }
  toJSON() {
    const out = { code: this.code, message: this.message };
    if (this.replicas !== void 0) out.replicas = this.replicas;
    return out;
  }
};
function errorFromWire(err, fallback = "request failed") {
  if (!err || typeof err !== "object") return new FlocloudError("internal", String(err || fallback));
  const { code, message, ...rest } = err;
  return new FlocloudError(String(code || "internal"), String(message || fallback), rest);
}
var fail = (code, message, extra) => {
  throw new FlocloudError(code, message, extra);
};

// node_modules/@noble/hashes/_u64.js
var fromNumH = (n) => n / 2 ** 32 | 0;
var fromNumL = (n) => n >>> 0;
function setU64FromNum(view, byteOffset, n, isLE) {
  const h = fromNumH(n);
  const l = fromNumL(n);
  view.setUint32(byteOffset, isLE ? l : h, isLE);
  view.setUint32(byteOffset + 4, isLE ? h : l, isLE);
}

// node_modules/@noble/hashes/utils.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
}
var atitle = (title) => title ? `"${title}" ` : "";
function anumber(n, title = "") {
  if (typeof n !== "number")
    throw new TypeError(atitle(title) + "expected number, got " + typeof n);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(atitle(title) + "expected integer >= 0, got " + n);
  return n;
}
function abytes(value, length, title = "") {
  if (isBytes(value) && (length === void 0 || value.length === length))
    return value;
  if (length !== void 0)
    anumber(length, "length");
  const bytes = isBytes(value);
  const ofLen = length !== void 0 ? ` of length ${length}` : "";
  const got = bytes ? `length=${value.length}` : `type=${typeof value}`;
  const message = atitle(title) + "expected Uint8Array" + ofLen + ", got " + got;
  if (!bytes)
    throw new TypeError(message);
  throw new RangeError(message);
}
function ahash(h) {
  if (typeof h !== "function" || typeof h.create !== "function")
    throw new TypeError("expected hash wrapped by utils.createHasher");
  anumber(h.outputLen);
  anumber(h.blockLen);
  if (h.outputLen < 1 || h.blockLen < 1)
    throw new Error("hash blockLen / outputLen must be >= 1");
}
var aobject = (value, label) => {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TypeError((label === "object" ? "" : `"${label}" `) + "expected object, got type=" + typeof value);
};
var aopts = (value, label) => {
  aobject(value, label);
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null)
    throw new TypeError(`"${label}" expected plain object`);
  if (Object.hasOwn(value, "__proto__"))
    throw new TypeError(`"${label}.__proto__" is not allowed`);
};
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("hash was destroyed");
  if (checkFinished && instance.finished)
    throw new Error("digest() was already called");
}
function aoutput(out, instance) {
  abytes(out, void 0, "output");
  const min = instance.outputLen;
  if (!(out.length >= min)) {
    throw new RangeError('"output" expected length >= ' + min);
  }
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
function createView(arr) {
  return new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
}
function rotr(word, shift) {
  return word << 32 - shift | word >>> shift;
}
function rotl(word, shift) {
  return word << shift | word >>> 32 - shift >>> 0;
}
var hasHexBuiltin = /* @__PURE__ */ (() => (
  // @ts-ignore
  typeof Uint8Array.from([]).toHex === "function" && typeof Uint8Array.fromHex === "function"
))();
var hexes = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
function bytesToHex(bytes) {
  abytes(bytes);
  if (hasHexBuiltin)
    return bytes.toHex();
  let hex = "";
  for (let i = 0; i < bytes.length; i++) {
    hex += hexes[bytes[i]];
  }
  return hex;
}
function asciiToBase16(ch) {
  return ch >= 48 && ch <= 57 ? ch - 48 : ch >= 65 && ch <= 70 ? ch - (65 - 10) : ch >= 97 && ch <= 102 ? ch - (97 - 10) : void 0;
}
function hexToBytes(hex) {
  if (typeof hex !== "string")
    throw new TypeError("hex string expected, got " + typeof hex);
  if (hasHexBuiltin) {
    try {
      return Uint8Array.fromHex(hex);
    } catch (error) {
      if (error instanceof SyntaxError)
        throw new RangeError(error.message);
      throw error;
    }
  }
  const hl = hex.length;
  const al = hl / 2;
  if (hl % 2)
    throw new RangeError("hex string expected, got unpadded hex of length " + hl);
  const array = new Uint8Array(al);
  for (let ai = 0, hi = 0; ai < al; ai++, hi += 2) {
    const n1 = asciiToBase16(hex.charCodeAt(hi));
    const n2 = asciiToBase16(hex.charCodeAt(hi + 1));
    if (n1 === void 0 || n2 === void 0) {
      const char = hex[hi] + hex[hi + 1];
      throw new RangeError('hex string expected, got non-hex character "' + char + '" at index ' + hi);
    }
    array[ai] = n1 * 16 + n2;
  }
  return array;
}
function concatBytes(...arrays) {
  let sum = 0;
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i];
    abytes(a);
    sum += a.length;
  }
  const res = new Uint8Array(sum);
  for (let i = 0, pad = 0; i < arrays.length; i++) {
    const a = arrays[i];
    res.set(a, pad);
    pad += a.length;
  }
  return res;
}
function checkOpts(defaults, opts, title = "opts") {
  aopts(defaults, "defaults");
  if (opts !== void 0)
    aopts(opts, title);
  const merged = Object.assign(/* @__PURE__ */ Object.create(null), defaults, opts);
  return merged;
}
function createHasher(hashCons, info = {}) {
  if (typeof hashCons !== "function")
    throw new TypeError('"hashCons" expected function, got type=' + typeof hashCons);
  info = checkOpts({}, info, "info");
  const hashC = (msg, opts) => hashCons(opts).update(msg).digest();
  const tmp = hashCons(void 0);
  hashC.outputLen = tmp.outputLen;
  hashC.blockLen = tmp.blockLen;
  hashC.canXOF = tmp.canXOF;
  hashC.create = (opts) => hashCons(opts);
  Object.assign(hashC, info);
  return Object.freeze(hashC);
}
function randomBytes(bytesLength = 32) {
  anumber(bytesLength, "bytesLength");
  const cr = typeof globalThis === "object" ? globalThis.crypto : null;
  if (typeof cr?.getRandomValues !== "function")
    throw new Error("crypto.getRandomValues must be defined");
  if (bytesLength > 65536)
    throw new RangeError(`"bytesLength" expected <= 65536, got ${bytesLength}`);
  return cr.getRandomValues(new Uint8Array(bytesLength));
}
var oidNist = (suffix) => ({
  // Current NIST hashAlgs suffixes used here fit in one DER subidentifier octet.
  // Larger suffix values would need base-128 OID encoding and a different length byte.
  oid: Uint8Array.from([6, 9, 96, 134, 72, 1, 101, 3, 4, 2, suffix])
});

// node_modules/@noble/hashes/_md.js
function Chi(a, b, c) {
  return a & b ^ ~a & c;
}
function Maj(a, b, c) {
  return a & b ^ a & c ^ b & c;
}
var HashMD = class {
  blockLen;
  outputLen;
  canXOF = false;
  padOffset;
  isLE;
  // For partial updates less than block size
  buffer;
  view;
  finished = false;
  length = 0;
  pos = 0;
  destroyed = false;
  constructor(blockLen, outputLen, padOffset, isLE) {
    this.blockLen = blockLen;
    this.outputLen = outputLen;
    this.padOffset = padOffset;
    this.isLE = isLE;
    this.buffer = new Uint8Array(blockLen);
    this.view = createView(this.buffer);
  }
  update(data) {
    aexists(this);
    abytes(data);
    const { view, buffer, blockLen } = this;
    const len = data.length;
    let processed = false;
    for (let pos = 0; pos < len; ) {
      const take = Math.min(blockLen - this.pos, len - pos);
      if (take === blockLen) {
        const dataView = createView(data);
        for (; blockLen <= len - pos; pos += blockLen)
          this.process(dataView, pos);
        processed = true;
        continue;
      }
      buffer.set(pos === 0 && take === len ? data : data.subarray(pos, pos + take), this.pos);
      this.pos += take;
      pos += take;
      if (this.pos === blockLen) {
        this.process(view, 0);
        this.pos = 0;
        processed = true;
      }
    }
    this.length += data.length;
    if (processed)
      this.roundClean();
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const { buffer, view, blockLen, isLE } = this;
    let { pos } = this;
    buffer[pos++] = 128;
    buffer.fill(0, pos);
    if (this.padOffset > blockLen - pos) {
      this.process(view, 0);
      buffer.fill(0);
    }
    setU64FromNum(view, blockLen - 8, this.length * 8, isLE);
    this.process(view, 0);
    this.roundClean();
    const oview = out === buffer ? view : createView(out);
    const len = this.outputLen;
    const outLen = len / 4;
    const state = this.get();
    if (len % 4 || outLen > state.length)
      throw new Error("invalid outputLen");
    for (let i = 0; i < outLen; i++)
      oview.setUint32(4 * i, state[i], isLE);
  }
  digest() {
    const { buffer, outputLen } = this;
    this.digestInto(buffer);
    const res = buffer.slice(0, outputLen);
    this.destroy();
    return res;
  }
  _cloneIntoMeta(to) {
    const { buffer, length, finished, destroyed, pos } = this;
    to.destroyed = destroyed;
    to.finished = finished;
    to.length = length;
    to.pos = pos;
    if (pos)
      to.buffer.set(buffer);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
};
var SHA256_IV = /* @__PURE__ */ Uint32Array.from([
  1779033703,
  3144134277,
  1013904242,
  2773480762,
  1359893119,
  2600822924,
  528734635,
  1541459225
]);

// node_modules/@noble/hashes/sha2.js
var SHA256_K = /* @__PURE__ */ Uint32Array.from([
  1116352408,
  1899447441,
  3049323471,
  3921009573,
  961987163,
  1508970993,
  2453635748,
  2870763221,
  3624381080,
  310598401,
  607225278,
  1426881987,
  1925078388,
  2162078206,
  2614888103,
  3248222580,
  3835390401,
  4022224774,
  264347078,
  604807628,
  770255983,
  1249150122,
  1555081692,
  1996064986,
  2554220882,
  2821834349,
  2952996808,
  3210313671,
  3336571891,
  3584528711,
  113926993,
  338241895,
  666307205,
  773529912,
  1294757372,
  1396182291,
  1695183700,
  1986661051,
  2177026350,
  2456956037,
  2730485921,
  2820302411,
  3259730800,
  3345764771,
  3516065817,
  3600352804,
  4094571909,
  275423344,
  430227734,
  506948616,
  659060556,
  883997877,
  958139571,
  1322822218,
  1537002063,
  1747873779,
  1955562222,
  2024104815,
  2227730452,
  2361852424,
  2428436474,
  2756734187,
  3204031479,
  3329325298
]);
var SHA256_W = /* @__PURE__ */ new Uint32Array(64);
var SHA2_32B = class extends HashMD {
  // We cannot use array here since array allows indexing by variable
  // which means optimizer/compiler cannot use registers.
  // Numeric initializers matter: starting the fields as `undefined` changes
  // V8's field representation and makes sha256 3x slower (measured).
  A = 0;
  B = 0;
  C = 0;
  D = 0;
  E = 0;
  F = 0;
  G = 0;
  H = 0;
  constructor(outputLen, IV) {
    super(64, outputLen, 8, false);
    this.A = IV[0] | 0;
    this.B = IV[1] | 0;
    this.C = IV[2] | 0;
    this.D = IV[3] | 0;
    this.E = IV[4] | 0;
    this.F = IV[5] | 0;
    this.G = IV[6] | 0;
    this.H = IV[7] | 0;
  }
  get() {
    const { A, B, C, D, E, F, G, H } = this;
    return [A, B, C, D, E, F, G, H];
  }
  // prettier-ignore
  set(A, B, C, D, E, F, G, H) {
    this.A = A | 0;
    this.B = B | 0;
    this.C = C | 0;
    this.D = D | 0;
    this.E = E | 0;
    this.F = F | 0;
    this.G = G | 0;
    this.H = H | 0;
  }
  _cloneInto(to) {
    (to ||= new this.constructor()).set(...this.get());
    return this._cloneIntoMeta(to);
  }
  process(view, offset) {
    for (let i = 0; i < 16; i++, offset += 4)
      SHA256_W[i] = view.getUint32(offset, false);
    for (let i = 16; i < 64; i++) {
      const W15 = SHA256_W[i - 15];
      const W2 = SHA256_W[i - 2];
      const s0 = rotr(W15, 7) ^ rotr(W15, 18) ^ W15 >>> 3;
      const s1 = rotr(W2, 17) ^ rotr(W2, 19) ^ W2 >>> 10;
      SHA256_W[i] = s1 + SHA256_W[i - 7] + s0 + SHA256_W[i - 16] | 0;
    }
    let { A, B, C, D, E, F, G, H } = this;
    for (let i = 0; i < 64; i++) {
      const sigma1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
      const T1 = H + sigma1 + Chi(E, F, G) + SHA256_K[i] + SHA256_W[i] | 0;
      const sigma0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
      const T2 = sigma0 + Maj(A, B, C) | 0;
      H = G;
      G = F;
      F = E;
      E = D + T1 | 0;
      D = C;
      C = B;
      B = A;
      A = T1 + T2 | 0;
    }
    A = A + this.A | 0;
    B = B + this.B | 0;
    C = C + this.C | 0;
    D = D + this.D | 0;
    E = E + this.E | 0;
    F = F + this.F | 0;
    G = G + this.G | 0;
    H = H + this.H | 0;
    this.set(A, B, C, D, E, F, G, H);
  }
  roundClean() {
    clean(SHA256_W);
  }
  destroy() {
    this.destroyed = true;
    this.set(0, 0, 0, 0, 0, 0, 0, 0);
    clean(this.buffer);
  }
};
var _SHA256 = class extends SHA2_32B {
  constructor() {
    super(32, SHA256_IV);
  }
};
var sha256 = /* @__PURE__ */ createHasher(
  () => new _SHA256(),
  /* @__PURE__ */ oidNist(1)
);

// node_modules/@noble/curves/utils.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
function aarray(item, title, inner = () => {
}) {
  if (!Array.isArray(item))
    throw new TypeError(`"${title}" expected array, got type=${typeof item}`);
  for (let i = 0; i < item.length; i++)
    inner(item[i], `${title}[${i}]`);
  return item;
}
var abytes2 = (value, length, title) => abytes(value, length, title);
var anumber2 = anumber;
function astring(value, title = "") {
  if (typeof value !== "string") {
    const prefix = title && `"${title}" `;
    throw new TypeError(prefix + "expected string, got type=" + typeof value);
  }
  return value;
}
function aobject2(value, title = "object") {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TypeError(title === "object" ? "expected valid options object" : `"${title}" expected object, got type=${typeof value}`);
  return value;
}
function afunction(value, title) {
  if (typeof value !== "function")
    throw new TypeError(`"${title}" is invalid: expected function, got ${typeof value}`);
  return value;
}
var bytesToHex2 = bytesToHex;
var concatBytes2 = (...arrays) => concatBytes(...arrays);
var hexToBytes2 = (hex) => hexToBytes(hex);
var isBytes2 = isBytes;
var randomBytes2 = (bytesLength) => randomBytes(bytesLength);
var _0n = /* @__PURE__ */ BigInt(0);
var _1n = /* @__PURE__ */ BigInt(1);
var atitle2 = (title) => title ? `"${title}" ` : "";
function abool(value, title = "") {
  if (typeof value !== "boolean")
    throw new TypeError(atitle2(title) + "expected boolean, got type=" + typeof value);
  return value;
}
function abignumber(n) {
  if (typeof n === "bigint") {
    if (!isPosBig(n))
      throw new RangeError("positive bigint expected, got " + n);
  } else
    anumber2(n);
  return n;
}
function asafenumber(value, title = "") {
  if (typeof value !== "number") {
    const prefix = title && `"${title}" `;
    throw new TypeError(prefix + "expected number, got type=" + typeof value);
  }
  if (!Number.isSafeInteger(value)) {
    const prefix = title && `"${title}" `;
    throw new RangeError(prefix + "expected safe integer, got " + value);
  }
}
function numberToHexUnpadded(num) {
  const hex = abignumber(num).toString(16);
  return hex.length & 1 ? "0" + hex : hex;
}
function hexToNumber(hex) {
  if (typeof hex !== "string")
    throw new TypeError("hex string expected, got " + typeof hex);
  return hex === "" ? _0n : BigInt("0x" + hex);
}
function bytesToNumberBE(bytes) {
  return hexToNumber(bytesToHex(bytes));
}
function bytesToNumberLE(bytes) {
  return hexToNumber(bytesToHex(copyBytes(abytes(bytes)).reverse()));
}
function numberToBytesBE(n, len) {
  anumber(len);
  if (len === 0)
    throw new Error("zero output length is invalid");
  n = abignumber(n);
  const expectedLen = len * 2;
  const hex = n.toString(16);
  if (hex.length > expectedLen)
    throw new RangeError("number is too large");
  return hexToBytes(hex.padStart(expectedLen, "0"));
}
function numberToBytesLE(n, len) {
  return numberToBytesBE(n, len).reverse();
}
function copyBytes(bytes) {
  return Uint8Array.from(abytes2(bytes));
}
function isPosBig(n) {
  return typeof n === "bigint" && _0n <= n;
}
function inRange(n, min, max) {
  return isPosBig(n) && isPosBig(min) && isPosBig(max) && min <= n && n < max;
}
function aInRange(title, n, min, max) {
  if (!inRange(n, min, max))
    throw new RangeError("expected valid " + title + ": " + min + " <= n < " + max + ", got " + n);
}
function bitLen(n) {
  if (n < _0n)
    throw new Error("expected non-negative bigint, got " + n);
  return n === _0n ? 0 : n.toString(2).length;
}
var bitMask = (n) => {
  asafenumber(n, "n");
  return (_1n << BigInt(n)) - _1n;
};
function createHmacDrbg(hashLen, qByteLen, hmacFn) {
  anumber(hashLen, "hashLen");
  anumber(qByteLen, "qByteLen");
  if (typeof hmacFn !== "function")
    throw new TypeError("hmacFn must be a function");
  const u8n = (len) => new Uint8Array(len);
  const NULL = Uint8Array.of();
  const byte0 = Uint8Array.of(0);
  const byte1 = Uint8Array.of(1);
  const _maxDrbgIters = 1e3;
  let v = u8n(hashLen);
  let k = u8n(hashLen);
  let i = 0;
  const reset = () => {
    v.fill(1);
    k.fill(0);
    i = 0;
  };
  const h = (...msgs) => hmacFn(k, concatBytes2(v, ...msgs));
  const reseed = (seed = NULL) => {
    k = h(byte0, seed);
    v = h();
    if (seed.length === 0)
      return;
    k = h(byte1, seed);
    v = h();
  };
  const gen = () => {
    if (i++ >= _maxDrbgIters)
      throw new Error("drbg: tried max amount of iterations");
    let len = 0;
    const out = [];
    while (len < qByteLen) {
      v = h();
      const sl = v.slice();
      out.push(sl);
      len += v.length;
    }
    return concatBytes2(...out);
  };
  const genUntil = (seed, pred) => {
    reset();
    reseed(seed);
    let res = void 0;
    while ((res = pred(gen())) === void 0)
      reseed();
    reset();
    return res;
  };
  return genUntil;
}
function validateObject(object, fields = {}, optFields = {}, title = "object") {
  aobject2(object, title);
  aobject2(fields, "fields");
  aobject2(optFields, "optFields");
  function checkField(fieldName, expectedType, isOpt) {
    const label = title === "object" ? `param "${String(fieldName)}"` : `"${title}.${String(fieldName)}"`;
    const val = object[fieldName];
    if (!Object.hasOwn(object, fieldName) && (isOpt ? val !== void 0 : expectedType !== "function")) {
      throw new TypeError(`${label} is invalid: expected own property`);
    }
    if (isOpt && val === void 0)
      return;
    const current = typeof val;
    if (current !== expectedType || val === null)
      throw new TypeError(`${label} is invalid: expected ${expectedType}, got ${current}`);
  }
  const iter = (f, isOpt) => Object.entries(f).forEach(([k, v]) => checkField(k, v, isOpt));
  iter(fields, false);
  iter(optFields, true);
}

// node_modules/@noble/curves/abstract/modular.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var _0n2 = /* @__PURE__ */ BigInt(0);
var _1n2 = /* @__PURE__ */ BigInt(1);
var _2n = /* @__PURE__ */ BigInt(2);
var _3n = /* @__PURE__ */ BigInt(3);
var _4n = /* @__PURE__ */ BigInt(4);
var _5n = /* @__PURE__ */ BigInt(5);
var _7n = /* @__PURE__ */ BigInt(7);
var _8n = /* @__PURE__ */ BigInt(8);
var _9n = /* @__PURE__ */ BigInt(9);
var _15n = /* @__PURE__ */ BigInt(15);
var _16n = /* @__PURE__ */ BigInt(16);
var POW_WINDOWED_MIN = /* @__PURE__ */ BigInt("0x10000000000000000");
function mod(a, b) {
  if (b <= _0n2)
    throw new Error("mod: expected positive modulus, got " + b);
  const result = a % b;
  return result >= _0n2 ? result : b + result;
}
function pow(num, power, modulo) {
  if (modulo <= _1n2)
    throw new Error("pow: expected modulus > 1, got " + modulo);
  if (typeof power !== "bigint")
    throw new TypeError("invalid exponent: expected bigint, got " + typeof power);
  if (power < _0n2)
    throw new Error("invalid exponent, negatives unsupported");
  if (power === _0n2)
    return _1n2;
  if (power === _1n2)
    return num;
  let d = num % modulo;
  if (d < _0n2)
    d += modulo;
  if (power < POW_WINDOWED_MIN) {
    let p2 = _1n2;
    while (power > _0n2) {
      if (power & _1n2)
        p2 = p2 * d % modulo;
      d = d * d % modulo;
      power >>= _1n2;
    }
    return p2;
  }
  const digits = [];
  while (power > _0n2) {
    digits.push(Number(power & _15n));
    power >>= _4n;
  }
  const table = new Array(16);
  table[0] = _1n2;
  table[1] = d;
  for (let i = 2; i < 16; i++)
    table[i] = table[i - 1] * d % modulo;
  let p = table[digits[digits.length - 1]];
  for (let w = digits.length - 2; w >= 0; w--) {
    p = p * p % modulo;
    p = p * p % modulo;
    p = p * p % modulo;
    p = p * p % modulo;
    const digit = digits[w];
    if (digit !== 0)
      p = p * table[digit] % modulo;
  }
  return p;
}
function pow2(x, power, modulo) {
  if (modulo <= _1n2)
    throw new Error("pow2: expected modulus > 1, got " + modulo);
  if (power < _0n2)
    throw new Error("pow2: expected non-negative exponent, got " + power);
  let res = x;
  while (power-- > _0n2) {
    res *= res;
    res %= modulo;
  }
  return res;
}
function invert(number, modulo) {
  if (number === _0n2)
    throw new Error("invert: expected non-zero number");
  if (modulo <= _1n2)
    throw new Error("invert: expected modulus > 1, got " + modulo);
  let a = mod(number, modulo);
  let b = modulo;
  let x = _0n2, u = _1n2;
  while (a !== _0n2) {
    const q = b / a;
    const r = b - a * q;
    const m = x - u * q;
    b = a, a = r, x = u, u = m;
  }
  const gcd = b;
  if (gcd !== _1n2)
    throw new Error("invert: does not exist");
  return mod(x, modulo);
}
function invertCt(a, prime) {
  if (prime <= _1n2)
    throw new Error("invertCt: expected prime modulus > 1, got " + prime);
  const an = mod(a, prime);
  if (an === _0n2)
    throw new Error("invertCt: expected non-zero number");
  const inverse = pow(an, prime - _2n, prime);
  if (mod(an * inverse, prime) !== _1n2)
    throw new Error("invertCt: does not exist");
  return inverse;
}
function assertIsSquare(Fp, root, n) {
  const F = Fp;
  if (!F.eql(F.sqr(root), n))
    throw new Error("Cannot find square root");
}
function aoddModulus(order, fnName) {
  if ((order & _1n2) === _0n2)
    throw new Error(fnName + ": expected odd modulus, got " + order);
}
function sqrt3mod4(Fp, n) {
  const F = Fp;
  const p1div4 = (F.ORDER + _1n2) / _4n;
  const root = F.pow(n, p1div4);
  assertIsSquare(F, root, n);
  return root;
}
function sqrt5mod8(Fp, n) {
  const F = Fp;
  const p5div8 = (F.ORDER - _5n) / _8n;
  const n2 = F.mul(n, _2n);
  const v = F.pow(n2, p5div8);
  const nv = F.mul(n, v);
  const i = F.mul(F.mul(nv, _2n), v);
  const root = F.mul(nv, F.sub(i, F.ONE));
  assertIsSquare(F, root, n);
  return root;
}
function sqrt9mod16(P) {
  const Fp_ = Field(P);
  const tn = tonelliShanks(P);
  const c1 = tn(Fp_, Fp_.neg(Fp_.ONE));
  const c2 = tn(Fp_, c1);
  const c3 = tn(Fp_, Fp_.neg(c1));
  const c4 = (P + _7n) / _16n;
  return ((Fp, n) => {
    const F = Fp;
    let tv1 = F.pow(n, c4);
    let tv2 = F.mul(tv1, c1);
    const tv3 = F.mul(tv1, c2);
    const tv4 = F.mul(tv1, c3);
    const e1 = F.eql(F.sqr(tv2), n);
    const e2 = F.eql(F.sqr(tv3), n);
    tv1 = F.cmov(tv1, tv2, e1);
    tv2 = F.cmov(tv4, tv3, e2);
    const e3 = F.eql(F.sqr(tv2), n);
    const root = F.cmov(tv1, tv2, e3);
    assertIsSquare(F, root, n);
    return root;
  });
}
function tonelliShanks(P) {
  if (P < _3n)
    throw new Error("sqrt is not defined for small field");
  aoddModulus(P, "tonelliShanks");
  let Q = P - _1n2;
  let S = 0;
  while (Q % _2n === _0n2) {
    Q /= _2n;
    S++;
  }
  let Z = _2n;
  const _Fp = Field(P);
  while (FpLegendre(_Fp, Z) === 1) {
    if (Z++ > 1e3)
      throw new Error("Cannot find square root: probably non-prime P");
  }
  if (S === 1)
    return sqrt3mod4;
  let cc = _Fp.pow(Z, Q);
  const Q1div2 = (Q + _1n2) / _2n;
  return function tonelliSlow(Fp, n) {
    const F = Fp;
    if (F.is0(n))
      return n;
    if (FpLegendre(F, n) !== 1)
      throw new Error("Cannot find square root");
    let M = S;
    let c = F.mul(F.ONE, cc);
    let t = F.pow(n, Q);
    let R = F.pow(n, Q1div2);
    while (!F.eql(t, F.ONE)) {
      if (F.is0(t))
        throw new Error("Cannot find square root: probably non-prime P");
      let i = 1;
      let t_tmp = F.sqr(t);
      while (!F.eql(t_tmp, F.ONE)) {
        i++;
        t_tmp = F.sqr(t_tmp);
        if (i === M)
          throw new Error("Cannot find square root");
      }
      const exponent = _1n2 << BigInt(M - i - 1);
      const b = F.pow(c, exponent);
      M = i;
      c = F.sqr(b);
      t = F.mul(t, c);
      R = F.mul(R, b);
    }
    return R;
  };
}
function FpSqrt(P) {
  aoddModulus(P, "Fp.sqrt");
  if (P % _4n === _3n)
    return sqrt3mod4;
  if (P % _8n === _5n)
    return sqrt5mod8;
  if (P % _16n === _9n)
    return sqrt9mod16(P);
  return tonelliShanks(P);
}
var FIELD_FIELDS = [
  "create",
  "isValid",
  "is0",
  "neg",
  "inv",
  "sqrt",
  "sqr",
  "eql",
  "add",
  "sub",
  "mul",
  "pow",
  "div",
  "addN",
  "subN",
  "mulN",
  "sqrN"
];
function validateField(field) {
  aobject2(field, "field");
  if (typeof field.ORDER !== "bigint")
    throw new TypeError('param "ORDER" is invalid: expected bigint, got ' + typeof field.ORDER);
  asafenumber(field.BYTES, "BYTES");
  asafenumber(field.BITS, "BITS");
  for (const name of FIELD_FIELDS)
    afunction(field[name], "field." + name);
  if (field.BYTES < 1 || field.BITS < 1)
    throw new Error("invalid field: expected BYTES/BITS > 0");
  if (field.ORDER <= _1n2)
    throw new Error("invalid field: expected ORDER > 1, got " + field.ORDER);
  return field;
}
function FpInvertBatch(Fp, nums, passZero = false) {
  validateField(Fp);
  aarray(nums, "nums");
  abool(passZero, "passZero");
  const F = Fp;
  const inverted = new Array(nums.length).fill(passZero ? F.ZERO : void 0);
  const multipliedAcc = nums.reduce((acc, num, i) => {
    if (F.is0(num))
      return acc;
    inverted[i] = acc;
    return F.mul(acc, num);
  }, F.ONE);
  const invertedAcc = F.inv(multipliedAcc);
  nums.reduceRight((acc, num, i) => {
    if (F.is0(num))
      return acc;
    inverted[i] = F.mul(acc, inverted[i]);
    return F.mul(acc, num);
  }, invertedAcc);
  return inverted;
}
function FpLegendre(Fp, n) {
  validateField(Fp);
  const F = Fp;
  aoddModulus(F.ORDER, "FpLegendre");
  const p1mod2 = (F.ORDER - _1n2) / _2n;
  const powered = F.pow(n, p1mod2);
  const yes = F.eql(powered, F.ONE);
  const zero = F.eql(powered, F.ZERO);
  const no = F.eql(powered, F.neg(F.ONE));
  if (!yes && !zero && !no)
    throw new Error("invalid Legendre symbol result");
  return yes ? 1 : zero ? 0 : -1;
}
function nLength(n, nBitLength) {
  if (nBitLength !== void 0)
    anumber2(nBitLength);
  if (n <= _0n2)
    throw new Error("invalid n length: expected positive n, got " + n);
  if (nBitLength !== void 0 && nBitLength < 1)
    throw new Error("invalid n length: expected positive bit length, got " + nBitLength);
  const bits = bitLen(n);
  if (nBitLength !== void 0 && nBitLength < bits)
    throw new Error(`invalid n length: expected nBitLength (${nBitLength}) >= bitLen(n) (${bits})`);
  const _nBitLength = nBitLength !== void 0 ? nBitLength : bits;
  const nByteLength = Math.ceil(_nBitLength / 8);
  return { nBitLength: _nBitLength, nByteLength };
}
var FIELD_SQRT = /* @__PURE__ */ new WeakMap();
var _Field = class {
  ORDER;
  BITS;
  BYTES;
  isLE;
  ZERO = _0n2;
  ONE = _1n2;
  _lengths;
  _mod;
  constructor(ORDER, opts = {}) {
    if (ORDER <= _1n2)
      throw new Error("invalid field: expected ORDER > 1, got " + ORDER);
    let _nbitLength = void 0;
    this.isLE = false;
    if (opts != null && typeof opts === "object") {
      if (typeof opts.BITS === "number")
        _nbitLength = opts.BITS;
      if (typeof opts.sqrt === "function")
        Object.defineProperty(this, "sqrt", { value: opts.sqrt, enumerable: true });
      if (typeof opts.isLE === "boolean")
        this.isLE = opts.isLE;
      if (opts.allowedLengths)
        this._lengths = Object.freeze(opts.allowedLengths.slice());
      if (typeof opts.modFromBytes === "boolean")
        this._mod = opts.modFromBytes;
    }
    const { nBitLength, nByteLength } = nLength(ORDER, _nbitLength);
    if (nByteLength > 2048)
      throw new Error("invalid field: expected ORDER of <= 2048 bytes");
    this.ORDER = ORDER;
    this.BITS = nBitLength;
    this.BYTES = nByteLength;
    Object.freeze(this);
  }
  create(num) {
    return mod(num, this.ORDER);
  }
  isValid(num) {
    if (typeof num !== "bigint")
      throw new TypeError("invalid field element: expected bigint, got " + typeof num);
    return _0n2 <= num && num < this.ORDER;
  }
  is0(num) {
    return num === _0n2;
  }
  // is valid and invertible
  isValidNot0(num) {
    return !this.is0(num) && this.isValid(num);
  }
  isOdd(num) {
    return (num & _1n2) === _1n2;
  }
  neg(num) {
    return mod(-num, this.ORDER);
  }
  eql(lhs, rhs) {
    return lhs === rhs;
  }
  sqr(num) {
    return mod(num * num, this.ORDER);
  }
  add(lhs, rhs) {
    return mod(lhs + rhs, this.ORDER);
  }
  sub(lhs, rhs) {
    return mod(lhs - rhs, this.ORDER);
  }
  mul(lhs, rhs) {
    return mod(lhs * rhs, this.ORDER);
  }
  pow(num, power) {
    return pow(num, power, this.ORDER);
  }
  div(lhs, rhs) {
    return mod(lhs * invert(rhs, this.ORDER), this.ORDER);
  }
  // Same as above, but doesn't normalize
  sqrN(num) {
    return num * num;
  }
  addN(lhs, rhs) {
    return lhs + rhs;
  }
  subN(lhs, rhs) {
    return lhs - rhs;
  }
  mulN(lhs, rhs) {
    return lhs * rhs;
  }
  inv(num) {
    return invert(num, this.ORDER);
  }
  sqrt(num) {
    let sqrt = FIELD_SQRT.get(this);
    if (!sqrt)
      FIELD_SQRT.set(this, sqrt = FpSqrt(this.ORDER));
    return sqrt(this, num);
  }
  toBytes(num) {
    return this.isLE ? numberToBytesLE(num, this.BYTES) : numberToBytesBE(num, this.BYTES);
  }
  fromBytes(bytes, skipValidation = false) {
    abytes2(bytes);
    const { _lengths: allowedLengths, BYTES, isLE, ORDER, _mod: modFromBytes } = this;
    if (allowedLengths) {
      if (bytes.length < 1 || !allowedLengths.includes(bytes.length) || bytes.length > BYTES) {
        throw new Error("Field.fromBytes: expected " + allowedLengths + " bytes, got " + bytes.length);
      }
      const padded = new Uint8Array(BYTES);
      padded.set(bytes, isLE ? 0 : padded.length - bytes.length);
      bytes = padded;
    }
    if (bytes.length !== BYTES)
      throw new Error("Field.fromBytes: expected " + BYTES + " bytes, got " + bytes.length);
    let scalar = isLE ? bytesToNumberLE(bytes) : bytesToNumberBE(bytes);
    if (modFromBytes)
      scalar = mod(scalar, ORDER);
    if (!skipValidation) {
      if (!this.isValid(scalar))
        throw new Error("invalid field element: outside of range 0..ORDER");
    }
    return scalar;
  }
  // TODO: we don't need it here, move out to separate fn
  invertBatch(lst) {
    return FpInvertBatch(this, lst, true);
  }
  // We can't move this out because Fp6, Fp12 implement it
  // and it's unclear what to return in there.
  cmov(a, b, condition) {
    abool(condition, "condition");
    return condition ? b : a;
  }
};
function Field(ORDER, opts = {}) {
  Object.freeze(_Field.prototype);
  return new _Field(ORDER, opts);
}
function getFieldBytesLength(fieldOrder) {
  if (typeof fieldOrder !== "bigint")
    throw new Error("field order must be bigint");
  if (fieldOrder <= _1n2)
    throw new Error("field order must be greater than 1");
  const bitLength = bitLen(fieldOrder - _1n2);
  return Math.ceil(bitLength / 8);
}
function getMinHashLength(fieldOrder) {
  const length = getFieldBytesLength(fieldOrder);
  return length + Math.ceil(length / 2);
}
function mapHashToField(key, fieldOrder, isLE = false) {
  abytes2(key);
  const len = key.length;
  const fieldLen = getFieldBytesLength(fieldOrder);
  const minLen = Math.max(getMinHashLength(fieldOrder), 16);
  if (len < minLen || len > 1024)
    throw new Error("expected " + minLen + "-1024 bytes of input, got " + len);
  const num = isLE ? bytesToNumberLE(key) : bytesToNumberBE(key);
  const reduced = mod(num, fieldOrder - _1n2) + _1n2;
  return isLE ? numberToBytesLE(reduced, fieldLen) : numberToBytesBE(reduced, fieldLen);
}

// node_modules/@noble/curves/abstract/curve.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var _0n3 = /* @__PURE__ */ BigInt(0);
var _1n3 = /* @__PURE__ */ BigInt(1);
var _4n2 = /* @__PURE__ */ BigInt(4);
var BLIND_BYTES = 16;
var BLIND_BITS = 128;
var FW_WINDOW = 5;
var TABLE_BYTES_MAX = /* @__PURE__ */ (() => 2 ** 31)();
function validatePointCons(Point) {
  const pc = Point;
  if (typeof pc !== "function")
    throw new TypeError('"Point" expected constructor, got type=' + typeof Point);
  afunction(pc.fromAffine, "Point.fromAffine");
  afunction(pc.fromBytes, "Point.fromBytes");
  afunction(pc.fromHex, "Point.fromHex");
  aobject2(pc.BASE, "Point.BASE");
  aobject2(pc.ZERO, "Point.ZERO");
  validateField(pc.Fp);
  validateField(pc.Fn);
}
function normalizeZ(c, points) {
  validatePointCons(c);
  validateMSMPoints(points, c);
  const invertedZs = FpInvertBatch(c.Fp, points.map((p) => p.Z));
  return points.map((p, i) => c.fromAffine(p.toAffine(invertedZs[i])));
}
function validateW(W, bits, min = 1) {
  if (!Number.isSafeInteger(W) || W < min || W > bits)
    throw new Error("invalid window size, expected [" + min + ".." + bits + "], got W=" + W);
}
function validateTableBytes(numPoints, fpBytes) {
  const bytes = numPoints * (4 * fpBytes + 128);
  if (bytes > TABLE_BYTES_MAX)
    throw new Error("invalid window size: table would need ~" + Math.ceil(bytes / 2 ** 20) + " MiB, max " + TABLE_BYTES_MAX / 2 ** 20 + " MiB");
}
function probeRandomBytes(randomBytes3, length) {
  if (randomBytes3 === void 0)
    return void 0;
  afunction(randomBytes3, "randomBytes");
  try {
    const probe = randomBytes3(length);
    if (!isBytes2(probe) || probe.length !== length)
      return void 0;
  } catch {
    return void 0;
  }
  return randomBytes3;
}
function validateMSMPoints(points, c) {
  aarray(points, "points");
  points.forEach((p, i) => {
    if (!(p instanceof c))
      throw new Error("invalid point at index " + i);
  });
}
function validateMSMScalars(scalars, field, maxScalar) {
  if (!Array.isArray(scalars))
    throw new Error("array of scalars expected");
  scalars.forEach((s, i) => {
    const ok = maxScalar === void 0 ? field.isValid(s) : isPosBig(s) && s < maxScalar;
    if (!ok)
      throw new Error("invalid scalar at index " + i);
  });
}
var pointWindowSizes = /* @__PURE__ */ new WeakMap();
function getWindowSize(P) {
  return pointWindowSizes.get(P) || 1;
}
function oddMultiples(p, size) {
  const dbl = p.double();
  const t = [p];
  for (let j = 1; j < size; j++)
    t.push(t[j - 1].add(dbl));
  return t;
}
function wnafDigits(n, W) {
  const size = 2 ** W;
  const half = size / 2;
  const mask = BigInt(size - 1);
  const d = [];
  while (n > _0n3) {
    let w = 0;
    if (n & _1n3) {
      w = Number(n & mask);
      if (w >= half)
        w -= size;
      n -= BigInt(w);
    }
    d.push(w);
    n >>= _1n3;
  }
  return d;
}
function signedWindowDigits(n, W, windows) {
  const size = 2 ** W;
  const half = size / 2;
  const mask = BigInt(size - 1);
  const shiftBy = BigInt(W);
  const d = [];
  for (let w = 0; w < windows; w++) {
    let v = Number(n & mask);
    n >>= shiftBy;
    if (v > half) {
      v -= size;
      n += _1n3;
    }
    d.push(v);
  }
  if (n !== _0n3)
    throw new Error("invalid wnaf");
  return d;
}
function wnafWalk(zero, tables, digits) {
  let max = 0;
  for (const d of digits)
    max = Math.max(max, d.length);
  let acc = zero;
  for (let bit = max - 1; bit >= 0; bit--) {
    if (bit !== max - 1)
      acc = acc.double();
    for (let i = 0; i < digits.length; i++) {
      const w = digits[i][bit];
      if (w) {
        const item = tables[i][Math.abs(w) - 1 >> 1];
        acc = acc.add(w < 0 ? item.negate() : item);
      }
    }
  }
  return acc;
}
var ScalarMultiplier = class {
  Point;
  BASE;
  ZERO;
  randomBytes;
  wnafPrecomputes = /* @__PURE__ */ new WeakMap();
  baseCanBeBlinded;
  bits;
  // Parametrized with a given Point class (not individual point)
  constructor(Point, randomBytes3) {
    validatePointCons(Point);
    this.randomBytes = probeRandomBytes(randomBytes3, BLIND_BYTES);
    this.Point = Point;
    this.BASE = Point.BASE;
    this.ZERO = Point.ZERO;
    this.bits = Point.Fn.BITS;
  }
  /**
   * Creates a signed fixed-window wNAF precomputation table: for every window w, the
   * multiples `[1..2^(W−1)]⋅2^(w⋅W)⋅P`, flattened. All doublings are baked into the table,
   * so cached multiplication is additions-only. `windows = ceil(bits/W) + 1`: the extra
   * window absorbs the final carry of signed-digit recoding.
   * For a 256-bit curve and W=6, the table is 44⋅32 = 1408 points.
   * @param point - Point instance
   * @param W - window size
   * @param bits - scalar bitlength the table must cover
   */
  buildWnafTable(point, W, bits) {
    const windows = Math.ceil(bits / W) + 1;
    const half = 2 ** (W - 1);
    const comp = [];
    let base = point;
    for (let w = 0; w < windows; w++) {
      let acc = base;
      for (let i = 0; i < half; i++) {
        comp.push(acc);
        acc = acc.add(base);
      }
      base = comp[comp.length - 1].double();
    }
    return { W, bits, windows, comp };
  }
  /**
   * Implements ec multiplication using precomputed signed fixed-window wNAF tables.
   * Constant-time: fixed window count with one table addition per window — zero digits feed
   * the fake accumulator — and no doublings; the lookup scans the whole window slice.
   * Scalar bounds are validated by the public entry points ({@link ScalarMultiplier.mulCT},
   * {@link ScalarMultiplier.mulCTBlinded}, {@link ScalarMultiplier.mulUnsafe});
   * signedWindowDigits throws if `n` exceeds the table.
   * @returns real and fake (for const-time) points
   */
  wnafCachedCT(precomputes, n) {
    const { W, windows, comp } = precomputes;
    const half = 2 ** (W - 1);
    const digits = signedWindowDigits(n, W, windows);
    let p = this.ZERO;
    let f = this.BASE;
    for (let w = 0; w < windows; w++) {
      const digit = digits[w];
      const start = w * half;
      const idx = Math.abs(digit) - 1;
      let sel = comp[start];
      for (let i = 1; i < half; i++)
        sel = i === idx ? comp[start + i] : sel;
      const neg = sel.negate();
      if (digit === 0)
        f = f.add(comp[start]);
      else
        p = p.add(digit < 0 ? neg : sel);
    }
    return { p, f };
  }
  // Cache key is point identity plus (W, bits); at most two entries exist per point (public-width
  // `Fn.BITS` and blinded `Fn.BITS + BLIND_BITS`). Callers must not reuse the same point with
  // incompatible `transform(...)` layouts and expect a separate cache entry.
  getWnafPrecomputes(W, point, bits, transform) {
    let entries = this.wnafPrecomputes.get(point);
    let comp = entries?.find((entry) => entry.W === W && entry.bits === bits);
    if (!comp) {
      comp = this.buildWnafTable(point, W, bits);
      if (typeof transform === "function")
        comp = { ...comp, comp: transform(comp.comp) };
      if (!entries) {
        entries = [];
        this.wnafPrecomputes.set(point, entries);
      }
      entries.push(comp);
    }
    return comp;
  }
  assertPoint(point) {
    if (!(point instanceof this.Point))
      throw new TypeError('"point" expected Point instance, got type=' + typeof point);
  }
  // Shared prologue of the constant-time entry points. Rejects scalar 0: in key/signature-style
  // callers a zero scalar means broken upstream plumbing, and concrete Points already reject it.
  // Uses inRange instead of Fn.isValidNot0: validateField() only certifies the arithmetic subset.
  validateMulInput(point, scalar) {
    this.assertPoint(point);
    if (!inRange(scalar, _1n3, this.Point.Fn.ORDER))
      throw new Error("invalid scalar");
  }
  // Constant-time dispatch shared by mulCT / mulCTBlinded. Un-precomputed points (W===1, e.g.
  // ECDH peer keys) skip building a throwaway cached table in favor of a small fixed-window
  // multiply. `n` must be < 2^bits.
  runCT(point, n, bits, transform) {
    const W = getWindowSize(point);
    if (W === 1)
      return this.fixedWindowCT(point, n, bits);
    return this.wnafCachedCT(this.getWnafPrecomputes(W, point, bits, transform), n);
  }
  mulCT(point, scalar, transform) {
    this.validateMulInput(point, scalar);
    return this.runCT(point, scalar, this.bits, transform);
  }
  mulCTBlinded(point, scalar, transform) {
    this.validateMulInput(point, scalar);
    if (this.randomBytes === void 0)
      throw new Error("randomBytes is required for scalar blinding");
    const bits = this.Point.Fn.BITS + BLIND_BITS;
    const blind = this.randomBytes(BLIND_BYTES);
    if (!isBytes2(blind) || blind.length !== BLIND_BYTES)
      throw new Error("randomBytes returned invalid byte array");
    blind[0] = blind[0] & 63 | 128;
    const n = scalar + bytesToNumberBE(blind) * this.Point.Fn.ORDER;
    return this.runCT(point, n, bits, transform);
  }
  /**
   * Constant-time multiplication `n*point` for an un-precomputed point, via a small fixed window.
   * A cached wNAF table only pays off when reused; a flat 2^FW_WINDOW table (`size-1` adds) is
   * far cheaper to build for a single use. The point-operation sequence is independent of `n`:
   * build the table, then per window exactly FW_WINDOW doublings, a data-oblivious scan over
   * every table entry, and one addition (adds the identity when the window digit is 0 — never
   * skipped).
   *
   * `n` must be `< 2^bits`. Assumes complete addition (adding the identity costs the same as any
   * add), which holds for the Weierstrass/Edwards point types used here. The table is left in
   * projective form (no normalizeZ): normalizing this small a table costs more than the
   * mixed-add savings it would buy for a single multiply.
   * @returns real point `p`; `f` duplicates it only to match {@link wnafCachedCT}'s return shape
   * (this path needs no fake accumulator — its op-count is already scalar-independent).
   */
  fixedWindowCT(point, n, bits) {
    const W = FW_WINDOW;
    const size = 1 << W;
    const mask = bitMask(W);
    const table = new Array(size);
    table[0] = this.ZERO;
    for (let i = 1; i < size; i++)
      table[i] = table[i - 1].add(point);
    const windows = Math.ceil(bits / W);
    let acc = this.ZERO;
    for (let window = windows - 1; window >= 0; window--) {
      if (window !== windows - 1)
        for (let d = 0; d < W; d++)
          acc = acc.double();
      const digit = Number(n >> BigInt(window * W) & mask);
      let sel = table[0];
      for (let i = 1; i < size; i++)
        sel = i === digit ? table[i] : sel;
      acc = acc.add(sel);
    }
    return { p: acc, f: acc };
  }
  shouldBlind(point, cofactor) {
    if (this.randomBytes === void 0)
      return false;
    if (cofactor === _1n3)
      return true;
    if (point !== this.BASE)
      return false;
    if (this.baseCanBeBlinded === void 0)
      this.baseCanBeBlinded = this.mulUnsafe(this.BASE, this.Point.Fn.ORDER).is0();
    return this.baseCanBeBlinded;
  }
  mulSecret(point, scalar, cofactor, transform) {
    return this.shouldBlind(point, cofactor) ? this.mulCTBlinded(point, scalar, transform) : this.mulCT(point, scalar, transform);
  }
  mulUnsafe(point, scalar, transform) {
    this.assertPoint(point);
    if (!isPosBig(scalar))
      throw new Error("invalid scalar");
    const W = getWindowSize(point);
    if (W === 1 || scalar >= this.Point.Fn.ORDER)
      return mulAddUnsafe(this.Point, [point], [scalar], true);
    const precomputes = this.getWnafPrecomputes(W, point, this.bits, transform);
    return this.wnafCachedCT(precomputes, scalar).p;
  }
  // Remembers the window size used for precomputed wNAF multiplication of the given point
  // and drops any previously built tables. Usually only the base point is precomputed.
  // W=1 resets the point to the un-precomputed (table-less) paths.
  // W is additionally capped so tables stay under ~2 GiB ({@link TABLE_BYTES_MAX}).
  setWindowSize(point, W) {
    this.assertPoint(point);
    validateW(W, this.bits);
    const windows = Math.ceil((this.bits + BLIND_BITS) / W) + 1;
    validateTableBytes(windows * 2 ** (W - 1), this.Point.Fp.BYTES);
    pointWindowSizes.set(point, W);
    this.wnafPrecomputes.delete(point);
  }
  // True when a window size is set: tables themselves are built lazily on first multiply.
  hasWindowSize(point) {
    return getWindowSize(point) !== 1;
  }
};
function mulAddUnsafe(c, points, scalars, allowOversized = false) {
  validatePointCons(c);
  validateMSMPoints(points, c);
  abool(allowOversized, "allowOversized");
  validateMSMScalars(scalars, c.Fn, allowOversized ? c.Fn.ORDER ** _4n2 : void 0);
  if (points.length !== scalars.length)
    throw new Error("arrays of points and scalars must have equal length");
  const tables = points.map((p) => oddMultiples(p, 4));
  const digits = scalars.map((n) => wnafDigits(n, 4));
  return wnafWalk(c.ZERO, tables, digits);
}
function createField(order, field, isLE) {
  if (field) {
    if (field.ORDER !== order)
      throw new Error("Field.ORDER must match order: Fp == p, Fn == n");
    validateField(field);
    return field;
  } else {
    return Field(order, { isLE });
  }
}
function createCurveFields(type, CURVE, curveOpts = {}, FpFnLE) {
  if (type !== "weierstrass" && type !== "edwards")
    throw new Error('expected curve type "weierstrass" or "edwards"');
  if (FpFnLE === void 0)
    FpFnLE = type === "edwards";
  if (!CURVE || typeof CURVE !== "object")
    throw new Error(`expected valid ${type} CURVE object`);
  validateObject(curveOpts);
  for (const p of ["p", "n", "h"]) {
    const val = CURVE[p];
    if (!(isPosBig(val) && val !== _0n3))
      throw new Error(`CURVE.${p} must be positive bigint`);
  }
  const Fp = createField(CURVE.p, curveOpts.Fp, FpFnLE);
  const Fn = createField(CURVE.n, curveOpts.Fn, FpFnLE);
  const _b = type === "weierstrass" ? "b" : "d";
  const params = ["Gx", "Gy", "a", _b];
  for (const p of params) {
    if (!Fp.isValid(CURVE[p]))
      throw new Error(`CURVE.${p} must be valid field element of CURVE.Fp`);
  }
  CURVE = Object.freeze(Object.assign({}, CURVE));
  return { CURVE, Fp, Fn };
}
function createKeygen(randomSecretKey, getPublicKey) {
  return function keygen(seed) {
    const secretKey = randomSecretKey(seed);
    return { secretKey, publicKey: getPublicKey(secretKey) };
  };
}

// node_modules/@noble/hashes/hmac.js
var _HMAC = class {
  oHash;
  iHash;
  blockLen;
  outputLen;
  canXOF = false;
  finished = false;
  destroyed = false;
  constructor(hash, key) {
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function")
      throw new Error("expected Hash instance");
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const buf = out.subarray(0, this.outputLen);
    this.iHash.digestInto(buf);
    this.oHash.update(buf);
    this.oHash.digestInto(buf);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to ||= Object.create(Object.getPrototypeOf(this), {});
    const { oHash, iHash, finished, destroyed, blockLen, outputLen, canXOF } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.canXOF = canXOF;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = /* @__PURE__ */ (() => {
  const hmac_ = ((hash, key, message) => new _HMAC(hash, key).update(message).digest());
  hmac_.create = (hash, key) => new _HMAC(hash, key);
  return hmac_;
})();

// node_modules/@noble/curves/abstract/der.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var _0n4 = /* @__PURE__ */ BigInt(0);
var DERErr = class extends Error {
  constructor(m = "") {
    super(m);
  }
};
var _DER = {
  // asn.1 DER encoding utils
  Err: DERErr,
  // Basic building block is TLV (Tag-Length-Value)
  _tlv: {
    encode: (tag, data) => {
      const { Err: E } = _DER;
      asafenumber(tag, "tag");
      if (tag < 0 || tag > 255)
        throw new E("tlv.encode: wrong tag");
      astring(data, "data");
      if (data.length & 1)
        throw new E("tlv.encode: unpadded data");
      const dataLen = data.length / 2;
      const len = numberToHexUnpadded(dataLen);
      if (len.length / 2 & 128)
        throw new E("tlv.encode: long form length too big");
      const lenLen = dataLen > 127 ? numberToHexUnpadded(len.length / 2 | 128) : "";
      const t = numberToHexUnpadded(tag);
      return t + lenLen + len + data;
    },
    // v - value, l - left bytes (unparsed)
    decode(tag, data) {
      const { Err: E } = _DER;
      data = abytes2(data, void 0, "DER data");
      let pos = 0;
      if (tag < 0 || tag > 255)
        throw new E("tlv.decode: wrong tag");
      if (data.length < 2 || data[pos++] !== tag)
        throw new E("tlv.decode: wrong tlv");
      const first = data[pos++];
      const isLong = !!(first & 128);
      let length = 0;
      if (!isLong)
        length = first;
      else {
        const lenLen = first & 127;
        if (!lenLen)
          throw new E("tlv.decode(long): indefinite length not supported");
        if (lenLen > 4)
          throw new E("tlv.decode(long): byte length is too big");
        const lengthBytes = data.subarray(pos, pos + lenLen);
        if (lengthBytes.length !== lenLen)
          throw new E("tlv.decode: length bytes not complete");
        if (lengthBytes[0] === 0)
          throw new E("tlv.decode(long): zero leftmost byte");
        for (const b of lengthBytes)
          length = length << 8 | b;
        pos += lenLen;
        if (length < 128)
          throw new E("tlv.decode(long): not minimal encoding");
      }
      const v = data.subarray(pos, pos + length);
      if (v.length !== length)
        throw new E("tlv.decode: wrong value length");
      return { v, l: data.subarray(pos + length) };
    }
  },
  // https://crypto.stackexchange.com/a/57734 Leftmost bit of first byte is 'negative' flag,
  // since we always use positive integers here. It must always be empty:
  // - add zero byte if exists
  // - if next byte doesn't have a flag, leading zero is not allowed (minimal encoding)
  _int: {
    encode(num) {
      const { Err: E } = _DER;
      abignumber(num);
      if (num < _0n4)
        throw new E("integer: negative integers are not allowed");
      let hex = numberToHexUnpadded(num);
      if (Number.parseInt(hex[0], 16) & 8)
        hex = "00" + hex;
      if (hex.length & 1)
        throw new E("unexpected DER parsing assertion: unpadded hex");
      return hex;
    },
    decode(data) {
      const { Err: E } = _DER;
      if (data.length < 1)
        throw new E("invalid signature integer: empty");
      if (data[0] & 128)
        throw new E("invalid signature integer: negative");
      if (data.length > 1 && data[0] === 0 && !(data[1] & 128))
        throw new E("invalid signature integer: unnecessary leading zero");
      return bytesToNumberBE(data);
    }
  },
  toSig(bytes, maxScalarBytes) {
    const { Err: E, _int: int, _tlv: tlv } = _DER;
    if (maxScalarBytes !== void 0) {
      asafenumber(maxScalarBytes, "maxScalarBytes");
      if (maxScalarBytes < 1)
        throw new E("invalid signature: maxScalarBytes must be positive");
    }
    const data = abytes2(bytes, void 0, "signature");
    const { v: seqBytes, l: seqLeftBytes } = tlv.decode(48, data);
    if (seqLeftBytes.length)
      throw new E("invalid signature: left bytes after parsing");
    const { v: rBytes, l: rLeftBytes } = tlv.decode(2, seqBytes);
    const { v: sBytes, l: sLeftBytes } = tlv.decode(2, rLeftBytes);
    if (sLeftBytes.length)
      throw new E("invalid signature: left bytes after parsing");
    if (maxScalarBytes !== void 0 && (rBytes.length > maxScalarBytes || sBytes.length > maxScalarBytes))
      throw new E("invalid signature: integer too large");
    return { r: int.decode(rBytes), s: int.decode(sBytes) };
  },
  hexFromSig(sig) {
    const { _tlv: tlv, _int: int } = _DER;
    validateObject(sig, { r: "bigint", s: "bigint" }, {}, "sig");
    const rs = tlv.encode(2, int.encode(sig.r));
    const ss = tlv.encode(2, int.encode(sig.s));
    const seq = rs + ss;
    return tlv.encode(48, seq);
  }
};
var DER = /* @__PURE__ */ (() => {
  Object.freeze(_DER._tlv);
  Object.freeze(_DER._int);
  return Object.freeze(_DER);
})();

// node_modules/@noble/curves/abstract/weierstrass.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var divNearest = (num, den) => (num + (num >= 0 ? den : -den) / _2n2) / den;
function _splitEndoScalar(k, basis, n) {
  aInRange("scalar", k, _0n5, n);
  const [[a1, b1], [a2, b2]] = basis;
  const c1 = divNearest(b2 * k, n);
  const c2 = divNearest(-b1 * k, n);
  let k1 = k - c1 * a1 - c2 * a2;
  let k2 = -c1 * b1 - c2 * b2;
  const k1neg = k1 < _0n5;
  const k2neg = k2 < _0n5;
  if (k1neg)
    k1 = -k1;
  if (k2neg)
    k2 = -k2;
  const MAX_NUM = bitMask(Math.ceil(bitLen(n) / 2)) + _1n4;
  if (k1 < _0n5 || k1 >= MAX_NUM || k2 < _0n5 || k2 >= MAX_NUM) {
    throw new Error("splitScalar (endomorphism): failed for k");
  }
  return { k1neg, k1, k2neg, k2 };
}
function validateSigFormat(format) {
  if (!["compact", "recovered", "der"].includes(format))
    throw new Error('Signature format must be "compact", "recovered", or "der"');
  return format;
}
function validateSigOpts(opts, def) {
  validateObject(opts);
  const optsn = {};
  for (let optName of Object.keys(def)) {
    optsn[optName] = opts[optName] === void 0 ? def[optName] : opts[optName];
  }
  abool(optsn.lowS, "lowS");
  abool(optsn.prehash, "prehash");
  if (optsn.format !== void 0)
    validateSigFormat(optsn.format);
  return optsn;
}
var _0n5 = /* @__PURE__ */ BigInt(0);
var _1n4 = /* @__PURE__ */ BigInt(1);
var _2n2 = /* @__PURE__ */ BigInt(2);
var _3n2 = /* @__PURE__ */ BigInt(3);
var _4n3 = /* @__PURE__ */ BigInt(4);
function weierstrass(params, extraOpts = {}) {
  const validated = createCurveFields("weierstrass", params, extraOpts);
  const Fp = validated.Fp;
  const Fn = validated.Fn;
  let CURVE = validated.CURVE;
  const { h: cofactor, n: CURVE_ORDER } = CURVE;
  validateObject(extraOpts, {}, {
    allowInfinityPoint: "boolean",
    clearCofactor: "function",
    isTorsionFree: "function",
    fromBytes: "function",
    toBytes: "function",
    endo: "object",
    randomBytes: "function"
  });
  const { endo: endoOpts, allowInfinityPoint, clearCofactor, isTorsionFree, fromBytes, toBytes } = extraOpts;
  const randomBytes3 = extraOpts.randomBytes === void 0 ? randomBytes2 : extraOpts.randomBytes;
  if (endoOpts) {
    if (!Fp.is0(CURVE.a) || typeof endoOpts.beta !== "bigint" || !Array.isArray(endoOpts.basises)) {
      throw new Error('invalid endo: expected "beta": bigint and "basises": array');
    }
  }
  const endo = endoOpts ? {
    beta: endoOpts.beta,
    basises: endoOpts.basises.map((basis) => [...basis])
  } : void 0;
  const lengths = getWLengths(Fp, Fn);
  function assertCompressionIsSupported() {
    if (!Fp.isOdd)
      throw new Error("compression is not supported: Field does not have .isOdd()");
  }
  function pointToBytes(_c, point, isCompressed) {
    if (point.is0()) {
      if (!allowInfinityPoint)
        throw new Error("bad point: ZERO");
      return Uint8Array.of(0);
    }
    const { x, y } = point.toAffine();
    const bx = Fp.toBytes(x);
    abool(isCompressed, "isCompressed");
    if (isCompressed) {
      assertCompressionIsSupported();
      const hasEvenY = !Fp.isOdd(y);
      return concatBytes2(pprefix(hasEvenY), bx);
    } else {
      return concatBytes2(Uint8Array.of(4), bx, Fp.toBytes(y));
    }
  }
  function pointFromBytes(bytes) {
    abytes2(bytes, void 0, "Point");
    const { publicKey: comp, publicKeyUncompressed: uncomp } = lengths;
    const length = bytes.length;
    const head = bytes[0];
    const tail = bytes.subarray(1);
    if (allowInfinityPoint && length === 1 && head === 0)
      return { x: Fp.ZERO, y: Fp.ZERO };
    if (length === comp && (head === 2 || head === 3)) {
      const x = Fp.fromBytes(tail);
      if (!Fp.isValid(x))
        throw new Error("bad point: is not on curve, wrong x");
      const y2 = weierstrassEquation(x);
      let y;
      try {
        y = Fp.sqrt(y2);
      } catch (sqrtError) {
        const err = sqrtError instanceof Error ? ": " + sqrtError.message : "";
        throw new Error("bad point: is not on curve, sqrt error" + err);
      }
      assertCompressionIsSupported();
      const evenY = Fp.isOdd(y);
      const evenH = (head & 1) === 1;
      if (evenH !== evenY)
        y = Fp.neg(y);
      return { x, y };
    } else if (length === uncomp && head === 4) {
      const L = Fp.BYTES;
      const x = Fp.fromBytes(tail.subarray(0, L));
      const y = Fp.fromBytes(tail.subarray(L, L * 2));
      if (!isValidXY(x, y))
        throw new Error("bad point: is not on curve");
      return { x, y };
    } else {
      throw new Error(`bad point: got length ${length}, expected compressed=${comp} or uncompressed=${uncomp}`);
    }
  }
  const encodePoint = toBytes === void 0 ? pointToBytes : toBytes;
  const decodePoint = fromBytes === void 0 ? pointFromBytes : fromBytes;
  const b3 = Fp.mul(CURVE.b, _3n2);
  const mulA = Fp.is0(CURVE.a) ? (_) => Fp.ZERO : (x) => Fp.mul(CURVE.a, x);
  function weierstrassEquation(x) {
    const x2 = Fp.sqr(x);
    const x3 = Fp.mul(x2, x);
    return Fp.add(Fp.add(x3, Fp.mul(x, CURVE.a)), CURVE.b);
  }
  function isValidXY(x, y) {
    const left = Fp.sqr(y);
    const right = weierstrassEquation(x);
    return Fp.eql(left, right);
  }
  if (!isValidXY(CURVE.Gx, CURVE.Gy))
    throw new Error("bad curve params: generator point");
  const _4a3 = Fp.mul(Fp.pow(CURVE.a, _3n2), _4n3);
  const _27b2 = Fp.mul(Fp.sqr(CURVE.b), BigInt(27));
  if (Fp.is0(Fp.add(_4a3, _27b2)))
    throw new Error("bad curve params: a or b");
  function acoord(title, n, banZero = false) {
    if (!Fp.isValid(n) || banZero && Fp.is0(n))
      throw new Error(`bad point coordinate ${title}`);
    return typeof n === "object" && n !== null ? Fp.create(n) : n;
  }
  function aprjpoint(other) {
    if (!(other instanceof Point))
      throw new Error("Weierstrass Point expected");
  }
  function splitEndoScalarN(k) {
    if (!endo || !endo.basises)
      throw new Error("no endo");
    return _splitEndoScalar(k, endo.basises, Fn.ORDER);
  }
  function pushWnafPair(points, scalars, p, k) {
    if (!Fn.isValid(k))
      throw new RangeError("invalid scalar: out of range");
    if (endo) {
      const { k1neg, k1, k2neg, k2 } = splitEndoScalarN(k);
      const psi = new Point(Fp.mul(p.X, endo.beta), p.Y, p.Z);
      points.push(k1neg ? p.negate() : p, k2neg ? psi.negate() : psi);
      scalars.push(k1, k2);
    } else {
      points.push(p);
      scalars.push(k);
    }
  }
  const validityCache = /* @__PURE__ */ new WeakSet();
  class Point {
    static BASE = new Point(CURVE.Gx, CURVE.Gy, Fp.ONE);
    static ZERO = new Point(Fp.ZERO, Fp.ONE, Fp.ZERO);
    static Fp = Fp;
    static Fn = Fn;
    X;
    Y;
    Z;
    /** Does NOT validate if the point is valid. Use `.assertValidity()`. */
    constructor(X, Y, Z) {
      this.X = acoord("x", X);
      this.Y = acoord("y", Y, true);
      this.Z = acoord("z", Z);
      Object.freeze(this);
    }
    static CURVE() {
      return CURVE;
    }
    /** Does NOT validate if the point is valid. Use `.assertValidity()`. */
    static fromAffine(p) {
      const { x, y } = p || {};
      if (!p || !Fp.isValid(x) || !Fp.isValid(y))
        throw new Error("invalid affine point");
      if (p instanceof Point)
        throw new Error("projective point not allowed");
      if (Fp.is0(x) && Fp.is0(y))
        return Point.ZERO;
      return new Point(x, y, Fp.ONE);
    }
    static fromBytes(bytes) {
      const P = Point.fromAffine(decodePoint(abytes2(bytes, void 0, "point")));
      P.assertValidity();
      return P;
    }
    static fromHex(hex) {
      return Point.fromBytes(hexToBytes2(hex));
    }
    get x() {
      return this.toAffine().x;
    }
    get y() {
      return this.toAffine().y;
    }
    /**
     * @param isLazy - true will defer table computation until the first multiplication
     */
    precompute(windowSize = 6, isLazy = true) {
      wnaf.setWindowSize(this, windowSize);
      if (!isLazy)
        this.multiply(_3n2);
      return this;
    }
    // TODO: return `this`
    /** A point on curve is valid if it conforms to equation. */
    assertValidity() {
      const p = this;
      if (p.is0()) {
        if (allowInfinityPoint && Fp.is0(p.X) && Fp.eql(p.Y, Fp.ONE) && Fp.is0(p.Z))
          return;
        throw new Error("bad point: ZERO");
      }
      if (validityCache.has(p))
        return;
      const { x, y } = p.toAffine();
      if (!Fp.isValid(x) || !Fp.isValid(y))
        throw new Error("bad point: x or y not field elements");
      if (!isValidXY(x, y))
        throw new Error("bad point: equation left != right");
      if (!p.isTorsionFree())
        throw new Error("bad point: not in prime-order subgroup");
      validityCache.add(p);
    }
    hasEvenY() {
      const { y } = this.toAffine();
      if (!Fp.isOdd)
        throw new Error("Field doesn't support isOdd");
      return !Fp.isOdd(y);
    }
    /** Compare one point to another. */
    equals(other) {
      aprjpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      const U1 = Fp.eql(Fp.mul(X1, Z2), Fp.mul(X2, Z1));
      const U2 = Fp.eql(Fp.mul(Y1, Z2), Fp.mul(Y2, Z1));
      return U1 && U2;
    }
    /** Flips point to one corresponding to (x, -y) in Affine coordinates. */
    negate() {
      return new Point(this.X, Fp.neg(this.Y), this.Z);
    }
    // Renes-Costello-Batina exception-free doubling formula.
    // There is 30% faster Jacobian formula, but it is not complete.
    // https://eprint.iacr.org/2015/1060, algorithm 3
    // Cost: 8M + 3S + 3*a + 2*b3 + 15add.
    double() {
      const { X: X1, Y: Y1, Z: Z1 } = this;
      let X3 = Fp.ZERO, Y3 = Fp.ZERO, Z3 = Fp.ZERO;
      let t0 = Fp.mul(X1, X1);
      let t1 = Fp.mul(Y1, Y1);
      let t2 = Fp.mul(Z1, Z1);
      let t3 = Fp.mul(X1, Y1);
      t3 = Fp.add(t3, t3);
      Z3 = Fp.mul(X1, Z1);
      Z3 = Fp.add(Z3, Z3);
      X3 = mulA(Z3);
      Y3 = Fp.mul(b3, t2);
      Y3 = Fp.add(X3, Y3);
      X3 = Fp.sub(t1, Y3);
      Y3 = Fp.add(t1, Y3);
      Y3 = Fp.mul(X3, Y3);
      X3 = Fp.mul(t3, X3);
      Z3 = Fp.mul(b3, Z3);
      t2 = mulA(t2);
      t3 = Fp.sub(t0, t2);
      t3 = mulA(t3);
      t3 = Fp.add(t3, Z3);
      Z3 = Fp.add(t0, t0);
      t0 = Fp.add(Z3, t0);
      t0 = Fp.add(t0, t2);
      t0 = Fp.mul(t0, t3);
      Y3 = Fp.add(Y3, t0);
      t2 = Fp.mul(Y1, Z1);
      t2 = Fp.add(t2, t2);
      t0 = Fp.mul(t2, t3);
      X3 = Fp.sub(X3, t0);
      Z3 = Fp.mul(t2, t1);
      Z3 = Fp.add(Z3, Z3);
      Z3 = Fp.add(Z3, Z3);
      return new Point(X3, Y3, Z3);
    }
    // Renes-Costello-Batina exception-free addition formula.
    // There is 30% faster Jacobian formula, but it is not complete.
    // https://eprint.iacr.org/2015/1060, algorithm 1
    // Cost: 12M + 0S + 3*a + 3*b3 + 23add.
    add(other) {
      aprjpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      let X3 = Fp.ZERO, Y3 = Fp.ZERO, Z3 = Fp.ZERO;
      let t0 = Fp.mul(X1, X2);
      let t1 = Fp.mul(Y1, Y2);
      let t2 = Fp.mul(Z1, Z2);
      let t3 = Fp.add(X1, Y1);
      let t4 = Fp.add(X2, Y2);
      t3 = Fp.mul(t3, t4);
      t4 = Fp.add(t0, t1);
      t3 = Fp.sub(t3, t4);
      t4 = Fp.add(X1, Z1);
      let t5 = Fp.add(X2, Z2);
      t4 = Fp.mul(t4, t5);
      t5 = Fp.add(t0, t2);
      t4 = Fp.sub(t4, t5);
      t5 = Fp.add(Y1, Z1);
      X3 = Fp.add(Y2, Z2);
      t5 = Fp.mul(t5, X3);
      X3 = Fp.add(t1, t2);
      t5 = Fp.sub(t5, X3);
      Z3 = mulA(t4);
      X3 = Fp.mul(b3, t2);
      Z3 = Fp.add(X3, Z3);
      X3 = Fp.sub(t1, Z3);
      Z3 = Fp.add(t1, Z3);
      Y3 = Fp.mul(X3, Z3);
      t1 = Fp.add(t0, t0);
      t1 = Fp.add(t1, t0);
      t2 = mulA(t2);
      t4 = Fp.mul(b3, t4);
      t1 = Fp.add(t1, t2);
      t2 = Fp.sub(t0, t2);
      t2 = mulA(t2);
      t4 = Fp.add(t4, t2);
      t0 = Fp.mul(t1, t4);
      Y3 = Fp.add(Y3, t0);
      t0 = Fp.mul(t5, t4);
      X3 = Fp.mul(t3, X3);
      X3 = Fp.sub(X3, t0);
      t0 = Fp.mul(t3, t1);
      Z3 = Fp.mul(t5, Z3);
      Z3 = Fp.add(Z3, t0);
      return new Point(X3, Y3, Z3);
    }
    subtract(other) {
      aprjpoint(other);
      return this.add(other.negate());
    }
    is0() {
      return this.equals(Point.ZERO);
    }
    /**
     * Constant time multiplication.
     * Uses precomputed tables (signed fixed-window wNAF) when available.
     * Uses scalar blinding and avoids endomorphism splitting in the secret-scalar path.
     * @param scalar - by which the point would be multiplied
     * @returns New point
     */
    multiply(scalar) {
      if (!Fn.isValidNot0(scalar))
        throw new RangeError("invalid scalar: out of range");
      const { p, f } = wnaf.mulSecret(this, scalar, cofactor, normalize);
      return normalize([p, f])[0];
    }
    /**
     * Non-constant-time multiplication. Uses width-4 wNAF with GLV endomorphism splitting
     * when available (two half-width scalars sharing one halved doubling chain).
     * It's faster, but should only be used when you don't care about
     * an exposed secret key e.g. sig verification, which works over *public* keys.
     */
    multiplyUnsafe(scalar) {
      const p = this;
      const sc = scalar;
      if (!Fn.isValid(sc))
        throw new RangeError("invalid scalar: out of range");
      if (sc === _0n5 || p.is0())
        return Point.ZERO;
      if (sc === _1n4)
        return p;
      if (wnaf.hasWindowSize(this))
        return wnaf.mulUnsafe(p, sc, normalize);
      const points = [];
      const scalars = [];
      pushWnafPair(points, scalars, p, sc);
      return mulAddUnsafe(Point, points, scalars);
    }
    /**
     * Non-constant-time double-scalar multiplication `a⋅this + b⋅other` (Strauss–Shamir).
     * Both walks share one doubling chain via {@link mulAddUnsafe}, and GLV endomorphism
     * (when available) halves the chain again by splitting each scalar into two half-width
     * parts. Used by ECDSA verification and public-key recovery for `R = u1⋅G + u2⋅P`.
     * Only for public scalars.
     */
    mulAddUnsafe(a, other, b) {
      aprjpoint(other);
      const points = [];
      const scalars = [];
      pushWnafPair(points, scalars, this, a);
      pushWnafPair(points, scalars, other, b);
      return mulAddUnsafe(Point, points, scalars);
    }
    /**
     * Converts Projective point to affine (x, y) coordinates.
     * (X, Y, Z) ∋ (x=X/Z, y=Y/Z).
     * @param invertedZ - Z^-1 (inverted zero) - optional, precomputation is useful for invertBatch
     */
    toAffine(invertedZ) {
      const p = this;
      let iz = invertedZ;
      if (iz != null && !Fp.isValid(iz))
        throw new RangeError('"invertedZ" expected valid field element');
      const { X, Y, Z } = p;
      if (Fp.eql(Z, Fp.ONE))
        return { x: X, y: Y };
      const is0 = p.is0();
      if (iz == null)
        iz = is0 ? Fp.ONE : Fp.inv(Z);
      const x = Fp.mul(X, iz);
      const y = Fp.mul(Y, iz);
      const zz = Fp.mul(Z, iz);
      if (is0)
        return { x: Fp.ZERO, y: Fp.ZERO };
      if (!Fp.eql(zz, Fp.ONE))
        throw new Error("invZ was invalid");
      return { x, y };
    }
    /**
     * Checks whether Point is free of torsion elements (is in prime subgroup).
     * Always torsion-free for cofactor=1 curves.
     */
    isTorsionFree() {
      if (cofactor === _1n4)
        return true;
      if (isTorsionFree)
        return isTorsionFree(Point, this);
      return wnaf.mulUnsafe(this, CURVE_ORDER).is0();
    }
    clearCofactor() {
      if (cofactor === _1n4)
        return this;
      if (clearCofactor)
        return clearCofactor(Point, this);
      return this.multiplyUnsafe(cofactor);
    }
    isSmallOrder() {
      if (cofactor === _1n4)
        return this.is0();
      return this.clearCofactor().is0();
    }
    toBytes(isCompressed = true) {
      abool(isCompressed, "isCompressed");
      this.assertValidity();
      return encodePoint(Point, this, isCompressed);
    }
    toHex(isCompressed = true) {
      return bytesToHex2(this.toBytes(isCompressed));
    }
    toString() {
      return `<Point ${this.is0() ? "ZERO" : this.toHex()}>`;
    }
  }
  const normalize = (points) => normalizeZ(Point, points);
  const wnaf = new ScalarMultiplier(Point, randomBytes3);
  if (wnaf.bits >= 6)
    Point.BASE.precompute(6);
  Object.freeze(Point.prototype);
  Object.freeze(Point);
  return Point;
}
function pprefix(hasEvenY) {
  return Uint8Array.of(hasEvenY ? 2 : 3);
}
function getWLengths(Fp, Fn) {
  return {
    secretKey: Fn.BYTES,
    publicKey: 1 + Fp.BYTES,
    publicKeyUncompressed: 1 + 2 * Fp.BYTES,
    publicKeyHasPrefix: true,
    // Raw compact `(r || s)` signature width; DER and recovered signatures use
    // different lengths outside this helper.
    signature: 2 * Fn.BYTES
  };
}
function ecdh(Point, ecdhOpts = {}) {
  validatePointCons(Point);
  const { Fn } = Point;
  const randomBytes_ = ecdhOpts.randomBytes === void 0 ? randomBytes2 : ecdhOpts.randomBytes;
  const lengths = Object.assign(getWLengths(Point.Fp, Fn), {
    seed: Math.max(getMinHashLength(Fn.ORDER), 16)
  });
  function isValidSecretKey(secretKey) {
    try {
      const num = Fn.fromBytes(secretKey);
      return Fn.isValidNot0(num);
    } catch (error) {
      return false;
    }
  }
  function isValidPublicKey(publicKey, isCompressed) {
    const { publicKey: comp, publicKeyUncompressed } = lengths;
    try {
      const l = publicKey.length;
      if (isCompressed === true && l !== comp)
        return false;
      if (isCompressed === false && l !== publicKeyUncompressed)
        return false;
      return !Point.fromBytes(publicKey).is0();
    } catch (error) {
      return false;
    }
  }
  function randomSecretKey(seed) {
    seed = seed === void 0 ? randomBytes_(lengths.seed) : seed;
    return mapHashToField(abytes2(seed, lengths.seed, "seed"), Fn.ORDER);
  }
  function getPublicKey(secretKey, isCompressed = true) {
    return Point.BASE.multiply(Fn.fromBytes(secretKey)).toBytes(isCompressed);
  }
  function isProbPub(item) {
    const { secretKey, publicKey, publicKeyUncompressed } = lengths;
    const allowedLengths = Fn._lengths;
    if (!isBytes2(item))
      return void 0;
    const l = abytes2(item, void 0, "key").length;
    const isPub = l === publicKey || l === publicKeyUncompressed;
    const isSec = l === secretKey || !!allowedLengths?.includes(l);
    if (isPub && isSec)
      return void 0;
    return isPub;
  }
  function getSharedSecret(secretKeyA, publicKeyB, isCompressed = true) {
    if (isProbPub(secretKeyA) === true)
      throw new Error("first arg must be private key");
    if (isProbPub(publicKeyB) === false)
      throw new Error("second arg must be public key");
    const s = Fn.fromBytes(secretKeyA);
    const b = Point.fromBytes(publicKeyB);
    if (b.is0())
      throw new Error("invalid public key: point at infinity");
    return b.multiply(s).toBytes(isCompressed);
  }
  const utils = {
    isValidSecretKey,
    isValidPublicKey,
    randomSecretKey
  };
  const keygen = createKeygen(randomSecretKey, getPublicKey);
  Object.freeze(utils);
  Object.freeze(lengths);
  return Object.freeze({ getPublicKey, getSharedSecret, keygen, Point, utils, lengths });
}
function ecdsa(Point, hash, ecdsaOpts = {}) {
  validatePointCons(Point);
  const hash_ = hash;
  ahash(hash_);
  validateObject(ecdsaOpts, {}, {
    hmac: "function",
    lowS: "boolean",
    randomBytes: "function",
    bits2int: "function",
    bits2int_modN: "function"
  });
  const opts = Object.assign({}, ecdsaOpts);
  const randomBytes3 = opts.randomBytes === void 0 ? randomBytes2 : opts.randomBytes;
  const hmac2 = opts.hmac === void 0 ? (key, msg) => hmac(hash_, key, msg) : opts.hmac;
  const { Fp, Fn } = Point;
  const { ORDER: CURVE_ORDER, BITS: fnBits } = Fn;
  const blindLength = getMinHashLength(CURVE_ORDER);
  const csprng = probeRandomBytes(randomBytes3, blindLength);
  const { keygen, getPublicKey, getSharedSecret, utils, lengths } = ecdh(Point, opts);
  const defaultSigOpts = {
    prehash: true,
    lowS: typeof opts.lowS === "boolean" ? opts.lowS : true,
    format: "compact",
    extraEntropy: false
  };
  const hasLargeRecoveryLifts = CURVE_ORDER * _2n2 + _1n4 < Fp.ORDER;
  function isBiggerThanHalfOrder(number) {
    const HALF = CURVE_ORDER >> _1n4;
    return number > HALF;
  }
  function validateRS(title, num) {
    if (!Fn.isValidNot0(num))
      throw new Error(`invalid signature ${title}: out of range 1..Point.Fn.ORDER`);
    return num;
  }
  function assertFieldSignIsSupported() {
    if (!Fp.isOdd)
      throw new Error("Field doesn't support isOdd");
  }
  function getRecoveryBit(x, y, r) {
    assertFieldSignIsSupported();
    return (x === r ? 0 : 2) | Number(Fp.isOdd(y));
  }
  function assertRecoverableCurve() {
    if (hasLargeRecoveryLifts)
      throw new Error('"recovered" sig type is not supported for cofactor >2 curves');
  }
  function validateSigLength(bytes, format) {
    validateSigFormat(format);
    const size = lengths.signature;
    const sizer = format === "compact" ? size : format === "recovered" ? size + 1 : void 0;
    return abytes2(bytes, sizer);
  }
  class Signature {
    r;
    s;
    recovery;
    constructor(r, s, recovery) {
      this.r = validateRS("r", r);
      this.s = validateRS("s", s);
      if (recovery != null) {
        assertRecoverableCurve();
        if (![0, 1, 2, 3].includes(recovery))
          throw new Error("invalid recovery id");
        this.recovery = recovery;
      }
      Object.freeze(this);
    }
    static fromBytes(bytes, format = defaultSigOpts.format) {
      validateSigLength(bytes, format);
      let recid;
      if (format === "der") {
        if (bytes.length > 2 * Fn.BYTES + 16)
          throw new DER.Err("invalid signature: DER signature too long");
        const { r: r2, s: s2 } = DER.toSig(abytes2(bytes), Fn.BYTES + 1);
        return new Signature(r2, s2);
      }
      if (format === "recovered") {
        recid = bytes[0];
        format = "compact";
        bytes = bytes.subarray(1);
      }
      const L = lengths.signature / 2;
      const r = bytes.subarray(0, L);
      const s = bytes.subarray(L, L * 2);
      return new Signature(Fn.fromBytes(r), Fn.fromBytes(s), recid);
    }
    static fromHex(hex, format) {
      return this.fromBytes(hexToBytes2(hex), format);
    }
    assertRecovery() {
      const { recovery } = this;
      if (recovery == null)
        throw new Error("invalid recovery id: must be present");
      return recovery;
    }
    addRecoveryBit(recovery) {
      return new Signature(this.r, this.s, recovery);
    }
    // Unlike the top-level helper below, this method expects a digest that has
    // already been hashed to the curve's message representative.
    recoverPublicKey(messageHash) {
      const { r, s } = this;
      const recovery = this.assertRecovery();
      const radj = recovery === 2 || recovery === 3 ? r + CURVE_ORDER : r;
      if (!Fp.isValid(radj))
        throw new Error("invalid recovery id: sig.r+curve.n != R.x");
      const x = Fp.toBytes(radj);
      const R = Point.fromBytes(concatBytes2(pprefix((recovery & 1) === 0), x));
      const ir = Fn.inv(radj);
      const h = bits2int_modN(abytes2(messageHash, void 0, "msgHash"));
      const u1 = Fn.create(-h * ir);
      const u2 = Fn.create(s * ir);
      const Q = Point.BASE.mulAddUnsafe(u1, R, u2);
      if (Q.is0())
        throw new Error("invalid recovery: point at infinify");
      Q.assertValidity();
      return Q;
    }
    // Signatures should be low-s, to prevent malleability.
    hasHighS() {
      return isBiggerThanHalfOrder(this.s);
    }
    toBytes(format = defaultSigOpts.format) {
      validateSigFormat(format);
      if (format === "der")
        return hexToBytes2(DER.hexFromSig(this));
      const { r, s } = this;
      const rb = Fn.toBytes(r);
      const sb = Fn.toBytes(s);
      if (format === "recovered") {
        assertRecoverableCurve();
        return concatBytes2(Uint8Array.of(this.assertRecovery()), rb, sb);
      }
      return concatBytes2(rb, sb);
    }
    toHex(format) {
      return bytesToHex2(this.toBytes(format));
    }
  }
  Object.freeze(Signature.prototype);
  Object.freeze(Signature);
  const bits2int = opts.bits2int === void 0 ? function bits2int_def(bytes) {
    if (bytes.length > 8192)
      throw new Error("input is too large");
    const num = bytesToNumberBE(bytes);
    const delta = bytes.length * 8 - fnBits;
    return delta > 0 ? num >> BigInt(delta) : num;
  } : opts.bits2int;
  const bits2int_modN = opts.bits2int_modN === void 0 ? function bits2int_modN_def(bytes) {
    return Fn.create(bits2int(bytes));
  } : opts.bits2int_modN;
  const ORDER_MASK = bitMask(fnBits);
  function int2octets(num) {
    aInRange("num < 2^" + fnBits, num, _0n5, ORDER_MASK);
    return Fn.toBytes(num);
  }
  function validateMsgAndHash(message, prehash) {
    abytes2(message, void 0, "message");
    return prehash ? abytes2(hash_(message), void 0, "prehashed message") : message;
  }
  function prepSig(message, secretKey, opts2) {
    const { lowS, prehash, extraEntropy } = validateSigOpts(opts2, defaultSigOpts);
    message = validateMsgAndHash(message, prehash);
    const h1int = bits2int_modN(message);
    const d = Fn.fromBytes(secretKey);
    if (!Fn.isValidNot0(d))
      throw new Error("invalid private key");
    const seedArgs = [int2octets(d), int2octets(h1int)];
    if (extraEntropy != null && extraEntropy !== false) {
      const e = extraEntropy === true ? randomBytes3(lengths.secretKey) : extraEntropy;
      seedArgs.push(abytes2(e, void 0, "extraEntropy"));
    }
    const seed = concatBytes2(...seedArgs);
    const m = h1int;
    function k2sig(kBytes) {
      const k = bits2int(kBytes);
      if (!Fn.isValidNot0(k))
        return;
      const q = Point.BASE.multiply(k).toAffine();
      const r = Fn.create(q.x);
      if (r === _0n5)
        return;
      let s;
      if (csprng !== void 0) {
        const b = bytesToNumberBE(mapHashToField(csprng(blindLength), CURVE_ORDER));
        const ibk = Fn.inv(Fn.mul(b, k));
        const bm = Fn.mul(b, m);
        const bd = Fn.mul(b, d);
        s = Fn.create(ibk * Fn.create(bm + bd * r));
      } else {
        const ik = invertCt(k, CURVE_ORDER);
        s = Fn.create(ik * Fn.create(m + r * d));
      }
      if (s === _0n5)
        return;
      let recovery = getRecoveryBit(q.x, q.y, r);
      let normS = s;
      if (lowS && isBiggerThanHalfOrder(s)) {
        normS = Fn.neg(s);
        recovery ^= 1;
      }
      return new Signature(r, normS, hasLargeRecoveryLifts ? void 0 : recovery);
    }
    return { seed, k2sig };
  }
  function sign(message, secretKey, opts2 = {}) {
    const { seed, k2sig } = prepSig(message, secretKey, opts2);
    const drbg = createHmacDrbg(hash_.outputLen, Fn.BYTES, hmac2);
    const sig = drbg(seed, k2sig);
    return sig.toBytes(opts2.format);
  }
  function verify(signature, message, publicKey, opts2 = {}) {
    const { lowS, prehash, format } = validateSigOpts(opts2, defaultSigOpts);
    publicKey = abytes2(publicKey, void 0, "publicKey");
    message = validateMsgAndHash(message, prehash);
    if (!isBytes2(signature)) {
      const end = signature instanceof Signature ? ", use sig.toBytes()" : "";
      throw new Error("verify expects Uint8Array signature" + end);
    }
    validateSigLength(signature, format);
    try {
      const sig = Signature.fromBytes(signature, format);
      const P = Point.fromBytes(publicKey);
      if (P.is0())
        return false;
      if (lowS && sig.hasHighS())
        return false;
      const { r, s } = sig;
      const h = bits2int_modN(message);
      const is = Fn.inv(s);
      const u1 = Fn.create(h * is);
      const u2 = Fn.create(r * is);
      const R = Point.BASE.mulAddUnsafe(u1, P, u2);
      if (R.is0())
        return false;
      const q = R.toAffine();
      const v = Fn.create(q.x);
      if (v !== r)
        return false;
      if (format === "recovered" && sig.recovery !== getRecoveryBit(q.x, q.y, r))
        return false;
      return true;
    } catch (e) {
      return false;
    }
  }
  function recoverPublicKey(signature, message, opts2 = {}) {
    const { prehash } = validateSigOpts(opts2, defaultSigOpts);
    message = validateMsgAndHash(message, prehash);
    return Signature.fromBytes(signature, "recovered").recoverPublicKey(message).toBytes();
  }
  return Object.freeze({
    keygen,
    getPublicKey,
    getSharedSecret,
    utils,
    lengths,
    Point,
    sign,
    verify,
    recoverPublicKey,
    Signature,
    hash: hash_
  });
}

// node_modules/@noble/curves/secp256k1.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var secp256k1_CURVE = {
  p: BigInt("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"),
  n: BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"),
  h: BigInt(1),
  a: BigInt(0),
  b: BigInt(7),
  Gx: BigInt("0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
  Gy: BigInt("0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")
};
var secp256k1_ENDO = {
  beta: BigInt("0x7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee"),
  basises: [
    [BigInt("0x3086d221a7d46bcde86c90e49284eb15"), -BigInt("0xe4437ed6010e88286f547fa90abfe4c3")],
    [BigInt("0x114ca50f7a8e2f3f657c1108d9d44cfd8"), BigInt("0x3086d221a7d46bcde86c90e49284eb15")]
  ]
};
var _2n3 = /* @__PURE__ */ BigInt(2);
function sqrtMod(y) {
  const P = secp256k1_CURVE.p;
  const _3n3 = BigInt(3), _6n = BigInt(6), _11n = BigInt(11), _22n = BigInt(22);
  const _23n = BigInt(23), _44n = BigInt(44), _88n = BigInt(88);
  const b2 = y * y * y % P;
  const b3 = b2 * b2 * y % P;
  const b6 = pow2(b3, _3n3, P) * b3 % P;
  const b9 = pow2(b6, _3n3, P) * b3 % P;
  const b11 = pow2(b9, _2n3, P) * b2 % P;
  const b22 = pow2(b11, _11n, P) * b11 % P;
  const b44 = pow2(b22, _22n, P) * b22 % P;
  const b88 = pow2(b44, _44n, P) * b44 % P;
  const b176 = pow2(b88, _88n, P) * b88 % P;
  const b220 = pow2(b176, _44n, P) * b44 % P;
  const b223 = pow2(b220, _3n3, P) * b3 % P;
  const t1 = pow2(b223, _23n, P) * b22 % P;
  const t2 = pow2(t1, _6n, P) * b2 % P;
  const root = pow2(t2, _2n3, P);
  if (!Fpk1.eql(Fpk1.sqr(root), y))
    throw new Error("Cannot find square root");
  return root;
}
var Fpk1 = /* @__PURE__ */ Field(secp256k1_CURVE.p, { sqrt: sqrtMod });
var Pointk1 = /* @__PURE__ */ weierstrass(secp256k1_CURVE, {
  Fp: Fpk1,
  endo: secp256k1_ENDO
});
var secp256k1 = /* @__PURE__ */ ecdsa(Pointk1, sha256);

// node_modules/@noble/hashes/legacy.js
var Rho160 = /* @__PURE__ */ Uint8Array.from([
  7,
  4,
  13,
  1,
  10,
  6,
  15,
  3,
  12,
  0,
  9,
  5,
  2,
  14,
  11,
  8
]);
var Id160 = /* @__PURE__ */ (() => Uint8Array.from(new Array(16).fill(0).map((_, i) => i)))();
var Pi160 = /* @__PURE__ */ (() => Id160.map((i) => (9 * i + 5) % 16))();
var idxLR = /* @__PURE__ */ (() => {
  const L = [Id160];
  const R = [Pi160];
  const res = [L, R];
  for (let i = 0; i < 4; i++)
    for (let j of res)
      j.push(j[i].map((k) => Rho160[k]));
  return res;
})();
var idxL = /* @__PURE__ */ (() => idxLR[0])();
var idxR = /* @__PURE__ */ (() => idxLR[1])();
var shifts160 = /* @__PURE__ */ [
  [11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8],
  [12, 13, 11, 15, 6, 9, 9, 7, 12, 15, 11, 13, 7, 8, 7, 7],
  [13, 15, 14, 11, 7, 7, 6, 8, 13, 14, 13, 12, 5, 5, 6, 9],
  [14, 11, 12, 14, 8, 6, 5, 5, 15, 12, 15, 14, 9, 9, 8, 6],
  [15, 12, 13, 13, 9, 5, 8, 6, 14, 11, 12, 11, 8, 6, 5, 5]
].map((i) => Uint8Array.from(i));
var shiftsL160 = /* @__PURE__ */ idxL.map((idx, i) => idx.map((j) => shifts160[i][j]));
var shiftsR160 = /* @__PURE__ */ idxR.map((idx, i) => idx.map((j) => shifts160[i][j]));
var Kl160 = /* @__PURE__ */ Uint32Array.from([
  0,
  1518500249,
  1859775393,
  2400959708,
  2840853838
]);
var Kr160 = /* @__PURE__ */ Uint32Array.from([
  1352829926,
  1548603684,
  1836072691,
  2053994217,
  0
]);
function ripemd_f(group, x, y, z) {
  if (group === 0)
    return x ^ y ^ z;
  if (group === 1)
    return x & y | ~x & z;
  if (group === 2)
    return (x | ~y) ^ z;
  if (group === 3)
    return x & z | y & ~z;
  return x ^ (y | ~z);
}
var BUF_160 = /* @__PURE__ */ new Uint32Array(16);
var _RIPEMD160 = class extends HashMD {
  h0 = 1732584193 | 0;
  h1 = 4023233417 | 0;
  h2 = 2562383102 | 0;
  h3 = 271733878 | 0;
  h4 = 3285377520 | 0;
  constructor() {
    super(64, 20, 8, true);
  }
  get() {
    const { h0, h1, h2, h3, h4 } = this;
    return [h0, h1, h2, h3, h4];
  }
  set(h0, h1, h2, h3, h4) {
    this.h0 = h0 | 0;
    this.h1 = h1 | 0;
    this.h2 = h2 | 0;
    this.h3 = h3 | 0;
    this.h4 = h4 | 0;
  }
  _cloneInto(to) {
    (to ||= new this.constructor()).set(...this.get());
    return this._cloneIntoMeta(to);
  }
  process(view, offset) {
    for (let i = 0; i < 16; i++, offset += 4)
      BUF_160[i] = view.getUint32(offset, true);
    let al = this.h0 | 0, ar = al, bl = this.h1 | 0, br = bl, cl = this.h2 | 0, cr = cl, dl = this.h3 | 0, dr = dl, el = this.h4 | 0, er = el;
    for (let group = 0; group < 5; group++) {
      const rGroup = 4 - group;
      const hbl = Kl160[group], hbr = Kr160[group];
      const rl = idxL[group], rr = idxR[group];
      const sl = shiftsL160[group], sr = shiftsR160[group];
      for (let i = 0; i < 16; i++) {
        const tl = rotl(al + ripemd_f(group, bl, cl, dl) + BUF_160[rl[i]] + hbl, sl[i]) + el | 0;
        al = el, el = dl, dl = rotl(cl, 10) | 0, cl = bl, bl = tl;
      }
      for (let i = 0; i < 16; i++) {
        const tr = rotl(ar + ripemd_f(rGroup, br, cr, dr) + BUF_160[rr[i]] + hbr, sr[i]) + er | 0;
        ar = er, er = dr, dr = rotl(cr, 10) | 0, cr = br, br = tr;
      }
    }
    this.set(this.h1 + cl + dr | 0, this.h2 + dl + er | 0, this.h3 + el + ar | 0, this.h4 + al + br | 0, this.h0 + bl + cr | 0);
  }
  roundClean() {
    clean(BUF_160);
  }
  destroy() {
    this.destroyed = true;
    clean(this.buffer);
    this.set(0, 0, 0, 0, 0);
  }
};
var ripemd160 = /* @__PURE__ */ createHasher(() => new _RIPEMD160());

// node_modules/@scure/base/index.js
/*! scure-base - MIT License (c) 2022 Paul Miller (paulmillr.com) */
var freeze = (fn) => Object.freeze(fn());
function isBytes3(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
}
function abytes3(b) {
  if (!isBytes3(b))
    throw new TypeError("Uint8Array expected");
}
function afn(input) {
  if (typeof input !== "function")
    throw new TypeError("function expected");
  return true;
}
function astr(label, input) {
  if (typeof input !== "string")
    throw new TypeError(`${label}: string expected`);
  return true;
}
function anumber3(n, title = "number") {
  if (typeof n !== "number")
    throw new TypeError(`${title}: expected number, got ${typeof n}`);
  if (!Number.isSafeInteger(n))
    throw new RangeError(`${title}: expected safe integer, got ${n}`);
}
function chain(...args) {
  const id = (a) => a;
  const wrap = (a, b) => (c) => a(b(c));
  const encode = args.map((x) => x.encode).reduceRight(wrap, id);
  const decode = args.map((x) => x.decode).reduce(wrap, id);
  return { encode, decode };
}
var powers = /* @__PURE__ */ (() => {
  let res = [];
  for (let i = 0; i < 40; i++)
    res.push(2 ** i);
  return res;
})();
var asciiDecoder = /* @__PURE__ */ (() => {
  try {
    const decoder = new TextDecoder();
    return decoder.decode(Uint8Array.of(65, 48, 43, 127)) === "A0+" ? decoder : void 0;
  } catch (e) {
    return void 0;
  }
})();
var B2S_CHUNK = 8192;
function charcodesToString(codes) {
  const len = codes.length;
  if (asciiDecoder !== void 0 && len >= 12)
    return asciiDecoder.decode(codes);
  if (len <= B2S_CHUNK)
    return String.fromCharCode.apply(null, codes);
  let res = "";
  for (let i = 0; i < len; i += B2S_CHUNK)
    res += String.fromCharCode.apply(null, codes.subarray(i, i + B2S_CHUNK));
  return res;
}
function radix2(bits) {
  anumber3(bits);
  if (bits <= 0 || bits > 8)
    throw new RangeError("radix2: bits should be in (0..8]");
  const mask = powers[bits] - 1;
  return {
    encode: (bytes) => {
      abytes3(bytes);
      const len = bytes.length;
      const res = new Uint8Array(Math.ceil(len * 8 / bits));
      let carry = 0;
      let pos = 0;
      let j = 0;
      for (let i = 0; i < len; ) {
        if (i + 2 < len) {
          carry = carry << 24 | bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
          pos += 24;
          i += 3;
        } else {
          carry = (carry << 8 | bytes[i]) & 65535;
          pos += 8;
          i++;
        }
        for (; ; ) {
          pos -= bits;
          res[j++] = carry >> pos & mask;
          if (pos < bits)
            break;
        }
      }
      if (pos > 0)
        res[j] = carry << bits - pos & mask;
      return res;
    },
    decode: (digits) => {
      const len = digits.length;
      const res = new Uint8Array(Math.floor(len * bits / 8));
      let carry = 0;
      let pos = 0;
      let j = 0;
      for (let i = 0; i < len; i++) {
        carry = (carry << bits | digits[i]) & 65535;
        pos += bits;
        for (; pos >= 8; pos -= 8)
          res[j++] = carry >> pos - 8 & 255;
      }
      carry = carry << 8 - pos & 255;
      if (pos >= bits)
        throw new Error("Excess padding");
      if (carry > 0)
        throw new Error(`Non-zero padding: ${carry}`);
      return res;
    }
  };
}
function alphabet(letters, aliases) {
  const len = letters.length;
  if (len > 128)
    throw new Error("alphabet: max 128 letters");
  const encTable = new Uint8Array(len);
  const decTable = new Int8Array(128).fill(-1);
  for (let i = 0; i < len; i++) {
    const code = letters.charCodeAt(i);
    if (letters.codePointAt(i) !== code || code > 127)
      throw new Error("alphabet: single-char ASCII letters only");
    encTable[i] = code;
    decTable[code] = i;
  }
  if (aliases !== void 0) {
    for (const alias of Object.keys(aliases)) {
      const code = alias.charCodeAt(0);
      const target = decTable[aliases[alias].charCodeAt(0)];
      if (alias.length !== 1 || code > 127 || target === void 0 || target === -1)
        throw new Error(`alphabet: invalid alias ${alias}`);
      decTable[code] = target;
    }
  }
  return {
    encode: (digits) => {
      const codes = new Uint8Array(digits.length);
      for (let i = 0; i < digits.length; i++) {
        const d = digits[i];
        const code = encTable[d];
        if (code === void 0)
          throw new Error(`alphabet.encode: invalid digit ${d}`);
        codes[i] = code;
      }
      return charcodesToString(codes);
    },
    decode: (input) => {
      astr("decode", input);
      const slen = input.length;
      const digits = new Uint8Array(slen);
      for (let i = 0; i < slen; i++) {
        const code = input.charCodeAt(i);
        const digit = code < 128 ? decTable[code] : -1;
        if (digit === -1)
          throw new Error(`Unknown letter "${input[i]}". Allowed: ${letters}`);
        digits[i] = digit;
      }
      return digits;
    }
  };
}
function padding(bits, chr = "=") {
  anumber3(bits);
  astr("padding", chr);
  return {
    encode(data) {
      while (data.length * bits % 8)
        data += chr;
      return data;
    },
    decode(input) {
      astr("decode", input);
      let end = input.length;
      if (end * bits % 8)
        throw new Error("padding: invalid length");
      for (; end > 0 && input[end - 1] === chr; end--) {
        const byte = (end - 1) * bits;
        if (byte % 8 === 0)
          throw new Error("padding: excess padding");
      }
      return input.slice(0, end);
    }
  };
}
function checksum(len, fn) {
  anumber3(len);
  if (len <= 0)
    throw new RangeError(`checksum length must be positive: ${len}`);
  afn(fn);
  const _fn = fn;
  return {
    encode(data) {
      abytes3(data);
      const sum = _fn(data).slice(0, len);
      const res = new Uint8Array(data.length + len);
      res.set(data);
      res.set(sum, data.length);
      return res;
    },
    decode(data) {
      abytes3(data);
      const payload = data.slice(0, -len);
      const oldChecksum = data.slice(-len);
      const newChecksum = _fn(payload).slice(0, len);
      for (let i = 0; i < len; i++)
        if (newChecksum[i] !== oldChecksum[i])
          throw new Error("Invalid checksum");
      return payload;
    }
  };
}
var hasBase64Builtin = /* @__PURE__ */ (() => typeof Uint8Array.from([]).toBase64 === "function" && typeof Uint8Array.fromBase64 === "function")();
var ASCII_WHITESPACE = /[\t\n\f\r ]/;
var decodeBase64Builtin = (s, isUrl) => {
  astr("base64", s);
  const alphabet2 = isUrl ? "base64url" : "base64";
  if (s.length > 0 && ASCII_WHITESPACE.test(s))
    throw new Error("invalid base64");
  return Uint8Array.fromBase64(s, { alphabet: alphabet2, lastChunkHandling: "strict" });
};
var base64Fallback = /* @__PURE__ */ freeze(() => chain(radix2(6), alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), padding(6)));
var base64 = /* @__PURE__ */ freeze(() => hasBase64Builtin ? {
  encode(b) {
    abytes3(b);
    return b.toBase64();
  },
  decode(s) {
    return decodeBase64Builtin(s, false);
  }
} : base64Fallback);
var B58_GROUP = 656356768;
var RADIX_BASE_N_MAX_LENGTH = 65536;
var BASE_N_MAX_BYTES = 2048;
var BASE_N_MAX_CHARS = 4096;
var radixBaseN = (BASE, GROUP) => ({
  encode: (bytes) => {
    abytes3(bytes);
    const blen = bytes.length;
    if (blen === 0)
      return new Uint8Array(0);
    if (blen >= RADIX_BASE_N_MAX_LENGTH)
      throw new Error("invalid length");
    let zeros = 0;
    while (zeros < blen - 1 && bytes[zeros] === 0)
      zeros++;
    const nlimbs = Math.ceil(blen / 2);
    const limbs = new Uint16Array(nlimbs);
    const odd = blen & 1;
    if (odd)
      limbs[0] = bytes[0];
    for (let i = odd, j2 = odd; i < blen; i += 2, j2++)
      limbs[j2] = bytes[i] << 8 | bytes[i + 1];
    const groups = [];
    let pos = 0;
    while (pos < nlimbs) {
      let carry = 0;
      for (let i = pos; i < nlimbs; i++) {
        const cur = carry * 65536 + limbs[i];
        const q = Math.floor(cur / GROUP);
        carry = cur - q * GROUP;
        limbs[i] = q;
        if (q === 0 && i === pos)
          pos++;
      }
      groups.push(carry);
    }
    const top = groups.length - 1;
    let sig = top * 5;
    for (let v = groups[top]; ; v = Math.floor(v / BASE)) {
      sig++;
      if (v < BASE)
        break;
    }
    const res = new Uint8Array(zeros + sig);
    let j = res.length - 1;
    for (let g = 0; g < top; g++) {
      let v = groups[g];
      for (let k = 0; k < 5; k++) {
        res[j--] = v % BASE;
        v = Math.floor(v / BASE);
      }
    }
    for (let v = groups[top]; j >= zeros; v = Math.floor(v / BASE))
      res[j--] = v % BASE;
    return res;
  },
  decode: (digits) => {
    abytes3(digits);
    const dlen = digits.length;
    if (dlen === 0)
      return new Uint8Array(0);
    if (dlen >= RADIX_BASE_N_MAX_LENGTH)
      throw new Error("invalid length");
    let zeros = 0;
    while (zeros < dlen - 1 && digits[zeros] === 0)
      zeros++;
    const limbs = new Uint16Array(Math.ceil(dlen * 6 / 16) + 1);
    let used = 0;
    let i = 0;
    let group = dlen % 5 || 5;
    while (i < dlen) {
      let gval = 0;
      let factor = 1;
      for (const end = i + group; i < end; i++) {
        const d = digits[i];
        if (d >= BASE)
          throw new Error(`invalid integer: ${d}`);
        gval = gval * BASE + d;
        factor *= BASE;
      }
      group = 5;
      let carry = gval;
      for (let k = 0; k < used; k++) {
        const cur = limbs[k] * factor + carry;
        carry = Math.floor(cur / 65536);
        limbs[k] = cur - carry * 65536;
      }
      for (; carry > 0; carry = Math.floor(carry / 65536))
        limbs[used++] = carry % 65536;
    }
    const valueBytes = used === 0 ? 1 : used * 2 - (limbs[used - 1] < 256 ? 1 : 0);
    const res = new Uint8Array(zeros + valueBytes);
    let j = res.length - 1;
    for (let k = 0; k < used; k++) {
      const limb = limbs[k];
      res[j--] = limb & 255;
      if (j >= zeros)
        res[j--] = limb >> 8;
    }
    return res;
  }
});
var genBaseN = (radix, abc) => {
  const letters = alphabet(abc);
  return {
    encode(bytes) {
      abytes3(bytes);
      if (bytes.length > BASE_N_MAX_BYTES)
        throw new Error("invalid length");
      return letters.encode(radix.encode(bytes));
    },
    decode(str) {
      astr("baseN.decode", str);
      if (str.length > BASE_N_MAX_CHARS)
        throw new Error("invalid length");
      return radix.decode(letters.decode(str));
    }
  };
};
var radix58 = /* @__PURE__ */ radixBaseN(58, B58_GROUP);
var genBase58 = (abc) => genBaseN(radix58, abc);
var base58 = /* @__PURE__ */ freeze(() => genBase58("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"));
var createBase58check = (sha2562) => {
  afn(sha2562);
  const _sha256 = sha2562;
  return chain(checksum(4, (data) => _sha256(_sha256(data))), base58);
};

// js/keys.js
var base58check = createBase58check(sha256);
var utf8 = (s) => new TextEncoder().encode(s);
function hexToBytes3(hex, what = "hex") {
  if (typeof hex !== "string" || hex.length % 2 || !/^[0-9a-fA-F]*$/.test(hex)) {
    fail("bad-format", `${what} is not hex`);
  }
  return hexToBytes(hex);
}
var hash160 = (bytes) => ripemd160(sha256(bytes));
var NETWORKS = Object.freeze({
  mainnet: Object.freeze({ name: "mainnet", p2pkh: 35, p2sh: [94, 8], wif: [163, 176] }),
  testnet: Object.freeze({ name: "testnet", p2pkh: 115, p2sh: [58, 198], wif: [239] }),
  regtest: Object.freeze({ name: "regtest", p2pkh: 115, p2sh: [58, 198], wif: [239] })
});
function network(name) {
  if (typeof name === "object" && name && name.p2pkh !== void 0) return name;
  const n = NETWORKS[{ main: "mainnet", test: "testnet" }[name] || name];
  if (!n) fail("bad-format", `unknown network ${name}: use mainnet, testnet or regtest`);
  return n;
}
var concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};
function decodeAddress(address, net) {
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
      if (net !== void 0 && net !== null) {
        const want = network(net);
        const ok = kind === "p2pkh" ? version === want.p2pkh : want.p2sh.includes(version);
        if (!ok) fail("wrong-network", `${address} is a ${n.name} address, not ${want.name}`);
      }
      return info;
    }
  }
  fail("invalid-address", `invalid address: unknown version byte 0x${version.toString(16)}`);
}
function checkAddress(address, net) {
  const info = decodeAddress(address, net);
  if (info.kind !== "p2pkh") fail("invalid-address", `${address} is a script address, not a FLO ID`);
  return address;
}
function addressFromPubKey(pub, net = "mainnet") {
  return base58check.encode(concat([network(net).p2pkh], hash160(pub)));
}
function parsePubKey(pub) {
  let bytes = pub;
  if (typeof pub === "string") {
    try {
      bytes = hexToBytes3(pub);
    } catch {
      fail("invalid-key", "public key is not hex");
    }
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
function isStrictDER(sig) {
  const n = sig.length;
  if (n < 8 || n > 72 || sig[0] !== 48 || sig[1] !== n - 2 || sig[2] !== 2) return false;
  const lenR = sig[3];
  if (lenR === 0 || 5 + lenR >= n || sig[4 + lenR] !== 2) return false;
  const lenS = sig[5 + lenR];
  if (lenS === 0 || lenR + lenS + 6 !== n) return false;
  for (const [start, len] of [[4, lenR], [6 + lenR, lenS]]) {
    if (sig[start] & 128) return false;
    if (len > 1 && sig[start] === 0 && !(sig[start + 1] & 128)) return false;
  }
  return true;
}
function verifyData(pub, sig, data) {
  if (!isStrictDER(sig)) return false;
  try {
    return secp256k1.verify(sig, data, pub, { prehash: true, lowS: false, format: "der" });
  } catch {
    return false;
  }
}
function verifyFlocryptoLegacy(pub, sig, message) {
  if (!isStrictDER(sig)) return false;
  let e = 0n;
  for (const ch of bytesToHex(sha256(utf8(message)))) e = e * 10n + BigInt(parseInt(ch, 16));
  const digest = hexToBytes3(e.toString(16).padStart(64, "0"));
  try {
    return secp256k1.verify(sig, digest, pub, { prehash: false, lowS: false, format: "der" });
  } catch {
    return false;
  }
}
var N = secp256k1.Point.CURVE().n;
var Key = class _Key {
  #secret;
  /** @param {Uint8Array} secret 32 bytes in 1..n-1 */
  constructor(secret, net = "mainnet", { compressed: compressed2 = true } = {}) {
    const s = typeof secret === "string" ? hexToBytes3(secret, "secret") : secret;
    const x = s.length === 32 ? BigInt("0x" + bytesToHex(s)) : 0n;
    if (x <= 0n || x >= N) fail("invalid-key", "a private key is 32 bytes in 1..n-1");
    this.#secret = Uint8Array.from(s);
    this.network = network(net).name;
    this.compressed = compressed2;
    this.publicKey = secp256k1.getPublicKey(this.#secret, compressed2);
    this.pubKeyHex = bytesToHex(this.publicKey);
    this.id = addressFromPubKey(this.publicKey, this.network);
    Object.freeze(this);
  }
  /** A new random key (WebCrypto's generator). */
  static generate(net = "mainnet") {
    return new _Key(secp256k1.utils.randomSecretKey(), net);
  }
  /** Decode a WIF; the network comes from the prefix unless one is given. */
  static fromWIF(wif, net) {
    let raw;
    try {
      raw = base58check.decode(String(wif).trim());
    } catch (e) {
      fail("invalid-key", `invalid WIF: ${e.message}`);
    }
    let compressed2;
    if (raw.length === 33) compressed2 = false;
    else if (raw.length === 34 && raw[33] === 1) compressed2 = true;
    else fail("invalid-key", "invalid WIF: wrong length or compression flag");
    const prefix = raw[0];
    const candidates = net ? [network(net)] : [NETWORKS.mainnet, NETWORKS.testnet];
    for (const n of candidates) {
      if (n.wif.includes(prefix)) return new _Key(raw.slice(1, 33), n.name, { compressed: compressed2 });
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
    return `Key(${this.id})`;
  }
};

// js/envelope.js
var PROTOCOL_VERSION = 1;
var DEFAULT_LIMITS = Object.freeze({ maxBodyBytes: 65536, maxDepth: 32, maxSkewMs: 3e5 });
var FIELDS = ["v", "type", "senderID", "receiverID", "application", "time", "payload", "comment"];
var REQUIRED = FIELDS.filter((f) => f !== "comment");
var messageId = (bodyBytes) => bytesToHex(sha256(bodyBytes));
function checkDepth(value, maxDepth) {
  const stack = [[value, 1]];
  while (stack.length) {
    const [item, depth] = stack.pop();
    if (item === null || typeof item !== "object") continue;
    if (depth > maxDepth) fail("too-deep", `nesting deeper than ${maxDepth}`);
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
}
var codePoints = (s) => [...s].length;
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
var isWellFormed = (s) => typeof s.isWellFormed === "function" ? s.isWellFormed() : !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
function signEnvelope(key, { receiver, payload, application = "", type = "message", comment, time }) {
  const body = {
    v: PROTOCOL_VERSION,
    type,
    senderID: key.id,
    receiverID: receiver,
    application,
    time: time ?? Date.now(),
    payload: payload === void 0 ? null : payload
  };
  if (comment !== void 0 && comment !== null) body.comment = comment;
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
    body: JSON.parse(text)
  };
}
function parseEnvelope(wire, { nowMs = null, limits = DEFAULT_LIMITS } = {}) {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (typeof wire === "string") {
    if (wire.length > lim.maxBodyBytes * 2 + 1024) fail("too-large", "envelope too large");
    try {
      wire = JSON.parse(wire);
    } catch {
      fail("bad-format", "envelope is not valid JSON");
    }
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
  try {
    d = JSON.parse(text);
  } catch {
    fail("bad-format", "body is not valid JSON");
  }
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
  if (d.comment !== void 0 && d.comment !== null) strField(d, "comment", 1024);
  checkDepth(d.payload, lim.maxDepth);
  for (const [name, max] of [["type", 128], ["senderID", 40], ["receiverID", 40], ["application", 128]]) {
    strField(d, name, max);
  }
  let pub, sig;
  try {
    pub = hexToBytes3(pubHex);
  } catch {
    fail("bad-format", "pubKey is not hex");
  }
  if (pub.length !== 33 && pub.length !== 65) fail("bad-format", "pubKey must be 33 or 65 bytes");
  try {
    sig = hexToBytes3(sigHex);
  } catch {
    fail("bad-format", "sign is not hex");
  }
  checkBody(d, pub);
  if (nowMs !== null && Math.abs(nowMs - d.time) > lim.maxSkewMs) {
    fail("stale-time", `message time is more than ${lim.maxSkewMs} ms from node time`);
  }
  if (!verifyData(pub, sig, raw)) {
    try {
      parsePubKey(pub);
    } catch (e) {
      if (e instanceof FlocloudError) fail("bad-format", `pubKey: ${e.message}`);
      throw e;
    }
    fail("invalid-signature", "signature does not match body and pubKey");
  }
  return { body: d, bodyText: text, pubKey: pubHex.toLowerCase(), sign: sigHex.toLowerCase(), id: messageId(raw) };
}

// node_modules/@noble/hashes/hkdf.js
var HKDF_COUNTER = /* @__PURE__ */ Uint8Array.of(0);
var EMPTY_BUFFER = /* @__PURE__ */ Uint8Array.of();
function expand(hash, prk, info, length = 32, _recycled) {
  ahash(hash);
  anumber(length, "length");
  abytes(prk, void 0, "prk");
  const olen = hash.outputLen;
  if (prk.length < olen)
    throw new Error('"prk" must be at least HashLen octets');
  if (length > 255 * olen)
    throw new Error("Length must be <= 255*HashLen");
  const blocks = Math.ceil(length / olen);
  if (info === void 0)
    info = EMPTY_BUFFER;
  else
    abytes(info, void 0, "info");
  if (!blocks) {
    if (_recycled)
      clean(prk);
    return new Uint8Array();
  }
  const okm = _recycled && blocks === 1 ? prk : new Uint8Array(blocks * olen);
  const { iHash, oHash } = hmac.create(hash, prk);
  const T = _recycled ? prk : new Uint8Array(olen);
  const worker = blocks > 1 ? _recycled?.iHash || hash.create() : void 0;
  for (let counter = 0; counter < blocks - 1; counter++) {
    HKDF_COUNTER[0] = counter + 1;
    const iWork = iHash._cloneInto(worker);
    if (counter)
      iWork.update(T);
    iWork.update(info).update(HKDF_COUNTER).digestInto(T);
    oHash._cloneInto(worker).update(T).digestInto(T);
    okm.set(T, olen * counter);
  }
  HKDF_COUNTER[0] = blocks;
  if (blocks > 1)
    iHash.update(T);
  iHash.update(info).update(HKDF_COUNTER).digestInto(T);
  oHash.update(T).digestInto(T);
  okm.set(T, olen * (blocks - 1));
  iHash.destroy();
  oHash.destroy();
  worker?.destroy();
  if (T !== okm)
    clean(T);
  clean(HKDF_COUNTER);
  if (length === okm.length)
    return okm;
  const res = okm.slice(0, length);
  clean(okm);
  return res;
}
var hkdf = (hash, ikm, salt, info, length) => {
  ahash(hash);
  if (salt === void 0)
    salt = new Uint8Array(hash.outputLen);
  const HMAC = hmac.create(hash, salt).update(ikm);
  return expand(hash, HMAC.digest(), info, length, HMAC);
};

// js/encryption.js
var ENC_NAME = "flocloud-ecies-v1";
var VERSION = 1;
var INFO = utf8(ENC_NAME);
var HEADER = 1 + 33 + 12;
var TAG = 16;
function aad(senderId, receiverId) {
  const s = utf8(senderId), r = utf8(receiverId);
  if (s.length > 255 || r.length > 255) fail("bad-format", "IDs longer than 255 bytes");
  return concat(INFO, [s.length], s, [r.length], r);
}
async function aesKey(shared, epk, receiver33) {
  const raw = hkdf(sha256, shared, concat(epk, receiver33), INFO, 32);
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}
var compressed = (pub) => secp256k1.Point.fromBytes(pub).toBytes(true);
async function encrypt(plaintext, receiverPub, { senderId, receiverId, ephemeralSecret, nonce } = {}) {
  const pub = parsePubKey(receiverPub);
  const eph = new Key(ephemeralSecret ?? secp256k1.utils.randomSecretKey());
  const iv = nonce ?? crypto.getRandomValues(new Uint8Array(12));
  if (iv.length !== 12) fail("bad-format", "nonce must be 12 bytes");
  const epk = eph.publicKey;
  const key = await aesKey(eph.sharedPoint(pub), epk, compressed(pub));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(senderId ?? "", receiverId ?? ""), tagLength: 128 }, key, plaintext)
  );
  return concat([VERSION], epk, iv, sealed);
}
async function decrypt(blob, key, { senderId, receiverId } = {}) {
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
      { name: "AES-GCM", iv, additionalData: aad(senderId ?? "", receiverId ?? key.id), tagLength: 128 },
      aes,
      sealed
    );
    return new Uint8Array(plain);
  } catch (e) {
    if (e instanceof FlocloudError && e.code !== "decryption-failed") throw e;
    fail("decryption-failed", "cannot decrypt: wrong key, wrong sender/receiver IDs or tampered data");
  }
}
var isSealed = (payload) => payload !== null && typeof payload === "object" && !Array.isArray(payload) && payload.enc === ENC_NAME;
async function sealJson(value, receiverPub, opts) {
  const blob = await encrypt(utf8(JSON.stringify(value)), receiverPub, opts);
  return { enc: ENC_NAME, ct: base64.encode(blob) };
}
async function openJson(payload, key, opts) {
  if (!isSealed(payload) || typeof payload.ct !== "string") {
    fail("bad-format", `not an encrypted payload ({"enc": "${ENC_NAME}", "ct": ...})`);
  }
  let blob;
  try {
    blob = base64.decode(payload.ct);
  } catch {
    fail("decryption-failed", "ciphertext is not valid base64");
  }
  const plain = await decrypt(blob, key, opts);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    fail("decryption-failed", "decrypted payload is not JSON");
  }
}

// js/placement.js
var DEFAULT_VIRTUAL_NODES = 256;
var MAX_VIRTUAL_NODES = 1024;
var TAG2 = utf8("flocloud-position");
var big = (bytes) => BigInt("0x" + (bytesToHex(bytes) || "0"));
var keyPayload = (keyId) => big(decodeAddress(keyId).hash160);
function nodePositions(nodeId, virtualNodes) {
  if (!(virtualNodes >= 1 && virtualNodes <= MAX_VIRTUAL_NODES)) {
    fail("bad-format", `virtualNodes must be in 1..${MAX_VIRTUAL_NODES}`);
  }
  const payload = decodeAddress(nodeId).hash160;
  const out = [big(payload)];
  for (let i = 1; i < virtualNodes; i++) out.push(big(hash160(concat(TAG2, payload, [i >> 8, i & 255]))));
  return out;
}
var Placement = class {
  /** @param {string[]} nodeIds @param {number} virtualNodes */
  constructor(nodeIds, virtualNodes = DEFAULT_VIRTUAL_NODES) {
    this.virtualNodes = virtualNodes;
    this.nodes = [...new Set(nodeIds)].map((id) => ({ id, payload: keyPayload(id), positions: nodePositions(id, virtualNodes) }));
    this.nodeIds = this.nodes.map((n) => n.id);
  }
  /** Smallest XOR distance between the key and the node's positions. */
  distance(keyId, nodeId) {
    const key = keyPayload(keyId);
    const node = this.nodes.find((n) => n.id === nodeId);
    return node.positions.reduce((m, p) => (p ^ key) < m ? p ^ key : m, 1n << 161n);
  }
  /** Supernode IDs ordered by closeness to `keyId`; the first `n` if given. */
  preferenceList(keyId, n) {
    const key = keyPayload(keyId);
    const scored = this.nodes.map((node) => {
      let best = 1n << 161n;
      for (const p of node.positions) if ((p ^ key) < best) best = p ^ key;
      return [best, node.payload, node.id];
    });
    scored.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
    const ids = scored.map((s) => s[2]);
    return n === void 0 ? ids : ids.slice(0, n);
  }
  /** The `replicationFactor` supernodes that hold `keyId`. */
  replicas(keyId, replicationFactor) {
    return this.preferenceList(keyId, replicationFactor);
  }
};

// js/objects.js
var MAX_NAME_BYTES = 256;
function objectId(application, name, net = "mainnet") {
  const a = utf8(application), n = utf8(name);
  if (a.includes(0) || !n.length || n.length > MAX_NAME_BYTES) {
    fail("bad-format", `object names are 1..${MAX_NAME_BYTES} bytes, applications have no NUL`);
  }
  return base58check.encode(concat([network(net).p2pkh], hash160(concat(a, [0], n))));
}
var isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const result = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}
function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}
var hasNullMember = (v) => isObject(v) && Object.values(v).some((x) => x === null || hasNullMember(x));
function mergeDiff(a, b) {
  if (!isObject(b)) return b;
  if (hasNullMember(b)) return null;
  if (!isObject(a)) return b;
  const patch = {};
  for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) patch[k] = null;
  for (const [k, v] of Object.entries(b)) {
    if (!Object.hasOwn(a, k)) patch[k] = v;
    else if (!deepEqual(a[k], v)) {
      const sub = mergeDiff(a[k], v);
      patch[k] = sub === null ? v : sub;
    }
  }
  return patch;
}

// js/network.js
var REGISTRY_KEY = "SuperNodeStorage";
async function getJson(fetchImpl, url, init) {
  let res;
  try {
    res = await fetchImpl(url, init);
  } catch (e) {
    fail("unavailable", `cannot reach ${url}: ${e.message}`);
  }
  let doc;
  try {
    doc = await res.json();
  } catch {
    fail("explorer", `${url} did not answer JSON (HTTP ${res.status})`);
  }
  if (!res.ok) {
    const err = doc && doc.error;
    throw new FlocloudError(err && err.code ? err.code : "explorer", err && (err.message || err) || `HTTP ${res.status} from ${url}`);
  }
  return doc;
}
function wsUrl(uri) {
  let u = String(uri).replace(/\/+$/, "");
  if (u.startsWith("http://")) u = "ws://" + u.slice(7);
  else if (u.startsWith("https://")) u = "wss://" + u.slice(8);
  else if (!/^wss?:\/\//.test(u)) u = "wss://" + u;
  return u.endsWith("/ws") ? u : u + "/ws";
}
function httpUrl(uri) {
  return wsUrl(uri).replace(/^ws/, "http").replace(/\/ws$/, "");
}
function applyUpdate(state, tx2) {
  const next = { ...state, epoch: { txid: tx2.txid, height: tx2.height ?? state.epoch?.height ?? null, hash: tx2.blockHash ?? null } };
  const senders = tx2.senders || [tx2.sender];
  if (!senders.includes(state.registry)) return state;
  let content;
  try {
    content = JSON.parse(tx2.floData)[REGISTRY_KEY];
  } catch {
    content = void 0;
  }
  if (!content || typeof content !== "object") return state;
  const nodes = new Map(state.nodes.map((n) => [n.id, n]));
  const apps = new Map(state.apps.map((a) => [a.name, a]));
  const config = { ...state.config };
  const skipped = [...state.skipped];
  const each = (what, fn) => {
    try {
      fn();
    } catch (e) {
      skipped.push([tx2.txid, `${what}: ${e.message}`]);
    }
  };
  for (const id of content.removeNodes || []) nodes.delete(String(id));
  for (const [id, info] of Object.entries(content.newNodes || {})) {
    each(`node ${id}`, () => {
      checkAddress(id, state.network);
      const pub = parsePubKey(String(info.pubKey || ""));
      if (addressFromPubKey(pub, state.network) !== id) throw new Error("pubKey does not hash to the ID");
      const uri = String(info.uri || "");
      nodes.set(id, { id, pubKey: String(info.pubKey).toLowerCase(), uri: typeof info.flocloud === "string" && info.flocloud ? info.flocloud : uri });
    });
  }
  for (const [id, uri] of Object.entries(content.updateNodes || {})) if (nodes.has(id)) nodes.set(id, { ...nodes.get(id), uri: String(uri) });
  if (content.config && typeof content.config === "object") Object.assign(config, content.config);
  for (const name of content.removeApps || []) apps.delete(String(name));
  for (const [name, admin] of Object.entries(content.addApps || {})) {
    each(`app ${name}`, () => {
      if (typeof admin !== "string") throw new Error("addApps values are plain admin IDs");
      checkAddress(admin, state.network);
      apps.set(name, { name, admin, trusted: [] });
    });
  }
  return finish({ ...next, nodes, apps, config, skipped });
}
function finish({ nodes, apps, skipped, ...rest }) {
  const byId = (a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return { ...rest, nodes: [...nodes.values()].sort(byId), apps: [...apps.values()], skipped: skipped.slice(-32) };
}
var Network = class _Network {
  /**
   * @param {{nodes: {id: string, uri: string, pubKey?: string}[], network?: string,
   *   replicationFactor?: number, writeQuorum?: number, virtualNodes?: number,
   *   apps?: object[], epoch?: object, downForMs?: number}} opts
   */
  constructor({ nodes, network: network2 = "mainnet", replicationFactor = 1, writeQuorum, virtualNodes = DEFAULT_VIRTUAL_NODES, apps = [], epoch = null, downForMs = 1e4, source = "" }) {
    if (!nodes || !nodes.length) fail("unavailable", "the registry lists no supernodes");
    this.nodes = nodes.map((n) => ({ id: n.id, uri: n.uri, pubKey: n.pubKey || "" }));
    this.network = network2;
    this.replicationFactor = Math.max(1, Math.min(replicationFactor, this.nodes.length));
    this.writeQuorum = writeQuorum ?? Math.min(2, this.replicationFactor);
    this.virtualNodes = virtualNodes;
    this.apps = apps;
    this.epoch = epoch;
    this.downForMs = downForMs;
    this.source = source;
    this.placement = new Placement(this.nodes.map((n) => n.id), virtualNodes);
    this._down = /* @__PURE__ */ new Map();
    this._pref = /* @__PURE__ */ new Map();
    for (const n of nodes) if (n.status === "down") this.markDown(n.id);
  }
  _preference(keyId) {
    let pref = this._pref.get(keyId);
    if (!pref) {
      pref = this.placement.preferenceList(keyId);
      if (this._pref.size >= 1e3) this._pref.delete(this._pref.keys().next().value);
      this._pref.set(keyId, pref);
    }
    return pref;
  }
  node(id) {
    return this.nodes.find((n) => n.id === id);
  }
  /** The registry read from a chain explorer's Blockbook v1 API (the dev chain has one). */
  static async fromChain({ explorer, registry, network: network2 = "mainnet", minConfirmations = 6, fetch: f = globalThis.fetch.bind(globalThis) }) {
    checkAddress(registry, network2);
    const base = String(explorer).replace(/\/+$/, "");
    const txs = [];
    for (let page = 1, total = 1; page <= total; page++) {
      const doc = await getJson(f, `${base}/api/address/${registry}?details=txs&page=${page}&pageSize=50`);
      total = Number(doc.totalPages || 1);
      for (const t of doc.txs || []) {
        if ((t.confirmations || 0) < minConfirmations) continue;
        const senders = (t.vin || []).map((v) => (v.addresses || [])[0] || v.addr || "");
        txs.push({ txid: t.txid, senders, floData: t.floData || "", height: t.blockheight >= 0 ? t.blockheight : null, blockHash: t.blockhash || null });
      }
    }
    let state = { network: network2, registry, nodes: [], apps: [], config: {}, epoch: null, skipped: [] };
    for (const tx2 of txs.reverse()) state = applyUpdate(state, tx2);
    const depth = Number.isInteger(state.config.backupDepth) && state.config.backupDepth >= 0 ? state.config.backupDepth : 1;
    const rf = Math.max(1, Math.min(depth + 1, state.nodes.length || 1));
    const wq = Number.isInteger(state.config.writeQuorum) && state.config.writeQuorum >= 1 ? Math.min(state.config.writeQuorum, rf) : Math.min(2, rf);
    const vn = Number.isInteger(state.config.virtualNodes) && state.config.virtualNodes > 0 ? state.config.virtualNodes : DEFAULT_VIRTUAL_NODES;
    return new _Network({ nodes: state.nodes, network: network2, replicationFactor: rf, writeQuorum: wq, virtualNodes: vn, apps: state.apps, epoch: state.epoch, source: `chain ${base}` });
  }
  /** The registry as a supernode knows it (`GET /` as JSON, `GET /api/network`); tries each URL in turn. */
  static async fromSupernode(urls, { fetch: f = globalThis.fetch.bind(globalThis), downForMs } = {}) {
    let last;
    for (const url of [].concat(urls)) {
      const base = httpUrl(url);
      try {
        const me = await getJson(f, `${base}/`, { headers: { Accept: "application/json" } });
        const net = await getJson(f, `${base}/api/network`);
        return new _Network({
          nodes: net.nodes,
          network: me.network,
          replicationFactor: net.replication_factor ?? 1,
          writeQuorum: net.write_quorum,
          virtualNodes: net.virtual_nodes ?? DEFAULT_VIRTUAL_NODES,
          epoch: net.epoch ?? me.epoch ?? null,
          downForMs,
          source: `supernode ${base}`
        });
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof FlocloudError ? last : new FlocloudError("unavailable", `no supernode answered: ${last}`);
  }
  /** The supernodes that hold `keyId` (home first). */
  replicas(keyId) {
    return this._preference(keyId).slice(0, this.replicationFactor).map((id) => this.node(id));
  }
  /** Every node in preference order for `keyId`, recently failed ones last. */
  route(keyId) {
    const now = Date.now();
    const pref = this._preference(keyId).map((id) => this.node(id));
    const live = pref.filter((n) => (this._down.get(n.id) || 0) <= now);
    return live.concat(pref.filter((n) => !live.includes(n)));
  }
  isDown(id) {
    return (this._down.get(id) || 0) > Date.now();
  }
  markDown(id) {
    this._down.set(id, Date.now() + this.downForMs);
  }
  markUp(id) {
    this._down.delete(id);
  }
};

// js/connection.js
var Connection = class {
  constructor(url, { timeout = 5e3, pingMs = 1e4 } = {}) {
    this.url = url;
    this.timeout = timeout;
    this.pingMs = pingMs;
    this.ws = null;
    this.closed = false;
    this._ids = 0;
    this._pending = /* @__PURE__ */ new Map();
    this._subs = /* @__PURE__ */ new Map();
    this._timer = null;
  }
  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        reject(new FlocloudError("unavailable", `cannot connect to ${this.url}: ${e.message}`));
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => {
        ws.close();
        reject(new FlocloudError("unavailable", `cannot connect to ${this.url}: timeout`));
      }, this.timeout);
      ws.onopen = () => {
        clearTimeout(timer);
        this._timer = setInterval(() => this._keepalive(), this.pingMs);
        resolve(this);
      };
      ws.onerror = () => {
      };
      ws.onclose = () => {
        clearTimeout(timer);
        reject(new FlocloudError("unavailable", `cannot connect to ${this.url}`));
        this._closed(`connection to ${this.url} closed`);
      };
      ws.onmessage = (ev) => {
        let frame;
        try {
          frame = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (frame && typeof frame === "object") this._dispatch(frame);
      };
    });
  }
  _dispatch(frame) {
    const rid = frame.id !== void 0 && frame.id !== null ? String(frame.id) : null;
    if (rid !== null && this._pending.has(rid) && ("ok" in frame || "error" in frame)) {
      const p = this._pending.get(rid);
      this._pending.delete(rid);
      clearTimeout(p.timer);
      if (frame.ok === false || frame.error) p.reject(errorFromWire(frame.error));
      else p.resolve(frame);
      return;
    }
    if (frame.sub !== void 0 && this._subs.has(String(frame.sub))) this._subs.get(String(frame.sub))(frame);
  }
  async _keepalive() {
    if (!this._subs.size || this.closed) return;
    try {
      await this.request("ping");
    } catch (e) {
      if (e.code === "unavailable") this.close(`${this.url} stopped answering`);
    }
  }
  _closed(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._timer);
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(new FlocloudError("unavailable", reason));
    }
    this._pending.clear();
    const subs = [...this._subs.values()];
    this._subs.clear();
    for (const handler of subs) handler({ closed: true, reason });
  }
  /** Send one request; resolves with the reply, rejects with its FlocloudError. */
  request(op, fields = {}) {
    if (this.closed || !this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new FlocloudError("unavailable", `not connected to ${this.url}`));
    }
    const id = String(++this._ids);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new FlocloudError("unavailable", `${this.url} did not answer ${op} within ${this.timeout} ms`));
      }, this.timeout);
      this._pending.set(id, { resolve, reject, timer });
      try {
        this.ws.send(JSON.stringify({ ...fields, id, op }));
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new FlocloudError("unavailable", `${this.url}: ${e.message}`));
      }
    });
  }
  onSub(sub, handler) {
    this._subs.set(sub, handler);
  }
  offSub(sub) {
    this._subs.delete(sub);
  }
  close(reason = "closed by the client") {
    if (this.ws) try {
      this.ws.close();
    } catch {
    }
    this._closed(reason);
  }
};

// js/client.js
var sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => {
    clearTimeout(t);
    resolve();
  }, { once: true });
});
function isNewerEpoch(theirs, ours) {
  if (!theirs || typeof theirs !== "object" || !Number.isInteger(theirs.height)) return false;
  if (!ours || !Number.isInteger(ours.height)) return true;
  if (theirs.height !== ours.height) return theirs.height > ours.height;
  return typeof theirs.hash === "string" && typeof ours.hash === "string" && theirs.hash !== ours.hash;
}
var REFRESH_GAP_MS = 1e3;
var REASK_MS = 3e4;
var REFRESH_CODES = /* @__PURE__ */ new Set(["not-listed", "stale-epoch"]);
var Client = class _Client {
  /**
   * @param {{key: Key, network: Network, timeout?: number,
   *   reload?: (hint?: string) => Promise<Network>, monotonic?: boolean,
   *   registryRefreshMs?: number}} opts `reload` reads the registry again (`connect`
   *   sets it; `hint`: the URI of a node that named a newer epoch); `monotonic`: a read
   *   older than the registry in use is dropped (a lagging supernode; a chain's own
   *   reorganisation may go back, so reads from the chain are always taken). Without
   *   `reload` the client routes by `network` as given.
   */
  constructor({ key, network: network2, timeout = 5e3, reload, monotonic = false, registryRefreshMs = 6e4 }) {
    if (!(key instanceof Key)) fail("invalid-key", "Client needs a Key");
    this.key = key;
    this.network = network2;
    this.timeout = timeout;
    this._conns = /* @__PURE__ */ new Map();
    this._pubkeys = /* @__PURE__ */ new Map([[key.id, key.publicKey]]);
    this._addPubkeys(network2);
    this._subs = 0;
    this._subscriptions = /* @__PURE__ */ new Set();
    this._reload = reload || null;
    this._monotonic = monotonic;
    this._refreshing = null;
    this._refreshAt = 0;
    this._soon = null;
    this._timer = null;
    this._wanted = null;
    this._refreshMs = 0;
    this.registryRefreshMs = registryRefreshMs;
  }
  /** How often the registry is read again (ms; 0: only when a reply names a newer epoch). */
  get registryRefreshMs() {
    return this._refreshMs;
  }
  set registryRefreshMs(ms) {
    this._refreshMs = ms > 0 ? ms : 0;
    clearTimeout(this._timer);
    this._timer = null;
    if (this._reload && this._refreshMs > 0 && !this._closed) this._tick();
  }
  _tick() {
    this._timer = setTimeout(() => {
      this._timer = null;
      this._after(() => this.refreshRegistry()).finally(() => {
        if (this._refreshMs > 0 && !this._closed && !this._timer) this._tick();
      });
    }, this._refreshMs);
    this._timer?.unref?.();
  }
  _addPubkeys(network2) {
    for (const n of network2.nodes) if (n.pubKey) this._pubkeys.set(n.id, n.pubKey);
  }
  /** Run `fn` once the refresh in flight (which may predate what is wanted) is over. */
  _after(fn) {
    return (this._refreshing || Promise.resolve()).then(fn, fn).catch(() => {
    });
  }
  /**
   * Read the registry again now and route by it. A read without nodes is ignored, and
   * so is one older than the registry in use when it came from a supernode. Nodes marked
   * down stay marked (the later mark of the two kept); connections to nodes no longer
   * listed, or listed at another URI, are closed. A refresh already running is joined.
   */
  refreshRegistry() {
    if (!this._reload) return Promise.resolve();
    if (this._refreshing) return this._refreshing;
    this._refreshAt = Date.now();
    this._refreshing = (async () => {
      try {
        const next = await this._reload(this._wanted?.hint);
        const now = this.network;
        if (this._closed || !next.nodes.length) return;
        if (this._monotonic && isNewerEpoch(now.epoch, next.epoch)) return;
        for (const [id, until] of now._down) {
          if ((next._down.get(id) || 0) < until) next._down.set(id, until);
        }
        next.downForMs = now.downForMs;
        this.network = next;
        this._addPubkeys(next);
        for (const [id, p] of [...this._conns]) {
          const was = now.node(id);
          const is = next.node(id);
          if (!is || was && was.uri !== is.uri) {
            this._conns.delete(id);
            p.then((c) => c.close(), () => {
            });
          }
        }
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }
  /**
   * A reply of `node` named the registry epoch it routes by: a newer one than ours is
   * read soon (at most once a second; the same epoch again only after REASK_MS), after
   * any refresh in flight.
   */
  _sawEpoch(reply, node) {
    const theirs = reply?.epoch;
    if (!this._reload || this._closed || !isNewerEpoch(theirs, this.network.epoch)) return;
    const w = this._wanted;
    if (w && !isNewerEpoch(theirs, w.epoch) && Date.now() - w.at < REASK_MS) return;
    this._wanted = { epoch: theirs, at: Date.now(), hint: node?.uri };
    this._refreshSoon();
  }
  _refreshSoon() {
    if (this._soon || this._closed || !this._reload) return;
    const wait = Math.max(1, this._refreshAt + REFRESH_GAP_MS - Date.now());
    this._soon = setTimeout(() => {
      this._soon = null;
      this._after(() => this.refreshRegistry());
    }, wait);
    this._soon?.unref?.();
  }
  /**
   * Read the registry (from `explorer` + `registry`, else from `supernode(s)`) and make a client.
   * Nothing connects until the first request.
   */
  static async connect({ key, supernode, supernodes, explorer, registry, network: network2, timeout, minConfirmations, registryRefreshMs } = {}) {
    const urls = [].concat(supernodes || supernode || globalThis.location?.origin);
    let client = null;
    const known = () => client ? client.network.nodes.map((n) => n.uri) : [];
    const reload = explorer ? () => Network.fromChain({ explorer, registry, network: network2 || key.network, minConfirmations }) : (hint) => Network.fromSupernode([...hint ? [hint] : [], ...urls, ...known()]);
    client = new _Client({ key, network: await reload(), timeout, reload, monotonic: !explorer, registryRefreshMs });
    return client;
  }
  get id() {
    return this.key.id;
  }
  async _connection(node) {
    const known = this._conns.get(node.id);
    if (known) {
      const conn = await known;
      if (!conn.closed) return conn;
    }
    const opening = new Connection(wsUrl(node.uri), { timeout: this.timeout }).open();
    this._conns.set(node.id, opening);
    try {
      return await opening;
    } catch (e) {
      this._conns.delete(node.id);
      throw e;
    }
  }
  /** Run `call(conn, node)` on the first supernode of `keyId`'s route that answers. */
  async _onRoute(keyId, call) {
    let last = new FlocloudError("unavailable", "no supernode is registered");
    for (const node of this.network.route(keyId)) {
      try {
        const conn = await this._connection(node);
        const result = await call(conn, node);
        this.network.markUp(node.id);
        this._sawEpoch(result, node);
        return result;
      } catch (e) {
        if (!(e instanceof FlocloudError)) throw e;
        if (REFRESH_CODES.has(e.code)) {
          this._refreshSoon();
        } else if (e.code === "unavailable") {
          this.network.markDown(node.id);
        } else {
          throw e;
        }
        last = e;
      }
    }
    throw new FlocloudError("unavailable", `no supernode answered for ${keyId}: ${last.message}`, last.replicas !== void 0 ? { replicas: last.replicas } : {});
  }
  _request(keyId, op, fields) {
    return this._onRoute(keyId, (conn) => conn.request(op, fields));
  }
  /** The supernode that would serve `keyId` now (first live of its preference list). */
  home(keyId = this.id) {
    return this.network.route(keyId)[0];
  }
  // -- messages -------------------------------------------------------------------------
  /** Build and sign an envelope from this client (no network). */
  sign(receiver, payload, { app = "", type = "message", comment } = {}) {
    checkAddress(receiver, this.key.network);
    return signEnvelope(this.key, { receiver, payload, application: app, type, comment });
  }
  /**
   * Store a signed envelope on its home supernode; the ack says on how many it was
   * committed (`replicas`). Below `minReplicas` it throws `unavailable` with `replicas`
   * (the write is stored; sending it again is safe).
   */
  async put(signed, { restore = false, minReplicas } = {}) {
    const wire = signed.wire || signed;
    const receiver = JSON.parse(wire.body).receiverID;
    const fields = { envelope: wire };
    if (restore) fields.restore = true;
    const ack = await this._request(receiver, "put", fields);
    const got = ack.replicas ?? 1;
    if (minReplicas !== void 0 && Number.isInteger(got) && got < minReplicas) {
      throw new FlocloudError("unavailable", `write ${ack.msgId} is on ${got} supernode(s), fewer than the ${minReplicas} asked; sending it again is safe`, { replicas: got });
    }
    return ack;
  }
  /** Send `data` to `receiver`; resolves with the message id. */
  async send(receiver, data, { app = "", type = "message", comment, encrypt: encrypt2 = false, minReplicas } = {}) {
    let payload = data;
    if (encrypt2) payload = await sealJson(data, await this.resolvePubKey(receiver), { senderId: this.id, receiverId: receiver });
    const env = this.sign(receiver, payload, { app, type, comment });
    await this.put(env, { minReplicas });
    return env.id;
  }
  async _message(rec, cursor) {
    const env = parseEnvelope(rec.envelope, { nowMs: null });
    const b = env.body;
    if (!this._pubkeys.has(b.senderID)) this._pubkeys.set(b.senderID, env.pubKey);
    let payload = b.payload, encrypted = false;
    if (isSealed(payload)) {
      encrypted = true;
      if (b.receiverID === this.id) {
        try {
          payload = await openJson(payload, this.key, { senderId: b.senderID, receiverId: b.receiverID });
          encrypted = false;
        } catch {
        }
      }
    }
    return {
      id: env.id,
      cursor: cursor ?? rec.cursor ?? rec.seq ?? null,
      seq: rec.seq,
      dot: rec.dot,
      sender: b.senderID,
      receiver: b.receiverID,
      application: b.application,
      type: b.type,
      comment: b.comment ?? null,
      time: b.time,
      payload,
      encrypted,
      deleted: !!rec.deleted,
      tags: rec.tags || [],
      note: rec.note ?? null,
      receivedMs: rec.received_ms ?? null,
      envelope: rec.envelope
    };
  }
  /**
   * Messages for `receiver` (default: this client) after the `after` cursor.
   * @returns {Promise<{messages: object[], next: any, more: boolean}>} pass `next` as `after` next time
   */
  async fetch({ receiver = this.id, after, app, type, sender, comment, since, until, ids, limit = 100, order, includeDeleted } = {}) {
    const filter = { receiver, limit };
    const opt = { after, application: app, type, sender, comment, since, until, ids, order };
    for (const [k, v] of Object.entries(opt)) if (v !== void 0 && v !== null) filter[k] = v;
    if (includeDeleted) filter.include_deleted = true;
    const reply = await this._request(receiver, "query", { filter });
    const messages = [];
    for (const rec of reply.messages || []) messages.push(await this._message(rec));
    return { messages, next: reply.next ?? after ?? null, more: !!reply.more };
  }
  /**
   * Stored matches, then live ones, as an async iterator; it follows the receiver to
   * whichever replica serves it and resumes from the latest cursor, without loss or
   * duplicates. Stop with `signal` (AbortSignal), `sub.close()` or `break`.
   */
  subscribe({ receiver = this.id, after, signal, onStatus, app, type, sender, comment, since, until } = {}) {
    const filters = { application: app, type, sender, comment, since, until };
    const sub = new Subscription(this, { receiver, after, signal, onStatus, filters });
    this._subscriptions.add(sub);
    return sub;
  }
  // -- objects --------------------------------------------------------------------------
  objectId(app, name) {
    return objectId(app, name, this.key.network);
  }
  /**
   * The whole object at its latest (or a given) version:
   * {application, name, version, value, heads, mode, msgId}. `consistent` (strict objects):
   * a linearizable read (the node catches up with a majority of the object's replicas).
   */
  async get(app, name, { version, consistent } = {}) {
    const fields = { application: app, name };
    if (version !== void 0 && version !== null) fields.version = version;
    if (consistent) fields.consistent = true;
    const r = await this._request(this.objectId(app, name), "object.get", fields);
    return { application: app, name, version: r.version, value: r.value, heads: r.heads || [], mode: r.mode, msgId: r.msgId };
  }
  /** What changed since `since` (a version, `"0"`: the start): the writes in fold order, or one diff (`mode: "diff"`). */
  changes(app, name, { since = "0", mode = "patches" } = {}) {
    return this._request(this.objectId(app, name), "object.changes", { application: app, name, since_version: String(since), mode });
  }
  /** Every write of the object in fold order, with who wrote it and the version after it. */
  async history(app, name) {
    return (await this.changes(app, name, { since: "0" })).changes || [];
  }
  /** Replace the whole object; resolves with the version after the write. */
  reset(app, name, value, { expectedVersion } = {}) {
    return this._objectWrite(app, name, "flocloud.object.reset", { value }, expectedVersion);
  }
  /** Apply an RFC 7386 merge patch; resolves with the version after the write. */
  patch(app, name, patch, { expectedVersion } = {}) {
    return this._objectWrite(app, name, "flocloud.object.patch", { patch }, expectedVersion);
  }
  /** Add `item` to the array at `path` (`op`: "append", "prepend", or "remove" every equal element); concurrent list writes all apply. */
  append(app, name, item, { path = [], op = "append", expectedVersion } = {}) {
    return this._objectWrite(app, name, "flocloud.object.list", { op, path, item }, expectedVersion);
  }
  /**
   * A write based on `expectedVersion` (or the version just read): it names that version's
   * heads as its parents (docs/protocol.md §5.1). Merge objects never refuse it for
   * concurrency. Strict objects take every write as a compare-and-set at its parents'
   * version: with `expectedVersion` a lost one rejects with `version-conflict`; without, the
   * client reads again and retries, so the write lands after the others.
   */
  async _objectWrite(app, name, type, body, expectedVersion) {
    for (let attempt = 0; attempt < 10; attempt++) {
      let base;
      try {
        base = await this.get(app, name, { version: expectedVersion });
      } catch (e) {
        if (e.code !== "not-found" || expectedVersion != null && expectedVersion !== "0") throw e;
        base = { version: "0", heads: [] };
      }
      const payload = { name, ...body, parents: [...base.heads].sort() };
      if (expectedVersion != null) payload.expected_version = base.version;
      const env = this.sign(this.objectId(app, name), payload, { app, type });
      try {
        return (await this.put(env)).version;
      } catch (e) {
        if (e.code === "version-conflict" && expectedVersion == null) continue;
        throw e;
      }
    }
    throw new FlocloudError("unavailable", `${app}/${name}: too many concurrent writers, try again`);
  }
  // -- delete / tag / note ----------------------------------------------------------------
  async _about(messageId2, receiver, type, payload) {
    const found = await this.fetch({ receiver, ids: [messageId2], includeDeleted: true, limit: 1 });
    if (!found.messages.length) fail("not-found", `message ${messageId2} not found for ${receiver}`);
    const env = this.sign(receiver, payload, { app: found.messages[0].application, type });
    await this.put(env);
    return env.id;
  }
  delete(messageId2, { receiver = this.id } = {}) {
    return this._about(messageId2, receiver, "flocloud.delete", { id: messageId2 });
  }
  tag(messageId2, tag, { receiver }) {
    return this._about(messageId2, receiver, "flocloud.tag", { id: messageId2, tag });
  }
  note(messageId2, note, { receiver }) {
    return this._about(messageId2, receiver, "flocloud.note", { id: messageId2, note });
  }
  // -- public keys ------------------------------------------------------------------------
  /** The public key of `floId`: known, from the registry, or from a message it signed. */
  async resolvePubKey(floId) {
    checkAddress(floId, this.key.network);
    if (this._pubkeys.has(floId)) return parsePubKey(this._pubkeys.get(floId));
    for (const receiver of [this.id, floId]) {
      let found;
      try {
        found = await this.fetch({ receiver, sender: floId, limit: 1 });
      } catch {
        continue;
      }
      if (found.messages.length) {
        this._pubkeys.set(floId, found.messages[0].envelope.pubKey);
        return parsePubKey(found.messages[0].envelope.pubKey);
      }
    }
    fail("not-found", `no public key known for ${floId}: it has signed nothing we can see`);
  }
  /** End every subscription and close every connection. */
  close() {
    this._closed = true;
    clearTimeout(this._timer);
    clearTimeout(this._soon);
    this._timer = this._soon = null;
    for (const sub of this._subscriptions) sub.close();
    this._subscriptions.clear();
    for (const p of this._conns.values()) p.then((c) => c.close(), () => {
    });
    this._conns.clear();
  }
};
var SEEN_MAX = 1e4;
var Subscription = class {
  constructor(client, { receiver, after, signal, onStatus, filters }) {
    this.client = client;
    this.receiver = receiver;
    this.cursor = after ?? null;
    this.node = null;
    this.live = false;
    this.closed = false;
    this.error = null;
    this._filters = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== void 0));
    this._onStatus = onStatus;
    this._seen = /* @__PURE__ */ new Set();
    this._queue = [];
    this._waiters = [];
    this._chain = Promise.resolve();
    this._abort = new AbortController();
    if (signal) {
      if (signal.aborted) this.close();
      else signal.addEventListener("abort", () => this.close(), { once: true });
    }
    this._run();
  }
  _status(state) {
    try {
      this._onStatus?.({ state, node: this.node, cursor: this.cursor });
    } catch {
    }
  }
  async _run() {
    const id = `js${++this.client._subs}`;
    while (!this.closed) {
      let ended;
      const done = new Promise((resolve) => {
        ended = resolve;
      });
      this._end = ended;
      try {
        await this.client._onRoute(this.receiver, async (conn, node) => {
          conn.onSub(id, (frame) => this._frame(frame, ended));
          const filter = { ...this._filters, receiver: this.receiver };
          if (this.cursor !== null && this.cursor !== void 0) filter.after = this.cursor;
          try {
            await conn.request("subscribe", { sub: id, filter });
          } catch (e) {
            conn.offSub(id);
            throw e;
          }
          this.node = node.id;
          this._conn = conn;
          this._status("connected");
        });
      } catch (e) {
        if (e instanceof FlocloudError && e.code === "unavailable") {
          this._status("reconnecting");
          await sleep(500, this._abort.signal);
          continue;
        }
        this._fail(e);
        return;
      }
      const why = this.closed ? "closed by the caller" : await done;
      this._conn?.offSub(id);
      if (this.closed) break;
      this.live = false;
      if (why === "closed") this.client.network.markDown(this.node);
      this._status("reconnecting");
      await this._chain;
      await sleep(200, this._abort.signal);
    }
    if (this._conn && !this._conn.closed) this._conn.request("unsubscribe", { sub: id }).catch(() => {
    });
  }
  _frame(frame, ended) {
    if (frame.closed) {
      ended("closed");
      return;
    }
    if (frame.error && !frame.event) {
      ended("error");
      return;
    }
    if (frame.eose) {
      this._chain = this._chain.then(() => {
        this.live = true;
        this._status("live");
      });
      return;
    }
    const rec = frame.event || frame.message;
    if (!rec || !rec.envelope) return;
    const cursor = frame.cursor ?? rec.cursor ?? rec.seq ?? null;
    this._chain = this._chain.then(async () => {
      if (this.closed) return;
      let msg;
      try {
        msg = await this.client._message(rec, cursor);
      } catch {
        return;
      }
      if (cursor !== null) this.cursor = cursor;
      if (this._seen.has(msg.id)) return;
      this._seen.add(msg.id);
      if (this._seen.size > SEEN_MAX) this._seen.delete(this._seen.values().next().value);
      this._push({ value: msg, done: false });
    });
  }
  _push(item) {
    const w = this._waiters.shift();
    if (w) w(item);
    else this._queue.push(item);
  }
  _fail(e) {
    this.error = e;
    this.closed = true;
    this.client._subscriptions.delete(this);
    if (this._waiters.length) this._waiters.shift()(Promise.reject(e));
    else this._queue.push({ error: e });
    while (this._waiters.length) this._waiters.shift()({ value: void 0, done: true });
  }
  next() {
    if (this._queue.length) {
      const item = this._queue.shift();
      return item.error ? Promise.reject(item.error) : Promise.resolve(item);
    }
    if (this.closed) return Promise.resolve({ value: void 0, done: true });
    return new Promise((resolve) => this._waiters.push(resolve));
  }
  return() {
    this.close();
    return Promise.resolve({ value: void 0, done: true });
  }
  [Symbol.asyncIterator]() {
    return this;
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    this.client._subscriptions.delete(this);
    this._abort.abort();
    this._end?.("closed by the caller");
    while (this._waiters.length) this._waiters.shift()({ value: void 0, done: true });
    this._status("closed");
  }
};

// js/keystore.js
function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("flocloud", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("keys");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
async function tx(mode, fn) {
  const d = await db();
  try {
    return await new Promise((resolve, reject) => {
      const t = d.transaction("keys", mode);
      const req = fn(t.objectStore("keys"));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error);
    });
  } finally {
    d.close();
  }
}
function saveKey(key, name = "default") {
  return tx("readwrite", (s) => s.put({ wif: key.toWIF(), id: key.id, network: key.network }, name));
}
async function loadKey(name = "default") {
  const rec = await tx("readonly", (s) => s.get(name));
  return rec ? Key.fromWIF(rec.wif, rec.network) : null;
}
function deleteKey(name = "default") {
  return tx("readwrite", (s) => s.delete(name));
}
async function loadOrCreateKey(name = "default", network2 = "mainnet") {
  const known = await loadKey(name);
  if (known) return known;
  const key = Key.generate(network2);
  await saveKey(key, name);
  return key;
}

// js/index.js
var VERSION2 = "0.1.0";
export {
  Client,
  Connection,
  DEFAULT_LIMITS,
  DEFAULT_VIRTUAL_NODES,
  ENC_NAME,
  ERROR_CODES,
  FlocloudError,
  Key,
  NETWORKS,
  Network,
  PROTOCOL_VERSION,
  Placement,
  Subscription,
  VERSION2 as VERSION,
  addressFromPubKey,
  applyUpdate,
  bytesToHex,
  checkAddress,
  checkDepth,
  decodeAddress,
  decrypt,
  deepEqual,
  deleteKey,
  encrypt,
  hash160,
  hexToBytes3 as hexToBytes,
  httpUrl,
  isNewerEpoch,
  isSealed,
  isStrictDER,
  keyPayload,
  loadKey,
  loadOrCreateKey,
  mergeDiff,
  mergePatch,
  messageId,
  nodePositions,
  objectId,
  openJson,
  parseEnvelope,
  parsePubKey,
  saveKey,
  sealJson,
  signEnvelope,
  verifyData,
  verifyFlocryptoLegacy,
  wsUrl
};
