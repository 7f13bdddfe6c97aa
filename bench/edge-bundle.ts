// The Worker as Cloudflare would receive it: `wrangler deploy --dry-run --outdir`, measured raw and gzipped.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

export interface Bundle {
  rawBytes: number;
  gzipBytes: number;
  /** Wrangler's own "Total Upload: … / gzip: …" line, when it printed one. */
  wranglerSays?: string;
}

const packageRoot = fileURLToPath(new URL('..', import.meta.url));

export async function measureBundle(): Promise<Bundle> {
  const out = mkdtempSync(join(tmpdir(), 'skiff-bench-bundle-'));
  try {
    const { stdout, stderr } = await promisify(execFile)('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', out], {
      cwd: packageRoot,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      maxBuffer: 16 * 1024 * 1024,
    });
    const code = readFileSync(join(out, 'worker.js'));
    return {
      rawBytes: code.length,
      gzipBytes: gzipSync(code, { level: 9 }).length,
      wranglerSays: /Total Upload:[^\n]*/.exec(stdout + stderr)?.[0].trim(),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
