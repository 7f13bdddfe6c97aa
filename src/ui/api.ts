/** A refused or failed API call, with the Kubernetes Status' code, reason and message. */
export class ApiFailure extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

export type PatchType = 'merge' | 'strategic' | 'json';
const PATCH_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

/** The Kubernetes API of the server that served the console, called with one bearer token. */
export class Api {
  /** `base`: the API's origin; '' (the page's own) in the console. */
  constructor(readonly token: string, private readonly base = '') {}

  private headers(contentType?: string): Record<string, string> {
    const h: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (contentType) h['content-type'] = contentType;
    return h;
  }

  /**
   * One call. Reads and patches are tried again when no answer came at all, as when a phone (or a
   * machine whose interfaces come and go) changes networks: the console's patches set values
   * rather than add to them, so one applied twice changes nothing more. Creates and deletes are not.
   */
  async request<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json', retries = method === 'GET' || method === 'PATCH' ? 2 : 0): Promise<T> {
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(this.base + path, {
          method,
          headers: this.headers(body === undefined ? undefined : contentType),
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        break;
      } catch (err) {
        if (attempt >= retries) throw err;
        await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
      }
    }
    const text = await res.text();
    let data: any;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) throw failure(res, data, text);
    return data as T;
  }

  get<T = any>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  /** POST of a review (SelfSubjectReview, SelfSubjectAccessReview): it writes nothing, so it is retried like a read. */
  review<T = any>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body, 'application/json', 2);
  }
  patch<T = any>(path: string, body: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.request<T>('PATCH', path, body, PATCH_TYPES[type]);
  }
  delete<T = any>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * Reads a streamed response (watch events, followed logs) a line at a time until the server ends
   * it or `signal` aborts. A partial last line is delivered when the stream ends.
   */
  async stream(path: string, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(this.base + path, { headers: this.headers(), signal });
    if (!res.ok || !res.body) {
      const text = await res.text();
      let data: any;
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
      throw failure(res, data, text);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          onLine(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      }
      if (buffer) onLine(buffer);
    } finally {
      reader.releaseLock();
    }
  }
}

function failure(res: Response, data: any, text: string): ApiFailure {
  if (data?.kind === 'Status') return new ApiFailure(res.status, data.reason ?? '', data.message ?? res.statusText);
  return new ApiFailure(res.status, res.statusText, text.trim() || res.statusText || `HTTP ${res.status}`);
}

/** The REST path of a resource collection: core ('v1') or 'group/version', all namespaces when ns is empty. */
export function collectionPath(groupVersion: string, resource: string, ns?: string): string {
  const base = groupVersion === 'v1' ? '/api/v1' : `/apis/${groupVersion}`;
  return ns ? `${base}/namespaces/${encodeURIComponent(ns)}/${resource}` : `${base}/${resource}`;
}

export function objectPath(groupVersion: string, resource: string, ns: string | undefined, name: string): string {
  return `${collectionPath(groupVersion, resource, ns)}/${encodeURIComponent(name)}`;
}
