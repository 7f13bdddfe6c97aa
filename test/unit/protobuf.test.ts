import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtobufError, decodeProtobuf } from '../../src/api/protobuf.js';
import { KINDS, MESSAGES, isScalar, isSpecial, messageFields } from '../../src/api/protobuf-schema.js';
import {
  FIXTURE_COMMANDS,
  dryRunJson,
  kubectlAvailable,
  protobufBody,
  runKubectl,
} from '../fixtures/protobuf/kubectl-capture.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/protobuf');
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, `${name}.bin`)));
const CREATE_FIXTURES = Object.keys(FIXTURE_COMMANDS).filter((n) => FIXTURE_COMMANDS[n][0] === 'create');
const ALL_FIXTURES = Object.keys(FIXTURE_COMMANDS);

/** kubectl's JSON without its nulls (`creationTimestamp: null`), which the decoder drops. */
function withoutNulls(json: string): unknown {
  return JSON.parse(json, (_key, value) => (value === null ? undefined : value));
}

// A minimal protobuf encoder, to build bodies with field numbers read off generated.proto.
type Bytes = number[];
function varint(n: number | bigint): Bytes {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: Bytes = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? low | 0x80 : low);
  } while (v);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
/** A varint field (int32, int64, bool). */
const num = (field: number, n: number | bigint | boolean) => [
  ...tag(field, 0),
  ...varint(typeof n === 'boolean' ? Number(n) : n),
];
/** A length-delimited field: a string, raw bytes, or a message built from fields. */
const len = (field: number, content: string | Bytes) => {
  const bytes = typeof content === 'string' ? [...new TextEncoder().encode(content)] : content;
  return [...tag(field, 2), ...varint(bytes.length), ...bytes];
};
const msg = (field: number, ...fields: Bytes[]) => len(field, fields.flat());
const entry = (field: number, key: string, value: string | Bytes) => msg(field, len(1, key), len(2, value));
const MAGIC = [0x6b, 0x38, 0x73, 0x00];
/** A body as kubectl sends it: magic, then Unknown {typeMeta, raw, contentEncoding "", contentType ""}. */
const body = (apiVersion: string, kind: string, ...fields: Bytes[]) =>
  new Uint8Array([
    ...MAGIC,
    ...msg(1, len(1, apiVersion), len(2, kind)),
    ...msg(2, ...fields),
    ...len(3, ''),
    ...len(4, ''),
  ]);

function decodeError(bytes: Uint8Array): string {
  try {
    decodeProtobuf(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtobufError);
    return (e as Error).message;
  }
  throw new Error('decoded without error');
}

describe('bodies captured from kubectl 1.32', () => {
  it.each(CREATE_FIXTURES)('%s decodes to what kubectl --dry-run=client -o json prints', (name) => {
    const expected = withoutNulls(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Record<string, unknown>;
    const decoded = decodeProtobuf(fixture(name));
    expect(decoded.object).toEqual(expected);
    expect(decoded.apiVersion).toBe(expected.apiVersion);
    expect(decoded.kind).toBe(expected.kind);
  });

  it('create deployment web --image=nginx --replicas=3 --port=80', () => {
    expect(decodeProtobuf(fixture('deployment'))).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }], resources: {} }] },
          },
          strategy: {},
        },
        status: {},
      },
    });
  });

  it('create secret generic s --from-literal=k=v carries data as base64', () => {
    expect(decodeProtobuf(fixture('secret')).object.data).toEqual({ k: btoa('v') });
  });

  it('drain sends DeleteOptions', () => {
    expect(decodeProtobuf(fixture('drain-delete')).object).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      gracePeriodSeconds: 30,
    });
    expect(decodeProtobuf(fixture('drain-dry-run')).object).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      dryRun: ['All'],
    });
  });
});

