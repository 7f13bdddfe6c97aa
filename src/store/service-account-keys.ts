// The key pair that signs ServiceAccount tokens (table service_account_keys). kube-apiserver reads it
// from --service-account-key-file; skiff keeps it in the database, made once (by Store.init, or by
// the first reader of a database that lacks it), so every home and every server on one database
// signs and verifies with the same key. ES256: P-256 keys are small, and Web Crypto signs and
// verifies them everywhere skiff runs (Node.js, workerd).
import type { InStatement } from '@libsql/client';
import type { Store } from './store.js';

export const SIGNING_ALG = 'ES256';
const CURVE = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export interface StoredKey {
  id: number;
  kid: string;
  alg: string;
  privateJwk: JsonWebKey;
  /** As the JWKS publishes it: kty, crv, x, y, with kid, alg and use. */
  publicJwk: JsonWebKey & { kid: string; alg: string; use: string };
}

const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** kube-apiserver's key id: the SHA-256 of the public key's PKIX DER, base64url (keyIDFromPublicKey). */
export async function keyIdOf(publicKey: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', der)));
}

/** A new key pair as a row's values. */
export async function newSigningKey(): Promise<{ kid: string; alg: string; privateJwk: string; publicJwk: string }> {
  const pair = (await crypto.subtle.generateKey(CURVE, true, ['sign', 'verify'])) as CryptoKeyPair;
  const kid = await keyIdOf(pair.publicKey);
  const priv = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
  const pub = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
  const publicJwk = { use: 'sig', kty: pub.kty, kid, crv: pub.crv, alg: SIGNING_ALG, x: pub.x, y: pub.y };
  return { kid, alg: SIGNING_ALG, privateJwk: JSON.stringify({ kty: priv.kty, crv: priv.crv, x: priv.x, y: priv.y, d: priv.d }), publicJwk: JSON.stringify(publicJwk) };
}

/** Row 1, the signing key, made unless one exists (the first of servers starting together wins). */
export async function signingKeyInsert(now: number): Promise<InStatement> {
  const key = await newSigningKey();
  return {
    sql: 'INSERT OR IGNORE INTO service_account_keys (id, kid, alg, private_jwk, public_jwk, created) VALUES (1, ?, ?, ?, ?, ?)',
    args: [key.kid, key.alg, key.privateJwk, key.publicJwk, now],
  };
}

const SELECT_KEYS = 'SELECT id, kid, alg, private_jwk, public_jwk FROM service_account_keys ORDER BY id';

function keyOf(row: Record<string, unknown>): StoredKey {
  return {
    id: Number(row.id),
    kid: String(row.kid),
    alg: String(row.alg),
    privateJwk: JSON.parse(String(row.private_jwk)) as JsonWebKey,
    publicJwk: JSON.parse(String(row.public_jwk)) as StoredKey['publicJwk'],
  };
}

/**
 * Every key, the signing key (id 1) first: one round trip, or two the one time a database lacks it
 * (made by a build whose Store.init did not make keys).
 */
export async function loadSigningKeys(store: Store, now: number): Promise<StoredKey[]> {
  const [rows] = await store.rows([SELECT_KEYS]);
  if (rows!.some((r) => Number(r.id) === 1)) return rows!.map(keyOf);
  store.roundTrips++;
  const rs = await store.client.batch([await signingKeyInsert(now), SELECT_KEYS], 'write');
  return rs[1]!.rows.map((r) => keyOf(r));
}

/** A stored key as Web Crypto keys: the private one signs (row 1 only is used for that), the public one verifies. */
export async function importKey(key: StoredKey): Promise<{ kid: string; sign: CryptoKey; verify: CryptoKey }> {
  const { kty, crv, x, y } = key.publicJwk;
  return {
    kid: key.kid,
    sign: await crypto.subtle.importKey('jwk', key.privateJwk, CURVE, false, ['sign']),
    verify: await crypto.subtle.importKey('jwk', { kty, crv, x, y }, CURVE, false, ['verify']),
  };
}
