import type { JWTPayload, JWTVerifyGetKey } from 'jose' with { 'resolution-mode': 'import' };
import { ROLES, type OidcSettings, type Role } from '../config';
import { LtError } from '../errors';
import { log } from '../logger';
import type { AuthResult } from './authenticator';

/** Asymmetric algorithms only: a JWKS publishes public keys, and "none" or HMAC must never pass. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const HTTP_TIMEOUT_MS = 10_000;

/**
 * Validates OAuth2/OIDC access tokens (JWTs) with `jose`: signature against the issuer's JWKS (LT_OIDC_JWKS_URL, or
 * the jwks_uri of the issuer's discovery document), issuer, audience, expiry and not-before (30 s of clock skew).
 * Roles are read from the `roles` claim and from the scopes (`scope`, `scp`), by their names.
 */
export class OidcVerifier {
  private keys?: Promise<JWTVerifyGetKey>;

  constructor(private readonly settings: OidcSettings) {}

  async verify(token: string): Promise<AuthResult> {
    // jose is ESM-only: loaded when the first token arrives (only where an issuer is configured).
    const { jwtVerify, errors } = await import('jose');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.jwks(), { issuer: this.settings.issuer, audience: this.settings.audience, algorithms: ALGORITHMS, clockTolerance: 30 }));
    } catch (e) {
      if (e instanceof errors.JWKSTimeout) throw LtError.unavailable('the OIDC issuer did not answer in time');
      if (e instanceof errors.JOSEError) return { refused: `token refused: ${e.message}` };
      log.warn('OIDC key set unavailable', { err: e });
      this.keys = undefined; // discovery or key fetch failed: try again on the next token
      throw LtError.unavailable('the OIDC issuer cannot be reached to check the token');
    }
    return { principal: { name: `oidc:${String(payload.sub ?? payload.client_id ?? 'unknown')}`, roles: rolesOf(payload) } };
  }

  private jwks(): Promise<JWTVerifyGetKey> {
    this.keys ??= (async () => {
      const { createRemoteJWKSet } = await import('jose');
      const url = this.settings.jwksUrl ?? (await this.discover());
      return createRemoteJWKSet(new URL(url), { timeoutDuration: HTTP_TIMEOUT_MS, cooldownDuration: 30_000 });
    })();
    return this.keys.catch((e: unknown) => {
      this.keys = undefined;
      throw e;
    });
  }

  /** OpenID Connect Discovery 1.0, section 4: the issuer's document names its jwks_uri. */
  private async discover(): Promise<string> {
    const url = `${this.settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`OIDC discovery ${url}: HTTP ${res.status}`);
    const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
    if (doc.issuer !== this.settings.issuer) throw new Error(`OIDC discovery ${url}: issuer ${doc.issuer} is not ${this.settings.issuer}`);
    if (!doc.jwks_uri) throw new Error(`OIDC discovery ${url}: no jwks_uri`);
    return doc.jwks_uri;
  }
}

function rolesOf(p: JWTPayload): Set<Role> {
  const names = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v === 'string') for (const s of v.split(' ')) names.add(s);
    else if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') names.add(s);
  };
  add(p.roles);
  add(p.scope);
  add(p.scp);
  return new Set(ROLES.filter((r) => names.has(r)));
}