describe('decoding', () => {
  it('decodes a Pod spec with containers, probes, env, volumes, tolerations and affinity', () => {
    const container = [
      len(1, 'app'),
      len(2, 'nginx:1.27'),
      len(3, 'sh'),
      len(3, '-c'),
      len(4, ''),
      msg(6, len(1, 'http'), num(3, 8080), len(4, 'TCP')),
      msg(7, len(1, 'MODE'), len(2, 'prod')),
      msg(7, len(1, 'EMPTY')),
      msg(7, len(1, 'FROM_CM'), msg(3, msg(3, msg(1, len(1, 'cm')), len(2, 'key'), num(3, false)))),
      msg(7, len(1, 'FROM_SECRET'), msg(3, msg(4, msg(1, len(1, 'sec')), len(2, 'pw')))),
      msg(7, len(1, 'NODE'), msg(3, msg(1, len(1, 'v1'), len(2, 'spec.nodeName')))),
      msg(8, entry(1, 'cpu', len(1, '500m')), entry(2, 'memory', len(1, '64Mi'))),
      msg(9, len(1, 'data'), num(2, true), len(3, '/data')),
      msg(10, msg(1, msg(2, len(1, '/healthz'), msg(2, num(1, 1), len(3, 'http')))), num(2, 5), num(4, 0)),
      msg(11, msg(1, msg(3, msg(1, num(2, 8080)))), num(7, 0)),
      msg(22, msg(1, msg(1, len(1, 'true')))),
      num(16, false),
    ];
    const spec = [
      msg(1, len(1, 'data'), msg(2, msg(2))),
      msg(1, len(1, 'cfg'), msg(2, msg(19, msg(1, len(1, 'cm')), num(3, 0o644)))),
      msg(1, len(1, 'sec'), msg(2, msg(6, len(1, 'sec'), msg(2, len(1, 'k'), len(2, 'p'))))),
      msg(1, len(1, 'host'), msg(2, msg(1, len(1, '/var/log'), len(2, '')))),
      msg(20, len(1, 'init'), len(2, 'busybox'), msg(8)),
      msg(2, ...container),
      entry(7, 'disk', 'ssd'),
      msg(22, len(1, 'node.kubernetes.io/unreachable'), len(2, 'Exists'), len(4, 'NoExecute'), num(5, 0)),
      msg(
        18,
        msg(1, msg(1, msg(1, msg(1, len(1, 'zone'), len(2, 'In'), len(3, 'a'), len(3, 'b'))))),
      ),
      num(25, -5),
      num(11, false),
      len(3, 'Always'),
      msg(14, num(5, 1000), num(4, 2000), len(4, [...varint(3000), ...varint(4000)])),
    ];
    const pod = decodeProtobuf(body('v1', 'Pod', msg(1, len(1, 'p'), len(3, 'default')), msg(2, ...spec), msg(3)));
    expect(pod.object).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: {
        volumes: [
          { name: 'data', emptyDir: {} },
          { name: 'cfg', configMap: { name: 'cm', defaultMode: 0o644 } },
          { name: 'sec', secret: { secretName: 'sec', items: [{ key: 'k', path: 'p' }] } },
          { name: 'host', hostPath: { path: '/var/log', type: '' } },
        ],
        initContainers: [{ name: 'init', image: 'busybox', resources: {} }],
        containers: [
          {
            name: 'app',
            image: 'nginx:1.27',
            command: ['sh', '-c'],
            args: [''],
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            env: [
              { name: 'MODE', value: 'prod' },
              { name: 'EMPTY' },
              { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cm', key: 'key', optional: false } } },
              { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'sec', key: 'pw' } } },
              { name: 'NODE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
            ],
            resources: { limits: { cpu: '500m' }, requests: { memory: '64Mi' } },
            volumeMounts: [{ name: 'data', readOnly: true, mountPath: '/data' }],
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 5 },
            readinessProbe: { tcpSocket: { port: 8080 }, terminationGracePeriodSeconds: 0 },
            startupProbe: { exec: { command: ['true'] } },
          },
        ],
        nodeSelector: { disk: 'ssd' },
        tolerations: [
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 },
        ],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }],
            },
          },
        },
        priority: -5,
        restartPolicy: 'Always',
        securityContext: { fsGroup: 1000, supplementalGroups: [2000, 3000, 4000] },
      },
      status: {},
    });
  });

  it('keeps zero values of pointer fields and drops those of plain fields', () => {
    const strategy = msg(4, len(1, 'RollingUpdate'), msg(2, msg(1, num(1, 1), len(3, '25%')), msg(2, num(1, 0))));
    const spec = msg(2, num(1, 0), num(5, 0), num(7, false), num(6, 0), strategy, msg(3, msg(2)));
    const d = decodeProtobuf(body('apps/v1', 'Deployment', msg(1, len(1, 'web'), len(2, ''), num(7, 0)), spec));
    expect(d.object).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 0,
        revisionHistoryLimit: 0,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: 0 } },
        template: { spec: {} },
      },
    });
  });

  it('decodes ObjectMeta: timestamps, maps, owner references, finalizers, managed fields', () => {
    const meta = msg(
      1,
      len(1, 'x'),
      len(2, 'x-'),
      num(7, -1),
      msg(8, num(1, 1700000000), num(2, 5)),
      msg(9),
      num(10, 0),
      entry(11, 'app', ''),
      entry(11, '__proto__', 'p'),
      entry(12, 'note', 'a'),
      entry(12, 'note', 'b'),
      msg(13, len(5, 'apps/v1'), len(1, 'ReplicaSet'), len(3, 'rs'), len(4, 'u1'), num(6, true), num(7, false)),
      len(14, 'example.com/f'),
      msg(17, len(1, 'kubectl'), len(2, 'Update'), len(6, 'FieldsV1'), msg(7, len(1, '{"f:metadata":{}}'))),
    );
    const obj = decodeProtobuf(body('v1', 'ConfigMap', meta)).object;
    const metadata = obj.metadata as Record<string, unknown>;
    expect(metadata).toEqual({
      name: 'x',
      generateName: 'x-',
      generation: -1,
      creationTimestamp: '2023-11-14T22:13:20Z',
      deletionGracePeriodSeconds: 0,
      labels: { app: '', ['__proto__']: 'p' },
      annotations: { note: 'b' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'rs',
          uid: 'u1',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
      finalizers: ['example.com/f'],
      managedFields: [
        { manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {} } },
      ],
    });
    const labels = metadata.labels as Record<string, unknown>;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.keys(labels)).toEqual(['app', '__proto__']);
  });

  it('decodes Secret and ConfigMap bytes as base64 and a Service spec', () => {
    const binary = [0x00, 0xff, 0xfe, 0x80];
    const secret = decodeProtobuf(
      body(
        'v1',
        'Secret',
        msg(1, len(1, 's')),
        entry(2, 'bin', binary),
        entry(4, 'plain', 'text'),
        len(3, 'Opaque'),
        num(5, false),
      ),
    );
    expect(secret.object).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { bin: 'AP/+gA==' },
      stringData: { plain: 'text' },
      type: 'Opaque',
      immutable: false,
    });
    const cm = decodeProtobuf(body('v1', 'ConfigMap', entry(3, 'b', binary), entry(2, 'k', '')));
    expect(cm.object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', binaryData: { b: 'AP/+gA==' }, data: { k: '' } });
    const port = msg(1, len(1, 'web'), num(3, 80), msg(4, num(1, 1), len(3, 'http')), num(5, 0));
    const svc = decodeProtobuf(body('v1', 'Service', msg(2, port, len(4, 'NodePort'))));
    expect(svc.object.spec).toEqual({ ports: [{ name: 'web', port: 80, targetPort: 'http' }], type: 'NodePort' });
  });

  it('decodes DeleteOptions with every field, under any apiVersion that carries it', () => {
    const preconditions = msg(2, len(1, 'uid-1'), len(2, '42'));
    const fields = [num(1, 0), preconditions, num(3, false), len(4, 'Foreground'), len(5, 'All')];
    for (const apiVersion of ['v1', 'apps/v1', 'meta.k8s.io/v1']) {
      expect(decodeProtobuf(body(apiVersion, 'DeleteOptions', ...fields)).object).toEqual({
        apiVersion,
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid: 'uid-1', resourceVersion: '42' },
        orphanDependents: false,
        propagationPolicy: 'Foreground',
        dryRun: ['All'],
      });
    }
  });

  it('skips unknown fields of every wire type, in objects and in the envelope', () => {
    const fixed64 = [...tag(98, 1), 1, 2, 3, 4, 5, 6, 7, 8];
    const fixed32 = [...tag(96, 5), 1, 2, 3, 4];
    const unknown = [...num(99, 7), ...fixed64, ...len(97, 'whatever'), ...fixed32];
    const raw = [...msg(1, len(1, 'x'), unknown), ...unknown];
    const typeMeta = msg(1, len(1, 'v1'), len(2, 'Namespace'), unknown);
    const bytes = new Uint8Array([...MAGIC, ...unknown, ...typeMeta, ...len(2, raw)]);
    expect(decodeProtobuf(bytes).object).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
  });

  it('merges a repeated message field and lets the last scalar win, as protobuf does', () => {
    const first = msg(1, len(1, 'a'), entry(11, 'x', '1'));
    const bytes = body('v1', 'Namespace', first, msg(1, len(1, 'b'), entry(11, 'y', '2')));
    expect(decodeProtobuf(bytes).object.metadata).toEqual({ name: 'b', labels: { x: '1', y: '2' } });
    const cleared = body('v1', 'Namespace', msg(1, len(1, 'a'), len(1, '')));
    expect(decodeProtobuf(cleared).object.metadata).toEqual({});
  });

  it('drops a zero Time and prints the year-1 edge as RFC 3339', () => {
    const at = (seconds: bigint) =>
      decodeProtobuf(body('v1', 'Namespace', msg(1, msg(8, num(1, seconds))))).object.metadata;
    expect(at(-62135596800n)).toEqual({});
    expect(at(-62135596799n)).toEqual({ creationTimestamp: '0001-01-01T00:00:01Z' });
    expect(at(253402300799n)).toEqual({ creationTimestamp: '9999-12-31T23:59:59Z' });
    expect(at(0n)).toEqual({ creationTimestamp: '1970-01-01T00:00:00Z' });
  });
});

