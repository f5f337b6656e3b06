// Type declarations of flocloud.js, the browser client of flocloud (docs/protocol.md).
// Cursors and object versions are opaque: pass back what the node gave.

export type ErrorCode =
  | "bad-format" | "invalid-signature" | "id-mismatch" | "invalid-address" | "wrong-network"
  | "invalid-key" | "too-large" | "too-deep" | "stale-time" | "unsupported-version"
  | "decryption-failed" | "schema-mismatch" | "forbidden" | "rate-limited" | "quota-exceeded"
  | "duplicate" | "version-conflict" | "not-found" | "unavailable" | "tx-format" | "explorer"
  | "insufficient-funds" | "chain" | "internal";
export declare const ERROR_CODES: readonly ErrorCode[];
export declare class FlocloudError extends Error {
  readonly code: ErrorCode;
  /** on `unavailable` writes below the quorum: on how many supernodes the write is stored */
  readonly replicas?: number;
  constructor(code: ErrorCode, message: string, extra?: Record<string, unknown>);
  toJSON(): { code: ErrorCode; message: string; replicas?: number };
}

export type NetworkName = "mainnet" | "testnet" | "regtest";
export type Cursor = unknown;
/** An object version: opaque, content-derived ("0", or "<count>-<heads>", docs/protocol.md §5.3). */
export type Version = string;
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export declare const NETWORKS: Readonly<Record<NetworkName, { name: NetworkName; p2pkh: number; p2sh: number[]; wif: number[] }>>;
export interface AddressInfo { address: string; network: "mainnet" | "testnet"; kind: "p2pkh" | "p2sh"; hash160: Uint8Array; version: number }
export declare function decodeAddress(address: string, network?: NetworkName): AddressInfo;
export declare function checkAddress(address: string, network?: NetworkName): string;
export declare function addressFromPubKey(pub: Uint8Array, network?: NetworkName): string;
export declare function parsePubKey(pub: string | Uint8Array): Uint8Array;
export declare function hash160(bytes: Uint8Array): Uint8Array;
export declare function isStrictDER(sig: Uint8Array): boolean;
export declare function verifyData(pub: Uint8Array, sig: Uint8Array, data: Uint8Array): boolean;
/** RanchiMall floCrypto.signData signatures only (never flocloud messages). */
export declare function verifyFlocryptoLegacy(pub: Uint8Array, sig: Uint8Array, message: string): boolean;
export declare function bytesToHex(bytes: Uint8Array): string;
export declare function hexToBytes(hex: string): Uint8Array;

export declare class Key {
  constructor(secret: Uint8Array | string, network?: NetworkName, opts?: { compressed?: boolean });
  static generate(network?: NetworkName): Key;
  static fromWIF(wif: string, network?: NetworkName): Key;
  readonly id: string;
  readonly network: NetworkName;
  readonly compressed: boolean;
  readonly publicKey: Uint8Array;
  readonly pubKeyHex: string;
  toWIF(): string;
  sign(bytes: Uint8Array): Uint8Array;
  sharedPoint(pub: Uint8Array): Uint8Array;
}
export declare function saveKey(key: Key, name?: string): Promise<unknown>;
export declare function loadKey(name?: string): Promise<Key | null>;
export declare function deleteKey(name?: string): Promise<unknown>;
export declare function loadOrCreateKey(name?: string, network?: NetworkName): Promise<Key>;

export interface WireEnvelope { body: string; pubKey: string; sign: string }
export interface Body { v: 1; type: string; senderID: string; receiverID: string; application: string; time: number; payload: Json; comment?: string }
export interface SignedEnvelope { wire: WireEnvelope; id: string; body: Body }
export interface ParsedEnvelope { body: Body; bodyText: string; pubKey: string; sign: string; id: string }
export interface Limits { maxBodyBytes: number; maxDepth: number; maxSkewMs: number }
export declare const PROTOCOL_VERSION: 1;
export declare const DEFAULT_LIMITS: Readonly<Limits>;
export declare function messageId(bodyBytes: Uint8Array): string;
export declare function checkDepth(value: unknown, maxDepth: number): void;
export declare function signEnvelope(key: Key, opts: { receiver: string; payload: Json; application?: string; type?: string; comment?: string; time?: number }): SignedEnvelope;
export declare function parseEnvelope(wire: WireEnvelope | string, opts?: { nowMs?: number | null; limits?: Partial<Limits> }): ParsedEnvelope;

