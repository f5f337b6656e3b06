// Keys kept in the browser's IndexedDB (database "flocloud", store "keys"), as WIF.
// Invariant: a key is written only when the caller asks; nothing is sent anywhere.
import { Key } from "./keys.js";

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("flocloud", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("keys");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const d = await db();
  try {
    return await new Promise((resolve, reject) => {
      const t = d.transaction("keys", mode);
      const req = fn(t.objectStore("keys"));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error);
    });
  } finally {
    d.close();
  }
}

/** Keep `key` under `name`. */
export function saveKey(key, name = "default") {
  return tx("readwrite", (s) => s.put({ wif: key.toWIF(), id: key.id, network: key.network }, name));
}

/** The key kept under `name`, or null. */
export async function loadKey(name = "default") {
  const rec = await tx("readonly", (s) => s.get(name));
  return rec ? Key.fromWIF(rec.wif, rec.network) : null;
}

export function deleteKey(name = "default") {
  return tx("readwrite", (s) => s.delete(name));
}

/** The key kept under `name`, made and kept first if there is none. */
export async function loadOrCreateKey(name = "default", network = "mainnet") {
  const known = await loadKey(name);
  if (known) return known;
  const key = Key.generate(network);
  await saveKey(key, name);
  return key;
}
