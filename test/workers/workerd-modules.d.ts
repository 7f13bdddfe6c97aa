// The parts of workerd's test modules these tests use. The plugin's full declarations
// (@cloudflare/vitest-plugin/types) need the Workers runtime types, which clash with the DOM lib
// the rest of the project compiles against.
declare module 'cloudflare:test' {
  export interface ExecutionContext {
    waitUntil(promise: Promise<unknown>): void;
    passThroughOnException(): void;
  }
  export interface ScheduledController {
    readonly scheduledTime: number;
    readonly cron: string;
    noRetry(): void;
  }
  export function createExecutionContext(): ExecutionContext;
  /** Settles once every promise handed to `ctx.waitUntil` has settled. */
  export function waitOnExecutionContext(ctx: ExecutionContext): Promise<void>;
  export function createScheduledController(options?: { scheduledTime?: Date | number; cron?: string }): ScheduledController;
}

declare module 'cloudflare:workers' {
  /** The Worker's bindings: wrangler.toml's vars plus the test config's miniflare bindings. */
  export const env: import('../../src/worker.js').WorkerEnv;
  /** Loopback entry points of the Worker under test: a request through workerd's own dispatch. */
  export const exports: { default: { fetch(input: Request | string, init?: RequestInit): Promise<Response> } };
}
