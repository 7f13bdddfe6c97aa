// The RequestInit of an API call with a JSON body (a patch is JSON too, under its own content type).

/** `method` with `body` as JSON; no body and no content type when `body` is undefined. */
export function jsonRequest(method: string, body?: unknown, contentType = 'application/json'): RequestInit {
  return body === undefined ? { method } : { method, body: JSON.stringify(body), headers: { 'content-type': contentType } };
}
