"""flocloud.js in Chromium against a real network (chain + 3 supernodes as processes):
the frozen vectors, signatures across Python and the browser, a write from a page of
another origin (real CORS, no request routing), and a subscription that survives the
death of its supernode."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flocloud.devnet import Network
from flocloud.protocol.envelope import build_envelope, parse_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from web_helpers import console_errors, needs_chromium, py_client, run_async, vectors

pytestmark = [pytest.mark.slow, needs_chromium]
CHECK = (Path(__file__).parent / "check_vectors.js").read_text()


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"webclient-" + label.encode()).digest(), REGTEST)


@pytest.fixture(scope="module")
def page(net: Network, browser: Any) -> Iterator[Any]:
    """A page on node 1's origin with flocloud.js imported as `window.fc`."""
    p = browser.new_page()
    errors = console_errors(p)
    p.goto(net.nodes[1].url + "/healthz")
    p.evaluate("async () => { window.fc = await import('/flocloud.js'); }")
    yield p
    p.close()
    assert errors == []


def test_vectors_pass_in_chromium(page: Any) -> None:
    """keys, envelope, encryption, placement and objects vectors, all in the browser."""
    fails = page.evaluate("async ([src, V]) => (0, eval)(src)(window.fc, V)", [CHECK, vectors()])
    assert fails == []


def test_signatures_cross_between_browser_and_python(page: Any) -> None:
    """A browser-signed envelope verifies in Python (byte for byte what Python signs), and
    a Python-signed one verifies in the browser; a tampered one is refused there."""
    signer, receiver = key("signer"), key("receiver").address
    payload = {"text": "héllo wörld ✓", "n": 1.5, "list": [1, None, True]}
    t = 1_700_000_000_123
    wire = page.evaluate(
        """([wif, receiver, payload, t]) => fc.signEnvelope(fc.Key.fromWIF(wif),
             {receiver, payload, application: "web", time: t}).wire""",
        [signer.to_wif(), receiver, payload, t],
    )
    env = parse_envelope(wire, now_ms=None)
    assert env.body.payload == payload and env.body.senderID == signer.address
    ours = build_envelope(signer, receiver=receiver, payload=payload, time_ms=t, application="web")
    assert ours.to_wire() == wire  # RFC 6979 on both sides: the same bytes

    py = build_envelope(key("py"), receiver=receiver, payload={"from": "python"}, time_ms=t)
    got = page.evaluate(
        """(w) => { const e = fc.parseEnvelope(w, {nowMs: null});
                    let code = "ok";
                    try { fc.parseEnvelope({...w, body: w.body.replace("python", "pythoN")}); }
                    catch (err) { code = err.code; }
                    return [e.id, e.body.senderID, code]; }""",
        py.to_wire(),
    )
    assert got == [py.id, key("py").address, "invalid-signature"]


