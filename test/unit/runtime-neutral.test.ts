import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const NEUTRAL = ['src/kinds', 'src/store', 'src/api', 'src/control'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the runtime-neutral core', () => {
  it('uses no Node.js API', () => {
    const offenders = NEUTRAL.flatMap((d) => sources(join(root, d))).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => /from ['"]node:|require\(|\bBuffer\.|\bprocess\.(env|exit|argv|cwd)/.test(line))
        .map((line) => `${file}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it('bundles as a Cloudflare Worker within the 1 MiB gzipped limit', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skiff-bundle-'));
    try {
      await promisify(execFile)('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', out], {
        cwd: root,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      });
      const bundle = join(out, 'worker.js');
      expect(existsSync(bundle)).toBe(true);
      expect(gzipSync(readFileSync(bundle)).byteLength).toBeLessThan(1024 * 1024);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
