// kubectl 1.32 against the OpenAPI documents, served by a throw-away HTTP server
// that answers discovery and OpenAPI only (plus create, checked the way
// kube-apiserver checks fieldValidation=Strict).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openapiV3Document, openapiV3Index, unknownFields } from '../../src/api/openapi/index';
import { openapiV2Response } from '../../src/api/openapi/v2';

const KUBECTL = '/usr/bin/kubectl';
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const resource = (name: string, kind: string, namespaced: boolean, extra: object = {}) =>
  ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: VERBS, ...extra });
const sub = (name: string, kind: string, verbs: string[], extra: object = {}) =>
  ({ name, singularName: '', namespaced: true, kind, verbs, ...extra });

const DISCOVERY: Record<string, object> = {
  '/api/v1': {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1', resources: [
      resource('namespaces', 'Namespace', false, { shortNames: ['ns'] }),
      resource('nodes', 'Node', false, { shortNames: ['no'] }),
      resource('pods', 'Pod', true, { shortNames: ['po'], categories: ['all'] }),
      sub('pods/status', 'Pod', ['get', 'patch', 'update']),
      sub('pods/eviction', 'Eviction', ['create'], { group: 'policy', version: 'v1' }),
      resource('services', 'Service', true, { shortNames: ['svc'], categories: ['all'] }),
      resource('endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
      resource('events', 'Event', true, { shortNames: ['ev'] }),
      resource('configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
      resource('secrets', 'Secret', true),
    ],
  },
  '/apis/apps/v1': {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apps/v1', resources: [
      resource('deployments', 'Deployment', true, { shortNames: ['deploy'], categories: ['all'] }),
      sub('deployments/scale', 'Scale', ['get', 'patch', 'update'], { group: 'autoscaling', version: 'v1' }),
      resource('replicasets', 'ReplicaSet', true, { shortNames: ['rs'], categories: ['all'] }),
    ],
  },
  '/apis/coordination.k8s.io/v1': {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'coordination.k8s.io/v1', resources: [resource('leases', 'Lease', true)],
  },
  '/apis/discovery.k8s.io/v1': {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'discovery.k8s.io/v1', resources: [resource('endpointslices', 'EndpointSlice', true)],
  },
};
const GROUPS = ['apps', 'coordination.k8s.io', 'discovery.k8s.io'].map((name) => ({
  name,
  versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
  preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
}));

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** Answers what kubectl asks for `explain` and `apply`/`create` (POST only with dryRun, as kube-apiserver would). */
function startServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && url.searchParams.get('dryRun') === 'All') {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        const obj = JSON.parse(text);
        const unknown = url.searchParams.get('fieldValidation') === 'Strict' ? unknownFields(obj.apiVersion, obj.kind, obj) : [];
        if (unknown.length === 0) return send(201, obj);
        send(400, status(400, 'BadRequest', `${obj.kind} in version "${obj.apiVersion.split('/').pop()}" cannot be handled as a ${obj.kind}: ` +
          `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`));
      });
      return;
    }
    if (req.method !== 'GET') return send(405, status(405, 'MethodNotAllowed', 'not allowed'));
    if (path === '/version') return send(200, { major: '1', minor: '32', gitVersion: 'v1.32.0', platform: 'linux/amd64' });
    if (path === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS });
    if (DISCOVERY[path]) return send(200, DISCOVERY[path]);
    if (path === '/openapi/v3') return send(200, openapiV3Index());
    const document = path.startsWith('/openapi/v3/') ? openapiV3Document(path.slice('/openapi/v3/'.length)) : undefined;
    if (document) return send(200, document);
    // JSON, or gnostic's protobuf (what kubectl 1.27 and 1.28 read), as skiff serves it.
    if (path === '/openapi/v2') {
      let reply: Response;
      try {
        reply = openapiV2Response(req.headers.accept);
      } catch {
        return send(406, status(406, 'NotAcceptable', 'not acceptable'));
      }
      res.writeHead(200, { 'content-type': reply.headers.get('content-type')! });
      void reply.arrayBuffer().then((b) => res.end(new Uint8Array(b)));
      return;
    }
    send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 1}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {disk: ssd}
      tolerations: [{key: dedicated, operator: Equal, value: web, effect: NoSchedule}]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 50
            podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}
      securityContext: {runAsNonRoot: true, fsGroup: 2000}
      containers:
      - name: web
        image: nginx:1.27
        imagePullPolicy: IfNotPresent
        args: ["--port", "8080"]
        ports: [{name: http, containerPort: 8080, protocol: TCP}]
        env:
        - {name: MODE, value: prod}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: creds, key: password}}
        envFrom: [{configMapRef: {name: settings}}]
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: "1", memory: 256Mi}
        livenessProbe:
          httpGet: {path: /healthz, port: http}
          initialDelaySeconds: 5
          periodSeconds: 10
        readinessProbe:
          tcpSocket: {port: 8080}
        startupProbe:
          exec: {command: [cat, /tmp/ready]}
          failureThreshold: 30
        lifecycle:
          preStop: {exec: {command: [sleep, "5"]}}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
        volumeMounts:
        - {name: config, mountPath: /etc/web, readOnly: true}
        - {name: cache, mountPath: /cache}
      volumes:
      - name: config
        configMap: {name: settings, items: [{key: app.conf, path: app.conf}]}
      - name: cache
        emptyDir: {sizeLimit: 1Gi}
