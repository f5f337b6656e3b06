// flocloud.js: the browser client of flocloud (docs/protocol.md), one ES module.
//   import { Client, Key } from "http://<any supernode>/flocloud.js";
export { ERROR_CODES, FlocloudError } from "./errors.js";
export {
  Key, NETWORKS, addressFromPubKey, checkAddress, decodeAddress, hash160, isStrictDER,
  parsePubKey, verifyData, verifyFlocryptoLegacy, bytesToHex, hexToBytes,
} from "./keys.js";
export { DEFAULT_LIMITS, PROTOCOL_VERSION, checkDepth, messageId, parseEnvelope, signEnvelope } from "./envelope.js";
export { ENC_NAME, decrypt, encrypt, isSealed, openJson, sealJson } from "./encryption.js";
export { DEFAULT_VIRTUAL_NODES, Placement, keyPayload, nodePositions } from "./placement.js";
export { deepEqual, mergeDiff, mergePatch, objectId } from "./objects.js";
export { Network, applyUpdate, httpUrl, wsUrl } from "./network.js";
export { Connection } from "./connection.js";
export { Client, Subscription, isNewerEpoch } from "./client.js";
export { deleteKey, loadKey, loadOrCreateKey, saveKey } from "./keystore.js";
export const VERSION = "0.1.0";
