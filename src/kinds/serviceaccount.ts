// core/v1 ServiceAccount: validation (ValidateServiceAccount: its metadata alone) and
// printServiceAccount. Its `token` subresource (TokenRequest) is served by src/api/auth/token-request.ts.
import type { KindDef } from './types.js';
import { age } from './format.js';
import { validateMetadata } from './validation.js';

export const serviceAccount: KindDef = {
  kind: 'ServiceAccount',
  group: '',
  version: 'v1',
  plural: 'serviceaccounts',
  singular: 'serviceaccount',
  namespaced: true,
  shortNames: ['sa'],
  subresources: ['token'],
  nameRule: 'subdomain',
  validate: (sa) => validateMetadata(sa),
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Secrets', type: 'string', description: 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (sa, now) => [sa?.metadata?.name ?? '', Array.isArray(sa?.secrets) ? sa.secrets.length : 0, age(sa?.metadata?.creationTimestamp, now)],
};
