// GET /openapi/v2, negotiated as kube-apiserver (kube-openapi) does: the first media range of the
// Accept header that is JSON or gnostic's protobuf wins; none: 406. kubectl 1.27 and 1.28 ask for
// the protobuf only (and on a 406 try /swagger-2.0.0.pb-v1, gone from kube-apiserver since 1.14).
import { parseAccept } from '../accept.js';
import { ApiError } from '../status.js';
import { encodeOpenAPIV2 } from './gnostic.js';
import { openapiV2 } from './index.js';

/** What kube-apiserver answers for either protobuf media type. */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
const PROTOBUF_SUBTYPES = new Set(['com.github.proto-openapi.spec.v2@v1.0+protobuf', 'com.github.proto-openapi.spec.v2.v1.0+protobuf']);

// The documents never change while a process runs: encode once.
let json: string | undefined;
let protobuf: Uint8Array<ArrayBuffer> | undefined;

export function openapiV2Protobuf(): Uint8Array<ArrayBuffer> {
  return (protobuf ??= encodeOpenAPIV2(openapiV2()));
}

export function openapiV2Response(accept: string | null | undefined): Response {
  for (const r of parseAccept(accept)) {
    if (r.type !== 'application' && r.type !== '*') continue;
    // Vary: the one URL has two representations.
    if (r.subtype === 'json' || r.subtype === '*') {
      return new Response((json ??= JSON.stringify(openapiV2())), { headers: { 'content-type': 'application/json', vary: 'Accept' } });
    }
    if (PROTOBUF_SUBTYPES.has(r.subtype)) {
      return new Response(openapiV2Protobuf(), { headers: { 'content-type': OPENAPI_V2_PROTOBUF, vary: 'Accept' } });
    }
  }
  throw new ApiError(406, 'NotAcceptable', `only application/json and ${OPENAPI_V2_PROTOBUF} are served`);
}
