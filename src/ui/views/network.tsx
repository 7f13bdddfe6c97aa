// Network: Services with the endpoints the endpoints controller found for them (EndpointSlices,
// labelled kubernetes.io/service-name), and Ingresses with where each path goes. Three watches:
// services, endpointslices, ingresses.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { collectionPath } from '../api.js';
import type { Obj } from '../collection.js';
import { age } from '../format.js';
import { useCollection, useDerived, useNow, useSession } from '../hooks.js';
import { ShowMore, useRowLimit } from '../row-limit.js';
import { podHref } from './pods.js';

const ADDRESSES_SHOWN = 8;

interface Address {
  ip: string;
  pod?: { namespace: string; name: string };
}
interface Endpoints {
  ready: Address[];
  notReady: number;
}

const keyOf = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

/** Ready and not-ready endpoints per Service, summed over its slices (a nil ready condition counts as ready). */
function endpointsByService(slices: Obj[]): Map<string, Endpoints> {
  const out = new Map<string, Endpoints>();
  for (const slice of slices) {
    const service = slice.metadata.labels?.['kubernetes.io/service-name'];
    if (!service) continue;
    const k = keyOf(slice.metadata.namespace, service);
    let e = out.get(k);
    if (!e) out.set(k, (e = { ready: [], notReady: 0 }));
    for (const ep of slice.endpoints ?? []) {
      if (ep?.conditions?.ready === false) {
        e.notReady++;
        continue;
      }
      const ref = ep?.targetRef?.kind === 'Pod' ? { namespace: ep.targetRef.namespace ?? slice.metadata.namespace, name: ep.targetRef.name } : undefined;
      for (const ip of ep?.addresses ?? []) e.ready.push({ ip, pod: ref });
    }
  }
  for (const e of out.values()) e.ready.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return out;
}

function portText(p: any): string {
  const base = `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`;
  const target = p.targetPort !== undefined && String(p.targetPort) !== String(p.port) ? ` → ${p.targetPort}` : '';
  return `${p.name ? `${p.name} ` : ''}${base}${target}`;
}

/** What reaches the Service from outside: load balancer addresses, external IPs, or the external name. */
function externalText(svc: Obj): string {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return spec.externalName ?? '';
  const lb = (svc.status?.loadBalancer?.ingress ?? []).map((i: any) => i?.ip || i?.hostname).filter(Boolean);
  const all = [...new Set([...lb, ...(spec.externalIPs ?? [])])];
  if (all.length) return all.join(', ');
  return spec.type === 'LoadBalancer' ? '<pending>' : '';
}

function ingressClass(ing: Obj): string {
  return ing.spec?.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'] ?? '';
}

interface Route {
  from: string;
  service?: string;
  port?: string;
  other?: string;
}

function routesOf(ing: Obj): Route[] {
  const routes: Route[] = [];
  const to = (backend: any, from: string): Route => backend?.service
    ? { from, service: backend.service.name, port: String(backend.service.port?.name ?? backend.service.port?.number ?? '') }
    : { from, other: backend?.resource ? `${backend.resource.kind}/${backend.resource.name}` : '?' };
  for (const rule of ing.spec?.rules ?? []) {
    const host = rule?.host || '*';
    for (const p of rule?.http?.paths ?? []) routes.push(to(p.backend, `${host}${p.path ?? '/'}`));
  }
  if (ing.spec?.defaultBackend) routes.push(to(ing.spec.defaultBackend, 'default backend'));
  return routes;
}

function ingressAddress(ing: Obj): string {
  const found = new Set<string>();
  for (const lb of ing.status?.loadBalancer?.ingress ?? []) {
    if (lb?.ip) found.add(lb.ip);
    else if (lb?.hostname) found.add(lb.hostname);
  }
  return [...found].sort().join(', ');
}

const byName = (a: Obj, b: Obj) => {
  const an = keyOf(a.metadata.namespace, a.metadata.name), bn = keyOf(b.metadata.namespace, b.metadata.name);
  return an < bn ? -1 : an > bn ? 1 : 0;
};

