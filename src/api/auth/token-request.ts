// POST /api/v1/namespaces/NS/serviceaccounts/NAME/token: an authentication.k8s.io/v1 TokenRequest
// (what `kubectl create token` and kubelet's projected volumes ask for), answered with a token of the
// ServiceAccount, as kube-apiserver's TokenREST does (pkg/registry/core/serviceaccount/storage/token.go).
import type { KObject } from '../../kinds/types.js';
import { invalid as invalidField, required } from '../../kinds/validation.js';
import { objectOf } from '../../store/store.js';
import { badRequest, conflict, invalid, notFound } from '../status.js';
import { MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS, type ServiceAccountTokens, type TokenClaimsInput } from './service-accounts.js';

export const AUTHENTICATION_GROUP = 'authentication.k8s.io';
const API_VERSION = `${AUTHENTICATION_GROUP}/v1`;
/** TokenRequestSpec's default expirationSeconds (SetDefaults_TokenRequestSpec). */
const DEFAULT_EXPIRATION_SECONDS = 3600;

export interface TokenRequestDeps {
  /** A StoreAuthenticator has it. */
  serviceAccounts: ServiceAccountTokens;
}

interface BoundObjectReference {
  kind?: string;
  apiVersion?: string;
  name?: string;
  uid?: string;
}

const timestamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string field of the body, or a 400 as Go's JSON decoder gives for a wrong type. */
function stringOf(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`json: cannot unmarshal ${typeof value} into Go struct field ${field} of type string`);
  return value;
}

