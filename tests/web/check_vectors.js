// The frozen vectors of tests/vectors/ checked against flocloud.js. An expression:
// `(fc, V) => Promise<string[]>`, the failures (empty when every vector passes); V holds
// the parsed keys, envelope, encryption, placement and objects vector files.
async (fc, V) => {
  const fails = [];
  let checked = 0;
  const eq = (a, b, what) => {
    checked++;
    if (JSON.stringify(a) !== JSON.stringify(b)) fails.push(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
  };
  const code = async (fn) => { try { await fn(); return "ok"; } catch (e) { return e.code || `not a FlocloudError: ${e}`; } };
  const hex = fc.hexToBytes, tohex = fc.bytesToHex;

  for (const c of V.keys.keys) {
    const fromWif = fc.Key.fromWIF(c.wif);
    if (c.floID) eq(fromWif.id, c.floID, `keys: id of ${c.wif}`);
    if (c.pubKey) eq(fromWif.pubKeyHex, c.pubKey, `keys: pubKey of ${c.wif}`);
    eq(fromWif.toWIF(), c.wif, `keys: WIF round trip ${c.wif}`);
    eq(fromWif.compressed, c.compressed, `keys: compressed ${c.wif}`);
    if (c.secret) {
      const k = new fc.Key(c.secret, c.network, { compressed: c.compressed });
      eq(k.toWIF(), c.wif, `keys: WIF of secret ${c.secret}`);
      if (c.floID) eq(k.id, c.floID, `keys: id of secret ${c.secret}`);
    }
  }
  for (const a of V.keys.addresses) {
    const info = fc.decodeAddress(a.address);
    eq([tohex(info.hash160), info.kind, info.network], [a.hash160, a.kind, a.network], `address ${a.address}`);
  }
  for (const a of V.keys.invalid_addresses) eq(await code(() => fc.decodeAddress(a.address)), a.code, `invalid address (${a.why})`);
  for (const l of V.keys.flocrypto_legacy) {
    const [pub, sig] = [hex(l.pubKey), hex(l.sign)];
    eq(fc.verifyFlocryptoLegacy(pub, sig, l.message), true, `floCrypto legacy signature of ${l.message}`);
    eq(fc.verifyFlocryptoLegacy(pub, sig, l.message + "!"), false, "floCrypto legacy, other message");
    eq(fc.verifyData(pub, sig, new TextEncoder().encode(l.message)), false, "the legacy form is not a flocloud signature");
  }
  for (const w of V.keys.invalid_wifs) eq(await code(() => fc.Key.fromWIF(w.wif)), w.code, `invalid WIF (${w.why})`);

  const E = V.envelope;
  for (const c of E.valid) {
    const env = fc.parseEnvelope(c.wire, { nowMs: E.now_ms });
    eq([env.id, env.body], [c.id, c.body], `envelope ${c.name}`);
  }
  const camel = (o) => Object.fromEntries(Object.entries(o || {}).map(([k, v]) => [k.replace(/_(.)/g, (_, ch) => ch.toUpperCase()), v]));
  for (const c of E.invalid) {
    const opts = { nowMs: c.now_ms ?? E.now_ms, limits: camel(c.limits) };
    eq(await code(() => fc.parseEnvelope(c.wire, opts)), c.code, `invalid envelope ${c.name}`);
  }

  const X = V.encryption;
  const receiver = fc.Key.fromWIF(X.receiver_wif);
  eq(receiver.pubKeyHex, X.receiver_pubKey, "encryption: receiver pubKey");
  for (const c of X.cases) {
    const ids = { senderId: c.sender_id, receiverId: c.receiver_id };
    const blob = await fc.encrypt(hex(c.plaintext), receiver.publicKey, { ...ids, ephemeralSecret: hex(c.ephemeral_secret), nonce: hex(c.nonce) });
    eq(tohex(blob), c.blob, `encrypt ${c.plaintext || "(empty)"}`);
    eq(tohex(await fc.decrypt(hex(c.blob), receiver, ids)), c.plaintext, `decrypt ${c.plaintext || "(empty)"}`);
    eq(await code(() => fc.decrypt(hex(c.blob), receiver, { ...ids, senderId: c.receiver_id })), "decryption-failed", "decrypt with other IDs");
    const tampered = hex(c.blob); tampered[tampered.length - 1] ^= 1;
    eq(await code(() => fc.decrypt(tampered, receiver, ids)), "decryption-failed", "decrypt tampered");
    const v2 = hex(c.blob); v2[0] = 2;
    eq(await code(() => fc.decrypt(v2, receiver, ids)), "unsupported-version", "decrypt version 2");
  }
  const J = X.json;
  const jids = { senderId: J.sender_id ?? X.cases[0].sender_id, receiverId: J.receiver_id ?? X.cases[0].receiver_id };
  eq(await fc.sealJson(J.value, receiver.publicKey, { ...jids, ephemeralSecret: hex(J.ephemeral_secret), nonce: hex(J.nonce) }), J.payload, "sealJson");
  eq(await fc.openJson(J.payload, receiver, jids), J.value, "openJson");

  const P = V.placement;
  for (const c of P.cases) {
    const pl = new fc.Placement(P.nodes, c.virtualNodes);
    for (const [key, pref] of Object.entries(c.preference)) eq(pl.preferenceList(key), pref, `placement V=${c.virtualNodes} ${key}`);
  }

  const O = V.objects;
  for (const c of O.object_ids) eq(fc.objectId(c.application, c.name, c.network), c.id, `object id ${c.application}/${c.name}`);
  for (const c of O.merge_patch) eq(fc.mergePatch(c.target, c.patch), c.result, `merge patch ${JSON.stringify(c.patch)}`);
  for (const c of O.merge_diff) eq(fc.mergeDiff(c.from, c.to), c.patch, `merge diff ${JSON.stringify(c.to)}`);
  if (checked < 100) fails.push(`only ${checked} checks ran`);
  return fails;
}
