// Bad input never gets a 500: every malformed, mistyped or oversized request is answered with a
// well-formed 4xx Status, and no failed write leaves anything behind. First fixed cases, then
// random and mutated objects and patches thrown at create, update and patch.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { MAX_DEPTH } from '../../src/api/body.js';
import { startApi, type ApiServer } from '../helpers/api-server.js';

let api: ApiServer;
beforeAll(async () => {
  // No reconcile passes: nothing but the request under test may change an object.
  api = await startApi({ passes: false });
});
afterAll(async () => {
  await api?.stop();
});

type Json = unknown;
type Obj = Record<string, unknown>;

interface Reply {
  status: number;
  body: Obj;
}

async function send(method: string, path: string, body?: string | Uint8Array, contentType = 'application/json'): Promise<Reply> {
  const res = await api.request(path, { method, body: body as BodyInit | undefined, headers: body === undefined ? {} : { 'content-type': contentType } });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path}: ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body: parsed as Obj };
}

/** The reply is a metav1.Status of failure whose code is the HTTP status, a 4xx. */
function expectFailure(reply: Reply, code?: number, input?: unknown): void {
  const { status, body } = reply;
  const where = `${input === undefined ? '' : `for ${JSON.stringify(input).slice(0, 300)}: `}${status} ${JSON.stringify(body).slice(0, 300)}`;
  expect(status, where).toBeGreaterThanOrEqual(400);
  expect(status, where).toBeLessThan(500);
  if (code !== undefined) expect(status, where).toBe(code);
  expect(body.kind, where).toBe('Status');
  expect(body.apiVersion, where).toBe('v1');
  expect(body.status, where).toBe('Failure');
  expect(body.code, where).toBe(status);
  expect(typeof body.reason, where).toBe('string');
  expect(typeof body.message, where).toBe('string');
}

/** The reply is a stored object of `kind`. */
function expectObject(reply: Reply, kind: string): void {
  const { status, body } = reply;
  const where = `${status} ${JSON.stringify(body).slice(0, 300)}`;
  expect([200, 201], where).toContain(status);
  expect(body.kind, where).toBe(kind);
  expect(typeof body.apiVersion, where).toBe('string');
  const meta = body.metadata as Obj;
  expect(typeof meta?.name, where).toBe('string');
  expect(meta.name, where).not.toBe('');
  expect(typeof meta.uid, where).toBe('string');
  expect(typeof meta.resourceVersion, where).toBe('string');
}

// ---- valid objects to start from ----

interface KindCase {
  kind: string;
  collection: string;
  hasStatus: boolean;
  make(name: string): Obj;
}

const NS = 'default';

const KIND_CASES: KindCase[] = [
  {
    kind: 'Pod',
    hasStatus: true,
    collection: `/api/v1/namespaces/${NS}/pods`,
    make: (name) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'web' }, annotations: { note: 'x' }, finalizers: ['example.com/keep'] },
      spec: {
        restartPolicy: 'Always',
        containers: [
          {
            name: 'web',
            image: 'nginx:1.27',
            ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
            env: [{ name: 'MODE', value: 'prod' }],
            resources: { limits: { cpu: '100m', memory: '64Mi' } },
          },
        ],
        tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }],
      },
    }),
  },
  {
    kind: 'Deployment',
    hasStatus: true,
    collection: `/apis/apps/v1/namespaces/${NS}/deployments`,
    make: (name) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels: { app: 'web' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
        },
      },
    }),
  },
  {
    kind: 'Service',
    hasStatus: true,
    collection: `/api/v1/namespaces/${NS}/services`,
    make: (name) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, labels: { app: 'web' } },
      spec: {
        type: 'ClusterIP',
        selector: { app: 'web' },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    }),
  },
  {
    kind: 'ConfigMap',
    hasStatus: false,
    collection: `/api/v1/namespaces/${NS}/configmaps`,
    make: (name) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, labels: { app: 'web' } },
      data: { 'app.conf': 'a=1', mode: 'prod' },
      binaryData: { blob: 'aGVsbG8=' },
    }),
  },
];

const POD = KIND_CASES[0];
const CONFIGMAP = KIND_CASES[3];

let serial = 0;
const freshName = (prefix: string) => `${prefix}-${++serial}`;

async function createValid(c: KindCase, prefix = 'base'): Promise<Obj> {
  const reply = await send('POST', c.collection, JSON.stringify(c.make(freshName(prefix))));
  expectObject(reply, c.kind);
  return reply.body;
}

const itemPath = (c: KindCase, name: string) => `${c.collection}/${encodeURIComponent(name)}`;

// ---- fixed cases ----

