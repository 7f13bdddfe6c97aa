// kubectl 1.27, 1.30 and 1.33 against one `skiff serve`: each asks for discovery and OpenAPI in
// its own way (aggregated discovery v2beta1 or v2; OpenAPI v2 as protobuf or v3), and each must
// apply, print, explain and validate as against kube-apiserver.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

const VERSIONS = ['1.27', '1.30', '1.33'];
const binary = (v: string) => `/usr/lib/google-cloud-sdk/bin/kubectl.${v}`;
const present = VERSIONS.filter((v) => existsSync(binary(v)));
for (const v of VERSIONS) if (!present.includes(v)) console.warn(`kubectl-versions.test.ts: kubectl ${v} skipped, ${binary(v)} is absent`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let server: SkiffServer | undefined;
beforeAll(async () => {
  if (present.length) server = await startSkiff();
});
afterAll(async () => {
  await server?.stop();
});

/** kubectl VERSION with its own discovery cache (`cache`), against the file's server. */
function kubectl(v: string, cache: string, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(binary(v), ['--cache-dir', cache, ...args], { env: { ...process.env, KUBECONFIG: server!.kubeconfig }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

const deployment = (ns: string, replicas: number) => JSON.stringify({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] } },
  },
});
const service = (ns: string) => JSON.stringify({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: ns },
  spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 80 }] },
});
const both = (ns: string, replicas: number) => `${deployment(ns, replicas)}\n${service(ns)}`;

/** The URLs a kubectl run asked for, from its -v=6 log (both log formats). */
const requested = (log: string) => [...log.matchAll(/(?:GET |url=")(https:\/\/[^\s"?]+)/g)].map((m) => new URL(m[1]).pathname);

for (const v of VERSIONS) {
  describe.skipIf(!present.includes(v))(`kubectl ${v}`, () => {
    const ns = `kv-${v.replace('.', '-')}`;
    const cache = tempDir(`skiff-kubectl-${v}-`);
    const k = async (args: string[], stdin?: string) => {
      const r = await kubectl(v, cache, args, stdin);
      expect(r.code, `kubectl ${v} ${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const aggregatedVersion = v === '1.27' ? 'v2beta1' : 'v2';

    it('discovers in two requests, /api and /apis, aggregated', async () => {
      const r = await kubectl(v, tempDir('skiff-kubectl-empty-'), ['get', 'pods', '-A', '-v=6']);
      expect(r.code, r.stderr).toBe(0);
      expect(requested(r.stderr)).toEqual(['/api', '/apis', '/api/v1/pods']);
      // What kubectl was answered, asked the way it asks.
      const accept = v === '1.27'
        ? 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json'
        : 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
      const res = await server!.request('/apis', { headers: { accept } });
      expect(res.headers['content-type']).toBe(`application/json;g=apidiscovery.k8s.io;v=${aggregatedVersion};as=APIGroupDiscoveryList`);
      const groups = res.json().items.map((g: { metadata: { name: string } }) => g.metadata.name);
      expect(groups).toEqual(expect.arrayContaining(['apps', 'metrics.k8s.io']));
      // `get --raw` asks for plain JSON: the legacy document, which says the same.
      const legacy = JSON.parse(await k(['get', '--raw', '/apis']));
      expect(legacy.kind).toBe('APIGroupList');
      expect(legacy.groups.map((g: { name: string }) => g.name)).toEqual(groups);
      await k(['create', 'namespace', ns]);
    });

    it('applies client-side, then as a no-op, then server-side', async () => {
      expect(await k(['apply', '-f', '-'], both(ns, 2))).toBe('deployment.apps/web created\nservice/web created\n');
      expect(await k(['apply', '-f', '-'], both(ns, 2))).toBe('deployment.apps/web unchanged\nservice/web unchanged\n');
      expect(await k(['apply', '-f', '-'], both(ns, 3))).toBe('deployment.apps/web configured\nservice/web unchanged\n');
      expect(await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], both(ns, 4)))
        .toBe('deployment.apps/web serverside-applied\nservice/web serverside-applied\n');
      expect(await k(['get', 'deployment', 'web', '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).toBe('4');
    });

    it('prints with -o wide, yaml and json', async () => {
      const wide = (await k(['get', 'deployment,service', '-n', ns, '-o', 'wide'])).split('\n');
      expect(wide[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/);
      expect(wide[1]).toMatch(/^deployment\.apps\/web\s+\d\/4\s+.*\s+main\s+nginx:1\.27\s+app=web$/);
      expect(wide.some((l) => /^service\/web\s+ClusterIP\s+[\d.]+\s+<none>\s+80\/TCP\s+.*app=web$/.test(l))).toBe(true);
      const yaml = parseYaml(await k(['get', 'service', 'web', '-n', ns, '-o', 'yaml']));
      expect(yaml).toMatchObject({ apiVersion: 'v1', kind: 'Service', spec: { ports: [{ port: 80, protocol: 'TCP' }] } });
      const json = JSON.parse(await k(['get', 'deployment', 'web', '-n', ns, '-o', 'json']));
      expect(json).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 4 } });
    });

    it('explains from OpenAPI v3, and from v2 (protobuf) when asked', async () => {
      expect(await k(['explain', 'deployment.spec.replicas'])).toMatch(/FIELD:\s+replicas\s+<integer>/);
      const v2 = await k(['explain', 'deployment.spec.template.spec.containers', '--output=plaintext-openapiv2']);
      expect(v2).toMatch(/RESOURCE:\s+containers\s+<\[\]Object>/);
      expect(v2).toMatch(/image\s+<string>/);
    });

    it('refuses an unknown field under --validate=strict with the server\'s message', async () => {
      const manifest = JSON.parse(deployment(ns, 1));
      manifest.metadata.name = 'strict';
      manifest.spec.bogus = true;
      const r = await kubectl(v, cache, ['create', '--validate=strict', '-f', '-'], JSON.stringify(manifest));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Error from server \(BadRequest\): error when creating "STDIN": .*strict decoding error: unknown field "spec\.bogus"\n$/);
      expect((await kubectl(v, cache, ['get', 'deployment', 'strict', '-n', ns])).code).toBe(1);
    });
  });
}
