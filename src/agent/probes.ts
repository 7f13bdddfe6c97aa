// Liveness, readiness and startup probes as kubelet runs them: exec, httpGet and tcpSocket
// handlers, Kubernetes' defaults (period 10 s, timeout 1 s, success 1, failure 3), a result that
// flips only after successThreshold successes or failureThreshold failures in a row.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Runtime } from './runtime.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

export interface ProbeTarget {
  runtime: Runtime;
  containerId: string;
  podIP: string;
  /** The container's spec, for named ports. */
  container: any;
}

/** Runs one probe's handler once: true when it succeeded. */
export async function runHandler(handler: any, target: ProbeTarget, timeoutSeconds: number): Promise<boolean> {
  if (handler.exec) {
    const r = await target.runtime.exec(target.containerId, handler.exec.command ?? [], timeoutSeconds);
    return r.exitCode === 0;
  }
  if (handler.httpGet) return httpGet(handler.httpGet, target, timeoutSeconds);
  if (handler.tcpSocket) {
    const port = resolvePort(handler.tcpSocket.port, target.container);
    return tcp(handler.tcpSocket.host || target.podIP, port, timeoutSeconds);
  }
  if (handler.grpc) return tcp(target.podIP, Number(handler.grpc.port), timeoutSeconds);
  return false;
}

export function resolvePort(port: unknown, container: any): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(String(port))) return Number(port);
  const named = (container?.ports ?? []).find((p: any) => p.name === port);
  if (!named) throw new Error(`port "${String(port)}" is not a named port of container "${container?.name}"`);
  return named.containerPort;
}

function httpGet(spec: any, target: ProbeTarget, timeoutSeconds: number): Promise<boolean> {
  const port = resolvePort(spec.port, target.container);
  const https = String(spec.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
  const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.32', accept: '*/*' };
  for (const h of spec.httpHeaders ?? []) headers[String(h.name).toLowerCase()] = String(h.value);
  return new Promise((done) => {
    const req = (https ? httpsRequest : httpRequest)(
      { host: spec.host || target.podIP, port, path: spec.path || '/', method: 'GET', headers, timeout: timeoutSeconds * 1000, rejectUnauthorized: false, agent: false },
      (res) => {
        res.resume();
        // kubelet: 200 <= code < 400 is success (redirects are not followed off-host).
        done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}

function tcp(host: string, port: number, timeoutSeconds: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      done(false);
    }, timeoutSeconds * 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      done(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
  });
}

/**
 * One probe of one running container. `result` starts as kubelet's initial value (liveness:
 * success; readiness and startup: failure) and changes after the thresholds; onChange is called
 * when it does, and when a startup probe fails failureThreshold times.
 */
export class Prober {
  result: boolean;
  private successes = 0;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  readonly periodMs: number;
  private readonly timeoutSeconds: number;
  private readonly successThreshold: number;
  private readonly failureThreshold: number;

  constructor(
    readonly kind: ProbeKind,
    private readonly spec: any,
    private readonly target: ProbeTarget,
    private readonly onChange: (result: boolean) => void,
  ) {
    this.periodMs = (spec.periodSeconds ?? 10) * 1000;
    this.timeoutSeconds = spec.timeoutSeconds ?? 1;
    this.successThreshold = spec.successThreshold ?? 1;
    this.failureThreshold = spec.failureThreshold ?? 3;
    this.result = kind === 'liveness';
  }

  /** Starts probing after initialDelaySeconds counted from the container's start. */
  start(startedAt: Date): void {
    const delay = Math.max(0, startedAt.getTime() + (this.spec.initialDelaySeconds ?? 0) * 1000 - Date.now());
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok: boolean;
    try {
      ok = await runHandler(this.spec, this.target, this.timeoutSeconds);
    } catch {
      ok = false;
    }
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (!this.result && this.successes >= this.successThreshold) this.set(true);
    } else {
      this.successes = 0;
      this.failures++;
      // A startup probe that keeps failing means a restart, although it never succeeded.
      if (this.failures >= this.failureThreshold && (this.result || this.kind === 'startup')) this.set(false);
    }
    // A startup probe stops once it succeeded; the others keep going.
    if (this.kind === 'startup' && this.result) return;
    this.timer = setTimeout(() => void this.tick(), this.periodMs);
  }

  private set(result: boolean): void {
    this.result = result;
    this.onChange(result);
  }
}
