// What pods read from the API besides themselves: ConfigMaps, Secrets and Services. Reads are
// cached briefly (many pods share them) and copied to the data folder, so a pod restarted while
// the control plane is unreachable still gets its env and volumes.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export interface ApiReader {
  get(path: string): Promise<any>;
}

/** A 404 from the API. */
export function isNotFound(err: unknown): boolean {
  return (err as { status?: number })?.status === 404;
}

/** The API could not be reached (as opposed to answering with an error). */
export function isUnreachable(err: unknown): boolean {
  return (err as Error)?.name === 'UnreachableError';
}

const FRESH_MS = 5_000;

export class Sources {
  private cache = new Map<string, { at: number; value: Promise<any | undefined> }>();

  constructor(
    private readonly api: ApiReader,
    /** Folder for the offline copies (secrets included: owner-only). */
    private readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  configMap(namespace: string, name: string): Promise<any | undefined> {
    return this.read(`/api/v1/namespaces/${namespace}/configmaps/${name}`);
  }

  secret(namespace: string, name: string): Promise<any | undefined> {
    return this.read(`/api/v1/namespaces/${namespace}/secrets/${name}`);
  }

  /** The Services of a namespace (for the env kubelet injects), and `kubernetes` in default. */
  async services(namespace: string): Promise<any[]> {
    const list = await this.read(`/api/v1/namespaces/${namespace}/services`);
    return list?.items ?? [];
  }

  /** The object, or undefined when the API says it does not exist; the offline copy when unreachable. */
  read(path: string): Promise<any | undefined> {
    const hit = this.cache.get(path);
    if (hit && Date.now() - hit.at < FRESH_MS) return hit.value;
    const value = this.fetch(path);
    this.cache.set(path, { at: Date.now(), value });
    return value;
  }

  private async fetch(path: string): Promise<any | undefined> {
    const file = join(this.dir, encodeURIComponent(path) + '.json');
    try {
      const obj = await this.api.get(path);
      const text = JSON.stringify(obj);
      writeFileSync(file + '.tmp', text, { mode: 0o600 });
      renameSync(file + '.tmp', file);
      return obj;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (!isUnreachable(err)) throw err;
      this.cache.delete(path); // try the API again next time
      try {
        return JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        throw err;
      }
    }
  }
}
