// Pods' ServiceAccount tokens on the agent (src/agent/service-account.ts), against a stand-in API and
// clock: what is asked for (kubelet's TokenRequest), the folder written, refresh at 80% of a token's
// life, the last token kept while no new one can be had, automountServiceAccountToken, and a control
// plane without TokenRequest.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError, UnreachableError } from '../../src/agent/client.js';
import { kubernetesEnv } from '../../src/agent/env.js';
import { SERVICE_ACCOUNT_MOUNT, ServiceAccountTokens, serviceAccountMount } from '../../src/agent/service-account.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'skiff-sa-'));
  dirs.push(d);
  return join(d, 'serviceaccount');
};

const pod = (spec: any = {}, name = 'p1', uid = '11111111-2222-3333-4444-555555555555') => ({
  metadata: { name, namespace: 'team', uid },
  spec: { containers: [{ name: 'c' }], ...spec },
});

/** A stand-in API: TokenRequests answered with tokens living `life` seconds of the fake clock, or failing as told. */
function fakeApi(clock: { now: number }, life = 3607) {
  const calls: { path: string; body: any }[] = [];
  let n = 0;
  const api = {
    calls,
    fail: undefined as Error | undefined,
    serviceAccounts: new Map<string, any>(),
    async create(path: string, body: any) {
      calls.push({ path, body });
      if (api.fail) throw api.fail;
      n++;
      return {
        ...body,
        spec: { ...body.spec, expirationSeconds: life },
        status: { token: `token-${n}`, expirationTimestamp: new Date(clock.now + life * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
      };
    },
    async read(path: string) {
      return api.serviceAccounts.get(path);
    },
  };
  return api;
}

function tokens(clock: { now: number }, api: ReturnType<typeof fakeApi>, log: string[] = []) {
  return new ServiceAccountTokens({ api, sources: api, caCert: () => 'CA PEM', log: (l) => log.push(l), now: () => clock.now, random: () => 0 });
}

describe('ServiceAccount tokens on the agent', () => {
  it('asks as kubelet does and writes token, ca.crt and namespace by rename', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock);
    const dir = tempDir();
    const t = tokens(clock, api);
    expect(await t.volume(pod({ serviceAccountName: 'robot' }), dir)).toBe(dir);
    expect(api.calls).toEqual([
      {
        path: '/api/v1/namespaces/team/serviceaccounts/robot/token',
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          metadata: { name: 'robot', namespace: 'team' },
          spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: '11111111-2222-3333-4444-555555555555' } },
        },
      },
    ]);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'namespace', 'token']);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-1');
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe('CA PEM');
    expect(readFileSync(join(dir, 'namespace'), 'utf8')).toBe('team');
    expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o644);
    // The default ServiceAccount when the pod names none.
    await t.volume(pod({}, 'p2', '21111111-2222-3333-4444-555555555555'), tempDir());
    expect(api.calls[1]!.path).toBe('/api/v1/namespaces/team/serviceaccounts/default/token');
  });

  it('refreshes a token once 80% of its life has passed, not before', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock, 1000);
    const dir = tempDir();
    const t = tokens(clock, api);
    const p = pod();
    await t.volume(p, dir);
    clock.now += 799_000;
    await t.volume(p, dir);
    expect(api.calls).toHaveLength(1);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-1');
    clock.now += 2_000;
    await t.volume(p, dir);
    expect(api.calls).toHaveLength(2);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-2');
    expect(readdirSync(dir).some((f) => f.includes('tmp'))).toBe(false);
  });

  it('keeps the last token while the control plane cannot give a new one, and backs off', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock, 1000);
    const log: string[] = [];
    const dir = tempDir();
    const t = tokens(clock, api, log);
    const p = pod();
    await t.volume(p, dir);
    api.fail = new UnreachableError('cannot reach https://cp: connect ECONNREFUSED', 'ECONNREFUSED');
    clock.now += 900_000;
    await t.volume(p, dir);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-1');
    expect(log.some((l) => /keeping its last ServiceAccount token/.test(l))).toBe(true);
    const asked = api.calls.length;
    clock.now += 500; // within the back-off: not asked again
    await t.volume(p, dir);
    expect(api.calls.length).toBe(asked);
    // Past its expiry too, it stays: the pod keeps running with it.
    api.fail = undefined;
    clock.now += 200_000;
    await t.volume(p, dir);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-2');
  });

  it('makes a new pod wait with kubelet\'s message until its first token, unless a token was written before (an agent restart)', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock);
    api.fail = new ApiError(403, 'Forbidden', 'serviceaccounts "default" is forbidden: no relationship found');
    const t = tokens(clock, api);
    const dir = tempDir();
    const err = await t.volume(pod(), dir).catch((e) => e);
    expect(err).toMatchObject({ reason: 'ContainerCreating' });
    expect(err.message).toBe('MountVolume.SetUp failed for volume "kube-api-access" : failed to fetch token: serviceaccounts "default" is forbidden: no relationship found');
    // What an agent restarted while offline finds: the folder it wrote before.
    const restarted = tokens(clock, api);
    const old = tempDir();
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'token'), 'token-from-before');
    api.fail = new UnreachableError('offline');
    expect(await restarted.volume(pod(), old)).toBe(old);
    expect(readFileSync(join(old, 'token'), 'utf8')).toBe('token-from-before');
    // A folder set up before without a token (none was served then) serves as it is.
    const tokenless = tempDir();
    mkdirSync(tokenless, { recursive: true });
    writeFileSync(join(tokenless, 'namespace'), 'team');
    expect(await tokens(clock, api).volume(pod(), tokenless)).toBe(tokenless);
    expect(readdirSync(tokenless).sort()).toEqual(['ca.crt', 'namespace']);
  });

  it('follows automountServiceAccountToken: the pod\'s own, else its ServiceAccount\'s', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock);
    const t = tokens(clock, api);
    api.serviceAccounts.set('/api/v1/namespaces/team/serviceaccounts/quiet', { metadata: { name: 'quiet' }, automountServiceAccountToken: false });
    expect(await t.volume(pod({ automountServiceAccountToken: false }), tempDir())).toBeUndefined();
    expect(await t.volume(pod({ serviceAccountName: 'quiet' }), tempDir())).toBeUndefined();
    expect(await t.volume(pod({ serviceAccountName: 'quiet', automountServiceAccountToken: true }), tempDir())).toBeTruthy();
    expect(api.calls).toHaveLength(1);
  });

  it('mounts a folder without a token where the control plane serves no TokenRequest', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock);
    api.fail = new ApiError(404, 'NotFound', 'the server could not find the requested resource', { kind: 'Status', code: 404 });
    const log: string[] = [];
    const dir = tempDir();
    expect(await tokens(clock, api, log).volume(pod(), dir)).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'namespace']);
    expect(log[0]).toMatch(/serves no TokenRequest/);
  });

  it('runs a pod whose ServiceAccount does not exist yet without a token, which comes once it does', async () => {
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    const api = fakeApi(clock);
    api.fail = new ApiError(404, 'NotFound', 'serviceaccounts "late" not found', { kind: 'Status', code: 404, details: { name: 'late', kind: 'serviceaccounts' } });
    const log: string[] = [];
    const t = tokens(clock, api, log);
    const dir = tempDir();
    const p = pod({ serviceAccountName: 'late' });
    expect(await t.volume(p, dir)).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'namespace']);
    expect(log).toEqual(['pod team/p1 runs without a ServiceAccount token for now: failed to fetch token: serviceaccounts "late" not found']);
    api.fail = undefined;
    await t.volume(p, dir); // within the back-off
    expect(readdirSync(dir)).not.toContain('token');
    clock.now += 1_000;
    await t.volume(p, dir);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-1');
  });

  it('mounts the folder read-only unless the container mounts something there itself', () => {
    expect(serviceAccountMount({ name: 'c' }, '/d')).toEqual({ hostPath: '/d', containerPath: SERVICE_ACCOUNT_MOUNT, readOnly: true });
    expect(serviceAccountMount({ name: 'c', volumeMounts: [{ name: 'own', mountPath: `${SERVICE_ACCOUNT_MOUNT}/` }] }, '/d')).toBeUndefined();
    expect(serviceAccountMount({ name: 'c' }, undefined)).toBeUndefined();
  });

  it('sets the kubernetes Service\'s variables to the node-local endpoint', () => {
    expect(Object.fromEntries(kubernetesEnv({ host: '10.244.1.1', port: 443 }))).toEqual({
      KUBERNETES_SERVICE_HOST: '10.244.1.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.244.1.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.244.1.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.244.1.1',
    });
  });
});
