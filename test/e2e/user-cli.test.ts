// `skiff user add|list|delete` as real processes against `skiff serve`: the kubeconfig printed
// authenticates as the user (kubectl auth whoami), and deleting the user makes its token 401.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeAuthenticator } from '../../src/api/auth/identity.js';
import { selfSubjectReview } from '../../src/api/auth/reviews.js';
import { systemClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { hasKubectl, kubectl, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users: { name: string; user: { token: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
}

describe('skiff user', { timeout: 90_000 }, () => {
  let server: SkiffServer;
  const user = (...args: string[]) => runSkiff(['user', ...args, '--data', server.data]);

  beforeAll(async () => {
    server = await startSkiff();
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('adds a user and prints a kubeconfig: the server and CA of `skiff kubeconfig`, the user\'s own token', async () => {
    const added = await user('add', 'alice', '--group', 'dev', '--group', 'ops');
    expect(added.code, added.stderr).toBe(0);
    const config = parseYaml(added.stdout) as Kubeconfig;
    const admin = parseYaml((await runSkiff(['kubeconfig', '--data', server.data])).stdout) as Kubeconfig;
    expect(config.clusters).toEqual(admin.clusters);
    expect(config.users).toEqual([{ name: 'alice', user: { token: expect.stringMatching(/^user\.[0-9a-f]{64}$/) } }]);
    expect(config.contexts).toEqual([{ name: 'alice@skiff', context: { cluster: 'skiff', user: 'alice' } }]);
    expect(config['current-context']).toBe('alice@skiff');
    const token = config.users[0]!.user.token;
    expect(token).not.toBe(server.token);

    // Who the token is, as SelfSubjectReview answers: through the server's own database.
    const client = openClient(`file:${join(server.data, 'skiff.db')}`);
    try {
      const authn = storeAuthenticator({ store: new Store(client, systemClock), clock: systemClock });
      const identity = await authn(token);
      expect(identity).toMatchObject({ user: 'alice', groups: ['dev', 'ops', 'system:authenticated'] });
      const review = (await selfSubjectReview(identity!).json()) as { status: { userInfo: unknown } };
      expect(review.status.userInfo).toEqual({ username: 'alice', uid: expect.any(String), groups: ['dev', 'ops', 'system:authenticated'] });
    } finally {
      client.close();
    }
    // Authenticated by the server: refused by authorization (403), not unknown (401).
    expect((await server.request('/api/v1/namespaces', { token })).status).toBe(403);

    const listed = await user('list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^USER\s+GROUPS\s+CREATED\s+UID$/m);
    expect(listed.stdout).toMatch(/^alice\s+dev,ops\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+[0-9a-f-]{36}$/m);
    expect(listed.stdout).not.toContain(token.slice(5));

    const again = await user('add', 'alice');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('user "alice" already exists');
  });

  it('makes kubectl auth whoami show the user and its groups', async (ctx) => {
    if (!hasKubectl) ctx.skip();
    const added = await user('add', 'bob', '--group', 'viewers');
    const file = join(tempDir('skiff-user-kubeconfig-'), 'kubeconfig');
    writeFileSync(file, added.stdout);
    const res = await kubectl(['auth', 'whoami'], { kubeconfig: file, cacheDir: server.cacheDir });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^Username\s+bob$/m);
    expect(res.stdout).toMatch(/^Groups\s+\[viewers system:authenticated\]$/m);
  });

  it('deletes a user: its token is refused (401) once the server\'s cache of it lapses', async () => {
    const added = await user('add', 'carol');
    const token = (parseYaml(added.stdout) as Kubeconfig).users[0]!.user.token;
    expect((await server.request('/api/v1/namespaces', { token })).status).toBe(403);
    expect(await user('delete', 'carol')).toMatchObject({ code: 0, stdout: 'user "carol" deleted\n' });
    let status = 0;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
      status = (await server.request('/api/v1/namespaces', { token })).status;
      if (status === 401) break;
    }
    expect(status).toBe(401);
    const gone = await user('delete', 'carol');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('user "carol" not found');
    expect((await user('list')).stdout).not.toMatch(/^carol/m);
  });

  it('refuses a malformed command or name, and a name that belongs to ServiceAccounts', async () => {
    expect((await user('add')).code).toBe(2);
    expect((await user('rename', 'x')).code).toBe(2);
    const sa = await user('add', 'system:serviceaccount:default:x');
    expect(sa.code).toBe(1);
    expect(sa.stderr).toContain('belong to ServiceAccounts and nodes');
  });

  it('works on a database by --url, with the server given by --server', async () => {
    const url = `file:${join(tempDir('skiff-user-url-'), 'edge.db')}`;
    expect((await runSkiff(['migrate', '--url', url])).code).toBe(0);
    const added = await runSkiff(['user', 'add', 'dave', '--url', url, '--server', 'https://skiff.example.workers.dev']);
    expect(added.code, added.stderr).toBe(0);
    const config = parseYaml(added.stdout) as Kubeconfig;
    expect(config.clusters[0]!.cluster).toEqual({ server: 'https://skiff.example.workers.dev' });
    expect((await runSkiff(['user', 'list', '--url', url])).stdout).toMatch(/^dave\s+<none>/m);
    // The data folder's database is another one.
    expect((await user('list')).stdout).not.toMatch(/^dave/m);
  });
});
