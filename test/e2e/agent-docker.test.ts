// A real `skiff agent --runtime docker` against a real `skiff serve` and a real Docker Engine, with
// images served by a local registry: pulls, ImagePullBackOff, imagePullPolicy Never, a two-container
// pod sharing localhost, and OOMKilled, as kubectl shows them.
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { until } from '../helpers/until.js';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { dockerAvailable, removeLabelledContainers, startDockerTestEnv, type DockerTestEnv } from '../helpers/docker.js';
import { hasKubectl, kubectlPath, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

const available = await dockerAvailable();
if (!available) console.warn('agent-docker.test.ts: no Docker Engine answers on /var/run/docker.sock, skipping (.ci/run starts one)');


describe.skipIf(!available)('skiff agent with the docker runtime', () => {
  let env: DockerTestEnv;
  let server: SkiffServer;
  let agent: AgentProcess;
  let ns: string;

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const createPod = (name: string, spec: any) =>
    api(`/api/v1/namespaces/${ns}/pods`, { method: 'POST', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec } });
  const pod = (name: string) => api(`/api/v1/namespaces/${ns}/pods/${name}`);
  const kubectlRow = async (name: string) => (await server.kubectl(['get', 'pod', name, '-n', ns, '--no-headers'])).stdout;

  beforeAll(async () => {
    env = await startDockerTestEnv();
    ns = `docker-${env.runId}`;
    server = await startSkiff();
    const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
    agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name: 'docker-1', data: tempDir('skiff-docker-agent-'), runtime: 'docker' });
    await agent.ready;
    await api('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await until('the node Ready', async () => {
      const node = await api('/api/v1/nodes/docker-1');
      return node.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
  }, 180_000);

  afterAll(async () => {
    // Pods deleted through the API, so the agent stops their containers; then whatever is left.
    await server?.request(`/api/v1/namespaces/${ns}/pods`, { method: 'DELETE' }).catch(() => {});
    await until('the pods gone', async () => (await api(`/api/v1/namespaces/${ns}/pods`)).items.length === 0, 60_000).catch(() => {});
    await agent?.stop();
    await server?.stop();
    if (env) {
      await removeLabelledContainers(env.docker, 'io.kubernetes.pod.namespace', ns);
      await env.cleanup();
    }
  }, 120_000);

  it('pulls from the registry and runs two containers that share localhost, reachable at the pod IP', async () => {
    await createPod('pair', {
      containers: [
        { name: 'server', image: env.image, imagePullPolicy: 'IfNotPresent', command: ['httpd', '-f', '-p', '8080', '-h', '/www'], readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } },
        {
          name: 'client',
          image: env.image,
          command: ['sh', '-c', 'until wget -q -O /tmp/got http://127.0.0.1:8080/; do sleep 0.5; done; sleep 3600'],
          readinessProbe: { exec: { command: ['cat', '/tmp/got'] }, periodSeconds: 1 },
        },
      ],
    });
    const p = await until('pair Ready', async () => {
      const p = await pod('pair');
      return p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && p;
    });
    for (const s of p.status.containerStatuses) {
      expect(s.containerID).toMatch(/^docker:\/\//);
      expect(s.imageID).toContain(env.digest);
    }
    const res = await fetch(`http://${p.status.podIP}:8080/`);
    expect(res.status).toBe(200);
  });

  it('reports ErrImagePull, then ImagePullBackOff, for a tag the registry does not have', async () => {
    await createPod('missing', { containers: [{ name: 'c', image: env.image.replace(/:1$/, ':missing'), command: ['sleep', '60'] }] });
    const seen = new Set<string>();
    await until('ImagePullBackOff', async () => {
      const reason = (await pod('missing')).status.containerStatuses?.[0]?.state.waiting?.reason;
      if (reason) seen.add(reason);
      return reason === 'ImagePullBackOff';
    });
    expect(seen.has('ErrImagePull') || seen.has('ImagePullBackOff')).toBe(true);
    if (hasKubectl) expect(await kubectlRow('missing')).toMatch(/missing\s+0\/1\s+(ImagePullBackOff|ErrImagePull)/);
  });

  it('never pulls with imagePullPolicy Never', async () => {
    await createPod('never', { containers: [{ name: 'c', image: env.image.replace(/:1$/, ':not-here'), imagePullPolicy: 'Never', command: ['sleep', '60'] }] });
    const waiting = await until('ErrImageNeverPull', async () => {
      const w = (await pod('never')).status.containerStatuses?.[0]?.state.waiting;
      return w?.reason === 'ErrImageNeverPull' && w;
    });
    expect(waiting.message).toMatch(/^Container image ".*:not-here" is not present with pull policy of Never$/);
  });

  it('reports a container killed for its memory limit as OOMKilled', async () => {
    await createPod('hog', {
      restartPolicy: 'Never',
      containers: [{ name: 'hog', image: env.image, command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], resources: { limits: { memory: '16Mi' } } }],
    });
    const p = await until('the hog terminated', async () => {
      const p = await pod('hog');
      return p.status.phase === 'Failed' && p;
    });
    expect(p.status.containerStatuses[0].state.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    if (hasKubectl) expect(await kubectlRow('hog')).toMatch(/hog\s+0\/1\s+OOMKilled\s+0/);
  });

  describe.skipIf(!hasKubectl)('through the node tunnel, with kubectl', () => {
    const k = (args: string[], stdin?: string) => server.kubectl(['-n', ns, ...args], stdin === undefined ? {} : { stdin });

    it('logs, logs --previous after a crash, exec with stdin and exit codes, and a terminal', async () => {
      await createPod('talk', {
        containers: [
          {
            name: 'talk',
            image: env.image,
            stdin: true,
            // Says each line it reads; a file the test touches makes it crash (exit 1), once.
            command: ['sh', '-c', 'echo talk up; while [ ! -f /tmp/crash ]; do if read -t 1 l; then echo "got $l"; fi; done; rm /tmp/crash; echo crashing; exit 1'],
          },
        ],
      });
      await until('talk Running', async () => (await pod('talk')).status.phase === 'Running');
      await until('its logs', async () => (await k(['logs', 'talk'])).stdout.includes('talk up'));

      const exit = await k(['exec', 'talk', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(exit, exit.stderr).toMatchObject({ code: 3, stdout: 'out\n' });
      expect(exit.stderr).toContain('err');
      const piped = await k(['exec', '-i', 'talk', '--', 'wc', '-c'], 'x'.repeat(100_000));
      expect(piped.stdout.trim()).toBe('100000');

      // A terminal for kubectl (script gives it one): the container sees a tty of the size kubectl sends
      // (the size follows the start by a moment, as with kubelet: kubectl sends it once the stream is up).
      const tty = spawnSync('script', ['-qec', `stty cols 101 rows 33; KUBECONFIG=${server.kubeconfig} kubectl --cache-dir ${server.cacheDir} exec -it -n ${ns} talk -- sh -c 'tty; sleep 0.5; stty size'`, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(tty.stdout, JSON.stringify(tty.stdout + tty.stderr)).toContain('33 101');

      // attach: what the container reads comes from kubectl's stdin, what it says comes back.
      const attach = spawn(kubectlPath, ['--cache-dir', server.cacheDir, 'attach', '-i', 'talk', '-n', ns], { env: { ...process.env, KUBECONFIG: server.kubeconfig } });
      let said = '';
      attach.stdout.setEncoding('utf8').on('data', (d: string) => (said += d));
      try {
        await until('attach to carry a line both ways', async () => {
          attach.stdin.write('hello\n');
          await new Promise((r) => setTimeout(r, 300));
          return said.includes('got hello');
        });
      } finally {
        attach.kill('SIGKILL');
      }

      await k(['exec', 'talk', '--', 'touch', '/tmp/crash']);
      await until('talk restarted', async () => (await pod('talk')).status.containerStatuses?.[0]?.restartCount >= 1);
      const previous = await k(['logs', 'talk', '--previous']);
      expect(previous.code, previous.stderr).toBe(0);
      expect(previous.stdout).toContain('got hello');
      expect(previous.stdout).toContain('crashing');
      expect((await k(['logs', 'talk'])).stdout).not.toContain('crashing');
    });

    it('mounts the pod\'s ServiceAccount token, CA and namespace, and points KUBERNETES_SERVICE_HOST at the node', async () => {
      await createPod('sa', { containers: [{ name: 'c', image: env.image, command: ['sleep', '3600'] }] });
      await until('sa Running', async () => (await pod('sa')).status.phase === 'Running');
      const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
      const namespace = await k(['exec', 'sa', '--', 'cat', `${dir}/namespace`]);
      expect(namespace.stdout).toBe(ns);
      expect((await k(['exec', 'sa', '--', 'cat', `${dir}/ca.crt`])).stdout).toContain('BEGIN CERTIFICATE');
      const vars = (await k(['exec', 'sa', '--', 'env'])).stdout;
      expect(vars).toMatch(/^KUBERNETES_SERVICE_HOST=\d+\.\d+\.\d+\.\d+$/m);
      expect(vars).toMatch(/^KUBERNETES_SERVICE_PORT=\d+$/m);
      // The token is the pod's own: the API takes it as the namespace's default ServiceAccount.
      const token = (await k(['exec', 'sa', '--', 'cat', `${dir}/token`])).stdout.trim();
      const who = await server.request('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        method: 'POST',
        token,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      expect(who.status, who.text).toBe(201);
      expect(who.json().status.userInfo.username).toBe(`system:serviceaccount:${ns}:default`);
      expect(who.json().status.userInfo.extra['authentication.kubernetes.io/pod-name']).toEqual(['sa']);
    });

    it('port-forward and the pod proxy reach its server', async () => {
      await createPod('site', { containers: [{ name: 'httpd', image: env.image, command: ['httpd', '-f', '-p', '8080', '-h', '/www'], readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } }] });
      await until('site Ready', async () => (await pod('site')).status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      const proxied = await server.request(`/api/v1/namespaces/${ns}/pods/site:8080/proxy/`);
      expect(proxied.status).toBe(200);
      const port = await freePort();
      const pf = spawn(kubectlPath, ['--cache-dir', server.cacheDir, 'port-forward', '-n', ns, 'pod/site', `${port}:8080`], { env: { ...process.env, KUBECONFIG: server.kubeconfig } });
      let out = '';
      pf.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      try {
        await until('port-forward to listen', async () => out.includes('Forwarding from'));
        const res = await fetch(`http://127.0.0.1:${port}/`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(proxied.text);
      } finally {
        pf.kill('SIGKILL');
      }
    });
  });
});