describe('malformed input', () => {
  const ns = (...fields: Bytes[]) => body('v1', 'Namespace', ...fields);
  const raw = (...bytes: Bytes) => new Uint8Array([...MAGIC, ...bytes]);
  it.each([
    ['no magic', new Uint8Array([0x6b, 0x38, 0x73, 0x01, 0x0a, 0x00]), /magic/],
    ['only part of the magic', new Uint8Array([0x6b, 0x38]), /magic/],
    ['an unknown kind', body('v1', 'Node', msg(1, len(1, 'n'))), /no protobuf schema for v1 Node/],
    ['a kind in another group', body('apps/v1', 'Pod'), /no protobuf schema for apps\/v1 Pod/],
    ['no kind', raw(...msg(1, len(1, 'v1'))), /names no kind/],
    ['a truncated varint', raw(...tag(9, 0), 0x80), /truncated varint/],
    ['a varint of 11 bytes', raw(...tag(9, 0), ...Array(10).fill(0xff), 0x01), /longer than 10 bytes/],
    ['a length past the end', raw(0x12, 0x05, 0x01), /runs past the end/],
    ['a truncated fixed64', raw(...tag(9, 1), 1, 2, 3), /truncated fixed-width/],
    ['a group (wire type 3)', raw(...tag(9, 3)), /wire type 3/],
    ['field number 0', raw(0x00), /bad field number 0/],
    ['a string as a varint', ns(msg(1, num(1, 5))), /ObjectMeta.name: wire type varint, expected length-delimited/],
    ['an int sent as bytes', body('apps/v1', 'Deployment', msg(2, len(1, 'x'))), /DeploymentSpec.replicas/],
    ['invalid UTF-8', ns(msg(1, len(1, [0xc3, 0x28]))), /ObjectMeta.name: invalid UTF-8/],
    ['gzip content', raw(...msg(1, len(1, 'v1'), len(2, 'Namespace')), ...len(3, 'gzip')), /contentEncoding "gzip"/],
    ['an IntOrString of type 2', body('v1', 'Service', msg(2, msg(1, msg(4, num(1, 2))))), /IntOrString type 2/],
    ['a time past year 9999', ns(msg(1, msg(8, num(1, 253402300800n)))), /time out of range/],
    ['managed fields that are not JSON', ns(msg(1, msg(17, msg(7, len(1, '{'))))), /Raw is not JSON/],
  ])('rejects %s', (_name, bytes, message) => {
    expect(decodeError(bytes)).toMatch(message);
  });

  /** Decodes or throws a ProtobufError; anything else fails the property. */
  const decodesOrRejects = (bytes: Uint8Array) => {
    try {
      decodeProtobuf(bytes);
    } catch (e) {
      if (!(e instanceof ProtobufError)) throw e;
    }
  };

  it('gives a ProtobufError on random bytes, with and without the magic', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodesOrRejects), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (tail) => decodesOrRejects(new Uint8Array([...MAGIC, ...tail]))),
      { numRuns: 2000 },
    );
  });

  it('rejects every truncation of a captured body inside a field', () => {
    for (const name of ALL_FIXTURES) {
      const bytes = fixture(name);
      for (let end = 0; end < bytes.length; end++) decodesOrRejects(bytes.subarray(0, end));
      // The object's own bytes end with the body: cutting inside them breaks a length.
      expect(decodeError(bytes.subarray(0, bytes.length - 5))).toMatch(/runs past the end|truncated/);
    }
  });

  it('decodes or rejects captured bodies with mutated, inserted or deleted bytes', () => {
    const bodies = ALL_FIXTURES.map(fixture);
    fc.assert(
      fc.property(
        fc.constantFrom(...bodies),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), {
          minLength: 1,
          maxLength: 8,
        }),
        (original, edits) => {
          const bytes = [...original];
          for (const [at, value, op] of edits) {
            const i = at % (bytes.length + 1);
            if (op === 'set') bytes[Math.min(i, bytes.length - 1)] = value;
            else if (op === 'insert') bytes.splice(i, 0, value);
            else bytes.splice(i, 1);
          }
          decodesOrRejects(new Uint8Array(bytes));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('schema table', () => {
  it('names only known types, with string keys and string-like or Time map values', () => {
    for (const message of Object.keys(MESSAGES)) {
      const fields = messageFields(message)!;
      const names = new Set<string>();
      for (const spec of fields.values()) {
        const known = isScalar(spec.type) || isSpecial(spec.type) || spec.type in MESSAGES;
        expect(known, `${message}.${spec.name}`).toBe(true);
        if (spec.map) expect(['string', 'bytes', 'Quantity', 'Time']).toContain(spec.type);
        expect(names.has(spec.name), `${message}.${spec.name} twice`).toBe(false);
        names.add(spec.name);
      }
    }
    for (const root of Object.values(KINDS)) expect(MESSAGES).toHaveProperty(root);
  });

  it('has no cycles, so decoding depth is bounded by the table', () => {
    const state = new Map<string, 'open' | 'done'>();
    const visit = (message: string, path: string[]) => {
      expect(state.get(message), path.join(' > ')).not.toBe('open');
      if (state.get(message) === 'done') return;
      state.set(message, 'open');
      for (const spec of messageFields(message)!.values()) {
        if (spec.type in MESSAGES) visit(spec.type, [...path, spec.type]);
      }
      state.set(message, 'done');
    };
    for (const root of Object.values(KINDS)) visit(root, [root]);
  });
});

describe.skipIf(!kubectlAvailable())('live kubectl', () => {
  it.each(CREATE_FIXTURES)('%s: the body decodes to the dry-run JSON and kubectl accepts the reply', async (name) => {
    const args = FIXTURE_COMMANDS[name];
    const run = await runKubectl(args, (bytes) => decodeProtobuf(bytes).object);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/ created/);
    const sent = protobufBody(run);
    expect(sent.method).toBe('POST');
    expect(decodeProtobuf(sent.body).object).toEqual(withoutNulls(await dryRunJson(args)));
    expect(decodeProtobuf(sent.body)).toEqual(decodeProtobuf(fixture(name)));
  }, 30_000);

  it('kubectl drain --disable-eviction deletes with a protobuf DeleteOptions', async () => {
    const run = await runKubectl(FIXTURE_COMMANDS['drain-delete'], () => ({}));
    expect(run.code, run.stderr).toBe(0);
    const sent = protobufBody(run);
    expect(sent.method).toBe('DELETE');
    expect(sent.path).toMatch(/^\/api\/v1\/namespaces\/default\/pods\/p1\?/);
    expect(decodeProtobuf(sent.body).object).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      gracePeriodSeconds: 30,
    });
  }, 30_000);
});

