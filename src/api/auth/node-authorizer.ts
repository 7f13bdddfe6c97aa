// The Node authorizer, the system:node role and NodeRestriction admission, for identities
// system:node:NAME: a node reads what kubelet reads and writes only its own Node, its own Lease,
// the status of its own pods, Events, and reads the ConfigMaps and Secrets its pods use; it reads
// the ServiceAccounts its pods use and asks for their tokens, each bound to one of its pods; it lists
// and watches every pod, namespace and NetworkPolicy, which enforcing NetworkPolicy takes.
import type { KObject } from '../../kinds/types.js';
import { deepEqual } from '../../kinds/validation.js';
import type { Store } from '../../store/store.js';
import { admissionForbidden, forbidden, FULL_ACCESS, type Access, type RequestAttributes } from './authorize.js';
import type { Identity } from './identity.js';
import { nodePodsInNamespace, referencedByNodePod } from './node-references.js';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch'];
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
// Labels a node may not set on itself: NodeRestriction keeps this prefix for the cluster's operators.
const RESTRICTED_LABEL_PREFIX = 'node-restriction.kubernetes.io/';

const noCheck = () => {};
const nodeNameOfPod = (pod: KObject) => (pod.spec as { nodeName?: string } | undefined)?.nodeName;

export async function authorizeNode(node: string, identity: Identity, a: RequestAttributes, store: Store): Promise<Access> {
  const deny = (reason?: string) => forbidden(identity, a, reason);
  const main = a.subresource === undefined;
  switch (`${a.group}/${a.resource}`) {
    case '/nodes':
      if (main && READ.includes(a.verb)) return FULL_ACCESS;
      if ((main && WRITE.includes(a.verb)) || (a.subresource === 'status' && ['update', 'patch'].includes(a.verb))) {
        const notSelf = (name: string | undefined) => admissionForbidden(a, name, `node "${node}" is not allowed to modify node "${name ?? ''}"`);
        if (a.verb !== 'create' && a.name !== node) throw notSelf(a.name);
        return {
          stored: noCheck,
          creating: (obj) => {
            if (obj.metadata?.name !== node) throw notSelf(obj.metadata?.name);
            const labels = restrictedLabels(obj.metadata?.labels, undefined);
            if (labels.length) throw admissionForbidden(a, node, `node "${node}" is not allowed to set the following labels: ${labels.join(', ')}`);
          },
          updating: (old, obj) => {
            // A node that could drop its taints could draw workloads kept away from it.
            if (!deepEqual(taints(obj), taints(old))) throw admissionForbidden(a, node, `node "${node}" is not allowed to modify taints`);
            const labels = restrictedLabels(obj.metadata?.labels, old.metadata?.labels);
            if (labels.length) throw admissionForbidden(a, node, `is not allowed to modify labels: ${labels.join(', ')}`);
          },
        };
      }
      throw deny();

    case 'coordination.k8s.io/leases': {
      if (!main || ![...WRITE, 'get', 'delete'].includes(a.verb)) throw deny('can only get, create, update, patch, or delete a node lease');
      if (a.namespace !== NODE_LEASE_NAMESPACE) throw deny(`can only access leases in the "${NODE_LEASE_NAMESPACE}" system namespace`);
      const sameName = 'can only access node lease with the same name as the requesting node';
      // The name of a create is in the body: checked there, as NodeRestriction does.
      if (a.verb !== 'create' && a.name !== node) throw deny(sameName);
      return {
        stored: noCheck,
        updating: noCheck,
        creating: (obj) => {
          if (obj.metadata?.name !== node) throw forbidden(identity, { ...a, name: obj.metadata?.name }, sameName);
        },
      };
    }

    case '/pods': {
      const boundHere = (why: () => Error) => (pod: KObject) => {
        if (nodeNameOfPod(pod) !== node) throw why();
      };
      if (main && a.verb === 'get') {
        return { ...FULL_ACCESS, stored: boundHere(() => deny(`no relationship found between node '${node}' and this object`)) };
      }
      if (main && (a.verb === 'list' || a.verb === 'watch')) {
        // Its own pods by field selector, as kubelet asks; and every pod, which the node's NetworkPolicy
        // agent resolves policies' selectors to addresses with (a CNI policy plugin's read).
        return FULL_ACCESS;
      }
      if (main && a.verb === 'delete') {
        return { ...FULL_ACCESS, stored: boundHere(() => admissionForbidden(a, a.name, `node "${node}" can only delete pods with spec.nodeName set to itself`)) };
      }
      if (a.subresource === 'status' && (a.verb === 'update' || a.verb === 'patch')) {
        return { ...FULL_ACCESS, stored: boundHere(() => admissionForbidden(a, a.name, `node "${node}" can only update pod status for pods with spec.nodeName set to itself`)) };
      }
      throw deny();
    }

    case '/events':
      if (main && WRITE.includes(a.verb)) return FULL_ACCESS;
      throw deny();

    case '/services':
    case '/endpoints':
    case 'discovery.k8s.io/endpointslices':
      if (main && READ.includes(a.verb)) return FULL_ACCESS;
      throw deny();

    // What the node's NetworkPolicy agent reads: the policies, and the namespaces' labels their selectors match.
    case '/namespaces':
    case 'networking.k8s.io/networkpolicies':
      if (main && READ.includes(a.verb)) return FULL_ACCESS;
      throw deny();

    case '/configmaps':
    case '/secrets': {
      if (!READ.includes(a.verb)) throw deny('can only read resources of this type');
      if (!main) throw deny('cannot read subresource');
      if (!a.namespace) throw deny('can only read namespaced object of this type');
      const kind = a.resource === 'secrets' ? 'Secret' : 'ConfigMap';
      if (!a.name || !(await referencedByNodePod(store, node, kind, a.namespace, a.name))) {
        throw deny(`no relationship found between node '${node}' and this object`);
      }
      return FULL_ACCESS;
    }

    case '/serviceaccounts': {
      const token = a.subresource === 'token' && a.verb === 'create';
      if (!(main && a.verb === 'get') && !token) throw deny();
      if (!a.namespace || !a.name) throw deny(`no relationship found between node '${node}' and this object`);
      // The graph's edges node -> pod -> ServiceAccount: only the ServiceAccounts of its own pods.
      const pods = await nodePodsInNamespace(store, node, a.namespace);
      if (!pods.some((p) => p.serviceAccount === a.name)) throw deny(`no relationship found between node '${node}' and this object`);
      if (!token) return FULL_ACCESS;
      // NodeRestriction: the token must be bound to one of the node's pods that runs as this
      // ServiceAccount, by name and uid, so a node cannot mint a free-standing token, nor keep one
      // for a pod that is gone or moved.
      const refuse = (message: string) => admissionForbidden(a, a.name, message);
      return {
        stored: noCheck,
        updating: noCheck,
        creating: (request) => {
          const ref = (request.spec as { boundObjectRef?: { apiVersion?: string; kind?: string; name?: string; uid?: string } } | undefined)?.boundObjectRef;
          if (!ref || ref.apiVersion !== 'v1' || ref.kind !== 'Pod' || !ref.name) throw refuse('node requested token not bound to a pod');
          if (!ref.uid) throw refuse('node requested token with a pod binding without a uid');
          const pod = pods.find((p) => p.name === ref.name);
          if (!pod) throw refuse('node requested token bound to a pod scheduled on a different node');
          if (pod.uid !== ref.uid) {
            throw refuse(`the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
          }
          if (pod.serviceAccount !== a.name) throw refuse(`node requested token for serviceaccount "${a.name}" bound to pod "${pod.name}", which runs as serviceaccount "${pod.serviceAccount}"`);
        },
      };
    }

    default:
      throw deny();
  }
}

function taints(node: KObject): unknown {
  return (node.spec as { taints?: unknown[] } | undefined)?.taints ?? [];
}

/** Restricted labels added, changed or removed between two label maps. */
function restrictedLabels(next: Record<string, string> | undefined, old: Record<string, string> | undefined): string[] {
  const keys = new Set([...Object.keys(next ?? {}), ...Object.keys(old ?? {})]);
  return [...keys].filter((k) => k.startsWith(RESTRICTED_LABEL_PREFIX) && next?.[k] !== old?.[k]).sort();
}
