// Whether a pod bound to a node uses a ConfigMap or Secret (the edges of the Node authorizer's graph),
// answered by one SQL query over that node's pods in the namespace (index objects_node); and which
// pods of a node use which ServiceAccounts.
import type { Store } from '../../store/store.js';

const CONTAINER_LISTS = ['$.spec.containers', '$.spec.initContainers', '$.spec.ephemeralContainers'];

/** Where a pod spec names an object of each kind, as Kubernetes' VisitPodSecretNames / VisitPodConfigmapNames. */
const REFERENCES = {
  Secret: {
    volume: [
      '$.secret.secretName', '$.csi.nodePublishSecretRef.name', '$.azureFile.secretName', '$.cephfs.secretRef.name',
      '$.cinder.secretRef.name', '$.flexVolume.secretRef.name', '$.iscsi.secretRef.name', '$.rbd.secretRef.name',
      '$.scaleIO.secretRef.name', '$.storageos.secretRef.name',
    ],
    projected: '$.secret.name',
    env: '$.valueFrom.secretKeyRef.name',
    envFrom: '$.secretRef.name',
    imagePullSecrets: true,
  },
  ConfigMap: {
    volume: ['$.configMap.name'],
    projected: '$.configMap.name',
    env: '$.valueFrom.configMapKeyRef.name',
    envFrom: '$.configMapRef.name',
    imagePullSecrets: false,
  },
} as const;

function referenceQuery(kind: keyof typeof REFERENCES): { sql: string; uses: number } {
  const r = REFERENCES[kind];
  const terms = [
    `EXISTS (SELECT 1 FROM json_each(p.object, '$.spec.volumes') v WHERE ? IN (${r.volume.map((path) => `json_extract(v.value, '${path}')`).join(', ')}))`,
    `EXISTS (SELECT 1 FROM json_each(p.object, '$.spec.volumes') v, json_each(v.value, '$.projected.sources') s WHERE json_extract(s.value, '${r.projected}') = ?)`,
    ...CONTAINER_LISTS.flatMap((list) => [
      `EXISTS (SELECT 1 FROM json_each(p.object, '${list}') c, json_each(c.value, '$.env') e WHERE json_extract(e.value, '${r.env}') = ?)`,
      `EXISTS (SELECT 1 FROM json_each(p.object, '${list}') c, json_each(c.value, '$.envFrom') e WHERE json_extract(e.value, '${r.envFrom}') = ?)`,
    ]),
    ...(r.imagePullSecrets ? [`EXISTS (SELECT 1 FROM json_each(p.object, '$.spec.imagePullSecrets') i WHERE json_extract(i.value, '$.name') = ?)`] : []),
  ];
  return {
    sql: `SELECT 1 AS found FROM objects p WHERE p.kind = 'Pod' AND p.node_name = ? AND p.namespace = ? AND (${terms.join(' OR ')}) LIMIT 1`,
    uses: terms.length,
  };
}

const QUERIES = { Secret: referenceQuery('Secret'), ConfigMap: referenceQuery('ConfigMap') };

/** Whether a pod bound to `nodeName` in `namespace` uses the Secret or ConfigMap `name`. One round trip. */
export async function referencedByNodePod(store: Store, nodeName: string, kind: 'Secret' | 'ConfigMap', namespace: string, name: string): Promise<boolean> {
  const q = QUERIES[kind];
  const [rows] = await store.rows([{ sql: q.sql, args: [nodeName, namespace, ...Array<string>(q.uses).fill(name)] }]);
  return (rows?.length ?? 0) > 0;
}

export interface NodePod {
  name: string;
  uid: string;
  /** Its ServiceAccount (spec.serviceAccountName, else the deprecated spec.serviceAccount, else default). */
  serviceAccount: string;
}

/** The pods bound to `nodeName` in `namespace`, with their ServiceAccounts: the node -> pod -> ServiceAccount edges. One round trip. */
export async function nodePodsInNamespace(store: Store, nodeName: string, namespace: string): Promise<NodePod[]> {
  const [rows] = await store.rows([
    {
      sql: `SELECT name, uid, coalesce(nullif(json_extract(object, '$.spec.serviceAccountName'), ''), nullif(json_extract(object, '$.spec.serviceAccount'), ''), 'default') AS sa
            FROM objects WHERE kind = 'Pod' AND node_name = ? AND namespace = ?`,
      args: [nodeName, namespace],
    },
  ]);
  return (rows ?? []).map((r) => ({ name: String(r.name), uid: String(r.uid), serviceAccount: String(r.sa) }));
}
