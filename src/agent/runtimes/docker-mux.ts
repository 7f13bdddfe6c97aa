// Docker's stream multiplexing for containers and execs without a terminal: frames of an 8-byte header
// (stream: 1 stdout, 2 stderr; three zero bytes; the payload's size, big-endian) and the payload.
import type { Writable } from 'node:stream';

/**
 * Copies a multiplexed stream's payloads to stdout and stderr (stderr's to stdout when there is no
 * stderr), pausing the source while a destination is full. Ends both destinations when the source
 * ends, unless `end` is false.
 */
export function demux(source: NodeJS.ReadableStream, stdout: Writable, stderr: Writable | undefined, end = true): void {
  let pending: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = () => {
    if (!end || finished) return;
    finished = true;
    stdout.end();
    if (stderr && stderr !== stdout) stderr.end();
  };
  source.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let full = false;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const to = pending[0] === 2 && stderr ? stderr : stdout;
      if (!to.writableEnded && !to.destroyed && !to.write(pending.subarray(8, 8 + size))) full = true;
      pending = pending.subarray(8 + size);
    }
    if (full) {
      source.pause();
      let waiting = 0;
      const resume = () => {
        if (--waiting <= 0) source.resume();
      };
      for (const w of new Set([stdout, stderr ?? stdout])) {
        if (w.writableNeedDrain) {
          waiting++;
          w.once('drain', resume);
        }
      }
      if (waiting === 0) source.resume();
    }
  });
  source.once('end', finish);
  source.once('close', finish);
  source.once('error', finish);
}
