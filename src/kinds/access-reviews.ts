// authorization.k8s.io/v1 SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview and
// SelfSubjectRulesReview: questions to the authorizer, create-only and never stored (kubectl auth
// can-i, and programs checking before they act). The API answers them (src/api/auth/access-reviews.ts).
import type { KindDef } from './types.js';
import { forbidden } from './validation.js';

const review = (kind: string, plural: string, namespaced = false): KindDef => ({
  kind,
  group: 'authorization.k8s.io',
  version: 'v1',
  plural,
  singular: plural.slice(0, -1),
  namespaced,
  verbs: ['create'],
  stored: false,
  validate: () => [forbidden('kind', `${kind} is answered by its own handler and never stored`)],
  columns: [{ name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 }],
  row: (obj) => [obj?.metadata?.name ?? ''],
});

export const selfSubjectAccessReview = review('SelfSubjectAccessReview', 'selfsubjectaccessreviews');
export const subjectAccessReview = review('SubjectAccessReview', 'subjectaccessreviews');
export const localSubjectAccessReview = review('LocalSubjectAccessReview', 'localsubjectaccessreviews', true);
export const selfSubjectRulesReview = review('SelfSubjectRulesReview', 'selfsubjectrulesreviews');
