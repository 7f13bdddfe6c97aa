// Progress on a terminal, none in a pipe: `skiff migrate` run under a pseudo-terminal (util-linux
// `script` gives it one) draws its status line and clears it; run with pipes it prints its result only.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/skiff-server.js';

const run = promisify(execFile);
const CLEAR = '\r\x1b[2K';
const repoRoot = join(import.meta.dirname, '../..');

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// A terminal as a person has one: CI unset, a real TERM.
const { CI: _ci, ...envWithoutCI } = process.env;
const terminalEnv = { ...envWithoutCI, TERM: 'xterm-256color' };
const migrateArgs = (db: string) => ['--import', 'tsx', 'src/node/cli.ts', 'migrate', '--url', `file:${db}`];
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('progress of skiff migrate', { timeout: 60_000 }, () => {
  it.skipIf(!hasScript())('shows a status line under a pseudo-terminal, cleared before the result (skipped without util-linux script)', async () => {
    const db = join(tempDir('skiff-progress-'), 'tty.db');
    const command = [process.execPath, ...migrateArgs(db)].map(quote).join(' ');
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, env: terminalEnv });
    expect(stdout).toContain(CLEAR);
    expect(stdout).toMatch(/migrations applied · \d+ of \d+/);
    // The line is cleared before the result, which is printed as before.
    expect(stdout).toMatch(/\r\x1b\[2Kmigrated file:/);
  });

  it('prints no progress in a pipe', async () => {
    const db = join(tempDir('skiff-progress-'), 'pipe.db');
    const { stdout, stderr } = await run(process.execPath, migrateArgs(db), { cwd: repoRoot, env: terminalEnv });
    expect(stdout).toBe(`migrated file:${db}\n`);
    expect(stderr).toBe('');
  });

  it.skipIf(!hasScript())('prints no progress under a pseudo-terminal when CI is set', async () => {
    const db = join(tempDir('skiff-progress-'), 'ci.db');
    const command = [process.execPath, ...migrateArgs(db)].map(quote).join(' ');
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, env: { ...terminalEnv, CI: 'true' } });
    expect(stdout).not.toContain('\x1b[2K');
    expect(stdout.replace(/\r/g, '')).toBe(`migrated file:${db}\n`);
  });
});
