// POST /skiff/v1/join: a machine trades a join token (kubeadm's bootstrap-token form) for a
// credential of its own, bound to system:node:NAME. The join token is good for nothing else, and
// for many machines until it expires; a name already holding a credential is refused.
import { validateName } from '../../kinds/validation.js';
import type { Clock } from '../../store/clock.js';
import { CredentialStore, JOIN_TOKEN } from '../../store/credentials.js';
import type { Store } from '../../store/store.js';
import { parseJson, readBody } from '../body.js';
import { ApiError, badRequest, invalid } from '../status.js';

export const JOIN_PATH = '/skiff/v1/join';

export interface JoinResponse {
  nodeName: string;
  /** The node's bearer credential. */
  token: string;
}

const unauthorized = () => new ApiError(401, 'Unauthorized', 'Unauthorized');

export function bearerToken(header: string | null | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

export async function join(req: Request, store: Store, clock: Clock): Promise<Response> {
  const token = bearerToken(req.headers.get('authorization'));
  if (!token || !JOIN_TOKEN.test(token)) throw unauthorized();
  const body = parseJson(await readBody(req)) as { nodeName?: unknown } | null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object: {"nodeName": NAME}');
  const credentials = new CredentialStore(store);
  const now = clock.now();
  const nodeName = body.nodeName;
  const problems = typeof nodeName !== 'string' || nodeName === '' ? ['Required value'] : validateName('subdomain', nodeName).map((m) => `Invalid value: "${nodeName}": ${m}`);
  if (problems.length) {
    // Only a holder of a valid join token learns what is wrong with the name.
    if (!(await credentials.joinTokenValid(token, now))) throw unauthorized();
    const name = typeof nodeName === 'string' ? nodeName : '';
    throw invalid('Node', '', name, problems.map((message) => ({ reason: message === 'Required value' ? 'FieldValueRequired' : 'FieldValueInvalid', field: 'nodeName', message })));
  }
  const result = await credentials.join(token, nodeName as string, now);
  if (!result.ok) {
    if (result.reason === 'unauthorized') throw unauthorized();
    throw new ApiError(
      409,
      'AlreadyExists',
      `node "${String(nodeName)}" already holds a credential: join under another name, or revoke it with \`skiff token delete node/${String(nodeName)}\` to join again under this one`,
      { name: String(nodeName), kind: 'nodes' },
    );
  }
  const answer: JoinResponse = { nodeName: nodeName as string, token: result.credential };
  return Response.json(answer, { status: 201 });
}