describe('malformed bodies', () => {
  it('answers malformed JSON with 400', async () => {
    for (const body of ['{', '{"kind":', 'nope', '{"a":1}}', '\u0000', '']) {
      expectFailure(await send('POST', POD.collection, body), 400);
    }
  });

  it('answers malformed YAML with 400', async () => {
    for (const body of ['a: [1, 2', 'a: b: c', '"unterminated', 'key: value\n  bad indent: 1\n- list']) {
      expectFailure(await send('POST', POD.collection, body, 'application/yaml'), 400);
    }
  });

  it('answers a YAML alias bomb with 400', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 9; i++) bomb.push(`${'bcdefghij'[i]}: &${'bcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(',')}]`);
    expectFailure(await send('POST', POD.collection, bomb.join('\n'), 'application/yaml'), 400);
  });

  it('answers malformed protobuf with 400', async () => {
    const magic = [0x6b, 0x38, 0x73, 0x00];
    const bodies = [
      new Uint8Array([1, 2, 3, 4, 5]), // no envelope
      new Uint8Array(magic), // envelope, nothing in it
      new Uint8Array([...magic, 0x0a, 0x40, 0x01]), // length past the end
      new Uint8Array([...magic, 0x0a, 0x02, 0x0a]), // TypeMeta cut short
      new Uint8Array([...magic, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // varint too long
      new Uint8Array([...magic, 0x0f]), // wire type 7
      // TypeMeta {apiVersion v1, kind Pod}, raw = garbage bytes
      new Uint8Array([...magic, 0x0a, 0x09, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x03, 0x50, 0x6f, 0x64, 0x12, 0x03, 0xff, 0xff, 0xff]),
      // TypeMeta of a kind that has no protobuf schema here
      new Uint8Array([...magic, 0x0a, 0x0c, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x06, 0x57, 0x69, 0x64, 0x67, 0x65, 0x74, 0x12, 0x00]),
    ];
    for (const body of bodies) {
      expectFailure(await send('POST', POD.collection, body, 'application/vnd.kubernetes.protobuf'));
    }
  });

  it('answers bodies that are not objects with 400, for create and update', async () => {
    const existing = await createValid(CONFIGMAP);
    const name = (existing.metadata as Obj).name as string;
    for (const body of ['[]', '[{"kind":"ConfigMap"}]', '1', '-2.5', 'null', '"configmap"', 'true']) {
      expectFailure(await send('POST', CONFIGMAP.collection, body), 400);
      expectFailure(await send('PUT', itemPath(CONFIGMAP, name), body), 400);
    }
    for (const body of ['- a\n- b', '42', '~', 'plain words']) {
      expectFailure(await send('POST', CONFIGMAP.collection, body, 'application/yaml'), 400);
    }
    expect((await send('GET', itemPath(CONFIGMAP, name))).body).toEqual(existing);
  });

  it('answers deeply nested garbage with a 4xx', async () => {
    const depth = 100_000;
    const arrays = '['.repeat(depth) + ']'.repeat(depth);
    const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const inSpec = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'deep' } }).replace(/}$/, `,"data":${objects}}`);
    for (const body of [arrays, objects, inSpec]) expectFailure(await send('POST', CONFIGMAP.collection, body));
    const yamlDeep = 'a:\n' + Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i + 1)}- `).join('\n');
    expectFailure(await send('POST', CONFIGMAP.collection, yamlDeep, 'application/yaml'));
    expect((await send('GET', itemPath(CONFIGMAP, 'deep'))).status).toBe(404);
  });

  it('copes with nesting just within the limit through every write path', async () => {
    // The root is level 1; `extra` holds the other MAX_DEPTH - 1 levels.
    const nested = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
    const withExtra = (obj: Obj, levels: number) => JSON.stringify(obj).replace(/}$/, `,"extra":${nested(levels)}}`);
    for (const [levels, ok] of [[MAX_DEPTH - 1, true], [MAX_DEPTH, false]] as const) {
      const name = freshName('deep');
      const create = await send('POST', CONFIGMAP.collection, withExtra(CONFIGMAP.make(name), levels));
      if (!ok) {
        expectFailure(create, 400);
        continue;
      }
      expect(create.status).toBeLessThan(500);
      const existing = await createValid(CONFIGMAP, 'deep');
      const path = itemPath(CONFIGMAP, (existing.metadata as Obj).name as string);
      const replies = [
        await send('PUT', path, withExtra(existing, levels)),
        await send('PATCH', path, withExtra({ data: { a: 'b' } }, levels), 'application/merge-patch+json'),
        await send('PATCH', path, withExtra({ data: { a: 'c' } }, levels), 'application/strategic-merge-patch+json'),
        await send('PATCH', path, `[{"op":"add","path":"/extra","value":${nested(levels - 1)}}]`, 'application/json-patch+json'),
        await send('PATCH', `${path}?fieldManager=deep`, withExtra({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: (existing.metadata as Obj).name } }, levels), 'application/apply-patch+yaml'),
      ];
      for (const reply of replies) expect(reply.status, JSON.stringify(reply.body).slice(0, 300)).toBeLessThan(500);
    }
  });
});

describe('content types', () => {
  it('answers an unknown content type with 415', async () => {
    const body = JSON.stringify(CONFIGMAP.make('ct'));
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      expectFailure(await send('POST', CONFIGMAP.collection, body, type), 415);
    }
  });

  it('answers a patch whose content type is not a patch type with 415', async () => {
    const existing = await createValid(CONFIGMAP);
    const path = itemPath(CONFIGMAP, (existing.metadata as Obj).name as string);
    for (const type of ['application/json', 'application/yaml', 'text/plain', 'application/vnd.kubernetes.protobuf']) {
      expectFailure(await send('PATCH', path, '{"data":{"a":"b"}}', type), 415);
    }
  });
});

describe('paths', () => {
  it('answers unknown groups, versions, resources and subresources with 404', async () => {
    const body = JSON.stringify(CONFIGMAP.make('x'));
    for (const path of [
      '/api/v1/namespaces/default/widgets',
      '/api/v2/namespaces/default/configmaps',
      '/apis/example.com/v1/namespaces/default/widgets',
      '/apis/apps/v9/namespaces/default/deployments',
      '/api/v1/namespaces/default/configmaps/x/bogus',
      '/api/v1/namespaces/default/configmaps/x/status/extra',
      '/api/v1/namespaces/default/nodes',
      '/nothing/here',
    ]) {
      expectFailure(await send('POST', path, body), 404);
      expectFailure(await send('GET', path), 404);
    }
  });

  it('answers a body whose kind does not match the path with 400', async () => {
    const existing = await createValid(CONFIGMAP);
    const name = (existing.metadata as Obj).name as string;
    const mismatched = [
      KIND_CASES[2].make('svc'), // a Service sent to configmaps
      { ...CONFIGMAP.make('cm'), kind: 'Widget' },
      { ...CONFIGMAP.make('cm'), apiVersion: 'apps/v1' },
      { ...CONFIGMAP.make('cm'), kind: 7 },
      { ...CONFIGMAP.make('cm'), apiVersion: ['v1'] },
    ];
    for (const obj of mismatched) {
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify(obj)), 400);
      expectFailure(await send('PUT', itemPath(CONFIGMAP, name), JSON.stringify({ ...obj, metadata: { name } })), 400);
    }
    expect((await send('GET', itemPath(CONFIGMAP, name))).body).toEqual(existing);
  });
});

describe('names', () => {
  it('answers invalid names with 422', async () => {
    for (const name of ['Upper', 'under_score', 'a..b', '-lead', 'trail-', 'x'.repeat(254), 'sp ace', 'üñí', '.', '..']) {
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify(CONFIGMAP.make(name))), 422);
    }
    // Service names are DNS-1035 labels.
    expectFailure(await send('POST', KIND_CASES[2].collection, JSON.stringify(KIND_CASES[2].make('1abc'))), 422);
    expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make(''), metadata: {} })), 422);
  });

  it('answers names that are not strings with a 4xx', async () => {
    for (const name of [5, true, ['a'], { a: 1 }]) {
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make('x'), metadata: { name } })));
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make('x'), metadata: { generateName: name } })));
    }
  });
});

describe('sizes', () => {
  const huge = () => JSON.stringify({ ...CONFIGMAP.make('huge'), data: { big: 'x'.repeat(3 * 1024 * 1024) } });

  it('answers a body over 3 MiB with 413, declared or streamed', async () => {
    expectFailure(await send('POST', CONFIGMAP.collection, huge()), 413);
    const bytes = new TextEncoder().encode(huge());
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
        controller.close();
      },
    });
    const res = await api.request(CONFIGMAP.collection, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expectFailure({ status: res.status, body: (await res.json()) as Obj }, 413);
    expect((await send('GET', itemPath(CONFIGMAP, 'huge'))).status).toBe(404);
  });

  it('answers a patch over 3 MiB with 413', async () => {
    const existing = await createValid(CONFIGMAP);
    const path = itemPath(CONFIGMAP, (existing.metadata as Obj).name as string);
    expectFailure(await send('PATCH', path, huge(), 'application/merge-patch+json'), 413);
    expect((await send('GET', path)).body).toEqual(existing);
  });
});

describe('resourceVersion', () => {
  it('answers a stale resourceVersion on update and patch with 409', async () => {
    const first = await createValid(CONFIGMAP);
    const path = itemPath(CONFIGMAP, (first.metadata as Obj).name as string);
    const second = await send('PUT', path, JSON.stringify({ ...first, data: { a: '2' } }));
    expectObject(second, 'ConfigMap');
    expectFailure(await send('PUT', path, JSON.stringify({ ...first, data: { a: '3' } })), 409);
    const stale = JSON.stringify({ metadata: { resourceVersion: (first.metadata as Obj).resourceVersion }, data: { a: '4' } });
    expectFailure(await send('PATCH', path, stale, 'application/merge-patch+json'), 409);
    expectFailure(await send('PATCH', path, stale, 'application/strategic-merge-patch+json'), 409);
    expect((await send('GET', path)).body).toEqual(second.body);
  });

  it('answers a resourceVersion on create with 400, and one that is not a string with a 4xx', async () => {
    expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make('rv'), metadata: { name: 'rv', resourceVersion: '12' } })), 400);
    const existing = await createValid(CONFIGMAP);
    const path = itemPath(CONFIGMAP, (existing.metadata as Obj).name as string);
    for (const rv of [12, true, ['1'], { a: 1 }]) {
      expectFailure(await send('PUT', path, JSON.stringify({ ...existing, metadata: { ...(existing.metadata as Obj), resourceVersion: rv } })));
    }
    expect((await send('GET', path)).body).toEqual(existing);
  });
});

describe('fields of the wrong type', () => {
  const badMetadata: Json[] = ['x', 5, [], [{ name: 'a' }], true];
  const badLabels: Json[] = ['x', 5, [], ['a=b'], { a: 5 }, { a: true }, { a: { b: 'c' } }, { a: ['b'] }, { 'bad key!': 'v' }];

  it('answers metadata that is not an object with 400', async () => {
    const existing = await createValid(CONFIGMAP);
    const path = itemPath(CONFIGMAP, (existing.metadata as Obj).name as string);
    for (const metadata of badMetadata) {
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make('m'), metadata })), 400);
      expectFailure(await send('PUT', path, JSON.stringify({ ...existing, metadata })), 400);
    }
    expect((await send('GET', path)).body).toEqual(existing);
  });

  it('answers labels and annotations of the wrong type with a 4xx, for every kind', async () => {
    for (const c of KIND_CASES) {
      const existing = await createValid(c);
      const name = (existing.metadata as Obj).name as string;
      for (const labels of badLabels) {
        const base = c.make('labels');
        const withLabels = { ...base, metadata: { name: 'labels', labels } };
        const withAnnotations = { ...base, metadata: { name: 'labels', annotations: labels } };
        expectFailure(await send('POST', c.collection, JSON.stringify(withLabels)));
        expectFailure(await send('POST', c.collection, JSON.stringify(withAnnotations)));
        expectFailure(await send('PUT', itemPath(c, name), JSON.stringify({ ...existing, metadata: { ...(existing.metadata as Obj), labels } })));
        expectFailure(await send('PATCH', itemPath(c, name), JSON.stringify({ metadata: { labels } }), 'application/merge-patch+json'));
      }
      expect((await send('GET', itemPath(c, name))).body).toEqual(existing);
      expect((await send('GET', itemPath(c, 'labels'))).status).toBe(404);
    }
  });

  it('answers other metadata fields of the wrong type with a 4xx', async () => {
    const fields: Obj[] = [
      { finalizers: 'x' },
      { finalizers: [1] },
      { ownerReferences: 'x' },
      { ownerReferences: [{ uid: 5 }] },
      { ownerReferences: [5] },
      { namespace: 5 },
      { generateName: ['x'] },
      { deletionGracePeriodSeconds: 'x' },
      { managedFields: 'x' },
      { managedFields: [{ manager: 5, fieldsV1: 'x' }] },
      { creationTimestamp: { a: 1 } },
      { uid: 7 },
    ];
    for (const c of KIND_CASES) {
      for (const extra of fields) {
        const obj = c.make(freshName('meta-types'));
        const reply = await send('POST', c.collection, JSON.stringify({ ...obj, metadata: { ...(obj.metadata as Obj), ...extra } }));
        if (reply.status < 300) {
          // Accepted only where the server overwrites the field with its own value.
          expect(Object.keys(extra)[0], JSON.stringify(reply.body)).toMatch(/^(uid|creationTimestamp|managedFields)$/);
        } else {
          expectFailure(reply);
        }
      }
    }
  });

  it('answers spec fields of the wrong type with a 4xx', async () => {
    const specs: [KindCase, Json][] = [
      [POD, 'x'],
      [POD, { containers: 'x' }],
      [POD, { containers: [5] }],
      [POD, { containers: [{ name: 'a', image: 5 }] }],
      [POD, { containers: [{ name: 'a', image: 'i', ports: 'x' }] }],
      [POD, { containers: [{ name: 'a', image: 'i', ports: [{ containerPort: '80' }] }] }],
      [POD, { containers: [{ name: 'a', image: 'i', env: { A: '1' } }] }],
      [POD, { containers: [{ name: 'a', image: 'i', resources: { limits: { cpu: true } } }] }],
      [POD, { containers: [{ name: 'a', image: 'i', resources: { limits: { cpu: 'lots' } } }] }],
      [POD, { containers: [{ name: 'a', image: 'i' }], tolerations: 'x' }],
      [POD, { containers: [{ name: 'a', image: 'i' }], volumes: [{ name: 5 }] }],
      [KIND_CASES[1], { selector: 'x' }],
      [KIND_CASES[1], { replicas: 'two', selector: { matchLabels: { a: 'b' } }, template: {} }],
      [KIND_CASES[1], { selector: { matchLabels: { a: 'b' } }, template: 'x' }],
      [KIND_CASES[1], { selector: { matchExpressions: 'x' }, template: { metadata: { labels: { a: 'b' } } } }],
      [KIND_CASES[2], { ports: 'x' }],
      [KIND_CASES[2], { ports: [{ port: 'http' }] }],
      [KIND_CASES[2], { ports: [{ port: 80, targetPort: [1] }] }],
      [KIND_CASES[2], { ports: [{ port: 80 }], selector: 'x' }],
      [KIND_CASES[2], { ports: [{ port: 80 }], clusterIP: 5 }],
      [KIND_CASES[2], { ports: [{ port: 80 }], type: 5 }],
    ];
    for (const [c, spec] of specs) {
      expectFailure(await send('POST', c.collection, JSON.stringify({ ...c.make('spec-types'), spec })), undefined, spec);
    }
    for (const data of ['x', [], { a: 5 }, { a: { b: 'c' } }]) {
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make('data-types'), data })));
      expectFailure(await send('POST', CONFIGMAP.collection, JSON.stringify({ ...CONFIGMAP.make('data-types'), binaryData: data })));
    }
  });
});

describe('patch bodies of the wrong shape', () => {
  const wrong: Record<string, string[]> = {
    'application/merge-patch+json': ['[]', '5', '"x"', 'null', '{"metadata":5}', '{"metadata":{"labels":[1]}}', '{"data":[1]}', '{"kind":"Widget"}'],
    'application/strategic-merge-patch+json': [
      '[]',
      '5',
      '"x"',
      '{"$patch":"bogus"}',
      '{"metadata":{"finalizers":5}}',
      '{"$setElementOrder/data":5}',
      '{"$retainKeys":"x"}',
      '{"$deleteFromPrimitiveList/finalizers":5}',
      '{"metadata":{"labels":{"$patch":"merge","a":5}}}',
    ],
    'application/json-patch+json': [
      '{}',
      '5',
      'null',
      '[5]',
      '[{}]',
      '[{"op":"bogus","path":"/data"}]',
      '[{"op":"add"}]',
      '[{"op":"add","path":5,"value":1}]',
      '[{"op":"add","path":"data/a","value":"1"}]',
      '[{"op":"remove","path":"/nope/deeper"}]',
      '[{"op":"replace","path":"/data/missing","value":"x"}]',
      '[{"op":"move","from":"/data","path":"/data/inner"}]',
      '[{"op":"copy","from":"/missing","path":"/data"}]',
      '[{"op":"test","path":"/data","value":"not this"}]',
      '[{"op":"replace","path":"","value":5}]',
      '[{"op":"replace","path":"/metadata","value":[]}]',
      '[{"op":"add","path":"/metadata/labels/a","value":{"b":1}}]',
      '[{"op":"add","path":"/data/~2","value":"x"}]',
    ],
    'application/apply-patch+yaml': [
      '- a',
      '5',
      'a: [1',
      '{}',
      '{"apiVersion":"v1","kind":"Widget","metadata":{"name":"NAME"}}',
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}',
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","labels":"x"}}',
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME"},"data":[1]}',
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","managedFields":[{"manager":"m"}]}}',
    ],
  };

  for (const [type, bodies] of Object.entries(wrong)) {
    it(`answers malformed ${type} patches with a 4xx and leaves the object as it was`, async () => {
      const existing = await createValid(CONFIGMAP);
      const name = (existing.metadata as Obj).name as string;
      const query = type === 'application/apply-patch+yaml' ? '?fieldManager=robustness' : '';
      for (const body of bodies) {
        expectFailure(await send('PATCH', itemPath(CONFIGMAP, name) + query, body.replaceAll('NAME', name), type), undefined, body);
      }
      expect((await send('GET', itemPath(CONFIGMAP, name))).body).toEqual(existing);
    });
  }

  it('answers an apply without a fieldManager with 400', async () => {
    const existing = await createValid(CONFIGMAP);
    const name = (existing.metadata as Obj).name as string;
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' } });
    expectFailure(await send('PATCH', itemPath(CONFIGMAP, name), body, 'application/apply-patch+yaml'), 400);
  });

  it('answers a patch of a missing object with 404 (apply creates it)', async () => {
    expectFailure(await send('PATCH', itemPath(CONFIGMAP, 'absent'), '{"data":{"a":"b"}}', 'application/merge-patch+json'), 404);
    expectFailure(await send('PATCH', itemPath(CONFIGMAP, 'absent'), '[]', 'application/json-patch+json'), 404);
    const apply = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'absent' }, data: { a: 'b' } });
    expectObject(await send('PATCH', itemPath(CONFIGMAP, 'absent') + '?fieldManager=robustness', apply, 'application/apply-patch+yaml'), 'ConfigMap');
  });
});

// ---- random input ----

/** Keys that are traps for plain objects, patch directives and meaningful field names. */
const trickyKey = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '__proto__', 'constructor', 'toString', 'hasOwnProperty', '$patch', '$retainKeys', '$setElementOrder/containers',
    '$deleteFromPrimitiveList/finalizers', 'metadata', 'spec', 'status', 'name', 'namespace', 'kind', 'apiVersion', 'labels',
    'annotations', 'resourceVersion', 'uid', 'generation', 'finalizers', 'ownerReferences', 'managedFields', 'containers',
    'ports', 'data', 'selector', 'template', 'replicas', 'deletionTimestamp', 'generateName',
  ),
);

const tinyJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'v' },
    fc.constantFrom(null, true, false, 0, -1, 1.5, 65536, 1e300, '', 'x', 'web', 'nginx:1', 'TCP', 'delete', 'replace', 'Always', '25%', '100m'),
    fc.string({ maxLength: 16 }),
    fc.integer(),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'v' }),
  object: fc.dictionary(trickyKey, tie('value'), { maxKeys: 4, depthIdentifier: 'v', noNullPrototype: true }),
})).value as fc.Arbitrary<Json>;

/** Sets own properties even for "__proto__", as JSON.parse would. */
function setOwn(target: Obj | Json[], key: string | number, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

type Path = (string | number)[];

/** Every path in `value` (the root is []). */
function pathsOf(value: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...at, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...at, k], out);
  return out;
}

function getAt(root: Json, path: Path): Json {
  let v = root;
  for (const k of path) v = (v as Record<string | number, Json>)[k];
  return v;
}

const typeOf = (v: Json) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Strings a Kubernetes object is made of, so that many edits keep it valid. */
const plausibleString = fc.oneof(
  fc.constantFrom(
    'web', 'db', 'nginx:1.28', 'prod', 'example.com/role', 'TCP', 'UDP', 'IfNotPresent', 'Always', 'Never', '25%', '200m',
    '128Mi', '10.0.0.7', 'NodePort', 'ClusterIP', 'RollingUpdate', 'Recreate', 'Exists', 'NoSchedule',
  ),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
);
const plausible = fc.record({ str: plausibleString, int: fc.integer({ min: -2, max: 70_000 }) });

/** A value of the same JSON type as `existing`, drawn from `p`. */
function like(existing: Json, p: { str: string; int: number }): Json {
  if (typeof existing === 'number') return p.int;
  if (typeof existing === 'boolean') return !existing;
  if (Array.isArray(existing)) return [...existing, ...structuredClone(existing.slice(0, 1))];
  if (existing !== null && typeof existing === 'object') return { ...existing, [p.str]: p.str };
  return p.str;
}

/** One edit of a JSON document: where (an index into its paths), and what. */
type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'set'; at: number; value: Json }
  | { op: 'retype'; at: number; value: Json }
  | { op: 'tweak'; at: number; p: { str: string; int: number } }
  | { op: 'label'; key: string; value: string; annotation: boolean }
  | { op: 'inject'; at: number; key: string; value: Json }
  | { op: 'rename'; name: Json };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Edits that keep types (mostly valid objects, so that writes succeed too), then the rest.
  { weight: 4, arbitrary: fc.record({ op: fc.constant('tweak' as const), at: fc.nat(), p: plausible }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('label' as const),
      key: fc.oneof(plausibleString, fc.string({ maxLength: 8 })),
      value: fc.oneof(plausibleString, fc.string({ maxLength: 8 })),
      annotation: fc.boolean(),
    }),
  },
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: tinyJson }),
  fc.record({ op: fc.constant('retype' as const), at: fc.nat(), value: tinyJson }),
  fc.record({ op: fc.constant('inject' as const), at: fc.nat(), key: trickyKey, value: tinyJson }),
  fc.record({
    op: fc.constant('rename' as const),
    name: fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?$/), tinyJson),
  }),
);

/** `doc` with the mutations applied, each at a path chosen among those present at that moment. */
function mutate(doc: Obj, mutations: Mutation[]): Obj {
  let root: Json = structuredClone(doc);
  for (const m of mutations) {
    if (m.op === 'rename' || m.op === 'label') {
      const meta = root !== null && typeof root === 'object' && !Array.isArray(root) ? (root as Obj).metadata : undefined;
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) continue;
      if (m.op === 'rename') {
        setOwn(meta as Obj, 'name', m.name);
      } else {
        const field = m.annotation ? 'annotations' : 'labels';
        const map = (meta as Obj)[field];
        if (map === null || typeof map !== 'object' || Array.isArray(map)) setOwn(meta as Obj, field, { [m.key]: m.value });
        else setOwn(map as Obj, m.key, m.value);
      }
      continue;
    }
    const paths = pathsOf(root);
    const path = paths[m.at % paths.length];
    if (m.op === 'inject') {
      const target = getAt(root, path);
      if (Array.isArray(target)) target.push(m.value);
      else if (target !== null && typeof target === 'object') setOwn(target as Obj, m.key, m.value);
      continue;
    }
    if (path.length === 0) {
      if (m.op === 'set' || m.op === 'retype') root = m.value;
      continue;
    }
    const parent = getAt(root, path.slice(0, -1)) as Obj | Json[];
    const key = path[path.length - 1];
    if (m.op === 'tweak') {
      setOwn(parent, key, like(getAt(root, path), m.p));
    } else if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Obj)[key as string];
    } else if (m.op === 'set' || typeOf(m.value) !== typeOf((parent as Obj)[key as string])) {
      setOwn(parent, key, m.value);
    } else {
      // A retype whose value has the type already there becomes a string of it.
      setOwn(parent, key, JSON.stringify(m.value));
    }
  }
  return root as Obj;
}

const kindCase = fc.constantFrom(...KIND_CASES);
const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

const pointerOf = (path: Path) => path.map((k) => '/' + String(k).replaceAll('~', '~0').replaceAll('/', '~1')).join('');

/** RFC 6902 operations over paths of the document (or made up), and now and then a body that is no list. */
const jsonPatchOp = fc.record(
  {
    op: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test') },
      { weight: 1, arbitrary: fc.constantFrom('bogus', 5 as unknown as string) },
    ),
    at: fc.nat(),
    from: fc.nat(),
    // Mostly a path of the document, now and then one made up.
    made: fc.oneof(
      { weight: 6, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('/metadata/name', '/spec/-', '/data/~2', '/metadata/labels/a~1b', '', '-')) },
    ),
    // A value like the one at the operation's path, or anything.
    value: fc.oneof(plausible, tinyJson.map((value) => ({ value }))),
  },
  { requiredKeys: ['op', 'at', 'from', 'made', 'value'] },
);

type JsonPatchOp = typeof jsonPatchOp extends fc.Arbitrary<infer T> ? T : never;

type PatchSpec =
  | { type: 'merge' | 'strategic'; mutations: Mutation[]; sparse: boolean; raw?: Json }
  | { type: 'json'; ops: JsonPatchOp[]; raw?: Json }
  | { type: 'apply'; mutations: Mutation[]; yaml: boolean; raw?: Json };

/** Now and then the body is anything at all rather than a patch built for the object. */
const rawBody = fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: tinyJson });

const patchSpec: fc.Arbitrary<PatchSpec> = fc.oneof(
  fc.record({ type: fc.constantFrom('merge' as const, 'strategic' as const), mutations, sparse: fc.boolean(), raw: rawBody }),
  fc.record({ type: fc.constant('json' as const), ops: fc.array(jsonPatchOp, { maxLength: 4 }), raw: rawBody }),
  fc.record({ type: fc.constant('apply' as const), mutations: fc.array(mutation, { maxLength: 4 }), yaml: fc.boolean(), raw: rawBody }),
);

const PATCH_CONTENT_TYPES = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** The body of a patch built from the stored object `current` of kind case `c`. */
function patchBody(spec: PatchSpec, c: KindCase, current: Obj, t: { managedFields: boolean }): string {
  if (spec.raw !== undefined) return JSON.stringify(spec.raw);
  if (spec.type === 'json') {
    const paths = pathsOf(current);
    const ops = spec.ops.map((o) => {
      const at = paths[o.at % paths.length];
      const value = 'value' in o.value ? o.value.value : like(getAt(current, at), o.value);
      return { op: o.op, path: o.made ?? pointerOf(at), from: pointerOf(paths[o.from % paths.length]), value };
    });
    return JSON.stringify(ops);
  }
  if (spec.type === 'apply') {
    // What a client applies: its own manifest, not the server's fields.
    const manifest = mutate(c.make(String((current.metadata as Obj).name)), spec.mutations);
    return spec.yaml ? toYaml(manifest) : JSON.stringify(manifest);
  }
  // merge and strategic: a mutated whole object, or only the parts that the mutations left
  const whole = edited(current, t, spec.mutations);
  if (!spec.sparse || whole === null || typeof whole !== 'object' || Array.isArray(whole)) return JSON.stringify(whole);
  const { metadata, spec: s, data } = whole as Obj;
  return JSON.stringify({ metadata, spec: s, data });
}

async function get(c: KindCase, name: string): Promise<Reply> {
  return send('GET', itemPath(c, name));
}

/** After a write answered `reply`, the stored object is `before` (on failure) or exactly what the reply returned. */
async function expectOutcome(c: KindCase, name: string, before: Obj, reply: Reply): Promise<void> {
  const after = await get(c, name);
  expectObject(after, c.kind);
  if (reply.status >= 400) {
    expectFailure(reply);
    expect(after.body).toEqual(before);
  } else {
    expectObject(reply, c.kind);
    expect(after.body).toEqual(reply.body);
  }
}

/** Where a write goes: the object itself or its status, whether unknown fields are refused, and whether
 * the body carries the stored managedFields (whose many paths would otherwise draw most mutations). */
const target = fc.record({ status: fc.boolean(), strict: fc.boolean(), managedFields: fc.boolean() });

function edited(before: Obj, t: { managedFields: boolean }, muts: Mutation[]): Obj {
  if (t.managedFields) return mutate(before, muts);
  const { managedFields: _, ...metadata } = before.metadata as Obj;
  return mutate({ ...before, metadata }, muts);
}

function writePath(c: KindCase, name: string, t: { status: boolean; strict: boolean }, query: string[]): string {
  const sub = t.status && c.hasStatus ? '/status' : '';
  const q = [...query, ...(t.strict ? ['fieldValidation=Strict'] : [])];
  return itemPath(c, name) + sub + (q.length ? `?${q.join('&')}` : '');
}

const RUNS = 200;

describe('random and mutated input', { timeout: 60_000 }, () => {
  it('create: a 4xx Status and nothing stored, or the stored object', async () => {
    await fc.assert(
      fc.asyncProperty(kindCase, mutations, fc.constantFrom('application/json', 'application/yaml'), fc.boolean(), async (c, muts, type, strict) => {
        const doc = mutate(c.make(freshName('create')), muts);
        const body = type === 'application/yaml' ? toYaml(doc) : JSON.stringify(doc);
        const countBefore = ((await send('GET', c.collection)).body.items as Obj[]).length;
        const reply = await send('POST', c.collection + (strict ? '?fieldValidation=Strict' : ''), body, type);
        if (reply.status >= 400) {
          expectFailure(reply);
          expect(((await send('GET', c.collection)).body.items as Obj[]).length).toBe(countBefore);
          return;
        }
        expectObject(reply, c.kind);
        const name = (reply.body.metadata as Obj).name as string;
        expect((await get(c, name)).body).toEqual(reply.body);
      }),
      { numRuns: RUNS },
    );
  });

  it('update: a 4xx Status and the old object, or exactly the object returned', async () => {
    await fc.assert(
      fc.asyncProperty(kindCase, mutations, target, fc.constantFrom('application/json', 'application/yaml'), async (c, muts, t, type) => {
        const before = await createValid(c, 'update');
        const name = (before.metadata as Obj).name as string;
        const doc = edited(before, t, muts);
        const reply = await send('PUT', writePath(c, name, t, []), type === 'application/yaml' ? toYaml(doc) : JSON.stringify(doc), type);
        await expectOutcome(c, name, before, reply);
      }),
      { numRuns: RUNS },
    );
  });

  it('patch: a 4xx Status and the old object, or exactly the object returned, for all four patch types', async () => {
    await fc.assert(
      fc.asyncProperty(kindCase, patchSpec, target, async (c, spec, t) => {
        const before = await createValid(c, 'patch');
        const name = (before.metadata as Obj).name as string;
        const path = writePath(c, name, t, spec.type === 'apply' ? ['fieldManager=x'] : []);
        const reply = await send('PATCH', path, patchBody(spec, c, before, t), PATCH_CONTENT_TYPES[spec.type]);
        await expectOutcome(c, name, before, reply);
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
