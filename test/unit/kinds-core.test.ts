import { describe, expect, it } from 'vitest';
import { service } from '../../src/kinds/service.js';
import { endpoints } from '../../src/kinds/endpoints.js';
import { node } from '../../src/kinds/node.js';
import { namespace } from '../../src/kinds/namespace.js';
import { secret } from '../../src/kinds/secret.js';
import { configMap } from '../../src/kinds/configmap.js';
import { event } from '../../src/kinds/event.js';
import { lease } from '../../src/kinds/lease.js';
import { endpointSlice } from '../../src/kinds/endpointslice.js';

const now = new Date('2024-05-01T12:00:00Z');
const created = '2024-05-01T10:00:00Z';

function newService(spec: Record<string, unknown>, name = 'web'): any {
  const svc: any = { metadata: { name, namespace: 'default', creationTimestamp: created }, spec };
  service.defaults!(svc);
  return svc;
}

describe('service', () => {
  it('defaults type, affinity, protocol, targetPort and IP families without allocating', () => {
    const svc = newService({ selector: { app: 'web' }, ports: [{ port: 80 }] });
    expect(svc.spec).toEqual({
      selector: { app: 'web' },
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
    });
    expect(svc.status).toEqual({ loadBalancer: {} });
    expect(newService({ type: 'NodePort', ports: [{ port: 80 }] }).spec.externalTrafficPolicy).toBe('Cluster');
  });

  it('requires ports and names them when there are several', () => {
    expect(service.validate!(newService({}))).toEqual([{ reason: 'FieldValueRequired', field: 'spec.ports', message: 'Required value' }]);
    const causes = service.validate!(newService({ ports: [{ port: 80, name: 'http' }, { port: 0 }, { port: 443, name: 'http' }] }));
    expect(causes.map((c) => [c.field, c.message])).toEqual([
      ['spec.ports[1].name', 'Required value'],
      ['spec.ports[1].port', 'Invalid value: 0: must be between 1 and 65535, inclusive'],
      ['spec.ports[1].targetPort', 'Invalid value: 0: must be between 1 and 65535, inclusive'],
      ['spec.ports[2].name', 'Duplicate value: "http"'],
    ]);
  });

  it('forbids node ports on ClusterIP services and rejects unknown types', () => {
    const causes = service.validate!(newService({ ports: [{ port: 80, nodePort: 30080 }] }));
    expect(causes).toEqual([{ reason: 'FieldValueForbidden', field: 'spec.ports[0].nodePort', message: "Forbidden: may not be used when `type` is 'ClusterIP'" }]);
    expect(service.validate!(newService({ type: 'Magic', ports: [{ port: 80 }] }))[0].message)
      .toBe('Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"');
  });

  it('needs a DNS-1035 name', () => {
    expect(service.validate!(newService({ ports: [{ port: 80 }] }, '1web'))[0]).toMatchObject({ field: 'metadata.name' });
    expect(service.validate!(newService({ ports: [{ port: 80 }] }, '1web'))[0].message).toMatch(/a DNS-1035 label must consist/);
  });

  it('keeps an allocated cluster IP and node ports the update omits, and refuses to change them', () => {
    const old = newService({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    old.spec.clusterIP = '10.96.0.10';
    old.spec.clusterIPs = ['10.96.0.10'];
    const next = newService({ type: 'NodePort', ports: [{ name: 'http', port: 80 }] });
    service.prepareUpdate!(next, old);
    expect(next.spec.clusterIP).toBe('10.96.0.10');
    expect(next.spec.ports[0].nodePort).toBe(30080);
    expect(service.validate!(next, old)).toEqual([]);
    next.spec.clusterIP = '10.96.0.11';
    next.spec.clusterIPs = ['10.96.0.11'];
    expect(service.validate!(next, old)).toEqual([{
      reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: 'Invalid value: []string{"10.96.0.11"}: may not change once set',
    }]);
  });

  it('prints ports with node ports, external IPs and the selector', () => {
    const svc = newService({ type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP' }] });
    svc.spec.clusterIPs = ['10.96.0.10'];
    expect(service.row(svc, now)).toEqual(['web', 'NodePort', '10.96.0.10', '<none>', '80:30080/TCP,53/UDP', '120m', 'app=web']);
    const lb = newService({ type: 'LoadBalancer', ports: [{ port: 443 }] });
    expect(service.row(lb, now).slice(1, 5)).toEqual(['LoadBalancer', '<none>', '<pending>', '443/TCP']);
  });
});

describe('endpoints', () => {
  it('prints addresses with ports and truncates after three', () => {
    const ep: any = {
      metadata: { name: 'web', creationTimestamp: created },
      subsets: [{ addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip) => ({ ip })), ports: [{ port: 8080 }] }],
    };
    endpoints.defaults!(ep);
    expect(ep.subsets[0].ports[0].protocol).toBe('TCP');
    expect(endpoints.row(ep, now)).toEqual(['web', '10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...', '120m']);
    expect(endpoints.row({ metadata: { name: 'none' } }, now)[1]).toBe('<none>');
  });

  it('validates addresses and ports', () => {
    const causes = endpoints.validate!({ metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: 'nope' }], ports: [{ port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP' }] }] });
    expect(causes.map((c) => [c.field, c.message])).toEqual([
      ['subsets[0].addresses[0].ip', 'Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
      ['subsets[0].ports[0].name', 'Required value'],
      ['subsets[0].ports[1].name', 'Required value'],
    ]);
  });
});

describe('node', () => {
  const ready = (status: string) => ({
    metadata: { name: 'n1', creationTimestamp: created, labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/worker': '' } },
    spec: { unschedulable: true },
    status: {
      conditions: [{ type: 'Ready', status }],
      addresses: [{ type: 'InternalIP', address: '192.168.1.10' }, { type: 'Hostname', address: 'n1' }],
      nodeInfo: { kubeletVersion: 'v1.32.0', osImage: 'Ubuntu 24.04', kernelVersion: '6.8.0', containerRuntimeVersion: 'skiff://0.1.0' },
    },
  });

  it('prints a cordoned ready node with its roles', () => {
    expect(node.row(ready('True'), now)).toEqual([
      'n1', 'Ready,SchedulingDisabled', 'control-plane,worker', '120m', 'v1.32.0', '192.168.1.10', '<none>', 'Ubuntu 24.04', '6.8.0', 'skiff://0.1.0',
    ]);
    expect(node.row(ready('Unknown'), now)[1]).toBe('NotReady,SchedulingDisabled');
    expect(node.row({ metadata: { name: 'n2' } }, now).slice(1, 3)).toEqual(['Unknown', '<none>']);
  });

  it('selects cordoned nodes and validates taints', () => {
    expect(node.fields!['spec.unschedulable'](ready('True'))).toBe('true');
    expect(node.fields!['spec.unschedulable']({})).toBe('false');
    const causes = node.validate!({ metadata: { name: 'n1' }, spec: { taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'a', effect: 'NoSchedule' }, { key: 'b', effect: 'Sometimes' }] } });
    expect(causes.map((c) => [c.field, c.reason])).toEqual([
      ['spec.taints[1]', 'FieldValueDuplicate'],
      ['spec.taints[2].effect', 'FieldValueNotSupported'],
    ]);
    expect(causes[0].message).toMatch(/: taints must be unique by key and effect pair$/);
  });

  it('defaults allocatable to capacity', () => {
    const n: any = { metadata: { name: 'n1' }, status: { capacity: { cpu: '4', pods: '110' } } };
    node.defaults!(n);
    expect(n.status.allocatable).toEqual({ cpu: '4', pods: '110' });
  });
});

describe('namespace', () => {
  it('defaults the finalizer and phase and prints them', () => {
    const ns: any = { metadata: { name: 'team-a', creationTimestamp: created } };
    namespace.defaults!(ns);
    expect(ns.spec).toEqual({ finalizers: ['kubernetes'] });
    expect(ns.status).toEqual({ phase: 'Active' });
    expect(namespace.row(ns, now)).toEqual(['team-a', 'Active', '120m']);
    expect(namespace.fields!['status.phase'](ns)).toBe('Active');
    ns.spec.finalizers = [];
    namespace.defaults!(ns);
    expect(ns.spec.finalizers).toEqual([]);
  });

  it('rejects an unknown unqualified finalizer', () => {
    expect(namespace.validate!({ metadata: { name: 'x' }, spec: { finalizers: ['custom'] } })).toEqual([{
      reason: 'FieldValueInvalid', field: 'spec.finalizers', message: 'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified',
    }]);
  });
});

describe('secret and configmap', () => {
  it('defaults the type and folds stringData into data', () => {
    const s: any = { metadata: { name: 'creds', creationTimestamp: created }, stringData: { password: 'hé' }, data: { user: 'YWRtaW4=' } };
    secret.defaults!(s);
    expect(s).toMatchObject({ type: 'Opaque', data: { user: 'YWRtaW4=', password: 'aMOp' } });
    expect(s.stringData).toBeUndefined();
    expect(secret.row(s, now)).toEqual(['creds', 'Opaque', 2, '120m']);
    expect(secret.fields!.type(s)).toBe('Opaque');
  });

  it('validates keys, typed secrets and immutability', () => {
    expect(secret.validate!({ metadata: { name: 's' }, type: 'kubernetes.io/tls', data: { 'bad key': 'eA==' } }).map((c) => [c.field, c.reason])).toEqual([
      ['data[bad key]', 'FieldValueInvalid'],
      ['data[tls.crt]', 'FieldValueRequired'],
      ['data[tls.key]', 'FieldValueRequired'],
    ]);
    const old = { metadata: { name: 's' }, type: 'Opaque', immutable: true, data: { a: 'eA==' } };
    expect(secret.validate!({ ...old, data: { a: 'eQ==' } }, old)).toEqual([
      { reason: 'FieldValueForbidden', field: 'data', message: 'Forbidden: field is immutable when `immutable` is set' },
    ]);
    expect(secret.validate!({ ...old, type: 'Other' }, old)).toContainEqual({ reason: 'FieldValueInvalid', field: 'type', message: 'Invalid value: "Other": field is immutable' });
  });

  it('checks configmap keys, duplicates across data and binaryData, and immutability', () => {
    const causes = configMap.validate!({ metadata: { name: 'c' }, data: { '..x': 'a', k: 'v' }, binaryData: { k: 'eA==' } });
    expect(causes.map((c) => [c.field, c.message])).toEqual([
      ['data[..x]', "Invalid value: \"..x\": must not start with '..'"],
      ['data[k]', 'Invalid value: "k": duplicate of key present in binaryData'],
      ['binaryData[k]', 'Invalid value: "k": duplicate of key present in data'],
    ]);
    const old = { metadata: { name: 'c' }, immutable: true, data: { a: '1' } };
    expect(configMap.validate!({ ...old, immutable: false }, old)).toEqual([
      { reason: 'FieldValueForbidden', field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set' },
    ]);
    expect(configMap.row({ metadata: { name: 'c', creationTimestamp: created }, data: { a: '1' }, binaryData: { b: 'eA==' } }, now)).toEqual(['c', 2, '120m']);
  });
});

describe('event', () => {
  const ev = {
    metadata: { name: 'web.17a', namespace: 'default' },
    involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', uid: 'u1', fieldPath: 'spec.containers{app}' },
    reason: 'Pulled', message: 'Successfully pulled image\n', type: 'Normal', source: { component: 'kubelet', host: 'n1' },
    firstTimestamp: '2024-05-01T11:50:00Z', lastTimestamp: '2024-05-01T11:58:00Z', count: 3,
  };

  it('prints LAST SEEN, TYPE, REASON, OBJECT, MESSAGE and the wide columns', () => {
    expect(event.columns.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
    expect(event.row(ev, now)).toEqual(['2m', 'Normal', 'Pulled', 'pod/web', 'spec.containers{app}', 'kubelet, n1', 'Successfully pulled image', '10m', 3, 'web.17a']);
  });

  it('offers the describe field selectors and checks namespaces', () => {
    expect(event.fields!['involvedObject.uid'](ev)).toBe('u1');
    expect(event.fields!.source(ev)).toBe('kubelet');
    expect(event.validate!(ev)).toEqual([]);
    expect(event.validate!({ ...ev, involvedObject: { ...ev.involvedObject, namespace: 'other' } })).toEqual([
      { reason: 'FieldValueInvalid', field: 'involvedObject.namespace', message: 'Invalid value: "other": does not match event.namespace' },
    ]);
  });
});

describe('lease and endpointslice', () => {
  it('prints and validates leases', () => {
    const l = { metadata: { name: 'n1', namespace: 'kube-node-lease', creationTimestamp: created }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 40 } };
    expect(lease.row(l, now)).toEqual(['n1', 'n1', '120m']);
    expect(lease.validate!(l)).toEqual([]);
    expect(lease.validate!({ ...l, spec: { leaseDurationSeconds: 0 } })[0].message).toBe('Invalid value: 0: must be greater than 0');
  });

  it('defaults, validates and prints endpoint slices', () => {
    const s: any = {
      metadata: { name: 'web-x', namespace: 'default', creationTimestamp: created },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }],
      ports: [{ port: 80 }],
    };
    endpointSlice.defaults!(s);
    expect(s.ports).toEqual([{ port: 80, name: '', protocol: 'TCP' }]);
    expect(endpointSlice.validate!(s)).toEqual([]);
    expect(endpointSlice.row(s, now)).toEqual(['web-x', 'IPv4', '80', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...', '120m']);
    const bad = { ...s, endpoints: [{ addresses: ['::1'] }] };
    expect(endpointSlice.validate!(bad)).toEqual([{ reason: 'FieldValueInvalid', field: 'endpoints[0].addresses[0]', message: 'Invalid value: "::1": must be a valid IPv4 address' }]);
    expect(endpointSlice.validate!({ ...s, addressType: 'IPv6' }, s).map((c) => c.field)).toContain('addressType');
  });
});
