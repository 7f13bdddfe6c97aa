// core/v1 ConfigMap: validation (ValidateConfigMap, ValidateConfigMapUpdate) and printConfigMap.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { MAX_SECRET_SIZE } from './secret.js';
import { deepEqual, each, forbidden, invalid, isConfigMapKey, tooLong, validateMetadata } from './validation.js';

function validateConfigMap(cm: any, old?: any): Cause[] {
  const causes = validateMetadata(cm);
  const data: Record<string, string> = cm.data ?? {};
  const binary: Record<string, string> = cm.binaryData ?? {};
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    causes.push(...each(`data[${key}]`, key, isConfigMapKey(key)));
    if (key in binary) causes.push(invalid(`data[${key}]`, key, 'duplicate of key present in binaryData'));
    size += new TextEncoder().encode(String(value ?? '')).length;
  }
  for (const [key, value] of Object.entries(binary)) {
    causes.push(...each(`binaryData[${key}]`, key, isConfigMapKey(key)));
    if (key in data) causes.push(invalid(`binaryData[${key}]`, key, 'duplicate of key present in data'));
    size += Math.floor((String(value ?? '').replace(/=+$/, '').length * 3) / 4);
  }
  if (size > MAX_SECRET_SIZE) causes.push(tooLong('', MAX_SECRET_SIZE));
  if (old?.immutable === true) {
    if (cm.immutable !== true) causes.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
    if (!deepEqual(cm.data, old.data)) causes.push(forbidden('data', 'field is immutable when `immutable` is set'));
    if (!deepEqual(cm.binaryData, old.binaryData)) causes.push(forbidden('binaryData', 'field is immutable when `immutable` is set'));
  }
  return causes;
}

export const configMap: KindDef = {
  kind: 'ConfigMap',
  group: '',
  version: 'v1',
  plural: 'configmaps',
  singular: 'configmap',
  namespaced: true,
  shortNames: ['cm'],
  nameRule: 'subdomain',
  validate: validateConfigMap,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Data', type: 'string', description: 'Data contains the configuration data.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (cm, now) => [
    cm?.metadata?.name ?? '',
    Object.keys(cm?.data ?? {}).length + Object.keys(cm?.binaryData ?? {}).length,
    age(cm?.metadata?.creationTimestamp, now),
  ],
};