export declare const ENC_NAME: "flocloud-ecies-v1";
export interface SealedPayload { enc: "flocloud-ecies-v1"; ct: string }
export interface EncryptOptions { senderId?: string; receiverId?: string; ephemeralSecret?: Uint8Array; nonce?: Uint8Array }
export declare function encrypt(plaintext: Uint8Array, receiverPub: Uint8Array | string, opts?: EncryptOptions): Promise<Uint8Array>;
export declare function decrypt(blob: Uint8Array, key: Key, opts?: { senderId?: string; receiverId?: string }): Promise<Uint8Array>;
export declare function sealJson(value: Json, receiverPub: Uint8Array | string, opts?: EncryptOptions): Promise<SealedPayload>;
export declare function openJson(payload: SealedPayload, key: Key, opts?: { senderId?: string; receiverId?: string }): Promise<Json>;
export declare function isSealed(payload: unknown): payload is SealedPayload;

export declare const DEFAULT_VIRTUAL_NODES: number;
export declare function keyPayload(keyId: string): bigint;
export declare function nodePositions(nodeId: string, virtualNodes: number): bigint[];
export declare class Placement {
  constructor(nodeIds: string[], virtualNodes?: number);
  readonly nodeIds: string[];
  readonly virtualNodes: number;
  preferenceList(keyId: string, n?: number): string[];
  replicas(keyId: string, replicationFactor: number): string[];
  distance(keyId: string, nodeId: string): bigint;
}

export declare function objectId(application: string, name: string, network?: NetworkName): string;
export declare function mergePatch(target: Json, patch: Json): Json;
export declare function mergeDiff(a: Json, b: Json): Json | null;
export declare function deepEqual(a: unknown, b: unknown): boolean;

export interface NodeInfo { id: string; uri: string; pubKey: string; status?: "up" | "down" | "unknown" }
export declare function wsUrl(uri: string): string;
export declare function httpUrl(uri: string): string;
export declare function applyUpdate(state: object, tx: { txid: string; sender: string; floData: string; height: number | null }): object;
export declare class Network {
  constructor(opts: { nodes: NodeInfo[]; network?: NetworkName; replicationFactor?: number; writeQuorum?: number; virtualNodes?: number; apps?: object[]; epoch?: object | null; downForMs?: number; source?: string });
  static fromChain(opts: { explorer: string; registry: string; network?: NetworkName; minConfirmations?: number; fetch?: typeof fetch }): Promise<Network>;
  static fromSupernode(urls: string | string[], opts?: { fetch?: typeof fetch; downForMs?: number }): Promise<Network>;
  readonly nodes: NodeInfo[];
  readonly network: NetworkName;
  readonly replicationFactor: number;
  readonly writeQuorum: number;
  readonly virtualNodes: number;
  readonly epoch: { height: number | null; txid?: string | null; hash?: string | null } | null;
  readonly placement: Placement;
  node(id: string): NodeInfo | undefined;
  replicas(keyId: string): NodeInfo[];
  route(keyId: string): NodeInfo[];
  isDown(id: string): boolean;
  markDown(id: string): void;
  markUp(id: string): void;
}

export declare class Connection {
  constructor(url: string, opts?: { timeout?: number; pingMs?: number });
  readonly url: string;
  readonly closed: boolean;
  open(): Promise<Connection>;
  request(op: string, fields?: Record<string, unknown>): Promise<Record<string, any>>;
  close(reason?: string): void;
}

