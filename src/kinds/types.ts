// The shape every kind module fills in. The registry (./registry.ts) drives
// everything generic (routing, discovery, validation, tables, selectors).

/** Any Kubernetes object as JSON. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | null;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

/** One field error, as metav1.StatusCause. `type` is Kubernetes' FieldValueXxx reason. */
export interface Cause {
  reason: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported' | 'FieldValueDuplicate' | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueTooMany' | 'FieldValueTypeInvalid' | 'FieldValueNotFound';
  field: string;
  message: string;
}

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  /** 0: always shown; 1: only with -o wide. */
  priority: number;
}

/** Cells of one table row; `now` is the clock's current time (for AGE columns use ages.ts). */
export type RowFn = (obj: any, now: Date) => unknown[];

export interface KindDef {
  kind: string;
  group: string; // '' for core
  version: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Verbs served on the main resource; defaults to all. */
  verbs?: string[];
  /** Subresources served: 'status', 'scale', 'binding', 'eviction'. */
  subresources?: string[];
  /**
   * False for kinds that are never kept: a create is answered at once by the kind's own handler
   * (TokenReview, SelfSubjectReview), as kube-apiserver's create-only resources are.
   */
  stored?: false;
  /**
   * metadata.name rule: DNS-1123 subdomain (most kinds), label (namespaces, services), or any
   * valid path segment (RBAC kinds, whose names such as system:discovery carry colons).
   */
  nameRule?: 'subdomain' | 'label' | 'path';
  /** True where spec changes bump metadata.generation (kinds with a spec). */
  hasSpec?: boolean;
  /** Apply Kubernetes' defaults in place (create and update). */
  defaults?(obj: any): void;
  /**
   * On update, after defaults and before validate: carry over from the stored object what
   * the server allocated and a client may omit (Service cluster IPs and node ports).
   */
  prepareUpdate?(obj: any, old: any): void;
  /** Validate a whole object (after defaults). `old` is set on update. */
  validate?(obj: any, old?: any): Cause[];
  /** Table columns and the row for one object (NAME is first and filled by the caller when the column list starts with Name). */
  columns: TableColumn[];
  row: RowFn;
  /** A small digest of the object that controllers read in bulk (stored in its own column). */
  summary?(obj: any): unknown;
  /** Extra field selectors beyond metadata.name / metadata.namespace. */
  fields?: Record<string, (obj: any) => string | undefined>;
  /**
   * Versions the kind is also served at, besides `version` (the one stored and preferred), each
   * converted to and from the stored version as kube-apiserver converts through its internal one.
   * The registry serves each as a KindDef of its own, carrying `conversion`.
   */
  servedVersions?: VersionConversion[];
  /** Set by the registry on a kind served at another version than it is stored: the stored kind and the conversion. */
  conversion?: { stored: KindDef } & Omit<VersionConversion, 'version'>;
}

/** How one more served version of a kind converts to and from the stored version. */
export interface VersionConversion {
  version: string;
  /** An object of this version (as a client sends it) as stored. */
  toStored(obj: KObject): KObject;
  /** A stored object as this version serves it. */
  fromStored(obj: KObject): KObject;
}