// Bodies kubectl sent to `skiff serve` (read off `kubectl -v=9`), base64: 1.32 unless said otherwise.
const CAPTURED_WORKLOADS: Record<string, string> = {
  // create job pi --image=busybox -- echo hi
  job:
    'azhzAAoPCghiYXRjaC92MRIDSm9iEoQBChIKAnBpEgAaACIAKgAyADgAQgASZDJiChAKABIAGgAiACoAMgA4AEIAEk4SKwoCcGkSB2J1c3lib3gaBGVjaG8aAmhpKgBCAGoAcgCAAQCIAQCQAQCiAQAaBU5ldmVyMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAaCCAAKAAwADoAGgAiAA==',
  // create cronjob nightly --image=busybox --schedule='0 3 * * *' --restart=OnFailure -- date
  cronjob:
    'azhzAAoTCghiYXRjaC92MRIHQ3JvbkpvYhKyAQoXCgduaWdodGx5EgAaACIAKgAyADgAQgASlAEKCTAgMyAqICogKhoAKoQBChcKB25pZ2h0bHkSABoAIgAqADIAOABCABJpMmcKEAoAEgAaACIAKgAyADgAQgASUxIsCgduaWdodGx5EgdidXN5Ym94GgRkYXRlKgBCAGoAcgCAAQCIAQCQAQCiAQAaCU9uRmFpbHVyZTIAQgBKAFIAWABgAGgAggEAigEAmgEAwgEAGgAaAA==',
  // create job nightly-manual --from=cronjob/nightly
  'job-from-cronjob':
    'azhzAAoPCghiYXRjaC92MRIDSm9iEokCCpEBCg5uaWdodGx5LW1hbnVhbBIAGgAiACoAMgA4AEIAYisKIWNyb25qb2Iua3ViZXJuZXRlcy5pby9pbnN0YW50aWF0ZRIGbWFudWFsakQKB0Nyb25Kb2IaB25pZ2h0bHkiJDk0YjI3M2YwLWRmMTgtNDA0Ni1iYWQxLWMxZjA0OTk2YmU3OSoIYmF0Y2gvdjEwARJpMmcKEAoAEgAaACIAKgAyADgAQgASUxIsCgduaWdodGx5EgdidXN5Ym94GgRkYXRlKgBCAGoAcgCAAQCIAQCQAQCiAQAaCU9uRmFpbHVyZTIAQgBKAFIAWABgAGgAggEAigEAmgEAwgEAGgggACgAMAA6ABoAIgA=',
  // create poddisruptionbudget web-pdb --min-available=1 --selector=app=web
  'pdb-min-available':
    'azhzAAogCglwb2xpY3kvdjESE1BvZERpc3J1cHRpb25CdWRnZXQSPQoXCgd3ZWItcGRiEgAaACIAKgAyADgAQgASFgoGCAAQARoAEgwKCgoDYXBwEgN3ZWIaCggAGAAgACgAMAAaACIA',
  // create poddisruptionbudget api-pdb --max-unavailable=50% --selector=app=api
  'pdb-max-unavailable':
    'azhzAAogCglwb2xpY3kvdjESE1BvZERpc3J1cHRpb25CdWRnZXQSQAoXCgdhcGktcGRiEgAaACIAKgAyADgAQgASGRIMCgoKA2FwcBIDYXBpGgkIARAAGgM1MCUaCggAGAAgACgAMAAaACIA',
  // autoscale deployment web --cpu-percent=50 --min=1 --max=3 --name=web-v1
  'autoscale-v1':
    'azhzAAopCg5hdXRvc2NhbGluZy92MRIXSG9yaXpvbnRhbFBvZEF1dG9zY2FsZXISQgoWCgZ3ZWItdjESABoAIgAqADIAOABCABIiChoKCkRlcGxveW1lbnQSA3dlYhoHYXBwcy92MRABGAMgMhoEGAAgABoAIgA=',
  // kubectl 1.33: autoscale deployment web --cpu-percent=50 --min=1 --max=3 --name=web-v2
  'autoscale-v2':
    'azhzAAopCg5hdXRvc2NhbGluZy92MhIXSG9yaXpvbnRhbFBvZEF1dG9zY2FsZXISZAoWCgZ3ZWItdjISABoAIgAqADIAOABCABJEChoKCkRlcGxveW1lbnQSA3dlYhoHYXBwcy92MRABGAMiIgoIUmVzb3VyY2UiFgoDY3B1Eg8KC1V0aWxpemF0aW9uIDIaBBgAIAAaACIA',
};
const captured = (name: string) => decodeProtobuf(Uint8Array.from(atob(CAPTURED_WORKLOADS[name]), (c) => c.charCodeAt(0)));

