import { kindForResource } from '../kinds/registry.js';
import type { KindDef } from '../kinds/types.js';
import { ApiError } from './status.js';

/** A request path resolved to a resource: /api/v1/namespaces/NS/pods/NAME/status and the like. */
export interface ResourcePath {
  def: KindDef;
  group: string;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** For the proxy subresource: the still-encoded path after .../proxy ('' when none). */
  proxyPath?: string;
  /** The legacy /watch/ prefix was used. */
  watch: boolean;
}

const notFoundPath = () => new ApiError(404, 'NotFound', 'the server could not find the requested resource');

export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(1);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1];
    rest = parts.slice(2);
  } else {
    return undefined;
  }
  const version = rest[0];
  let segs = rest.slice(1);
  const watch = segs[0] === 'watch';
  if (watch) segs = segs.slice(1);

  let namespace: string | undefined;
  // namespaces/NS/PLURAL/... is namespaced; namespaces/NAME[/status|finalize] is the Namespace itself.
  if (segs[0] === 'namespaces' && segs.length >= 3 && segs[2] !== 'status' && segs[2] !== 'finalize') {
    namespace = segs[1];
    segs = segs.slice(2);
  }
  const [plural, name, subresource, ...extra] = segs;
  const def = kindForResource(group, version, plural);
  // Only .../NAME/proxy takes more segments: the path to forward.
  const proxied = subresource === 'proxy';
  if (!def || (extra.length > 0 && !proxied)) throw notFoundPath();
  if (namespace !== undefined && !def.namespaced) throw notFoundPath();
  if (subresource !== undefined && !(def.subresources ?? []).includes(subresource) && !(def.kind === 'Namespace' && subresource === 'finalize')) {
    throw notFoundPath();
  }
  if (proxied) return { def, group, version, namespace, name, subresource, watch, proxyPath: rawPathAfter(pathname, parts.length - extra.length) };
  return { def, group, version, namespace, name, subresource, watch };
}

/** What follows the first `count` non-empty segments of a path, as sent (percent-encoding and trailing slash kept). */
function rawPathAfter(pathname: string, count: number): string {
  return pathname.replace(new RegExp(`^(?:/+[^/]+){${count}}`), '');
}
