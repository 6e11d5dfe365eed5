import { isLoopback, ROLES, type Role, type StaticCredential } from '../config';
import { LtError } from '../errors';
import { safeEqual } from '../grpc/token';
import type { OidcVerifier } from './oidc';

/** Who a caller is (for the audit trail) and what they may do. */
export interface Principal {
  /** "bearer" for a static token, the user for Basic, "oidc:<sub>" for a JWT. */
  name: string;
  roles: ReadonlySet<Role>;
  /** Which static bearer token it was (its position in the list): each token is its own caller for rate limits. */
  token?: number;
}

/**
 * Whom per-caller limits (src/rate-limit.ts) count a request against: a static token by its position, a Basic user
 * or OIDC subject by name, and, with authentication off, the caller's address.
 */
export function callerOf(p: Principal, address: string): string {
  if (p.name === 'anonymous') return address;
  return p.token !== undefined ? `bearer#${p.token}` : p.name;
}

/** An authentication result: the principal, or why there is none (the 401/UNAUTHENTICATED message). */
export type AuthResult = { principal: Principal } | { refused: string };

/**
 * Checks the Authorization header of a DICOMweb request or gRPC call: RFC 6750 Bearer (a static token, else an
 * OIDC JWT when an issuer is configured) or RFC 7617 Basic. Static secrets are all compared, so timing does not
 * reveal which matched. With nothing configured, authentication is off and every caller is `anonymous` with every
 * role (the loopback demo default; the gateway refuses that on other addresses, see {@link assertAuthenticatedOffLoopback}).
 */
export class Authenticator {
  /** oidc: one verifier may serve several surfaces (it caches the issuer's keys). */
  constructor(private readonly options: { bearer?: StaticCredential[]; basic?: StaticCredential[]; oidc?: OidcVerifier }) {}

  /** True when no credential of any kind is configured. */
  get open(): boolean {
    return !this.options.oidc && !this.options.bearer?.length && !this.options.basic?.length;
  }

  async authenticate(header: string | undefined): Promise<AuthResult> {
    if (this.open) return { principal: { name: 'anonymous', roles: new Set(ROLES) } };
    if (!header) return { refused: 'authentication required' };
    const space = header.indexOf(' ');
    const scheme = space < 0 ? '' : header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    let matched: StaticCredential | undefined;
    if (scheme === 'bearer') {
      let token = -1;
      for (const [i, t] of (this.options.bearer ?? []).entries()) if (safeEqual(value, t.secret)) [matched, token] = [t, i];
      if (matched) return { principal: { name: 'bearer', roles: new Set(matched.roles), token } };
      if (this.options.oidc && value.split('.').length === 3) return this.options.oidc.verify(value);
    } else if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      for (const entry of this.options.basic ?? []) if (safeEqual(decoded, entry.secret)) matched = entry;
      if (matched) return { principal: { name: matched.secret.slice(0, matched.secret.indexOf(':')), roles: new Set(matched.roles) } };
    }
    return { refused: 'wrong credentials' };
  }
}

/** Throws 403 / PERMISSION_DENIED unless the principal holds the role. */
export function requireRole(p: Principal, role: Role): void {
  if (!p.roles.has(role)) throw LtError.forbidden(`the ${role} role is required (${p.name} has ${[...p.roles].join(', ') || 'none'})`);
}


/**
 * The gateway refuses to serve without authentication on anything but loopback, unless LT_ALLOW_UNAUTHENTICATED
 * says that is meant (issue 17, item 10: the shipped deployments were open to anyone on the network).
 */
export function assertAuthenticatedOffLoopback(surfaces: { name: string; host: string; auth: Authenticator }[], allowUnauthenticated: boolean): void {
  if (allowUnauthenticated) return;
  const open = surfaces.filter((s) => !isLoopback(s.host) && s.auth.open);
  if (open.length > 0)
    throw LtError.invalid(
      `refusing to listen without authentication on ${open.map((s) => `${s.name} ${s.host}`).join(' and ')}: configure tokens (LT_AUTH_BEARER_TOKENS, LT_AUTH_BASIC_USERS, LT_GRPC_AUTH_TOKENS) or an OIDC issuer (LT_OIDC_ISSUER), or set LT_ALLOW_UNAUTHENTICATED=true`,
    );
}
