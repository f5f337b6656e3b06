// Application objects (docs/protocol.md §5): object IDs and RFC 7386 JSON merge patches.
// Pure. mergePatch never mutates its inputs; mergeDiff(a, b) returns p with
// mergePatch(a, p) == b, or null when a merge patch cannot express it (b has a null member).
import { fail } from "./errors.js";
import { base58check, concat, hash160, network, utf8 } from "./keys.js";

export const MAX_NAME_BYTES = 256;

/** The ID of the object `name` of `application`. */
export function objectId(application, name, net = "mainnet") {
  const a = utf8(application), n = utf8(name);
  if (a.includes(0) || !n.length || n.length > MAX_NAME_BYTES) {
    fail("bad-format", `object names are 1..${MAX_NAME_BYTES} bytes, applications have no NUL`);
  }
  return base58check.encode(concat([network(net).p2pkh], hash160(concat(a, [0], n))));
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const result = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

const hasNullMember = (v) => isObject(v) && Object.values(v).some((x) => x === null || hasNullMember(x));

export function mergeDiff(a, b) {
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
