// src/node/progress.ts: a status line on a terminal only (TTY, CI unset, TERM not dumb), rewritten in
// place and cleared when done; a no-op that writes nothing anywhere else.
import { describe, expect, it } from 'vitest';
import { createProgress, formatElapsed, progressEnabled, type ProgressStream } from '../../src/node/progress.js';

function fakeStream(isTTY: boolean, columns = 80): ProgressStream & { out: string } {
  return {
    isTTY,
    columns,
    out: '',
    write(chunk: string) {
      this.out += chunk;
      return true;
    },
  };
}

const TTY_ENV = { TERM: 'xterm-256color' };
const CLEAR = '\r\x1b[2K';

function run(stream: ReturnType<typeof fakeStream>, env: Record<string, string | undefined>) {
  let t = 0;
  const p = createProgress({ stream, env, tickMs: 0, now: () => t });
  p.start('simulated nodes joined', 4);
  t = 1000;
  p.update(2);
  t = 2000;
  p.update(4);
  p.done();
  return p;
}

describe('progress', () => {
  it('draws one line rewritten in place on a TTY, with counts, rate and elapsed time, and clears it when done', () => {
    const stream = fakeStream(true);
    const p = run(stream, TTY_ENV);
    expect(p.enabled).toBe(true);
    expect(stream.out).not.toContain('\n');
    const frames = stream.out.split(CLEAR).filter(Boolean);
    expect(frames[0]).toMatch(/simulated nodes joined · 0 of 4 · 0\.0 s$/);
    expect(frames).toContainEqual(expect.stringMatching(/2 of 4 · 2\.0\/s · 1\.0 s$/));
    expect(frames.at(-1)).toMatch(/4 of 4 · 2\.0\/s · 2\.0 s$/);
    // Ends with the line cleared: nothing is left on the terminal.
    expect(stream.out.endsWith(CLEAR)).toBe(true);
  });

  it('writes nothing when the stream is not a TTY (a pipe, a file)', () => {
    const stream = fakeStream(false);
    expect(run(stream, TTY_ENV).enabled).toBe(false);
    expect(stream.out).toBe('');
  });

  it('writes nothing in CI, even on a TTY', () => {
    const stream = fakeStream(true);
    expect(run(stream, { ...TTY_ENV, CI: 'true' }).enabled).toBe(false);
    expect(stream.out).toBe('');
    expect(progressEnabled(stream, { ...TTY_ENV, CI: '1' })).toBe(false);
    expect(progressEnabled(stream, { ...TTY_ENV, CI: '' })).toBe(true);
  });

  it('writes nothing when TERM is dumb', () => {
    const stream = fakeStream(true);
    expect(run(stream, { TERM: 'dumb' }).enabled).toBe(false);
    expect(stream.out).toBe('');
  });

  it('cuts the line to the terminal width', () => {
    const stream = fakeStream(true, 30);
    const p = createProgress({ stream, env: TTY_ENV, tickMs: 0, now: () => 0 });
    p.start('starting wrangler dev: waiting for https://127.0.0.1:8787/healthz');
    const line = stream.out.split(CLEAR).filter(Boolean)[0];
    expect(line.length).toBeLessThanOrEqual(29);
    expect(line.endsWith('…')).toBe(true);
    p.done();
  });

  it('clears the line before other output to the stream, redraws it after, and restores write when done', () => {
    const stream = fakeStream(true);
    const original = stream.write;
    const p = createProgress({ stream, env: TTY_ENV, tickMs: 0, now: () => 0 });
    p.start('migrations applied', 12);
    stream.write('a log line\n');
    // The log line starts on a cleared line, and the status line comes back below it.
    expect(stream.out).toMatch(/migrations applied · 0 of 12 · 0\.0 s\r\x1b\[2Ka log line\n\r\x1b\[2K⠙ migrations applied/);
    p.done();
    expect(stream.write).toBe(original);
    stream.write('after\n');
    expect(stream.out.endsWith(CLEAR + 'after\n')).toBe(true);
  });

  it('formats elapsed time', () => {
    expect(formatElapsed(1234)).toBe('1.2 s');
    expect(formatElapsed(125_000)).toBe('2 min 05 s');
  });
});
