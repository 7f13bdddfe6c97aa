// coordination.k8s.io/v1 Lease: validation (ValidateLeaseSpec) and printLease.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { forbidden, invalid, IS_NEGATIVE_ERROR, notSupported, validateMetadata } from './validation.js';

function validateLease(lease: any): Cause[] {
  const spec = lease.spec ?? {};
  const causes = validateMetadata(lease);
  if (typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds <= 0) {
    causes.push(invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (typeof spec.leaseTransitions === 'number' && spec.leaseTransitions < 0) {
    causes.push(invalid('spec.leaseTransitions', spec.leaseTransitions, IS_NEGATIVE_ERROR));
  }
  if (spec.strategy !== undefined && spec.strategy !== 'OldestEmulationVersion') {
    causes.push(notSupported('spec.strategy', spec.strategy, ['OldestEmulationVersion']));
  }
  if (spec.preferredHolder && !spec.strategy) {
    causes.push(forbidden('spec.preferredHolder', 'may only be specified if `strategy` is defined'));
  }
  return causes;
}

export const lease: KindDef = {
  kind: 'Lease',
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  singular: 'lease',
  namespaced: true,
  nameRule: 'subdomain',
  validate: validateLease,
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Holder', type: 'string', description: 'holderIdentity contains the identity of the holder of a current lease.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (l, now) => [l?.metadata?.name ?? '', l?.spec?.holderIdentity ?? '', age(l?.metadata?.creationTimestamp, now)],
};
