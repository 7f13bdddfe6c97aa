// ServiceAccount issuer discovery, as kube-apiserver serves it (pkg/serviceaccount/openidmetadata.go,
// pkg/routes/openidmetadata.go): the OpenID provider configuration and the JWKS, so that relying
// parties (and cloud identity federation) can verify ServiceAccount tokens without calling the API.
import { JWKS_PATH, OPENID_CONFIG_PATH, type ServiceAccountTokens } from './service-accounts.js';

export { JWKS_PATH, OPENID_CONFIG_PATH };

const CACHE_CONTROL = 'public, max-age=3600';

export interface IssuerDeps {
  /** A StoreAuthenticator has it. */
  serviceAccounts: ServiceAccountTokens;
}

/** GET /.well-known/openid-configuration, for a request to `requestUrl` (the JWKS URI defaults to its host). */
export async function openidConfiguration(deps: IssuerDeps, requestUrl: string): Promise<Response> {
  const tokens = deps.serviceAccounts;
  const { keys } = await tokens.jwks();
  const algs = [...new Set(keys.map((k) => String(k.alg)))].sort();
  const doc = {
    issuer: tokens.issuer(),
    jwks_uri: tokens.jwksUri(requestUrl),
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: algs,
  };
  return new Response(JSON.stringify(doc), { headers: { 'content-type': 'application/json', 'cache-control': CACHE_CONTROL } });
}

/** GET /openid/v1/jwks: the public keys that verify ServiceAccount tokens. */
export async function jwks(deps: IssuerDeps): Promise<Response> {
  const set = await deps.serviceAccounts.jwks();
  return new Response(JSON.stringify(set), { headers: { 'content-type': 'application/jwk-set+json', 'cache-control': CACHE_CONTROL } });
}
