// kubectl against a `skiff serve` of its own for one describe block: the server starts before the
// block's tests and stops after them.
import { afterAll, beforeAll, expect } from 'vitest';
import { startSkiff, type CommandResult, type SkiffServer } from './skiff-server.js';

export const KUBECTL_TIMEOUT_MS = 30_000;

export interface KubectlSession {
  /** The server, once the block's beforeAll has started it. */
  readonly server: SkiffServer;
  /** Runs kubectl and answers whatever it did. */
  run(args: string[], stdin?: string): Promise<CommandResult>;
  /** Runs kubectl, expects it to succeed, answers its stdout. */
  succeed(args: string[], stdin?: string): Promise<string>;
  /** succeed() with the arguments spread. */
  k(...args: string[]): Promise<string>;
  /** kubectl apply -f - of a manifest: text as it is, anything else as JSON. */
  apply(manifest: unknown): Promise<string>;
  /** kubectl get ARGS -o jsonpath=PATH. */
  jsonpath(path: string, ...args: string[]): Promise<string>;
}

/** Call inside a describe block: registers the hooks that start and stop the server. */
export function kubectlSession(): KubectlSession {
  let started: SkiffServer | undefined;
  beforeAll(async () => {
    started = await startSkiff();
  });
  afterAll(async () => {
    await started?.stop();
  });

  const server = (): SkiffServer => {
    if (!started) throw new Error('skiff serve has not started: use the session inside tests');
    return started;
  };
  const run = (args: string[], stdin?: string): Promise<CommandResult> => server().kubectl(args, { stdin, timeoutMs: KUBECTL_TIMEOUT_MS });
  const succeed = async (args: string[], stdin?: string): Promise<string> => {
    const r = await run(args, stdin);
    expect(r.code, `kubectl ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  return {
    get server() {
      return server();
    },
    run,
    succeed,
    k: (...args) => succeed(args),
    apply: (manifest) => succeed(['apply', '-f', '-'], typeof manifest === 'string' ? manifest : JSON.stringify(manifest)),
    jsonpath: (path, ...args) => succeed(['get', ...args, '-o', `jsonpath=${path}`]),
  };
}
