// Reaching into a node that accepts no connection: a real `skiff agent` (process runtime) dials its
// tunnel to a real `skiff serve`, and kubectl's logs, exec, cp, port-forward and top, and the pod
// proxy, all go through that tunnel. The agent listens on nothing.
//
// What each kubectl does, as these tests run them (KUBECTL_REMOTE_COMMAND_WEBSOCKETS and
// KUBECTL_PORT_FORWARD_WEBSOCKETS unset):
// - logs: a plain GET of pods/NAME/log (with follow, tailLines, ... as query parameters), every version.
// - exec, attach, cp: 1.27-1.29 upgrade to SPDY/3.1 (X-Stream-Protocol-Version v4..v1); 1.30 and later
//   upgrade to a WebSocket with v5.channel.k8s.io first (falling back to SPDY only if that upgrade fails).
// - port-forward: 1.27-1.30 upgrade to SPDY/3.1 (portforward.k8s.io); 1.31 and later a WebSocket
//   with the subprotocol SPDY/3.1+portforward.k8s.io, which carries SPDY inside.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { freePort } from '../helpers/free-port.js';
import { repoRoot, runSkiff, startSkiff, tempDir, type CommandResult, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const ECHO = join(repoRoot, 'test/fixtures/agent/echo.mjs');
const NODE = 'reach-1';
const VERSIONS = ['1.27', '1.30', '1.33'];
const kubectlOf = (v: string) => `/usr/lib/google-cloud-sdk/bin/kubectl.${v}`;
const missing = VERSIONS.filter((v) => !existsSync(kubectlOf(v)));
if (missing.length) console.warn(`skipping the tests of kubectl ${missing.join(', ')}: not installed at ${kubectlOf('VERSION')}`);

describe('logs, exec, cp, port-forward and top through the tunnel of an agent behind no open port', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let joinToken: string;
  const cacheDirs = new Map<string, string>();

  const run = (version: string, args: string[], stdin?: string | Buffer, timeoutMs = 30_000): Promise<CommandResult> => {
    const child = start(version, args);
    child.stdin!.end(stdin);
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`kubectl ${args.join(' ')} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code });
      });
    });
  };
  const start = (version: string, args: string[]): ChildProcess => {
    if (!cacheDirs.has(version)) cacheDirs.set(version, tempDir(`skiff-kubectl-${version}-`));
    const child = spawn(kubectlOf(version), ['--cache-dir', cacheDirs.get(version)!, ...args], {
      env: { ...process.env, KUBECONFIG: server.kubeconfig },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    return child;
  };
  const children: ChildProcess[] = [];
  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r;
  };
  const say = (text: string) => api(`/api/v1/namespaces/default/pods/echo:8080/proxy/say?text=${encodeURIComponent(text)}`);

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    joinToken = created.stdout.trim();
    agent = startAgentProcess({ server: server.url, token: joinToken, caHash: caCertHash(server.ca), name: NODE, data: tempDir('skiff-reach-agent-') });
    await agent.ready;
    const container = (name: string, port: number) => ({
      name,
      image: 'node',
      command: [process.execPath, ECHO],
      ports: [{ containerPort: port }],
      env: [
        { name: 'PORT', value: String(port) },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ],
    });
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { metadata: { name: 'echo', labels: { app: 'echo' } }, spec: { nodeName: NODE, containers: [container('echo', 8080), container('side', 8081)] } },
    });
    await until('the echo pod to run, and its logs to be reachable', async () => {
      const pod = (await api('/api/v1/namespaces/default/pods/echo')).json();
      if (pod.status?.phase !== 'Running') return false;
      const logs = await server.request('/api/v1/namespaces/default/pods/echo/log?container=echo');
      return logs.status === 200 && logs.text.includes('started');
    });
  }, 90_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await agent?.stop();
    await server?.stop();
  });

  describe.each(VERSIONS.filter((v) => !missing.includes(v)))('kubectl %s', (version) => {
    it('logs, and logs -f streams lines printed after it started', async () => {
      const all = await run(version, ['logs', 'echo', '-c', 'echo']);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toContain('echo started pid');

      const follow = start(version, ['logs', '-f', 'echo', '-c', 'echo', '--tail', '1']);
      let out = '';
      follow.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
      const line = `after-follow-${version}-${Date.now()}`;
      await until('kubectl logs -f to be running', async () => out.length > 0);
      await say(line);
      await until(`"${line}" to stream`, async () => out.includes(line));
      follow.kill('SIGINT');
    });

    it('exec carries the exit code and stdin', async () => {
      const exit = await run(version, ['exec', 'echo', '-c', 'echo', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(exit.code).toBe(3);
      expect(exit.stdout).toBe('out\n');
      expect(exit.stderr).toContain('err');

      const piped = await run(version, ['exec', '-i', 'echo', '-c', 'echo', '--', 'wc', '-c'], randomBytes(300_000));
      expect(piped.code, piped.stderr).toBe(0);
      expect(piped.stdout.trim()).toBe('300000');
    });

    it('exec and port-forward upgrade as that kubectl does (WebSocket from 1.30 and 1.31, else SPDY)', async () => {
      const minor = Number(version.split('.')[1]);
      const exec = await run(version, ['-v=8', 'exec', 'echo', '-c', 'echo', '--', 'true']);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stderr).toMatch(minor >= 30 ? /Sec-Websocket-Protocol: v5\.channel\.k8s\.io/ : /Upgrade: SPDY\/3\.1/);
      const port = await freePort();
      const pf = start(version, ['-v=8', 'port-forward', 'pod/echo', `${port}:8080`]);
      let out = '';
      pf.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
      pf.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
      await until('port-forward to listen', async () => out.includes('Forwarding from'));
      expect(out).toMatch(minor >= 31 ? /Sec-Websocket-Protocol: SPDY\/3\.1\+portforward\.k8s\.io/ : /Upgrade: SPDY\/3\.1/);
      expect(out).toContain('101 Switching Protocols');
      pf.kill('SIGINT');
    });

    it('port-forward carries an HTTP request and a 1 MiB body both ways', async () => {
      const port = await freePort();
      const pf = start(version, ['port-forward', 'pod/echo', `${port}:8080`]);
      let out = '';
      pf.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
      pf.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
      await until('port-forward to listen', async () => out.includes('Forwarding from'));
      const hello = await fetch(`http://127.0.0.1:${port}/hello`);
      expect(await hello.text()).toBe('echo /hello\n');
      const body = randomBytes(1024 * 1024);
      const echoed = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body });
      expect(Buffer.from(await echoed.arrayBuffer()).equals(body)).toBe(true);
      pf.kill('SIGINT');
    });
  });

  it('logs: --tail, --timestamps, --since, --limit-bytes, --all-containers, -l', async () => {
    await say('one');
    await say('two');
    const v = VERSIONS.find((x) => !missing.includes(x))!;
    const tail = await run(v, ['logs', 'echo', '-c', 'echo', '--tail', '1']);
    expect(tail.stdout).toBe('two\n');
    const stamped = await run(v, ['logs', 'echo', '-c', 'echo', '--tail', '1', '--timestamps']);
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z two\n$/);
    const since = await run(v, ['logs', 'echo', '-c', 'echo', '--since', '1h']);
    expect(since.stdout).toContain('one\ntwo\n');
    const whole = await run(v, ['logs', 'echo', '-c', 'echo']);
    const limited = await run(v, ['logs', 'echo', '-c', 'echo', '--limit-bytes', '20']);
    expect(limited.stdout).toBe(whole.stdout.slice(0, 20));
    const both = await run(v, ['logs', 'echo', '--all-containers']);
    expect(both.stdout).toContain('echo started');
    expect(both.stdout).toMatch(/started pid[\s\S]*started pid/);
    const byLabel = await run(v, ['logs', '-l', 'app=echo', '-c', 'side']);
    expect(byLabel.code, byLabel.stderr).toBe(0);
    expect(byLabel.stdout).toContain('echo started');
  });

  it('cp copies a file in and out', async () => {
    const v = VERSIONS.find((x) => !missing.includes(x))!;
    const dir = tempDir('skiff-cp-');
    const content = randomBytes(200_000).toString('base64');
    writeFileSync(join(dir, 'in.txt'), content);
    const target = `/tmp/skiff-cp-${process.pid}-${Date.now()}.txt`;
    const into = await run(v, ['cp', join(dir, 'in.txt'), `default/echo:${target}`, '-c', 'echo']);
    expect(into.code, into.stderr).toBe(0);
    const back = await run(v, ['cp', `default/echo:${target}`, join(dir, 'out.txt'), '-c', 'echo']);
    expect(back.code, back.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe(content);
    await run(v, ['exec', 'echo', '-c', 'echo', '--', 'rm', '-f', target]);
  });

  it('top pods and top nodes show the usage the agent samples', async () => {
    const v = VERSIONS.find((x) => !missing.includes(x))!;
    await until('kubectl top pods to show the pod', async () => {
      const top = await run(v, ['top', 'pods']);
      return top.code === 0 && /^echo\s+\d+m\s+\d+Mi/m.test(top.stdout) && top;
    });
    const nodes = await run(v, ['top', 'nodes']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(nodes.stdout).toMatch(new RegExp(`^${NODE}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm'));
    const containers = await run(v, ['top', 'pods', '--containers']);
    expect(containers.stdout).toMatch(/^echo\s+side\s+\d+m/m);
  });

  it('logs --previous shows the last run after a crash', async () => {
    await api('/api/v1/namespaces/default/pods/echo:8080/proxy/crash').catch(() => {});
    await until('the echo container to restart', async () => {
      const pod = (await api('/api/v1/namespaces/default/pods/echo')).json();
      const s = pod.status?.containerStatuses?.find((c: any) => c.name === 'echo');
      return s?.restartCount >= 1 && s.ready && pod;
    });
    const v = VERSIONS.find((x) => !missing.includes(x))!;
    const previous = await run(v, ['logs', 'echo', '-c', 'echo', '--previous']);
    expect(previous.code, previous.stderr).toBe(0);
    expect(previous.stdout).toContain('echo crashing');
    const current = await run(v, ['logs', 'echo', '-c', 'echo']);
    expect(current.stdout).not.toContain('echo crashing');
  });

  it('nodes/NAME/proxy reaches the agent\'s own endpoints; a node\'s credential reaches no pod\'s streams', async () => {
    const health = await api(`/api/v1/nodes/${NODE}/proxy/healthz`);
    expect(health.text).toBe('ok');
    const pods = (await api(`/api/v1/nodes/${NODE}/proxy/pods`)).json();
    expect(pods.items.map((p: any) => p.metadata.name)).toContain('echo');
    const stats = (await api(`/api/v1/nodes/${NODE}/proxy/stats/summary`)).json();
    expect(stats.pods.find((p: any) => p.name === 'echo')?.containers.length).toBe(2);

    const nodeToken = JSON.parse(readFileSync(join(agent.data, 'agent', 'credential.json'), 'utf8')).token;
    for (const path of ['/api/v1/namespaces/default/pods/echo/log', `/api/v1/nodes/${NODE}/proxy/pods`, '/apis/metrics.k8s.io/v1beta1/nodes']) {
      const r = await server.request(path, { token: nodeToken });
      expect(r.status, path).toBe(403);
    }
  });

  it('a dropped tunnel ends its streams with an error; the agent redials, also after the control plane restarts', async () => {
    const v = VERSIONS.find((x) => !missing.includes(x))!;
    const follow = start(v, ['logs', '-f', 'echo', '-c', 'echo']);
    let out = '';
    let err = '';
    follow.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    follow.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    const ended = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
    await until('logs -f to stream', async () => out.includes('started'));
    // The agent dies (its pods run on): the stream through its tunnel fails, as kubectl tells.
    await agent.kill('SIGKILL');
    expect(await ended).not.toBe(0);
    expect(err).toMatch(/error|EOF/i);
    agent = startAgentProcess({ server: server.url, caHash: caCertHash(server.ca), name: NODE, data: agent.data });
    await agent.ready;
    await until('logs through the new tunnel', async () => (await server.request('/api/v1/namespaces/default/pods/echo/log?container=echo')).status === 200);

    // A control plane that restarts: the agent redials it.
    const listen = new URL(server.url).host;
    await server.stop();
    server = await startSkiff({ data: server.data, listen, args: ['--reconcile-interval', '500ms'] });
    await until('logs through the redialled tunnel', async () => (await server.request('/api/v1/namespaces/default/pods/echo/log?container=echo')).status === 200, 60_000);
  });

  it('an Ingress routes two hostnames to two Services, and moves off a node whose agent stopped', async () => {
    const second = startAgentProcess({ server: server.url, token: joinToken, caHash: caCertHash(server.ca), name: 'reach-2', data: tempDir('skiff-reach-agent-') });
    await second.ready;
    try {
      const pod = (name: string, app: string, node: string) =>
        api('/api/v1/namespaces/default/pods', {
          method: 'POST',
          body: { metadata: { name, labels: { app } }, spec: { nodeName: node, containers: [{ name: 'echo', image: 'node', command: [process.execPath, ECHO], env: [{ name: 'POD_NAME', value: name }, { name: 'PORT', value: '8080' }] }] } },
        });
      await pod('alpha-1', 'alpha', NODE);
      await pod('alpha-2', 'alpha', 'reach-2');
      await pod('beta-1', 'beta', NODE);
      for (const app of ['alpha', 'beta']) {
        await api('/api/v1/namespaces/default/services', { method: 'POST', body: { metadata: { name: app }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } } });
      }
      const rule = (host: string, service: string) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } });
      await api('/apis/networking.k8s.io/v1/namespaces/default/ingresses', { method: 'POST', body: { metadata: { name: 'sites' }, spec: { rules: [rule('alpha.reach.test', 'alpha'), rule('beta.reach.test', 'beta')] } } });
      // As a browser would ask for https://alpha.reach.test/where with its name resolved to the server:
      // the certificate is skiff's own (verified against its CA), for the server's address, not the host's.
      const get = (host: string) =>
        new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = httpsRequest(`${server.url}/where`, { ca: server.ca, headers: { host }, checkServerIdentity: () => undefined }, (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (s: string) => (text += s));
            res.on('end', () => resolve({ status: res.statusCode!, text }));
          });
          req.on('error', reject);
          req.end();
        });
      await until('both alpha pods to serve through the Ingress', async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 10; i++) {
          const r = await get('alpha.reach.test');
          if (r.status === 200) seen.add(r.text);
        }
        return seen.has('alpha-1 /where\n') && seen.has('alpha-2 /where\n');
      });
      // beta-1 may start after both alpha pods: its endpoint comes once it is Ready.
      const beta = await until('beta-1 to serve through the Ingress', async () => {
        const r = await get('beta.reach.test');
        return r.status === 200 && r.text;
      });
      expect(beta).toBe('beta-1 /where\n');
      // kubectl port-forward to a Service (and a Deployment) picks one of its pods, and the Service's targetPort.
      const v = VERSIONS.find((x) => !missing.includes(x))!;
      const port = await freePort();
      const pf = start(v, ['port-forward', 'svc/beta', `${port}:80`]);
      let out = '';
      pf.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      await until('port-forward svc/beta to listen', async () => out.includes('Forwarding from'));
      expect(await (await fetch(`http://127.0.0.1:${port}/svc`)).text()).toBe('beta-1 /svc\n');
      pf.kill('SIGINT');
      const ingress = (await api('/apis/networking.k8s.io/v1/namespaces/default/ingresses/sites')).json();
      expect(ingress.status.loadBalancer.ingress).toEqual([{ ip: '127.0.0.1' }]);

      // The stopped node's pod is still a ready endpoint (its node is not NotReady yet): the Ingress skips it.
      await second.stop();
      for (let i = 0; i < 10; i++) {
        const r = await get('alpha.reach.test');
        expect(r.status, r.text).toBe(200);
        expect(r.text).toBe('alpha-1 /where\n');
      }
    } finally {
      await second.stop();
    }
  });

  it('answers 503 "not connected" once the agent is stopped', async () => {
    await agent.stop();
    const res = await server.request('/api/v1/namespaces/default/pods/echo/log?container=echo');
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect(res.json().message).toContain(`node "${NODE}" is not connected`);
    const v = VERSIONS.find((x) => !missing.includes(x))!;
    const logs = await run(v, ['logs', 'echo', '-c', 'echo']);
    expect(logs.code).not.toBe(0);
    expect(logs.stderr).toContain('is not connected');
  });
});
