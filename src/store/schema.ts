import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { EVENT_SEEN } from './event-seen.js';

// Every object, whole, as JSON (without metadata.resourceVersion, which is the `rv` column).
// The other columns are derived from it for the queries that filter on them.
export const objects = sqliteTable(
  'objects',
  {
    kind: text('kind').notNull(),
    namespace: text('namespace').notNull(),
    name: text('name').notNull(),
    uid: text('uid').notNull(),
    rv: integer('rv').notNull(),
    // uid of the controller ownerReference, written with the object (generated columns cannot search arrays)
    ownerUid: text('owner_uid'),
    object: text('object').notNull(),
    // what controllers read of many objects at once (a pod's requests, readiness, ports), from the kind's summary()
    summary: text('summary'),
    nodeName: text('node_name').generatedAlwaysAs(sql`json_extract(object, '$.spec.nodeName')`, { mode: 'virtual' }),
    phase: text('phase').generatedAlwaysAs(sql`json_extract(object, '$.status.phase')`, { mode: 'virtual' }),
  },
  (t) => [
    primaryKey({ columns: [t.kind, t.namespace, t.name] }),
    uniqueIndex('objects_uid').on(t.uid),
    index('objects_owner').on(t.ownerUid),
    // Counts an owner's live pods from the index alone (the guard on every pod a ReplicaSet creates).
    index('objects_live_owner').on(t.ownerUid, t.kind).where(sql`json_extract(object, '$.metadata.deletionTimestamp') IS NULL`),
    // With rv: a node's pods counted and their resourceVersions summed from the index alone (what
    // the scheduler's binding guard compares with what it read). Only when node_name is matched, not
    // read: SQLite computes a VIRTUAL column's value from the row (parsing the object), index or not.
    index('objects_node').on(t.kind, t.nodeName, t.rv),
    // The pods waiting for a node, by uid: what the scheduler compares with its back-off rows.
    index('objects_unbound').on(t.uid).where(sql`kind = 'Pod' AND COALESCE(node_name, '') = ''`),
    // Finds the few objects being deleted (owners the garbage collector finishes) without scanning all.
    index('objects_deleting').on(t.kind).where(sql`json_extract(object, '$.metadata.deletionTimestamp') IS NOT NULL`),
    // When each Event was last seen: the pass drops expired ones (--event-ttl) by a range of this, not a scan.
    index('objects_event_seen').on(sql.raw(`(${EVENT_SEEN})`)).where(sql`kind = 'Event'`),
  ],
);

// The change log: one row per write. `rev` is the global revision; an object's resourceVersion is
// the rev of its last change. Rows are written by triggers on `objects` (see the migrations).
export const changes = sqliteTable(
  'changes',
  {
    rev: integer('rev').primaryKey(),
    kind: text('kind').notNull(),
    namespace: text('namespace').notNull(),
    name: text('name').notNull(),
    type: text('type', { enum: ['ADDED', 'MODIFIED', 'DELETED'] }).notNull(),
    object: text('object').notNull(),
  },
  (t) => [index('changes_kind').on(t.kind, t.rev), index('changes_object').on(t.kind, t.namespace, t.name, t.rev)],
);

// Single rows: the current revision, and the newest revision compaction dropped.
export const revision = sqliteTable('revision', {
  id: integer('id').primaryKey(),
  rev: integer('rev').notNull(),
  compacted: integer('compacted').notNull(),
});

// Who is running a reconcile pass, until when (ms since the epoch): one pass at a time across
// processes and isolates. `wanted` is set by a pass that found the lease taken, so the holder runs
// another pass once it is done (the state may have changed after the holder read it).
export const passLease = sqliteTable('pass_lease', {
  id: integer('id').primaryKey(),
  holder: text('holder').notNull(),
  expires: integer('expires').notNull(),
  wanted: integer('wanted').notNull().default(0),
});

// Join tokens in kubeadm's bootstrap-token form `id.secret`: the id is the key, the secret is kept
// only as its SHA-256. Times are ms since the epoch; `expires` is null for a token that never does.
export const joinTokens = sqliteTable('join_tokens', {
  id: text('id').primaryKey(),
  secretHash: text('secret_hash').notNull(),
  description: text('description').notNull().default(''),
  created: integer('created').notNull(),
  expires: integer('expires'),
});

// One bearer credential per node name (identity system:node:NAME), kept as its SHA-256; looked up
// by hash on each request a node makes. Deleting the row revokes it and frees the name.
export const nodeCredentials = sqliteTable(
  'node_credentials',
  {
    nodeName: text('node_name').primaryKey(),
    tokenHash: text('token_hash').notNull(),
    // the join token it was issued for (kept after that token is deleted, as a record)
    joinTokenId: text('join_token_id'),
    created: integer('created').notNull(),
  },
  (t) => [uniqueIndex('node_credentials_token').on(t.tokenHash)],
);

