// The browser client: the same API shape as the Python SDK (flocloud.Client), in
// JavaScript idiom (promises, async iterators, AbortSignal).
// Invariants: every write is an envelope signed here (the key never leaves the page);
// writes are idempotent by message id, so a retry on the next supernode after a failure
// cannot store a message twice; requests go to the first live supernode of the key's
// preference list and fail over on `unavailable` without waiting for the chain; cursors
// and object versions are opaque: the client passes back the latest one it got; every
// message received is signature-checked, and payloads encrypted to this client decrypted.
// A client made by `connect` follows the registry as the Python SDK does: it re-reads it
// every `registryRefreshMs`, and soon (at most once a second; the same epoch again only
// after 30 s) after a reply names a newer registry epoch than its own, or a node answers
// `not-listed` / `stale-epoch` (then the next node is tried); what it knows of failed
// nodes is kept.
import { FlocloudError, fail } from "./errors.js";
import { isSealed, openJson, sealJson } from "./encryption.js";
import { parseEnvelope, signEnvelope } from "./envelope.js";
import { Key, checkAddress, parsePubKey } from "./keys.js";
import { Connection } from "./connection.js";
import { Network, wsUrl } from "./network.js";
import { objectId } from "./objects.js";

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

/** Whether a registry epoch a node reported (`{height, hash}`) is ahead of `ours`. */
export function isNewerEpoch(theirs, ours) {
  if (!theirs || typeof theirs !== "object" || !Number.isInteger(theirs.height)) return false;
  if (!ours || !Number.isInteger(ours.height)) return true;
  if (theirs.height !== ours.height) return theirs.height > ours.height;
  return typeof theirs.hash === "string" && typeof ours.hash === "string" && theirs.hash !== ours.hash;
}

const REFRESH_GAP_MS = 1000; // at most one registry refresh a second
// a newer epoch that a refresh did not reach (the chain read lags the node) is asked for
// again only after this: each refresh from the chain reads the registry's whole history
const REASK_MS = 30000;
const REFRESH_CODES = new Set(["not-listed", "stale-epoch"]); // the registry moved: fail over, read it again

export class Client {
  /**
   * @param {{key: Key, network: Network, timeout?: number,
   *   reload?: (hint?: string) => Promise<Network>, monotonic?: boolean,
   *   registryRefreshMs?: number}} opts `reload` reads the registry again (`connect`
   *   sets it; `hint`: the URI of a node that named a newer epoch); `monotonic`: a read
   *   older than the registry in use is dropped (a lagging supernode; a chain's own
   *   reorganisation may go back, so reads from the chain are always taken). Without
   *   `reload` the client routes by `network` as given.
   */
  constructor({ key, network, timeout = 5000, reload, monotonic = false, registryRefreshMs = 60000 }) {
    if (!(key instanceof Key)) fail("invalid-key", "Client needs a Key");
    this.key = key;
    this.network = network;
    this.timeout = timeout;
    this._conns = new Map();
    this._pubkeys = new Map([[key.id, key.publicKey]]);
    this._addPubkeys(network);
    this._subs = 0;
    this._subscriptions = new Set();
    this._reload = reload || null;
    this._monotonic = monotonic;
    this._refreshing = null; // the refresh in flight
    this._refreshAt = 0; // when the last one began
    this._soon = null; // the timer of a refresh asked for by a reply
    this._timer = null; // the periodic refresh
    this._wanted = null; // {epoch, at, hint}: the newest epoch a reply named, when
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
    this._timer?.unref?.(); // never keeps a Node.js process alive
  }

  _addPubkeys(network) {
    for (const n of network.nodes) if (n.pubKey) this._pubkeys.set(n.id, n.pubKey);
  }

