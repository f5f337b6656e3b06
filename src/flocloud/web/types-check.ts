// Type-checked by scripts/build-web (tsc --strict): the declarations of flocloud.d.ts cover a typical use.
import { Client, Key, Network, FlocloudError, loadOrCreateKey } from "./flocloud.js";
async function main(): Promise<void> {
  const key: Key = await loadOrCreateKey("me", "regtest");
  const client = await Client.connect({ key, supernode: "http://127.0.0.1:1" });
  const id: string = await client.send(key.id, { text: "hi" }, { app: "chat" });
  const { messages, next } = await client.fetch({ after: null, limit: 10 });
  for await (const m of client.subscribe({ after: next, signal: new AbortController().signal })) console.log(m.payload, m.cursor, id, messages.length);
  const o = await client.get("demo", "board");
  await client.patch("demo", "board", { a: 1 }, { expectedVersion: o.version });
  try { await client.history("demo", "board"); } catch (e) { if (e instanceof FlocloudError) console.log(e.code, e.replicas); }
  const net: Network = client.network; console.log(net.replicas(key.id)[0].uri);
}
main();
