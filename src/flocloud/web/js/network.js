// The client's view of the network: supernodes from the chain registry (read from an
// explorer, e.g. the dev chain) or from any supernode, placement, and a memory of failures.
// Invariants: routing is computed here from the registry alone, with the rule of
// placement.js; a node that failed recently is tried last (not forgotten) for `downForMs`.
import { FlocloudError, fail } from "./errors.js";
import { addressFromPubKey, checkAddress, parsePubKey } from "./keys.js";
import { DEFAULT_VIRTUAL_NODES, Placement } from "./placement.js";

const REGISTRY_KEY = "SuperNodeStorage";

async function getJson(fetchImpl, url, init) {
  let res;
  try {
    res = await fetchImpl(url, init);
  } catch (e) {
    fail("unavailable", `cannot reach ${url}: ${e.message}`);
  }
  let doc;
  try { doc = await res.json(); } catch { fail("explorer", `${url} did not answer JSON (HTTP ${res.status})`); }
  if (!res.ok) {
    const err = doc && doc.error;
    throw new FlocloudError(err && err.code ? err.code : "explorer", (err && (err.message || err)) || `HTTP ${res.status} from ${url}`);
  }
  return doc;
}

/** The websocket URL of a registry URI: a bare `host[:port][/path]` means TLS
 * (`wss://<uri>/ws`, the existing FLO cloud's rule); a URI with a scheme is used as written. */
export function wsUrl(uri) {
  let u = String(uri).replace(/\/+$/, "");
  if (u.startsWith("http://")) u = "ws://" + u.slice(7);
  else if (u.startsWith("https://")) u = "wss://" + u.slice(8);
  else if (!/^wss?:\/\//.test(u)) u = "wss://" + u;
  return u.endsWith("/ws") ? u : u + "/ws";
}

/** The HTTP base URL of a registry URI. */
export function httpUrl(uri) {
  return wsUrl(uri).replace(/^ws/, "http").replace(/\/ws$/, "");
}

/** Fold one registry transaction into the state (the rules of flocloud/chain/registry.py,
 * docs/protocol.md §10): any input from the registry ID makes it the registry's; a bad
 * entry is skipped alone (and reported), never the whole transaction; flocloud's own
 * endpoint is the extra `flocloud` key of a `newNodes` entry; `addApps` values are plain IDs. */
export function applyUpdate(state, tx) {
  const next = { ...state, epoch: { txid: tx.txid, height: tx.height ?? state.epoch?.height ?? null, hash: tx.blockHash ?? null } };
  const senders = tx.senders || [tx.sender];
  if (!senders.includes(state.registry)) return state;
  let content;
  try { content = JSON.parse(tx.floData)[REGISTRY_KEY]; } catch { content = undefined; }
  if (!content || typeof content !== "object") return state; // other data of the registry ID
  const nodes = new Map(state.nodes.map((n) => [n.id, n]));
  const apps = new Map(state.apps.map((a) => [a.name, a]));
  const config = { ...state.config };
  const skipped = [...state.skipped];
  const each = (what, fn) => { try { fn(); } catch (e) { skipped.push([tx.txid, `${what}: ${e.message}`]); } };
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
  const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return { ...rest, nodes: [...nodes.values()].sort(byId), apps: [...apps.values()], skipped: skipped.slice(-32) };
}

export class Network {
  /**
   * @param {{nodes: {id: string, uri: string, pubKey?: string}[], network?: string,
   *   replicationFactor?: number, writeQuorum?: number, virtualNodes?: number,
   *   apps?: object[], epoch?: object, downForMs?: number}} opts
   */
  constructor({ nodes, network = "mainnet", replicationFactor = 1, writeQuorum, virtualNodes = DEFAULT_VIRTUAL_NODES, apps = [], epoch = null, downForMs = 10000, source = "" }) {
    if (!nodes || !nodes.length) fail("unavailable", "the registry lists no supernodes");
    this.nodes = nodes.map((n) => ({ id: n.id, uri: n.uri, pubKey: n.pubKey || "" }));
    this.network = network;
    this.replicationFactor = Math.max(1, Math.min(replicationFactor, this.nodes.length));
    this.writeQuorum = writeQuorum ?? Math.min(2, this.replicationFactor);
    this.virtualNodes = virtualNodes;
    this.apps = apps;
    this.epoch = epoch;
    this.downForMs = downForMs;
    this.source = source;
    this.placement = new Placement(this.nodes.map((n) => n.id), virtualNodes);
    this._down = new Map();
    this._pref = new Map(); // keyId -> preference list (bounded)
    for (const n of nodes) if (n.status === "down") this.markDown(n.id); // as the node's heartbeats see it
  }

  _preference(keyId) {
    let pref = this._pref.get(keyId);
    if (!pref) {
      pref = this.placement.preferenceList(keyId);
      if (this._pref.size >= 1000) this._pref.delete(this._pref.keys().next().value);
      this._pref.set(keyId, pref);
    }
    return pref;
  }

  node(id) {
    return this.nodes.find((n) => n.id === id);
  }

  /** The registry read from a chain explorer's Blockbook v1 API (the dev chain has one). */
  static async fromChain({ explorer, registry, network = "mainnet", minConfirmations = 6, fetch: f = globalThis.fetch.bind(globalThis) }) {
    checkAddress(registry, network);
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
    let state = { network, registry, nodes: [], apps: [], config: {}, epoch: null, skipped: [] };
    for (const tx of txs.reverse()) state = applyUpdate(state, tx);
    const depth = Number.isInteger(state.config.backupDepth) && state.config.backupDepth >= 0 ? state.config.backupDepth : 1;
    const rf = Math.max(1, Math.min(depth + 1, state.nodes.length || 1));
    const wq = Number.isInteger(state.config.writeQuorum) && state.config.writeQuorum >= 1 ? Math.min(state.config.writeQuorum, rf) : Math.min(2, rf);
    const vn = Number.isInteger(state.config.virtualNodes) && state.config.virtualNodes > 0 ? state.config.virtualNodes : DEFAULT_VIRTUAL_NODES;
    return new Network({ nodes: state.nodes, network, replicationFactor: rf, writeQuorum: wq, virtualNodes: vn, apps: state.apps, epoch: state.epoch, source: `chain ${base}` });
  }

  /** The registry as a supernode knows it (`GET /` as JSON, `GET /api/network`); tries each URL in turn. */
  static async fromSupernode(urls, { fetch: f = globalThis.fetch.bind(globalThis), downForMs } = {}) {
    let last;
    for (const url of [].concat(urls)) {
      const base = httpUrl(url);
      try {
        const me = await getJson(f, `${base}/`, { headers: { Accept: "application/json" } });
        const net = await getJson(f, `${base}/api/network`);
        return new Network({
          nodes: net.nodes, network: me.network, replicationFactor: net.replication_factor ?? 1,
          writeQuorum: net.write_quorum, virtualNodes: net.virtual_nodes ?? DEFAULT_VIRTUAL_NODES,
          epoch: net.epoch ?? me.epoch ?? null, downForMs, source: `supernode ${base}`,
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
}
