// Where a worker thread's entry module is: beside this one, as .ts when running from the sources
// (loaded through tsx, which the thread registers for itself) or as .js in the bundle (dist/).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startWorker(name: string, options: WorkerOptions): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const script = new URL(`./${name}.${fromSources ? 'ts' : 'js'}`, import.meta.url);
  const execArgv = fromSources ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return new Worker(script, { ...options, execArgv: [...execArgv, ...(options.execArgv ?? [])] });
}
