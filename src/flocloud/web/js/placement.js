// Placement: which supernodes hold a key (docs/protocol.md §6; the same rule as
// flocloud/protocol/placement.py, frozen in tests/vectors/placement.json). Pure.
// A supernode has V positions: position 0 is its ID payload, position i >= 1 is
// HASH160("flocloud-position" || payload || u16be(i)). A key's distance to a node is the
// smallest XOR with its positions; the preference list orders nodes by it, ties by payload.
import { fail } from "./errors.js";
import { bytesToHex, concat, decodeAddress, hash160, utf8 } from "./keys.js";

export const DEFAULT_VIRTUAL_NODES = 256;
export const MAX_VIRTUAL_NODES = 1024;
const TAG = utf8("flocloud-position");
const big = (bytes) => BigInt("0x" + (bytesToHex(bytes) || "0"));

/** The 160-bit payload of a key (any network, P2PKH or P2SH form), as a BigInt. */
export const keyPayload = (keyId) => big(decodeAddress(keyId).hash160);

/** The positions of a supernode, position 0 first. */
export function nodePositions(nodeId, virtualNodes) {
  if (!(virtualNodes >= 1 && virtualNodes <= MAX_VIRTUAL_NODES)) {
    fail("bad-format", `virtualNodes must be in 1..${MAX_VIRTUAL_NODES}`);
  }
  const payload = decodeAddress(nodeId).hash160;
  const out = [big(payload)];
  for (let i = 1; i < virtualNodes; i++) out.push(big(hash160(concat(TAG, payload, [i >> 8, i & 0xff]))));
  return out;
}

export class Placement {
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
    return node.positions.reduce((m, p) => ((p ^ key) < m ? p ^ key : m), 1n << 161n);
  }

  /** Supernode IDs ordered by closeness to `keyId`; the first `n` if given. */
  preferenceList(keyId, n) {
    const key = keyPayload(keyId);
    const scored = this.nodes.map((node) => {
      let best = 1n << 161n;
      for (const p of node.positions) if ((p ^ key) < best) best = p ^ key;
      return [best, node.payload, node.id];
    });
    scored.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const ids = scored.map((s) => s[2]);
    return n === undefined ? ids : ids.slice(0, n);
  }

  /** The `replicationFactor` supernodes that hold `keyId`. */
  replicas(keyId, replicationFactor) {
    return this.preferenceList(keyId, replicationFactor);
  }
}
