// The local libSQL HTTP endpoint in a child process, and the CPU time that process has used.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface EndpointProcess {
  url: string;
  authToken: string;
  /** CPU time (user + system) the endpoint process has used so far, ms. Linux (/proc) only; NaN elsewhere. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const entry = fileURLToPath(new URL('./libsql-endpoint-main.ts', import.meta.url));

function processCpuMs(pid: number): number {
  try {
    // Fields 14 and 15 of /proc/PID/stat (after the parenthesised command name) are utime and stime in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100;
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return NaN;
  }
}

export async function startEndpointProcess(file: string): Promise<EndpointProcess> {
  const authToken = randomBytes(24).toString('hex');
  const child = spawn(process.execPath, ['--import', 'tsx', entry, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LIBSQL_AUTH_TOKEN: authToken },
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the libSQL endpoint did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /libsql endpoint (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the libSQL endpoint exited with ${code}:\n${output}`));
    });
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      // The benchmark's own requests then fail with a bare "fetch failed": say why here.
      if (!stopping) console.error(`the libSQL endpoint exited with ${code ?? signal}:\n${output.slice(-4000)}`);
      resolve();
    }),
  );
  return {
    url,
    authToken,
    cpuMs: () => processCpuMs(child.pid!),
    stop: async () => {
      stopping = true;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
