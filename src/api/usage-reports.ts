// PUT /skiff/v1/nodes/NAME/usage: a node's agent reports what its pods use (every 15 s, metrics-server's
// resolution), so the HorizontalPodAutoscaler controller and `kubectl top` read it from the database
// instead of asking the node: a pass has no tunnel at hand (on Workers it runs from cron). Only the
// node's own credential reports for it (as the Node authorizer keeps a node to its own objects), or
// system:masters.
import type { Clock } from '../store/clock.js';
import { checkReport, storeUsageReport } from '../store/pod-usage.js';
import type { Store } from '../store/store.js';
import { isMaster, nodeNameOf, type Identity } from './auth/identity.js';
import { parseJson, readBody } from './body.js';
import { ApiError, badRequest } from './status.js';

export const USAGE_REPORT_PATH = /^\/skiff\/v1\/nodes\/([^/]+)\/usage$/;

export async function usageReport(req: Request, node: string, identity: Identity, store: Store, clock: Clock): Promise<Response> {
  if (!isMaster(identity) && nodeNameOf(identity) !== node) {
    throw new ApiError(403, 'Forbidden', `forbidden: User "${identity.user}" cannot update path "/skiff/v1/nodes/${node}/usage": a node reports its own usage only`);
  }
  if (req.method !== 'PUT') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const checked = checkReport(parseJson(await readBody(req)));
  if (!checked.ok) throw badRequest(`invalid usage report: ${checked.reason}`);
  await storeUsageReport(store, node, checked.report, clock.now().getTime());
  return new Response(null, { status: 204 });
}
