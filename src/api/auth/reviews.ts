// authentication.k8s.io/v1 TokenReview and SelfSubjectReview: create-only, never stored, as
// kube-apiserver serves them. TokenReview says who a token is (for webhook-style callers and
// audiences other than the API's); SelfSubjectReview says who the caller is (`kubectl auth whoami`).
import { badRequest } from '../status.js';
import type { Identity, TokenReviewResult } from './identity.js';
import { AUTHENTICATION_GROUP } from './token-request.js';

const API_VERSION = `${AUTHENTICATION_GROUP}/v1`;

export interface TokenReviewDeps {
  /** A StoreAuthenticator's review. */
  review(token: string, audiences?: string[]): Promise<TokenReviewResult>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const timestamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** authenticationv1.UserInfo of an identity (uid and extra only when set, as omitempty writes them). */
export function userInfo(identity: Identity): Record<string, unknown> {
  return {
    username: identity.user,
    ...(identity.uid ? { uid: identity.uid } : {}),
    groups: identity.groups,
    ...(identity.extra && Object.keys(identity.extra).length ? { extra: identity.extra } : {}),
  };
}

function expectKind(body: unknown, kind: string): Record<string, unknown> {
  if (!isObject(body)) throw badRequest(`the body of the request must be a ${kind} object`);
  if (body.kind !== undefined && body.kind !== kind) throw badRequest(`expected a ${kind}, got ${String(body.kind)}`);
  if (body.apiVersion !== undefined && body.apiVersion !== API_VERSION) throw badRequest(`expected apiVersion ${API_VERSION}, got ${String(body.apiVersion)}`);
  return body;
}

/** POST /apis/authentication.k8s.io/v1/tokenreviews: the review of spec.token for spec.audiences (default the API's), 201. */
export async function tokenReview(deps: TokenReviewDeps, body: unknown): Promise<Response> {
  const review = expectKind(body, 'TokenReview');
  const spec = isObject(review.spec) ? review.spec : {};
  const token = spec.token;
  if (typeof token !== 'string' || token === '') throw badRequest('token is required for TokenReview in authentication');
  const audiences = spec.audiences;
  if (audiences !== undefined && audiences !== null && (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string'))) {
    throw badRequest('json: cannot unmarshal spec.audiences: expected a list of strings');
  }
  const result = await deps.review(token, (audiences as string[] | null | undefined) ?? undefined);
  const status = result.authenticated
    ? { authenticated: true, user: userInfo(result.identity), audiences: result.audiences }
    : { user: {}, ...(result.error ? { error: result.error } : {}) };
  const meta = isObject(review.metadata) ? review.metadata : {};
  return Response.json(
    { kind: 'TokenReview', apiVersion: API_VERSION, metadata: { ...meta, creationTimestamp: meta.creationTimestamp ?? null }, spec, status },
    { status: 201 },
  );
}

/** POST /apis/authentication.k8s.io/v1/selfsubjectreviews: who the caller is, 201. */
export function selfSubjectReview(identity: Identity, now: Date = new Date(), body?: unknown): Response {
  if (body !== undefined) expectKind(body, 'SelfSubjectReview');
  return Response.json(
    { kind: 'SelfSubjectReview', apiVersion: API_VERSION, metadata: { creationTimestamp: timestamp(now) }, status: { userInfo: userInfo(identity) } },
    { status: 201 },
  );
}