/** `body` (a decoded TokenRequest) for ServiceAccount `saName` in `namespace`: the TokenRequest with status.token, 201. */
export async function createToken(deps: TokenRequestDeps, namespace: string, saName: string, body: unknown): Promise<Response> {
  const tokens = deps.serviceAccounts;
  if (!isObject(body)) throw badRequest('the body of the request must be a TokenRequest object');
  if (body.kind !== undefined && body.kind !== 'TokenRequest') throw badRequest(`expected a TokenRequest, got ${String(body.kind)}`);
  if (body.apiVersion !== undefined && body.apiVersion !== API_VERSION) throw badRequest(`expected apiVersion ${API_VERSION}, got ${String(body.apiVersion)}`);
  const meta = isObject(body.metadata) ? body.metadata : {};
  const spec = isObject(body.spec) ? body.spec : {};

  // The body may name the ServiceAccount and namespace only as the URL does.
  const bodyName = stringOf(meta.name, 'TokenRequest.metadata.name');
  if (bodyName && bodyName !== saName) {
    throw invalid('TokenRequest', AUTHENTICATION_GROUP, saName, [invalidField('metadata.name', bodyName, 'must match the service account name if specified')]);
  }
  const bodyNamespace = stringOf(meta.namespace, 'TokenRequest.metadata.namespace');
  if (bodyNamespace && bodyNamespace !== namespace) {
    throw invalid('TokenRequest', AUTHENTICATION_GROUP, saName, [invalidField('metadata.namespace', bodyNamespace, 'must match the service account namespace if specified')]);
  }

  const requested = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  if (typeof requested !== 'number' || !Number.isInteger(requested)) {
    throw badRequest(`json: cannot unmarshal ${typeof requested} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64`);
  }
  // ValidateTokenRequest, before anything is read.
  const tooShort = requested < MIN_EXPIRATION_SECONDS;
  if (tooShort || requested > MAX_EXPIRATION_SECONDS) {
    const why = tooShort ? 'may not specify a duration less than 10 minutes' : 'may not specify a duration larger than 2^32 seconds';
    throw invalid('TokenRequest', AUTHENTICATION_GROUP, '', [invalidField('spec.expirationSeconds', requested, why)]);
  }
  if (spec.audiences !== undefined && spec.audiences !== null && (!Array.isArray(spec.audiences) || spec.audiences.some((a) => typeof a !== 'string'))) {
    throw badRequest('json: cannot unmarshal spec.audiences: expected a list of strings');
  }
  const audiences = (spec.audiences as string[] | undefined | null)?.length ? (spec.audiences as string[]) : tokens.apiAudiences();

  let bound: BoundObjectReference | undefined;
  if (spec.boundObjectRef !== undefined && spec.boundObjectRef !== null) {
    if (!isObject(spec.boundObjectRef)) throw badRequest('json: cannot unmarshal spec.boundObjectRef: expected an object');
    const r = spec.boundObjectRef;
    bound = {
      kind: stringOf(r.kind, 'BoundObjectReference.kind') ?? '',
      apiVersion: stringOf(r.apiVersion, 'BoundObjectReference.apiVersion') ?? '',
      name: stringOf(r.name, 'BoundObjectReference.name') ?? '',
      uid: stringOf(r.uid, 'BoundObjectReference.uid') ?? '',
    };
    const group = bound.apiVersion!.includes('/') ? bound.apiVersion!.split('/')[0] : '';
    if (group !== '' || !['Pod', 'Secret', 'Node'].includes(bound.kind!)) {
      const version = bound.apiVersion!.includes('/') ? bound.apiVersion!.split('/')[1] : bound.apiVersion;
      throw badRequest(`cannot bind token to object of type ${group ? `${group}/` : ''}${version}, Kind=${bound.kind}`);
    }
    if (!bound.name) throw invalid('TokenRequest', AUTHENTICATION_GROUP, saName, [required('spec.boundObjectRef.name')]);
  }

  // One round trip: the ServiceAccount, the bound object, and a bound pod's node.
  const select = 'SELECT kind, rv, object FROM objects WHERE kind = ? AND namespace = ? AND name = ?';
  const stmts = [{ sql: select, args: ['ServiceAccount', namespace, saName] }];
  if (bound) stmts.push({ sql: select, args: [bound.kind!, bound.kind === 'Node' ? '' : namespace, bound.name!] });
  if (bound?.kind === 'Pod') {
    stmts.push({
      sql: `SELECT kind, rv, object FROM objects WHERE kind = 'Node' AND namespace = '' AND name =
        (SELECT json_extract(object, '$.spec.nodeName') FROM objects WHERE kind = ? AND namespace = ? AND name = ?)`,
      args: ['Pod', namespace, bound.name!],
    });
  }
  const rows = await tokens.store.rows(stmts);
  const first = (i: number): KObject | undefined => (rows[i]?.[0] ? objectOf(rows[i]![0]!) : undefined);
  const sa = first(0);
  if (!sa) throw notFound('serviceaccounts', '', saName);

  const input: TokenClaimsInput = {
    namespace,
    serviceAccount: { name: saName, uid: String(sa.metadata?.uid) },
    audiences,
    expirationSeconds: tokens.maxExpirationSeconds > 0 ? Math.min(requested, tokens.maxExpirationSeconds) : requested,
  };
  if (bound) {
    const obj = first(1);
    const plural = { Pod: 'pods', Secret: 'secrets', Node: 'nodes' }[bound.kind as 'Pod' | 'Secret' | 'Node'];
    if (!obj) throw notFound(plural, '', bound.name!);
    const uid = String(obj.metadata?.uid);
    if (bound.kind === 'Pod') {
      // The ServiceAccount admission plugin would have named `default` in a pod that names none.
      const podAccount = (obj.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default';
      if (podAccount !== saName) throw badRequest(`cannot bind token for serviceaccount "${saName}" to pod running with different serviceaccount name.`);
    }
    if (bound.uid && bound.uid !== uid) {
      throw conflict(bound.kind!, '', bound.name!, `the UID in the bound object reference (${bound.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
    if (bound.kind === 'Pod') {
      input.pod = { name: bound.name!, uid };
      const nodeName = (obj.spec as { nodeName?: string } | undefined)?.nodeName;
      // The node a pod runs on rides along for information (ServiceAccountTokenPodNodeInfo).
      if (nodeName) {
        const node = first(2);
        input.node = { name: nodeName, ...(node ? { uid: String(node.metadata?.uid) } : {}) };
      }
    } else if (bound.kind === 'Secret') {
      input.secret = { name: bound.name!, uid };
    } else {
      input.node = { name: bound.name!, uid };
    }
  }

  const { token, expires } = await tokens.issue(input);
  const answer = {
    kind: 'TokenRequest',
    apiVersion: API_VERSION,
    metadata: { name: saName, namespace, creationTimestamp: timestamp(tokens.clock.now()) },
    spec: {
      audiences,
      expirationSeconds: input.expirationSeconds,
      boundObjectRef: bound ? { kind: bound.kind, apiVersion: bound.apiVersion || 'v1', name: bound.name, ...(bound.uid ? { uid: bound.uid } : {}) } : null,
    },
    status: { token, expirationTimestamp: timestamp(new Date(expires * 1000)) },
  };
  return Response.json(answer, { status: 201 });
}

