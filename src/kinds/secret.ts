// core/v1 Secret: defaults (type Opaque; stringData folded into data as the
// v1 conversion does), validation (ValidateSecret, ValidateSecretUpdate) and printSecret.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { deepEqual, each, forbidden, invalid, isConfigMapKey, required, tooLong, validateImmutable, validateMetadata } from './validation.js';

export const MAX_SECRET_SIZE = 1024 * 1024;

function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Bytes a base64 value decodes to. */
function decodedLength(b64: string): number {
  const clean = b64.replace(/=+$/, '');
  return Math.floor((clean.length * 3) / 4);
}

function defaultSecret(secret: any): void {
  secret.type ||= 'Opaque';
  if (secret.stringData && typeof secret.stringData === 'object') {
    secret.data ??= {};
    for (const [k, v] of Object.entries(secret.stringData)) secret.data[k] = base64(String(v));
  }
  delete secret.stringData;
}

function validateSecret(secret: any, old?: any): Cause[] {
  const causes = validateMetadata(secret);
  const data: Record<string, string> = secret.data ?? {};
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    causes.push(...each(`data[${key}]`, key, isConfigMapKey(key)));
    size += decodedLength(String(value ?? ''));
  }
  if (size > MAX_SECRET_SIZE) causes.push(tooLong('data', MAX_SECRET_SIZE));
  const has = (key: string) => Object.prototype.hasOwnProperty.call(data, key);
  switch (secret.type) {
    case 'kubernetes.io/service-account-token':
      if (!secret.metadata?.annotations?.['kubernetes.io/service-account.name']) {
        causes.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const key = secret.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
      if (!has(key)) causes.push(required(`data[${key}]`));
      else if (!isJsonObject(data[key])) causes.push(invalid(`data[${key}]`, '<secret contents redacted>', 'invalid JSON'));
      break;
    }
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) causes.push(required('data[username]'), required('data[password]'));
      break;
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']) causes.push(required('data[ssh-privatekey]'));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) causes.push(required('data[tls.crt]'));
      if (!has('tls.key')) causes.push(required('data[tls.key]'));
      break;
  }
  if (old) {
    causes.push(...validateImmutable(secret.type, old.type, 'type'));
    if (old.immutable === true) {
      if (secret.immutable !== true) causes.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
      if (!deepEqual(secret.data, old.data)) causes.push(forbidden('data', 'field is immutable when `immutable` is set'));
    }
  }
  return causes;
}

function isJsonObject(b64: string): boolean {
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const parsed = JSON.parse(new TextDecoder().decode(bytes));
    return typeof parsed === 'object' && parsed !== null;
  } catch {
    return false;
  }
}

export const secret: KindDef = {
  kind: 'Secret',
  group: '',
  version: 'v1',
  plural: 'secrets',
  singular: 'secret',
  namespaced: true,
  nameRule: 'subdomain',
  defaults: defaultSecret,
  validate: validateSecret,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Type', type: 'string', description: 'Used to facilitate programmatic handling of secret data.', priority: 0 },
    { name: 'Data', type: 'string', description: 'Data contains the secret data.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (s, now) => [
    s?.metadata?.name ?? '',
    s?.type ?? '',
    Object.keys(s?.data ?? {}).length,
    age(s?.metadata?.creationTimestamp, now),
  ],
  fields: {
    type: (s) => s?.type ?? '',
  },
};