  /** Run `fn` once the refresh in flight (which may predate what is wanted) is over. */
  _after(fn) {
    return (this._refreshing || Promise.resolve()).then(fn, fn).catch(() => {});
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
          if (!is || (was && was.uri !== is.uri)) {
            this._conns.delete(id);
            p.then((c) => c.close(), () => {});
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
  static async connect({ key, supernode, supernodes, explorer, registry, network, timeout, minConfirmations, registryRefreshMs } = {}) {
    const urls = [].concat(supernodes || supernode || globalThis.location?.origin);
    let client = null;
    const known = () => (client ? client.network.nodes.map((n) => n.uri) : []);
    const reload = explorer
      ? () => Network.fromChain({ explorer, registry, network: network || key.network, minConfirmations })
      : (hint) => Network.fromSupernode([...(hint ? [hint] : []), ...urls, ...known()]);
    client = new Client({ key, network: await reload(), timeout, reload, monotonic: !explorer, registryRefreshMs });
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
          this._refreshSoon(); // the node is up, under another registry than ours
        } else if (e.code === "unavailable") {
          this.network.markDown(node.id);
        } else {
          throw e;
        }
        last = e;
      }
    }
    throw new FlocloudError("unavailable", `no supernode answered for ${keyId}: ${last.message}`, last.replicas !== undefined ? { replicas: last.replicas } : {});
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
    if (minReplicas !== undefined && Number.isInteger(got) && got < minReplicas) {
      throw new FlocloudError("unavailable", `write ${ack.msgId} is on ${got} supernode(s), fewer than the ${minReplicas} asked; sending it again is safe`, { replicas: got });
    }
    return ack;
  }

  /** Send `data` to `receiver`; resolves with the message id. */
  async send(receiver, data, { app = "", type = "message", comment, encrypt = false, minReplicas } = {}) {
    let payload = data;
    if (encrypt) payload = await sealJson(data, await this.resolvePubKey(receiver), { senderId: this.id, receiverId: receiver });
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
        } catch { /* left as is, encrypted: true */ }
      }
    }
    return {
      id: env.id, cursor: cursor ?? rec.cursor ?? rec.seq ?? null, seq: rec.seq, dot: rec.dot,
      sender: b.senderID, receiver: b.receiverID, application: b.application, type: b.type,
      comment: b.comment ?? null, time: b.time, payload, encrypted, deleted: !!rec.deleted,
      tags: rec.tags || [], note: rec.note ?? null, receivedMs: rec.received_ms ?? null, envelope: rec.envelope,
    };
  }

  /**
   * Messages for `receiver` (default: this client) after the `after` cursor.
   * @returns {Promise<{messages: object[], next: any, more: boolean}>} pass `next` as `after` next time
   */
  async fetch({ receiver = this.id, after, app, type, sender, comment, since, until, ids, limit = 100, order, includeDeleted } = {}) {
    const filter = { receiver, limit };
    const opt = { after, application: app, type, sender, comment, since, until, ids, order };
    for (const [k, v] of Object.entries(opt)) if (v !== undefined && v !== null) filter[k] = v;
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
    if (version !== undefined && version !== null) fields.version = version;
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
        if (e.code !== "not-found" || (expectedVersion != null && expectedVersion !== "0")) throw e;
        base = { version: "0", heads: [] };
      }
      const payload = { name, ...body, parents: [...base.heads].sort() };
      if (expectedVersion != null) payload.expected_version = base.version;
      const env = this.sign(this.objectId(app, name), payload, { app, type });
      try {
        return (await this.put(env)).version;
      } catch (e) {
        if (e.code === "version-conflict" && expectedVersion == null) continue; // moved on: read again
        throw e;
      }
    }
    throw new FlocloudError("unavailable", `${app}/${name}: too many concurrent writers, try again`);
  }

  // -- delete / tag / note ----------------------------------------------------------------

  async _about(messageId, receiver, type, payload) {
    const found = await this.fetch({ receiver, ids: [messageId], includeDeleted: true, limit: 1 });
    if (!found.messages.length) fail("not-found", `message ${messageId} not found for ${receiver}`);
    const env = this.sign(receiver, payload, { app: found.messages[0].application, type });
    await this.put(env);
    return env.id;
  }

  delete(messageId, { receiver = this.id } = {}) {
    return this._about(messageId, receiver, "flocloud.delete", { id: messageId });
  }

  tag(messageId, tag, { receiver }) {
    return this._about(messageId, receiver, "flocloud.tag", { id: messageId, tag });
  }

  note(messageId, note, { receiver }) {
    return this._about(messageId, receiver, "flocloud.note", { id: messageId, note });
  }

  // -- public keys ------------------------------------------------------------------------

  /** The public key of `floId`: known, from the registry, or from a message it signed. */
  async resolvePubKey(floId) {
    checkAddress(floId, this.key.network);
    if (this._pubkeys.has(floId)) return parsePubKey(this._pubkeys.get(floId));
    for (const receiver of [this.id, floId]) {
      let found;
      try { found = await this.fetch({ receiver, sender: floId, limit: 1 }); } catch { continue; }
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
    for (const p of this._conns.values()) p.then((c) => c.close(), () => {});
    this._conns.clear();
  }
}

const SEEN_MAX = 10000;

/** A live subscription: an async iterator of messages with its `cursor`, `node` and `live` state. */
export class Subscription {
  constructor(client, { receiver, after, signal, onStatus, filters }) {
    this.client = client;
    this.receiver = receiver;
    this.cursor = after ?? null;
    this.node = null;
    this.live = false;
    this.closed = false;
    this.error = null;
    this._filters = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined));
    this._onStatus = onStatus;
    this._seen = new Set();
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
    try { this._onStatus?.({ state, node: this.node, cursor: this.cursor }); } catch { /* caller's bug */ }
  }

  async _run() {
    const id = `js${++this.client._subs}`;
    while (!this.closed) {
      let ended;
      const done = new Promise((resolve) => { ended = resolve; });
      this._end = ended;
      try {
        await this.client._onRoute(this.receiver, async (conn, node) => {
          conn.onSub(id, (frame) => this._frame(frame, ended));
          const filter = { ...this._filters, receiver: this.receiver };
          if (this.cursor !== null && this.cursor !== undefined) filter.after = this.cursor;
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
      await this._chain; // every event already received is processed before the cursor is reused
      await sleep(200, this._abort.signal);
    }
    if (this._conn && !this._conn.closed) this._conn.request("unsubscribe", { sub: id }).catch(() => {});
  }

  _frame(frame, ended) {
    if (frame.closed) { ended("closed"); return; }
    if (frame.error && !frame.event) { ended("error"); return; }
    if (frame.eose) {
      this._chain = this._chain.then(() => { this.live = true; this._status("live"); });
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
        return; // a record that fails verification is not delivered
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
    while (this._waiters.length) this._waiters.shift()({ value: undefined, done: true });
  }

  next() {
    if (this._queue.length) {
      const item = this._queue.shift();
      return item.error ? Promise.reject(item.error) : Promise.resolve(item);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this._waiters.push(resolve));
  }

  return() {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
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
    while (this._waiters.length) this._waiters.shift()({ value: undefined, done: true });
    this._status("closed");
  }
}
