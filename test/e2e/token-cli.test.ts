// `skiff token create|list|delete` as real processes against `skiff serve`'s data folder and
// against a database by URL, with the join exchange and /cacerts over HTTPS.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

const TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;

describe('skiff token', { timeout: 60_000 }, () => {
  let server: SkiffServer;
  const token = (...args: string[]) => runSkiff(['token', ...args, '--data', server.data]);
  const joinAs = (joinToken: string, nodeName: string) =>
    server.request('/skiff/v1/join', { method: 'POST', token: joinToken, body: { nodeName } });

  beforeAll(async () => {
    server = await startSkiff();
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('still prints the admin token with no subcommand', async () => {
    expect(await token()).toMatchObject({ code: 0, stdout: server.token + '\n' });
  });

  it('creates a join token that joins a node, lists both, and deletes both', async () => {
    const created = await token('create', '--ttl', '2h', '--description', 'rack 4');
    expect(created.code, created.stderr).toBe(0);
    const joinToken = created.stdout.trim();
    expect(joinToken).toMatch(TOKEN);
    const id = joinToken.slice(0, 6);

    const joined = await joinAs(joinToken, 'edge-1');
    expect(joined.status, joined.text).toBe(201);
    const credential = joined.json().token as string;
    expect((await server.request('/api/v1/nodes', { token: credential })).status).toBe(200);

    const listed = await token('list');
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.split('\n');
    expect(lines[0]).toMatch(/^TOKEN ID\s+TTL\s+EXPIRES\s+DESCRIPTION$/);
    expect(lines.find((l) => l.startsWith(id))).toMatch(new RegExp(`^${id}\\s+1h\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+rack 4$`));
    expect(listed.stdout).toMatch(/^NODE CREDENTIAL\s+CREATED\s+JOIN TOKEN ID$/m);
    expect(lines.find((l) => l.startsWith('node/edge-1'))).toMatch(new RegExp(`^node/edge-1\\s+\\S+Z\\s+${id}$`));
    expect(listed.stdout).not.toContain(joinToken.slice(7)); // the secret is never shown

    // The name is held until its credential is deleted; then the machine can join again under it.
    expect((await joinAs(joinToken, 'edge-1')).status).toBe(409);
    expect(await token('delete', 'node/edge-1')).toMatchObject({ code: 0, stdout: 'node credential "edge-1" deleted\n' });
    expect((await joinAs(joinToken, 'edge-1')).status).toBe(201);

    expect(await token('delete', id)).toMatchObject({ code: 0, stdout: `join token "${id}" deleted\n` });
    expect((await joinAs(joinToken, 'edge-2')).status).toBe(401);
    const again = await token('delete', id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`join token "${id}" not found`);
    expect((await token('list')).stdout).not.toMatch(new RegExp(`^${id}`, 'm'));
  });

  it('makes tokens that never expire with --ttl 0, and that expire with a short ttl', async () => {
    const forever = (await token('create', '--ttl', '0')).stdout.trim();
    expect((await token('list')).stdout).toMatch(new RegExp(`^${forever.slice(0, 6)}\\s+<forever>\\s+<never>\\s+<none>$`, 'm'));
    const brief = (await token('create', '--ttl', '1s')).stdout.trim();
    await new Promise((r) => setTimeout(r, 1500));
    const late = await joinAs(brief, 'late');
    expect(late.status, `${late.text}\n${server.output()}`).toBe(401);
    expect((await token('list')).stdout).toMatch(new RegExp(`^${brief.slice(0, 6)}\\s+<invalid>`, 'm'));
    expect((await joinAs(forever, 'early')).status).toBe(201);
  });

  it('prints the join command, whose CA hash pins the CA that /cacerts serves', async () => {
    const printed = await token('create', '--print-join-command');
    expect(printed.code, printed.stderr).toBe(0);
    const m = /^skiff agent --server (\S+) --token (\S+) --ca-hash (sha256:[0-9a-f]{64})\n$/.exec(printed.stdout);
    expect(m, printed.stdout).not.toBeNull();
    expect(m![1]).toBe(server.url);
    expect(m![2]).toMatch(TOKEN);
    const cacerts = await server.request('/cacerts', { token: null });
    expect(cacerts.status).toBe(200);
    expect(m![3]).toBe(caCertHash(cacerts.text));
    expect(cacerts.text).toBe(server.ca);
  });

  it('refuses unknown subcommands as a usage error', async () => {
    const res = await token('revoke', 'x');
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('skiff token delete ID|node/NAME');
  });

  it('works on a database by --url once it is migrated', async () => {
    const url = `file:${join(tempDir('skiff-token-url-'), 'edge.db')}`;
    const before = await runSkiff(['token', 'create', '--url', url]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('skiff migrate');
    expect((await runSkiff(['migrate', '--url', url])).code).toBe(0);
    const created = await runSkiff(['token', 'create', '--description', 'edge'], { LIBSQL_URL: url });
    expect(created.stdout.trim()).toMatch(TOKEN);
    const listed = await runSkiff(['token', 'list', '--url', url]);
    expect(listed.stdout).toMatch(new RegExp(`^${created.stdout.slice(0, 6)}\\s+23h\\s+\\S+\\s+edge$`, 'm'));
    // The data folder's database is another one.
    expect((await token('list')).stdout).not.toContain(created.stdout.slice(0, 6));
  });
});
