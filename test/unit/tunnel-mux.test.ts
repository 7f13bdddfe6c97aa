// The tunnel's streams over one connection: replies, both directions, half-close, resets, and the
// window that keeps a fast sender from piling data on a slow reader.
import { describe, expect, it } from 'vitest';
import type { TunnelHead } from '../../src/tunnel/head.js';
import { Mux, WINDOW, type MuxStream } from '../../src/tunnel/mux.js';

/** Two Muxes joined back to back, as the control plane and an agent over a WebSocket; `sent` counts bytes each way. */
function pair(onStream: (s: MuxStream) => void) {
  const counts = { toAgent: 0, toPlane: 0 };
  let agent!: Mux;
  // Frames go through a macrotask, as over a socket, so the two ends interleave.
  const plane = new Mux({ send: (f) => ((counts.toAgent += f.byteLength), setImmediate(() => agent.receive(f))) });
  agent = new Mux({ send: (f) => ((counts.toPlane += f.byteLength), setImmediate(() => plane.receive(f))), onStream });
  return { plane, agent, counts };
}

const head: TunnelHead = { op: 'stats' };
const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

async function readAll(stream: MuxStream): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of stream.messages()) out.push(chunk);
  return out;
}

describe('tunnel mux', () => {
  it('carries a head, a reply and messages both ways, keeping message boundaries', async () => {
    const { plane } = pair(async (s) => {
      expect(s.head).toEqual(head);
      s.respond({ status: 200, headers: [['content-type', 'text/plain']] });
      for await (const m of s.messages()) await s.write(new Uint8Array([...m].reverse()));
      s.end();
    });
    const stream = plane.open(head);
    await stream.write(new Uint8Array([1, 2, 3]));
    await stream.write(new Uint8Array([4, 5]));
    stream.end();
    expect(await stream.reply).toEqual({ status: 200, headers: [['content-type', 'text/plain']] });
    expect((await readAll(stream)).map((m) => [...m])).toEqual([[3, 2, 1], [5, 4]]);
    expect(await stream.closed).toBeUndefined();
  });

  it('holds a fast sender to the window while the reader does not read', async () => {
    let agentSide!: MuxStream;
    const { plane, counts } = pair((s) => (agentSide = s));
    const stream = plane.open(head);
    let written = 0;
    const writer = (async () => {
      for (let i = 0; i < 64; i++) {
        await stream.write(bytes(64 * 1024));
        written += 64 * 1024;
      }
      stream.end();
    })();
    await new Promise((r) => setTimeout(r, 100));
    // Nothing read yet: at most a window (plus the message that crossed it) was sent.
    expect(written).toBeLessThanOrEqual(WINDOW + 64 * 1024);
    expect(counts.toAgent).toBeLessThan(WINDOW + 2 * 64 * 1024);
    // Reading lets it all through.
    const got = await readAll(agentSide);
    await writer;
    expect(got.reduce((n, c) => n + c.byteLength, 0)).toBe(64 * 64 * 1024);
  });

  it('a reset reaches the other side, failing its reads and writes with the reason', async () => {
    let agentSide!: MuxStream;
    const { plane } = pair((s) => (agentSide = s));
    const stream = plane.open(head);
    await stream.write(bytes(10));
    await new Promise((r) => setTimeout(r, 20));
    agentSide.reset('container not found');
    await expect(stream.reply).rejects.toThrow('container not found');
    await expect(readAll(stream)).rejects.toThrow('container not found');
    await expect(stream.write(bytes(1))).rejects.toThrow('container not found');
    expect(await stream.closed).toBe('container not found');
  });

  it('closing the connection ends every stream, and later opens fail at once', async () => {
    const { plane } = pair(() => {});
    const a = plane.open(head);
    const b = plane.open(head);
    plane.close('node "n1" disconnected');
    expect(await a.closed).toBe('node "n1" disconnected');
    expect(await b.closed).toBe('node "n1" disconnected');
    await expect(plane.open(head).reply).rejects.toThrow('disconnected');
    expect(plane.size).toBe(0);
  });

  it('cancelling the reader resets the stream (a client that went away)', async () => {
    let agentSide!: MuxStream;
    const { plane } = pair((s) => {
      agentSide = s;
      s.respond({ status: 200 });
      void (async () => {
        for (;;) await s.write(bytes(1024));
      })().catch(() => {});
    });
    const stream = plane.open(head);
    await stream.reply;
    const reader = stream.readable.getReader();
    await reader.read();
    await reader.cancel();
    expect(await agentSide.closed).toBe('reader went away');
  });

  it('resets streams idle longer than the timeout', async () => {
    let agentSide!: MuxStream;
    const { plane, agent } = pair((s) => (agentSide = s));
    const stream = plane.open(head);
    await stream.write(bytes(1));
    await new Promise((r) => setTimeout(r, 20));
    agent.sweep(60_000, Date.now() + 61_000);
    expect(await agentSide.closed).toMatch(/idle/);
    expect(await stream.closed).toMatch(/idle/);
  });

  it('drops malformed frames and answers unknown streams with a reset', async () => {
    const sent: Uint8Array[] = [];
    const mux = new Mux({ send: (f) => sent.push(f) });
    mux.receive(new Uint8Array([3, 0]));
    mux.receive(new Uint8Array([3, 0, 0, 0, 9, 1, 2]));
    expect(sent).toHaveLength(1);
    expect(sent[0][0]).toBe(5);
  });
});
