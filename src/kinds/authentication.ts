// authentication.k8s.io/v1 TokenReview and SelfSubjectReview: create-only and never stored, as
// kube-apiserver lists them in discovery (verbs: create). The API answers a create through its own
// handler (src/api/auth/reviews.ts); nothing generic reads or writes them.
import type { KindDef } from './types.js';
import { forbidden } from './validation.js';

const review = (kind: string, plural: string): KindDef => ({
  kind,
  group: 'authentication.k8s.io',
  version: 'v1',
  plural,
  singular: plural.slice(0, -1),
  namespaced: false,
  verbs: ['create'],
  stored: false,
  // Never written: should a create reach the generic handler, it is refused rather than kept (a
  // TokenReview carries a token).
  validate: () => [forbidden('kind', `${kind} is answered by its own handler and never stored`)],
  columns: [{ name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 }],
  row: (obj) => [obj?.metadata?.name ?? ''],
});

export const selfSubjectReview = review('SelfSubjectReview', 'selfsubjectreviews');
export const tokenReview = review('TokenReview', 'tokenreviews');
