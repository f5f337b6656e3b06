// One websocket to one supernode: pipelined requests and subscription frames.
// Invariants: each request carries a fresh id and resolves with the reply of that id (an
// `ok: false` reply rejects with its FlocloudError); subscription frames go to their
// `sub`'s handler; when the socket closes or stops answering pings, every pending request
// rejects with `unavailable` and every subscription hears `closed`, so callers fail over.
import { FlocloudError, errorFromWire } from "./errors.js";

export class Connection {
  constructor(url, { timeout = 5000, pingMs = 10000 } = {}) {
    this.url = url;
    this.timeout = timeout;
    this.pingMs = pingMs;
    this.ws = null;
    this.closed = false;
    this._ids = 0;
    this._pending = new Map();
    this._subs = new Map();
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
      const timer = setTimeout(() => { ws.close(); reject(new FlocloudError("unavailable", `cannot connect to ${this.url}: timeout`)); }, this.timeout);
      ws.onopen = () => {
        clearTimeout(timer);
        this._timer = setInterval(() => this._keepalive(), this.pingMs);
        resolve(this);
      };
      ws.onerror = () => {};
      ws.onclose = () => {
        clearTimeout(timer);
        reject(new FlocloudError("unavailable", `cannot connect to ${this.url}`));
        this._closed(`connection to ${this.url} closed`);
      };
      ws.onmessage = (ev) => {
        let frame;
        try { frame = JSON.parse(ev.data); } catch { return; }
        if (frame && typeof frame === "object") this._dispatch(frame);
      };
    });
  }

  _dispatch(frame) {
    const rid = frame.id !== undefined && frame.id !== null ? String(frame.id) : null;
    if (rid !== null && this._pending.has(rid) && ("ok" in frame || "error" in frame)) {
      const p = this._pending.get(rid);
      this._pending.delete(rid);
      clearTimeout(p.timer);
      if (frame.ok === false || frame.error) p.reject(errorFromWire(frame.error));
      else p.resolve(frame);
      return;
    }
    if (frame.sub !== undefined && this._subs.has(String(frame.sub))) this._subs.get(String(frame.sub))(frame);
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
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.reject(new FlocloudError("unavailable", reason)); }
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
    if (this.ws) try { this.ws.close(); } catch { /* already closed */ }
    this._closed(reason);
  }
}