export interface Message {
  id: string;
  /** pass as `after` to resume after this message */
  cursor: Cursor;
  seq?: number;
  sender: string;
  receiver: string;
  application: string;
  type: string;
  comment: string | null;
  time: number;
  payload: Json;
  /** true when the payload is still encrypted (not for this client, or it did not decrypt) */
  encrypted: boolean;
  deleted: boolean;
  tags: string[];
  note: string | null;
  receivedMs: number | null;
  envelope: WireEnvelope;
}
export interface Ack { ok: true; msgId: string; duplicate: boolean; replicas?: number; version?: Version; [k: string]: unknown }
export interface FetchOptions {
  receiver?: string; after?: Cursor; app?: string; type?: string; sender?: string; comment?: string;
  since?: number; until?: number; ids?: string[]; limit?: number; order?: "asc" | "desc"; includeDeleted?: boolean;
}
export interface SubscribeOptions extends Omit<FetchOptions, "limit" | "order" | "ids"> {
  signal?: AbortSignal;
  onStatus?: (s: { state: "connected" | "live" | "reconnecting" | "closed"; node: string | null; cursor: Cursor }) => void;
}
export declare class Subscription implements AsyncIterableIterator<Message> {
  readonly receiver: string;
  readonly cursor: Cursor;
  /** the supernode serving it now */
  readonly node: string | null;
  /** true once the stored messages are delivered */
  readonly live: boolean;
  readonly closed: boolean;
  next(): Promise<IteratorResult<Message>>;
  return(): Promise<IteratorResult<Message>>;
  [Symbol.asyncIterator](): Subscription;
  close(): void;
}
export interface ObjectState { application: string; name: string; version: Version; value: Json; heads: string[]; mode?: "merge" | "strict"; msgId?: string }
export interface Change { version: Version; kind: "reset" | "patch" | "list"; change?: Json; patch?: Json; value?: Json; msgId?: string; sender?: string; time?: number }

export declare class Client {
  constructor(opts: { key: Key; network: Network; timeout?: number; reload?: (hint?: string) => Promise<Network>; monotonic?: boolean; registryRefreshMs?: number });
  static connect(opts: { key: Key; supernode?: string; supernodes?: string[]; explorer?: string; registry?: string; network?: NetworkName; timeout?: number; minConfirmations?: number; registryRefreshMs?: number }): Promise<Client>;
  readonly id: string;
  readonly key: Key;
  /** the registry it routes by: replaced when it is read again */
  readonly network: Network;
  /** how often the registry is read again (ms; 0: only when a reply names a newer epoch); settable */
  registryRefreshMs: number;
  /** read the registry again now (a client made by `connect`; otherwise nothing) */
  refreshRegistry(): Promise<void>;
  home(keyId?: string): NodeInfo;
  sign(receiver: string, payload: Json, opts?: { app?: string; type?: string; comment?: string }): SignedEnvelope;
  put(envelope: SignedEnvelope | WireEnvelope, opts?: { restore?: boolean; minReplicas?: number }): Promise<Ack>;
  send(receiver: string, data: Json, opts?: { app?: string; type?: string; comment?: string; encrypt?: boolean; minReplicas?: number }): Promise<string>;
  fetch(opts?: FetchOptions): Promise<{ messages: Message[]; next: Cursor; more: boolean }>;
  subscribe(opts?: SubscribeOptions): Subscription;
  objectId(app: string, name: string): string;
  get(app: string, name: string, opts?: { version?: Version; consistent?: boolean }): Promise<ObjectState>;
  changes(app: string, name: string, opts?: { since?: Version; mode?: "patches" | "diff" }): Promise<{ version: Version; changes?: Change[]; kind?: string; patch?: Json; value?: Json }>;
  history(app: string, name: string): Promise<Change[]>;
  reset(app: string, name: string, value: Json, opts?: { expectedVersion?: Version }): Promise<Version>;
  patch(app: string, name: string, patch: Json, opts?: { expectedVersion?: Version }): Promise<Version>;
  append(app: string, name: string, item: Json, opts?: { path?: string[]; op?: "append" | "prepend" | "remove"; expectedVersion?: Version }): Promise<Version>;
  delete(messageId: string, opts?: { receiver?: string }): Promise<string>;
  tag(messageId: string, tag: string | null, opts: { receiver: string }): Promise<string>;
  note(messageId: string, note: string | null, opts: { receiver: string }): Promise<string>;
  resolvePubKey(floId: string): Promise<Uint8Array>;
  close(): void;
}
export declare function isNewerEpoch(theirs: unknown, ours: Network["epoch"]): boolean;
export declare const VERSION: string;