def test_client_api_in_the_browser(page: Any, net: Network) -> None:
    """Through the real network from the page: a key kept in IndexedDB, incremental fetch
    with the cursor, objects (reset, patch, get, changes, history) with the protocol's
    error codes, and encryption both ways with a Python client."""
    py = key("py-peer")

    async def py_hello(to: str) -> None:
        async with await py_client(net, py) as c:
            await c.send(to, {"hello": "from python"}, app="web")

    me = page.evaluate(
        """async ([explorer, registry, adminWif]) => {
          window.key = await fc.loadOrCreateKey("api-test", "regtest");
          const again = await fc.loadKey("api-test");
          if (again.id !== key.id) throw new Error("IndexedDB did not keep the key");
          window.client = await fc.Client.connect({key, explorer, registry, network: "regtest"});
          window.admin = new fc.Client({key: fc.Key.fromWIF(adminWif), network: client.network});
          return key.id;
        }""",
        [net.chain.url, net.registry_key.address, net.client_key.to_wif()],
    )
    run_async(lambda: py_hello(me))
    result = page.evaluate(
        """async (pyId) => {
          const code = async (p) => { try { await p; return "ok"; } catch (e) { return e.code; } };
          const out = {};
          const box = fc.Key.generate("regtest").id;
          for (const n of [1, 2, 3]) await client.send(box, {n});
          const first = await client.fetch({receiver: box, limit: 2});
          const rest = await client.fetch({receiver: box, after: first.next});
          out.pages = [first.messages.map(m => m.payload.n), rest.messages.map(m => m.payload.n), first.more];
          const seen = [];
          const sub = client.subscribe({receiver: box, after: first.next});
          for await (const m of sub) { seen.push(m.payload.n); sub.close(); }
          const ac = new AbortController();
          for await (const m of client.subscribe({receiver: box, signal: ac.signal})) { seen.push(m.payload.n); ac.abort(); }
          out.subscribed = [seen, client._subscriptions.size];
          const v1 = await admin.reset("demo", "api-board", {title: "a", items: []});
          const v2 = await admin.patch("demo", "api-board", {title: "b"});
          await admin.append("demo", "api-board", "x", {path: ["items"]});
          // compare-and-set is for strict objects (the devnet's demo: strict/*)
          const s1 = await admin.reset("demo", "strict/api", {n: 1});
          await admin.patch("demo", "strict/api", {n: 2}, {expectedVersion: s1});
          out.conflict = await code(admin.patch("demo", "strict/api", {n: 3}, {expectedVersion: s1}));
          out.strict = (await client.get("demo", "strict/api", {consistent: true})).value;
          out.forbidden = await code(client.reset("demo", "api-board", {}));
          out.missing = await code(client.get("demo", "no-such-object"));
          out.badId = await code(client.send("not-an-id", 1));
          out.value = (await client.get("demo", "api-board")).value;
          out.atV1 = (await client.get("demo", "api-board", {version: v1})).value;
          out.diff = await client.changes("demo", "api-board", {since: v1, mode: "diff"});
          out.history = (await client.history("demo", "api-board")).map(c => c.kind);
          // encryption: to the Python ID (its key learnt from the message it sent us) ...
          out.sealedId = await client.send(pyId, {secret: "from the browser"}, {encrypt: true, app: "web"});
          return out;
        }""",
        py.address,
    )
    assert result["pages"] == [[1, 2], [3], True]
    assert result["subscribed"] == [[3, 1], 0]  # close() and an AbortSignal end the iteration
    assert (result["conflict"], result["forbidden"], result["missing"], result["badId"]) == (
        "version-conflict",
        "forbidden",
        "not-found",
        "invalid-address",
    )
    assert result["value"] == {"title": "b", "items": ["x"]} and result["atV1"]["title"] == "a"
    assert result["strict"] == {"n": 2}
    assert result["diff"]["patch"] == {"title": "b", "items": ["x"]}
    assert result["history"] == ["reset", "patch", "list"]

    async def py_side() -> tuple[Any, str]:
        async with await py_client(net, py) as c:
            got, _ = await c.fetch(ids=[result["sealedId"]])
            await c.send(me, {"secret": "from python"}, app="web", encrypt=True)
            return got[0].payload, got[0].envelope["body"]

    plain, body = run_async(py_side)
    assert plain == {"secret": "from the browser"} and "from the browser" not in body
    # ... and from Python to the browser, decrypted there
    opened = page.evaluate(
        """async () => (await client.fetch({type: "message"})).messages
             .filter(m => m.sender !== key.id).map(m => [m.payload, m.encrypted])"""
    )
    assert [{"secret": "from python"}, False] in opened
    assert [{"hello": "from python"}, False] in opened