export function Network() {
  const { namespace } = useSession();
  const services = useCollection(collectionPath('v1', 'services', namespace));
  const slices = useCollection(collectionPath('discovery.k8s.io/v1', 'endpointslices', namespace));
  const ingresses = useCollection(collectionPath('networking.k8s.io/v1', 'ingresses', namespace));
  const [filter, setFilter] = useState('');
  const now = new Date(useNow(5000));

  const endpoints = useDerived(() => endpointsByService(slices?.list() ?? []), [slices]);
  const serviceRows = useDerived(() => (services?.list() ?? []).map((svc) => {
    const s = svc.spec ?? {};
    const e = endpoints.get(keyOf(svc.metadata.namespace, svc.metadata.name));
    const text = [svc.metadata.name, svc.metadata.namespace, s.type, s.clusterIP, externalText(svc), ...(e?.ready.map((a) => a.ip) ?? [])].join('\n').toLowerCase();
    return { svc, text };
  }).sort((a, b) => byName(a.svc, b.svc)), [services], [endpoints]);
  const ingressRows = useDerived(() => (ingresses?.list() ?? []).map((ing) => {
    const routes = routesOf(ing);
    const text = [ing.metadata.name, ing.metadata.namespace, ingressClass(ing), ingressAddress(ing), ...routes.map((r) => `${r.from} ${r.service ?? r.other}`)].join('\n').toLowerCase();
    return { ing, routes, text };
  }).sort((a, b) => byName(a.ing, b.ing)), [ingresses]);

  const q = filter.trim().toLowerCase();
  const shownServices = useDerived(() => (q ? serviceRows.filter((r) => r.text.includes(q)) : serviceRows), [], [serviceRows, q]);
  const shownIngresses = useDerived(() => (q ? ingressRows.filter((r) => r.text.includes(q)) : ingressRows), [], [ingressRows, q]);
  const allNs = !namespace;

  return (
    <section aria-labelledby="network-title">
      <h2 id="network-title">Network</h2>
      <div class="toolbar">
        <input type="search" aria-label="Filter services and ingresses" placeholder="Filter by name, address or host (/)" value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      </div>

      <section aria-labelledby="services-title">
        <h3 id="services-title">Services</h3>
        {services?.error && <p role="alert" class="error">{services.error.message}</p>}
        {slices?.error && <p role="alert" class="error">Endpoints: {slices.error.message}</p>}
        <Capped rows={shownServices} total={serviceRows.length} loading={!services?.synced && !services?.error} what="services" namespace={namespace}>
          {(rows) => (
            <div class="table-wrap">
              <table class="list network-table" aria-label="Services">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    {allNs && <th scope="col">Namespace</th>}
                    <th scope="col">Type</th>
                    <th scope="col">Cluster IP</th>
                    <th scope="col">Ports</th>
                    <th scope="col">Selector</th>
                    <th scope="col">Endpoints</th>
                    <th scope="col">Age</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map(({ svc }) => (
                    <ServiceRow key={svc.metadata.uid} svc={svc} endpoints={endpoints.get(keyOf(svc.metadata.namespace, svc.metadata.name))}
                      allNs={allNs} synced={!!slices?.synced} now={now} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Capped>
      </section>

      <section aria-labelledby="ingresses-title">
        <h3 id="ingresses-title">Ingresses</h3>
        {ingresses?.error && <p role="alert" class="error">{ingresses.error.message}</p>}
        <Capped rows={shownIngresses} total={ingressRows.length} loading={!ingresses?.synced && !ingresses?.error} what="ingresses" namespace={namespace}>
          {(rows) => (
            <div class="table-wrap">
              <table class="list network-table" aria-label="Ingresses">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    {allNs && <th scope="col">Namespace</th>}
                    <th scope="col">Class</th>
                    <th scope="col">Routes</th>
                    <th scope="col">Address</th>
                    <th scope="col">Age</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map(({ ing, routes }) => (
                    <tr key={ing.metadata.uid}>
                      <td class="net-name">{ing.metadata.name}</td>
                      {allNs && <td class="net-ns">{ing.metadata.namespace}</td>}
                      <td class="net-type">{ingressClass(ing) || <span class="muted">&lt;none&gt;</span>}</td>
                      <td class="wrap net-main">
                        <ul class="network-routes">
                          {routes.map((r) => {
                            const e = r.service ? endpoints.get(keyOf(ing.metadata.namespace, r.service)) : undefined;
                            return (
                              <li>
                                <span class="mono">{r.from}</span> → <span class="mono">{r.service ? `${r.service}:${r.port}` : r.other}</span>
                                {r.service && <> <span class={`badge ${e?.ready.length ? 'ok' : 'bad'}`}>{e?.ready.length ?? 0} ready</span></>}
                              </li>
                            );
                          })}
                        </ul>
                      </td>
                      <td class="mono net-detail">{ingressAddress(ing) || <span class="muted">&lt;pending&gt;</span>}</td>
                      <td class="net-age">{age(ing.metadata.creationTimestamp, now)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Capped>
      </section>
    </section>
  );
}

function ServiceRow({ svc, endpoints, allNs, synced, now }: { svc: Obj; endpoints?: Endpoints; allNs: boolean; synced: boolean; now: Date }) {
  const s = svc.spec ?? {};
  const external = externalText(svc);
  const selector = Object.entries(s.selector ?? {});
  const ready = endpoints?.ready ?? [];
  const [all, setAll] = useState(false);
  const shown = all ? ready : ready.slice(0, ADDRESSES_SHOWN);
  let cell;
  if (s.type === 'ExternalName') cell = <span class="muted">external name</span>;
  else if (!endpoints && !selector.length) cell = <span class="muted">no selector</span>;
  else if (!endpoints && !synced) cell = <span class="muted">…</span>;
  else {
    cell = (
      <div class="network-endpoints">
        <span class={`badge ${ready.length ? 'ok' : 'bad'}`}>{ready.length} ready</span>
        {(endpoints?.notReady ?? 0) > 0 && <> <span class="badge warn">{endpoints!.notReady} not ready</span></>}
        {shown.length > 0 && (
          <ul class="network-addresses" aria-label={`Endpoints of ${svc.metadata.name}`}>
            {shown.map((a) => <li class="mono">{a.pod ? <a href={podHref(a.pod.namespace, a.pod.name)} title={`pod ${a.pod.name}`}>{a.ip}</a> : a.ip}</li>)}
          </ul>
        )}
        {ready.length > shown.length && <button type="button" class="link" onClick={() => setAll(true)}>{ready.length - shown.length} more</button>}
      </div>
    );
  }
  return (
    <tr>
      <td class="net-name">{svc.metadata.name}</td>
      {allNs && <td class="net-ns">{svc.metadata.namespace}</td>}
      <td class="net-type">{s.type ?? 'ClusterIP'}{external && <div class="mono muted">{external}</div>}</td>
      <td class="mono net-detail">{s.clusterIP || <span class="muted">&lt;none&gt;</span>}</td>
      <td class="mono net-detail">{(s.ports ?? []).map((p: any) => <div>{portText(p)}</div>)}</td>
      <td class="net-detail">{selector.length ? <span class="tags">{selector.map(([k, v]) => <span class="badge">{k}={v}</span>)}</span> : <span class="muted">&lt;none&gt;</span>}</td>
      <td class="net-main">{cell}</td>
      <td class="net-age">{age(svc.metadata.creationTimestamp, now)}</td>
    </tr>
  );
}

/** The first rows of a list, "Show more" for the rest, and what to say when there are none. */
function Capped<T>({ rows, total, loading, what, namespace, children }: {
  rows: T[];
  total: number;
  loading: boolean;
  what: string;
  namespace: string;
  children: (rows: T[]) => ComponentChildren;
}) {
  const [limit, more] = useRowLimit([namespace]);
  if (!rows.length) {
    const text = loading ? `Loading ${what}…` : total ? `No ${what} match the filter.` : `No ${what}${namespace ? ` in ${namespace}` : ''}.`;
    return <p class="empty">{text}</p>;
  }
  return (
    <>
      {children(rows.slice(0, limit))}
      <ShowMore shown={Math.min(limit, rows.length)} total={rows.length} onMore={more} />
    </>
  );
}
