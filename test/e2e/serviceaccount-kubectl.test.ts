// kubectl against ServiceAccounts and their tokens: `kubectl get sa`, `kubectl create token` (sent as
// protobuf) with its flags, and `kubectl auth whoami` with the token made, against an in-process HTTPS server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { storeAuthenticator } from '../../src/api/auth/identity.js';
import { reconcile } from '../../src/control/pass.js';
import { ensureCredentials } from '../../src/node/certs.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { renderKubeconfig } from '../../src/node/kubeconfig.js';
import { migrate } from '../../src/node/migrate.js';
import { systemClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { hasKubectl, kubectl } from '../helpers/skiff-server.js';

describe.skipIf(!hasKubectl)('kubectl and ServiceAccount tokens (needs /usr/bin/kubectl)', { timeout: 60_000 }, () => {
  let dir: string;
  let store: Store;
  let server: Server;
  let url: string;
  let caCert: string;
  const as = (name: string, token: string) => {
    const kubeconfig = join(dir, `kubeconfig-${name}`);
    writeFileSync(kubeconfig, renderKubeconfig({ server: url, caCert, token, user: name }));
    return (...args: string[]) => kubectl(args, { kubeconfig, cacheDir: join(dir, `cache-${name}`) });
  };
  let admin: ReturnType<typeof as>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-sa-kubectl-'));
    const creds = ensureCredentials(dir, '127.0.0.1');
    caCert = creds.caCert;
    const client = openClient(`file:${join(dir, 'skiff.db')}`);
    await migrate(client);
    store = new Store(client, systemClock);
    await store.init();
    await reconcile(store, systemClock);
    const authn = storeAuthenticator({ store, clock: systemClock, adminToken: creds.token });
    const app = createApp({ store, clock: systemClock, authenticate: authn });
    server = createServer({ key: creds.serverKey, cert: creds.serverCert }, createNodeAdapter((req: Request) => app.fetch(req)).listener);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = as('admin', creds.token);
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the default ServiceAccounts as kubectl prints them', async () => {
    const res = await admin('get', 'sa', '-A');
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^NAMESPACE\s+NAME\s+SECRETS\s+AGE$/m);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) expect(res.stdout).toMatch(new RegExp(`^${ns}\\s+default\\s+0\\s+`, 'm'));
  });

  it('creates a token bound to a pod that kubectl auth whoami shows as the ServiceAccount', async () => {
    expect((await admin('create', 'serviceaccount', 'builder')).code).toBe(0);
    expect((await admin('run', 'web', '--image=nginx', '--overrides', '{"spec":{"serviceAccountName":"builder"}}')).code).toBe(0);
    const made = await admin('create', 'token', 'builder', '--duration', '20m', '--audience', 'https://kubernetes.default.svc.cluster.local', '--audience', 'vault',
      '--bound-object-kind', 'Pod', '--bound-object-name', 'web');
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims.aud).toEqual(['https://kubernetes.default.svc.cluster.local', 'vault']);
    expect(claims.exp - claims.iat).toBe(1200);
    expect(claims['kubernetes.io'].pod.name).toBe('web');

    const who = await as('builder', token)('auth', 'whoami');
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toMatch(/^Username\s+system:serviceaccount:default:builder$/m);
    expect(who.stdout).toMatch(/^Groups\s+\[system:serviceaccounts system:serviceaccounts:default system:authenticated\]$/m);
    expect(who.stdout).toMatch(/^Extra: authentication\.kubernetes\.io\/pod-name\s+\[web\]$/m);
  });

  it('refuses a duration under ten minutes, and a token for another audience does not authenticate', async () => {
    const short = await admin('create', 'token', 'builder', '--duration', '1m');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('may not specify a duration less than 10 minutes');
    const vault = (await admin('create', 'token', 'builder', '--audience', 'vault')).stdout.trim();
    const who = await as('vault', vault)('auth', 'whoami');
    expect(who.code).not.toBe(0);
    expect(who.stderr).toMatch(/Unauthorized|must be logged in/);
  });
});