`;

const SERVICE_AND_CONFIGMAP = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  app.conf: |
    listen 8080
`;

describe.skipIf(!existsSync(KUBECTL))('kubectl explain and validation against the OpenAPI documents (needs /usr/bin/kubectl)', () => {
  let server: Server;
  let dir: string;

  beforeAll(async () => {
    server = await startServer();
    dir = await mkdtemp(join(tmpdir(), 'skiff-openapi-'));
    await writeFile(join(dir, 'deployment.yaml'), DEPLOYMENT);
    await writeFile(join(dir, 'service.yaml'), SERVICE_AND_CONFIGMAP);
    await writeFile(join(dir, 'bad.yaml'), DEPLOYMENT.replace('        imagePullPolicy: IfNotPresent\n', '        imagePullPolicy: IfNotPresent\n        imagePolicy: Always\n'));
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const { port } = server.address() as AddressInfo;
    const flags = ['--server', `http://127.0.0.1:${port}`, '--cache-dir', join(dir, 'cache'), '--namespace', 'default'];
    return new Promise((resolve) => {
      execFile(KUBECTL, [...flags, ...args], { env: { ...process.env, KUBECONFIG: join(dir, 'no-kubeconfig') }, timeout: 30_000 },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
    });
  }

  it('explains deployment.spec.replicas', async () => {
    const r = await kubectl('explain', 'deployment.spec.replicas');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/KIND:\s+Deployment/);
    expect(r.stdout).toMatch(/FIELD: replicas <integer>/);
    expect(r.stdout).toContain('Number of desired pods');
  }, 30_000);

  it('explains pods.spec.containers.image and lists the fields of pod.spec.containers', async () => {
    const image = await kubectl('explain', 'pods.spec.containers.image');
    expect(image.stdout).toMatch(/FIELD: image <string>/);
    const containers = await kubectl('explain', 'pod.spec.containers');
    expect(containers.stdout).toMatch(/FIELD: containers <\[\]Container>/);
    for (const field of ['livenessProbe\t<Probe>', 'resources\t<ResourceRequirements>', 'env\t<[]EnvVar>', 'name\t<string> -required-']) {
      expect(containers.stdout).toContain(field);
    }
  }, 30_000);

  it('explains through references, maps and IntOrString', async () => {
    const limits = await kubectl('explain', 'pod.spec.containers.resources.limits');
    expect(limits.stdout).toMatch(/FIELD: limits <map\[string\]Quantity>/);
    const targetPort = await kubectl('explain', 'service.spec.ports.targetPort');
    expect(targetPort.stdout).toMatch(/FIELD: targetPort <IntOrString>/);
  }, 30_000);

  it('validates and applies an ordinary Deployment, Service and ConfigMap (client dry run, validation on)', async () => {
    const deployment = await kubectl('apply', '--dry-run=client', '-f', join(dir, 'deployment.yaml'));
    expect(deployment.stderr).toBe('');
    expect(deployment).toMatchObject({ code: 0, stdout: 'deployment.apps/web created (dry run)\n' });
    const others = await kubectl('create', '--dry-run=client', '-f', join(dir, 'service.yaml'));
    expect(others).toMatchObject({ code: 0, stdout: 'service/web created (dry run)\nconfigmap/settings created (dry run)\n' });
  }, 30_000);

  it('sends fieldValidation=Strict, and every field of the ordinary manifests is known to the schemas', async () => {
    const r = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', join(dir, 'deployment.yaml'), '-f', join(dir, 'service.yaml'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('deployment.apps/web created (server dry run)');
  }, 30_000);

  it('reports an unknown field with --validate=strict', async () => {
    const r = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', join(dir, 'bad.yaml'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (BadRequest)');
    expect(r.stderr).toContain('unknown field "spec.template.spec.containers[0].imagePolicy"');
  }, 30_000);
});