// The scheduler's back-off (kube-scheduler's backoffQ and unschedulablePods, kept here because a pass
// keeps no memory): a row per pod without a node that the scheduler tried and could not place,
// `attempts` times so far, the last at `tried_at` (ms since the epoch) over the cluster as of change-log
// revision `tried_rev`. A row with `attempts` 0 is a pod the scheduler does not place (gated, another
// scheduler's, being deleted), as its resourceVersion was `tried_rev`. The scheduler deletes the rows
// of pods it binds, and those of pods gone or bound elsewhere once it comes to them.
export const scheduleBackoff = sqliteTable(
  'schedule_backoff',
  {
    uid: text('uid').primaryKey(),
    attempts: integer('attempts').notNull(),
    triedAt: integer('tried_at').notNull(),
    triedRev: integer('tried_rev').notNull(),
  },
  (t) => [
    // Pods tried before the latest change that could let them fit; pods tried 5 minutes ago.
    index('schedule_backoff_rev').on(t.triedRev).where(sql`attempts > 0`),
    index('schedule_backoff_at').on(t.triedAt).where(sql`attempts > 0`),
    index('schedule_backoff_ignored').on(t.uid, t.triedRev).where(sql`attempts = 0`),
  ],
);

// One row: the change-log revision of the latest write that could let a pod that found no node fit
// (kube-scheduler's move request): a Node added, or changed in what the scheduler reads of it (not its
// heartbeats); a pod bound to a node deleted or finished. The store sets it with those writes.
export const scheduleMoves = sqliteTable('schedule_moves', {
  id: integer('id').primaryKey(),
  rev: integer('rev').notNull(),
});

// Users made by `skiff user add`: one opaque bearer token each, kept as its SHA-256 (as node
// credentials are), with the groups the user is in (JSON array). `uid` is new for each user made,
// so a user deleted and made again under the same name is another user, as Kubernetes' user.Info has it.
export const userTokens = sqliteTable(
  'user_tokens',
  {
    name: text('name').primaryKey(),
    uid: text('uid').notNull(),
    tokenHash: text('token_hash').notNull(),
    groups: text('groups').notNull().default('[]'),
    created: integer('created').notNull(),
  },
  (t) => [uniqueIndex('user_tokens_token').on(t.tokenHash)],
);

// The key pair that signs ServiceAccount tokens (kube-apiserver's --service-account-key-file), kept
// in the database so that every home and every `skiff serve` on it signs and verifies with the same
// key. Row 1 signs; every row verifies and is published in the JWKS. Keys are JWKs (JSON), `kid` as
// kube-apiserver derives it (the SHA-256 of the public key's DER, base64url).
export const serviceAccountKeys = sqliteTable('service_account_keys', {
  id: integer('id').primaryKey(),
  kid: text('kid').notNull(),
  alg: text('alg').notNull(),
  privateJwk: text('private_jwk').notNull(),
  publicJwk: text('public_jwk').notNull(),
  created: integer('created').notNull(),
});

// The usage each node's agent last reported of its pods (what metrics-server would hold), for the
// HorizontalPodAutoscaler controller and `kubectl top`: a pass cannot ask nodes through their tunnels
// (on Workers it has none at hand), so agents report every metric resolution (15 s). One row per pod,
// a node's rows replaced by its next report. Not objects: no change log, no watch churn. CPU is a
// rate averaged over `window_ms`; memory the working set; `containers` the same per container (JSON
// [{name, cpu, memory}]). `sampled` is when the node sampled (its clock), `received` when the report
// came (the control plane's clock, what staleness is judged by); both ms since the epoch.
export const podUsage = sqliteTable(
  'pod_usage',
  {
    uid: text('uid').primaryKey(),
    namespace: text('namespace').notNull(),
    name: text('name').notNull(),
    node: text('node').notNull(),
    cpuNanocores: integer('cpu_nanocores').notNull(),
    memoryBytes: integer('memory_bytes').notNull(),
    containers: text('containers').notNull().default('[]'),
    windowMs: integer('window_ms').notNull(),
    sampled: integer('sampled').notNull(),
    received: integer('received').notNull(),
  },
  (t) => [index('pod_usage_node').on(t.node), index('pod_usage_received').on(t.received)],
);

// The node's own usage from the same reports (NodeMetrics for `kubectl top nodes`).
export const nodeUsage = sqliteTable(
  'node_usage',
  {
    node: text('node').primaryKey(),
    cpuNanocores: integer('cpu_nanocores').notNull(),
    memoryBytes: integer('memory_bytes').notNull(),
    windowMs: integer('window_ms').notNull(),
    sampled: integer('sampled').notNull(),
    received: integer('received').notNull(),
  },
  (t) => [index('node_usage_received').on(t.received)],
);

// What the HorizontalPodAutoscaler controller remembers of each HPA between syncs (kube-controller-
// manager keeps it in memory; a pass keeps none): when it last synced it (ms since the epoch; HPAs
// sync every --horizontal-pod-autoscaler-sync-period), its recent recommendations (JSON
// [[replicas, ms]], for the stabilization windows) and its recent scale events (JSON
// [[change, ms]], positive up and negative down, for the behavior policies' rates).
export const hpaState = sqliteTable('hpa_state', {
  uid: text('uid').primaryKey(),
  synced: integer('synced').notNull(),
  recommendations: text('recommendations').notNull().default('[]'),
  scaleEvents: text('scale_events').notNull().default('[]'),
});
