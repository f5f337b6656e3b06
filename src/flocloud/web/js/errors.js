// Errors with the protocol's stable codes (docs/protocol.md §7).
// Invariant: everything the client throws on purpose is a FlocloudError whose `code` is
// one of ERROR_CODES; an error reply from a node keeps its code, message and `replicas`.

export const ERROR_CODES = Object.freeze([
  "bad-format", "invalid-signature", "id-mismatch", "invalid-address", "wrong-network",
  "invalid-key", "too-large", "too-deep", "stale-time", "unsupported-version",
  "decryption-failed", "schema-mismatch", "forbidden", "rate-limited", "quota-exceeded",
  "duplicate", "version-conflict", "not-found", "unavailable", "tx-format", "explorer",
  "insufficient-funds", "chain", "internal",
]);

export class FlocloudError extends Error {
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
    if (this.replicas !== undefined) out.replicas = this.replicas;
    return out;
  }
}

/** The error of a node's reply `{"error": {"code", "message", ...}}`. */
export function errorFromWire(err, fallback = "request failed") {
  if (!err || typeof err !== "object") return new FlocloudError("internal", String(err || fallback));
  const { code, message, ...rest } = err;
  return new FlocloudError(String(code || "internal"), String(message || fallback), rest);
}

export const fail = (code, message, extra) => {
  throw new FlocloudError(code, message, extra);
};