describe('workload kinds', () => {
  const podTemplate = (name: string, command: string[], restartPolicy: string) => ({
    metadata: {},
    spec: { containers: [{ name, image: 'busybox', command, resources: {} }], restartPolicy },
  });

  it('decodes what kubectl create job, create cronjob and create job --from=cronjob send', () => {
    expect(captured('job')).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      object: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi' }, spec: { template: podTemplate('pi', ['echo', 'hi'], 'Never') }, status: {} },
    });
    expect(captured('cronjob').object).toEqual({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly' },
      spec: { schedule: '0 3 * * *', jobTemplate: { metadata: { name: 'nightly' }, spec: { template: podTemplate('nightly', ['date'], 'OnFailure') } } },
      status: {},
    });
    expect(captured('job-from-cronjob').object).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'nightly-manual',
        annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: '94b273f0-df18-4046-bad1-c1f04996be79', controller: true }],
      },
      spec: { template: podTemplate('nightly', ['date'], 'OnFailure') },
      status: {},
    });
  });

  it('decodes what kubectl create poddisruptionbudget sends, numbers and percentages', () => {
    expect(captured('pdb-min-available').object).toEqual({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web-pdb' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
      status: {},
    });
    expect(captured('pdb-max-unavailable').object.spec).toEqual({ maxUnavailable: '50%', selector: { matchLabels: { app: 'api' } } });
  });

  it('decodes what kubectl autoscale sends: autoscaling/v1 (1.32) and autoscaling/v2 (1.33)', () => {
    const scaleTargetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
    expect(captured('autoscale-v1').object).toEqual({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web-v1' },
      spec: { scaleTargetRef, minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50 },
      status: {},
    });
    expect(captured('autoscale-v2').object).toEqual({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web-v2' },
      spec: {
        scaleTargetRef,
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
      },
      status: {},
    });
  });

  it('decodes a Job spec: policies, exit codes packed or not, pointer zeros kept; and its status', () => {
    const exitCodes = msg(2, len(1, 'main'), len(2, 'In'), len(3, [...varint(1), ...varint(42)]), num(3, 255));
    const rules = msg(11, msg(1, len(1, 'FailJob'), exitCodes), msg(1, len(1, 'Ignore'), msg(3, len(1, 'DisruptionTarget'), len(2, 'True'))));
    const spec = msg(2,
      num(1, 2), num(2, 5), num(3, 600), rules, msg(16, msg(1, len(1, '0-2'), num(2, 0))), num(7, 0), num(12, 1), num(13, 0),
      msg(4, entry(1, 'batch.kubernetes.io/controller-uid', 'u')), num(5, false), msg(6, msg(2, len(3, 'Never'))),
      num(8, 0), len(9, 'Indexed'), num(10, false), len(14, 'Failed'), len(15, 'kubernetes.io/job-controller'));
    const condition = msg(1, len(1, 'Complete'), len(2, 'True'), msg(3), msg(4, num(1, 1700000000)), len(5, ''), len(6, ''));
    const status = msg(3, condition, msg(2, num(1, 1700000000)), num(4, 0), num(5, 5), num(6, 1), num(11, 0), len(7, '0-4'),
      msg(8, len(1, 'uid-a'), len(2, 'uid-b')), num(9, 0));
    expect(decodeProtobuf(body('batch/v1', 'Job', msg(1, len(1, 'j')), spec, status)).object).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j' },
      spec: {
        parallelism: 2,
        completions: 5,
        activeDeadlineSeconds: 600,
        podFailurePolicy: {
          rules: [
            { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [1, 42, 255] } },
            { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          ],
        },
        successPolicy: { rules: [{ succeededIndexes: '0-2', succeededCount: 0 }] },
        backoffLimit: 0,
        backoffLimitPerIndex: 1,
        maxFailedIndexes: 0,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u' } },
        manualSelector: false,
        template: { spec: { restartPolicy: 'Never' } },
        ttlSecondsAfterFinished: 0,
        completionMode: 'Indexed',
        suspend: false,
        podReplacementPolicy: 'Failed',
        managedBy: 'kubernetes.io/job-controller',
      },
      status: {
        conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: '2023-11-14T22:13:20Z' }],
        startTime: '2023-11-14T22:13:20Z',
        succeeded: 5,
        failed: 1,
        terminating: 0,
        completedIndexes: '0-4',
        uncountedTerminatedPods: { succeeded: ['uid-a'], failed: ['uid-b'] },
        ready: 0,
      },
    });
  });

  it('decodes a CronJob with every spec field and its status', () => {
    const spec = msg(2, len(1, '@hourly'), len(8, 'Etc/UTC'), num(2, 0), len(3, 'Forbid'), num(4, false),
      msg(5, msg(1, entry(11, 'app', 'report')), msg(2, num(7, 1))), num(6, 0), num(7, 1));
    const status = msg(3, msg(1, len(1, 'Job'), len(2, 'default'), len(3, 'c-1'), len(4, 'uid')), msg(4, num(1, 1700000000)), msg(5));
    expect(decodeProtobuf(body('batch/v1', 'CronJob', spec, status)).object).toEqual({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      spec: {
        schedule: '@hourly',
        timeZone: 'Etc/UTC',
        startingDeadlineSeconds: 0,
        concurrencyPolicy: 'Forbid',
        suspend: false,
        jobTemplate: { metadata: { labels: { app: 'report' } }, spec: { backoffLimit: 1 } },
        successfulJobsHistoryLimit: 0,
        failedJobsHistoryLimit: 1,
      },
      status: { active: [{ kind: 'Job', namespace: 'default', name: 'c-1', uid: 'uid' }], lastScheduleTime: '2023-11-14T22:13:20Z' },
    });
  });

  it('decodes a DaemonSet and a ControllerRevision, whose data is raw JSON', () => {
    const spec = msg(2, msg(1, entry(1, 'app', 'agent')), msg(2, msg(1, entry(11, 'app', 'agent'))),
      msg(3, len(1, 'RollingUpdate'), msg(2, msg(1, num(1, 0), num(2, 0)), msg(2, num(1, 1), len(3, '25%')))), num(4, 0), num(6, 0));
    const status = msg(3, num(1, 3), num(2, 0), num(3, 3), num(4, 2), num(5, 4), num(6, 3), num(7, 2), num(8, 1), num(9, 0),
      msg(10, len(1, 'X'), len(2, 'False')));
    expect(decodeProtobuf(body('apps/v1', 'DaemonSet', spec, status)).object).toEqual({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: { metadata: { labels: { app: 'agent' } } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
        revisionHistoryLimit: 0,
      },
      status: {
        currentNumberScheduled: 3, desiredNumberScheduled: 3, numberReady: 2, observedGeneration: 4, updatedNumberScheduled: 3,
        numberAvailable: 2, numberUnavailable: 1, collisionCount: 0, conditions: [{ type: 'X', status: 'False' }],
      },
    });
    const data = '{"spec":{"template":{"$patch":"replace","spec":{"containers":[{"name":"a","image":"x:2"}]}}}}';
    const revision = decodeProtobuf(body('apps/v1', 'ControllerRevision', msg(1, len(1, 'agent-5d8f')), msg(2, len(1, data)), num(3, 2)));
    expect(revision.object).toEqual({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'agent-5d8f' }, data: JSON.parse(data), revision: 2 });
    expect(decodeError(body('apps/v1', 'ControllerRevision', msg(2, len(1, '{not json'))))).toMatch(/data.*not JSON/);
  });

  it('decodes a PodDisruptionBudget with its status: disruptedPods times and conditions', () => {
    const spec = msg(2, msg(1, num(1, 0), num(2, 0)), msg(2), msg(3, num(1, 1), len(3, '10%')), len(4, 'AlwaysAllow'));
    const condition = msg(7, len(1, 'DisruptionAllowed'), len(2, 'True'), num(3, 2), msg(4, num(1, 1700000000)), len(5, 'SufficientPods'), len(6, ''));
    const status = msg(3, num(1, 2), entry(2, 'web-1', num(1, 1700000000)), num(3, 1), num(4, 3), num(5, 2), num(6, 3), condition);
    expect(decodeProtobuf(body('policy/v1', 'PodDisruptionBudget', spec, status)).object).toEqual({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      spec: { minAvailable: 0, selector: {}, maxUnavailable: '10%', unhealthyPodEvictionPolicy: 'AlwaysAllow' },
      status: {
        observedGeneration: 2,
        disruptedPods: { 'web-1': '2023-11-14T22:13:20Z' },
        disruptionsAllowed: 1,
        currentHealthy: 3,
        desiredHealthy: 2,
        expectedPods: 3,
        conditions: [{ type: 'DisruptionAllowed', status: 'True', observedGeneration: 2, lastTransitionTime: '2023-11-14T22:13:20Z', reason: 'SufficientPods' }],
      },
    });
  });

  it('decodes an Eviction with its DeleteOptions, and DeleteOptions under the new groups', () => {
    const eviction = body('policy/v1', 'Eviction', msg(1, len(1, 'web-1'), len(3, 'default')), msg(2, num(1, 0), msg(2, len(1, 'uid-1')), len(5, 'All')));
    expect(decodeProtobuf(eviction).object).toEqual({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'web-1', namespace: 'default' },
      deleteOptions: { gracePeriodSeconds: 0, preconditions: { uid: 'uid-1' }, dryRun: ['All'] },
    });
    for (const apiVersion of ['batch/v1', 'policy/v1', 'autoscaling/v1', 'autoscaling/v2']) {
      expect(decodeProtobuf(body(apiVersion, 'DeleteOptions', len(4, 'Background'))).object).toEqual({ apiVersion, kind: 'DeleteOptions', propagationPolicy: 'Background' });
    }
  });

  it('decodes an autoscaling/v2 HorizontalPodAutoscaler: metrics of every source, behavior, status', () => {
    const target = (...f: number[][]) => msg(2, ...f);
    const identifier = msg(1, len(1, 'qps'), msg(2, entry(1, 'a', 'b')));
    const metrics = [
      msg(4, len(1, 'Resource'), msg(4, len(1, 'memory'), target(len(1, 'AverageValue'), msg(3, len(1, '200Mi'))))),
      msg(4, len(1, 'ContainerResource'), msg(7, len(1, 'cpu'), target(len(1, 'Utilization'), num(4, 0)), len(3, 'app'))),
      msg(4, len(1, 'Pods'), msg(3, identifier, target(len(1, 'AverageValue'), msg(3, len(1, '10'))))),
      msg(4, len(1, 'Object'), msg(2, msg(1, len(1, 'Ingress'), len(2, 'main'), len(3, 'networking.k8s.io/v1')), target(len(1, 'Value'), msg(2, len(1, '2k'))), msg(3, len(1, 'rps')))),
      msg(4, len(1, 'External'), msg(5, msg(1, len(1, 'queue')), target(len(1, 'Value'), msg(2, len(1, '30'))))),
    ];
    const behavior = msg(5,
      msg(1, num(3, 0), len(1, 'Max'), msg(2, len(1, 'Pods'), num(2, 4), num(3, 15)), msg(2, len(1, 'Percent'), num(2, 100), num(3, 15))),
      msg(2, num(3, 300), msg(4, len(1, '0.05'))));
    const spec = msg(2, msg(1, len(1, 'Deployment'), len(2, 'web')), num(2, 1), num(3, 10), ...metrics, behavior);
    const status = msg(3, num(1, 0), msg(2, num(1, 1700000000)), num(3, 2), num(4, 4),
      msg(5, len(1, 'Resource'), msg(4, len(1, 'cpu'), msg(2, msg(2, len(1, '450m')), num(3, 90)))),
      msg(6, len(1, 'AbleToScale'), len(2, 'True'), msg(3), len(4, 'SucceededRescale'), len(5, 'the HPA controller was able to update the target scale to 4')));
    expect(decodeProtobuf(body('autoscaling/v2', 'HorizontalPodAutoscaler', spec, status)).object).toEqual({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      spec: {
        scaleTargetRef: { kind: 'Deployment', name: 'web' },
        minReplicas: 1,
        maxReplicas: 10,
        metrics: [
          { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '200Mi' } } },
          { type: 'ContainerResource', containerResource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 0 }, container: 'app' } },
          { type: 'Pods', pods: { metric: { name: 'qps', selector: { matchLabels: { a: 'b' } } }, target: { type: 'AverageValue', averageValue: '10' } } },
          { type: 'Object', object: { describedObject: { kind: 'Ingress', name: 'main', apiVersion: 'networking.k8s.io/v1' }, target: { type: 'Value', value: '2k' }, metric: { name: 'rps' } } },
          { type: 'External', external: { metric: { name: 'queue' }, target: { type: 'Value', value: '30' } } },
        ],
        behavior: {
          scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] },
          scaleDown: { stabilizationWindowSeconds: 300, tolerance: '0.05' },
        },
      },
      status: {
        observedGeneration: 0,
        lastScaleTime: '2023-11-14T22:13:20Z',
        currentReplicas: 2,
        desiredReplicas: 4,
        currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageValue: '450m', averageUtilization: 90 } } }],
        conditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: 'the HPA controller was able to update the target scale to 4' }],
      },
    });
  });

  it('decodes an autoscaling/v1 HorizontalPodAutoscaler status', () => {
    const status = msg(3, num(1, 3), msg(2), num(3, 2), num(4, 2), num(5, 0));
    expect(decodeProtobuf(body('autoscaling/v1', 'HorizontalPodAutoscaler', status)).object).toEqual({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      status: { observedGeneration: 3, currentReplicas: 2, desiredReplicas: 2, currentCPUUtilizationPercentage: 0 },
    });
  });
});