class _Pages(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A second local HTTP server (another port: another origin) with no CORS of its own,
    serving ``tmp_path``."""
    handler = lambda *a, **kw: _Pages(*a, directory=str(tmp_path), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


def _messages(url: str, receiver: str) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(url + "/api/messages", params={"receiver": receiver}) as r,
        ):
            doc: dict[str, Any] = await r.json()
            return list(doc["messages"])

    return run_async(fetch)


def test_cross_origin_page_writes(
    net: Network, browser: Any, other_origin: tuple[str, Path]
) -> None:
    """A page served from another origin imports flocloud.js from a supernode, reads the
    registry from the chain explorer, sends through the client (websocket) and POSTs an
    envelope as JSON (a CORS preflight): all without Playwright's request routing."""
    origin, directory = other_origin
    node = net.nodes[0]
    receiver = key("cross-receiver").address
    html = f"""<!doctype html><meta charset="utf-8"><title>another origin</title>
<script type="module">
import {{ Client, Key, signEnvelope }} from "{node.url}/flocloud.js";
try {{
  const key = Key.generate("regtest");
  const client = await Client.connect({{ key, explorer: "{net.chain.url}",
    registry: "{net.registry_key.address}", network: "regtest" }});
  const viaWs = await client.send("{receiver}", {{ via: "websocket" }}, {{ app: "web" }});
  const env = signEnvelope(key, {{ receiver: "{receiver}", payload: {{ via: "post" }} }});
  const res = await fetch("{node.url}/api/messages", {{ method: "POST",
    headers: {{ "Content-Type": "application/json" }}, body: JSON.stringify(env.wire) }});
  const ack = await res.json();
  window.result = {{ sender: key.id, nodes: client.network.nodes.length, viaWs,
                    viaPost: env.id, ack, origin: location.origin }};
}} catch (e) {{ window.result = {{ error: String(e), code: e.code }}; }}
</script>"""
    (directory / "index.html").write_text(html)
    p = browser.new_page()
    logs: list[str] = []
    p.on("console", lambda m: logs.append(m.text))
    p.on("pageerror", lambda e: logs.append(str(e)))
    try:
        p.goto(origin + "/index.html")
        try:
            p.wait_for_function("window.result !== undefined", timeout=20_000)
        except Exception:
            raise AssertionError(f"the page did not finish; its console: {logs}") from None
        result = p.evaluate("window.result")
    finally:
        p.close()
    assert "error" not in result, result
    assert result["origin"] == origin and result["nodes"] == 3
    assert result["ack"]["msgId"] == result["viaPost"], result["ack"]
    stored = {m["id"]: m for m in _messages(node.url, receiver)}
    assert {result["viaWs"], result["viaPost"]} <= set(stored)


def _send_all(net: Network, receiver: str, numbers: range) -> list[str]:
    async def send() -> list[str]:
        client = await py_client(net, key("sender"))
        async with client:
            return [await client.send(receiver, {"n": n}, app="web") for n in numbers]

    return run_async(send)


def test_subscription_fails_over_without_loss_or_duplicates(net: Network, browser: Any) -> None:
    """The browser subscribes to its ID; its home supernode is killed with SIGKILL; the
    client resubscribes on the next replica from its last cursor and gets every message
    (those sent before, during and after the failover) exactly once."""
    p = browser.new_page()
    errors = console_errors(p)
    p.goto(net.nodes[1].url + "/healthz")
    me = p.evaluate(
        """async ([explorer, registry]) => {
          const fc = await import('/flocloud.js');
          const key = fc.Key.generate("regtest");
          const client = await fc.Client.connect({key, explorer, registry, network: "regtest"});
          window.got = []; window.states = [];
          window.sub = client.subscribe({onStatus: (s) => window.states.push(s)});
          (async () => { for await (const m of window.sub) window.got.push({id: m.id, n: m.payload.n}); })();
          return key.id;
        }""",
        [net.chain.url, net.registry_key.address],
    )
    p.wait_for_function("window.sub.live", timeout=15_000)
    home = p.evaluate("window.sub.node")
    sent = _send_all(net, me, range(5))
    p.wait_for_function("window.got.length >= 5", timeout=15_000)
    victim = next(n for n in net.nodes if n.id == home)
    victim.kill()
    sent += _send_all(net, me, range(5, 10))
    p.wait_for_function("window.got.length >= 10", timeout=30_000)
    time.sleep(1.0)  # a duplicate would arrive now
    got = p.evaluate("window.got")
    now_on = p.evaluate("window.sub.node")
    p.close()
    assert sorted(m["n"] for m in got) == list(range(10)), got
    assert [m["id"] for m in got] == [m["id"] for m in got if m["id"] in set(sent)]
    assert len({m["id"] for m in got}) == 10
    assert now_on != home and now_on in {n.id for n in net.nodes}
    assert [e for e in errors if "WebSocket" not in e] == []


def test_the_client_follows_the_registry(net: Network, browser: Any) -> None:
    """A client made by ``connect`` reads the registry again: one only when a reply names
    a newer epoch (``registryRefreshMs: 0``), one on its timer without any request. Both
    end on the supernodes' epoch with the app the update registered. (A page of its own,
    on a supernode that runs: an earlier test may have stopped one, and the client's
    failover past it logs the refused connection in the console.)"""
    app = "follow-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:8]
    live = next(n for n in net.nodes if n.running)
    page = browser.new_page()
    page.goto(live.url + "/healthz")
    page.evaluate("async () => { window.fc = await import('/flocloud.js'); }")
    try:
        _follow(page, net, app)
    finally:
        page.close()


def _follow(page: Any, net: Network, app: str) -> None:
    from flocloud.chain import BlockbookV1Reader, Publisher, make_registry_update

    before = page.evaluate(
        """async ([explorer, registry]) => {
          const opts = {explorer, registry, network: "regtest"};
          window.byReply = await fc.Client.connect({...opts, key: fc.Key.generate("regtest"), registryRefreshMs: 0});
          window.byTimer = await fc.Client.connect({...opts, key: fc.Key.generate("regtest"), registryRefreshMs: 300});
          return byReply.network.epoch;
        }""",
        [net.chain.url, net.registry_key.address],
    )

    async def publish_and_wait() -> dict[str, Any]:
        async with BlockbookV1Reader(net.chain.url) as reader:
            await Publisher(reader, net.registry_key).publish_many(
                make_registry_update(add_apps={app: net.client_key.address})
            )
        async with aiohttp.ClientSession() as s:
            for _ in range(200):  # 6 confirmations at a block every 0.5 s, then a refresh
                epochs = []  # of the supernodes that run (an earlier test may stop one)
                for node in net.nodes:
                    try:
                        async with s.get(
                            node.url + "/", headers={"Accept": "application/json"}
                        ) as r:
                            epochs.append((await r.json())["epoch"])
                    except aiohttp.ClientConnectionError:
                        continue
                if epochs and all(e and e["height"] > before["height"] for e in epochs):
                    assert all(e == epochs[0] for e in epochs), epochs
                    return dict(epochs[0])
                await asyncio.sleep(0.1)
        raise AssertionError("the supernodes did not apply the registry update")

    node_epoch = run_async(publish_and_wait)
    result = page.evaluate(
        """async ([app, nodeEpoch]) => {
          const has = (c) => c.network.apps.some((a) => a.name === app);
          const until = async (c) => {
            for (let i = 0; i < 150 && !has(c); i++) await new Promise((r) => setTimeout(r, 100));
            return [has(c), c.network.epoch.height, c.network.epoch.hash];
          };
          try {
          const quiet = has(byReply);  // no request yet: still the old registry
          await byReply.send(byReply.id, {hello: 1});  // its ack names the nodes' epoch
          const out = {quiet, byReply: await until(byReply), byTimer: await until(byTimer)};
          out.newer = [
            fc.isNewerEpoch(nodeEpoch, {height: nodeEpoch.height - 1, hash: "x"}),
            fc.isNewerEpoch(nodeEpoch, nodeEpoch),
            fc.isNewerEpoch({...nodeEpoch, hash: "other"}, nodeEpoch),
            fc.isNewerEpoch(null, nodeEpoch),
            fc.isNewerEpoch(nodeEpoch, null),
          ];
          return out;
          } finally { byReply.close(); byTimer.close(); }
        }""",
        [app, node_epoch],
    )
    assert result["quiet"] is False
    expected = [True, node_epoch["height"], node_epoch["hash"]]
    assert result["byReply"] == expected
    assert result["byTimer"] == expected
    assert result["newer"] == [True, False, True, False, True]


REFRESH_RULES = """async () => {
  const key = fc.Key.generate("regtest");
  const ids = [1, 2, 3].map(() => fc.Key.generate("regtest").id);
  const net = (height, {uris = {}, down = [], only = ids} = {}) => new fc.Network({
    nodes: only.map((id) => ({id, uri: uris[id] || `ws://127.0.0.1:1/${id}`, status: down.includes(id) ? "down" : "up"})),
    network: "regtest", replicationFactor: 2, epoch: {height, hash: `h${height}`},
  });
  const tick = (ms) => new Promise((r) => setTimeout(r, ms));
  const out = {};
  // a supernode's older read is dropped; the chain's is taken (a reorganisation)
  for (const monotonic of [true, false]) {
    const c = new fc.Client({key, network: net(5), reload: async () => net(4), monotonic, registryRefreshMs: 0});
    await c.refreshRegistry();
    out[monotonic ? "monotonic" : "fromChain"] = c.network.epoch.height;
    c.close();
  }
  // down marks: the later of the two kept; links to unlisted or moved nodes closed
  {
    const c = new fc.Client({key, network: net(5), registryRefreshMs: 0,
      reload: async () => net(6, {down: [ids[1]], uris: {[ids[0]]: "ws://127.0.0.1:2/moved"}, only: ids.slice(0, 2)})});
    c.network.markDown(ids[2]);
    c.network.markDown(ids[0]);
    const closed = [];
    for (const id of ids) c._conns.set(id, Promise.resolve({closed: false, close: () => closed.push(id)}));
    await c.refreshRegistry();
    await tick(0);
    out.down = ids.map((id) => c.network.isDown(id));
    out.closed = closed.map((id) => ids.indexOf(id)).sort();
    out.kept = [...c._conns.keys()].map((id) => ids.indexOf(id));
    c.close();
  }
  // a newer epoch named during a refresh is read after it, and not asked again at once
  {
    let reads = 0, release;
    const c = new fc.Client({key, network: net(5), registryRefreshMs: 0, reload: async () => {
      reads += 1;
      if (reads === 1) { await new Promise((r) => { release = r; }); return net(5); }
      return net(reads === 2 ? 6 : 7);
    }});
    const first = c.refreshRegistry();
    c._sawEpoch({epoch: {height: 6, hash: "h6"}});
    await tick(1300);  // the refresh it asks for comes due while the first still reads
    release();
    await first;
    for (let i = 0; i < 40 && c.network.epoch.height < 6; i++) await tick(50);
    out.after = [reads, c.network.epoch.height];
    c._sawEpoch({epoch: {height: 6, hash: "h6"}});  // reached: nothing to do
    c._sawEpoch({epoch: {height: 6, hash: "h6"}});
    await tick(1200);
    out.noMore = reads;
    c.close();
  }
  // the timer starts when the property is set, and stops with close()
  {
    let reads = 0;
    const c = new fc.Client({key, network: net(5), registryRefreshMs: 0, reload: async () => { reads += 1; return net(5); }});
    await tick(150);
    const before = reads;
    c.registryRefreshMs = 40;
    await tick(300);
    const during = reads;
    c.close();
    await tick(150);
    out.timer = [before, during > 1, reads - during <= 1];
  }
  return out;
}"""


def test_the_clients_registry_refresh_rules(page: Any) -> None:
    """``Client.refreshRegistry`` and ``_sawEpoch`` in Chromium, with a ``reload`` of our
    own (no chain): a supernode's older read is dropped and the chain's taken, the later
    down mark kept, links to nodes unlisted or moved closed, a newer epoch named during a
    refresh read after it (once), and the timer started by setting ``registryRefreshMs``
    and stopped by ``close``."""
    out = page.evaluate(REFRESH_RULES)
    assert out["monotonic"] == 5 and out["fromChain"] == 4
    assert out["down"] == [True, True, True]  # ours (0, 2) and the read's (1)
    assert out["closed"] == [0, 2] and out["kept"] == [1]
    assert out["after"] == [2, 6]
    assert out["noMore"] == 2
    assert out["timer"] == [0, True, True]
