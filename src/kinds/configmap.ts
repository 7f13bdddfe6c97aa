import type { KindDef } from './types.js';
import { age } from './format.js';

export const configMap: KindDef = {
  kind: 'ConfigMap',
  group: '',
  version: 'v1',
  plural: 'configmaps',
  singular: 'configmap',
  namespaced: true,
  shortNames: ['cm'],
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name of the object', priority: 0 },
    { name: 'Data', type: 'string', description: 'Number of keys in data and binaryData', priority: 0 },
    { name: 'Age', type: 'string', description: 'Time since creation', priority: 0 },
  ],
  row: (cm, now) => [
    cm.metadata.name,
    Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length,
    age(cm.metadata.creationTimestamp, now),
  ],
};
