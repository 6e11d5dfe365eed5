import { createHash, timingSafeEqual } from 'node:crypto';

/** Credentials the service accepts (from LT_AUTH_* or LT_GRPC_AUTH_TOKENS; secrets come from env or files). */
export interface Credentials {
  bearerTokens: string[];
  /** "user:password" entries. */
  basicUsers: string[];
}

/** Compares secrets in constant time (both sides hashed first, so length differences leak nothing). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** True when no credentials are configured (auth off, the demo default). */
export function authDisabled(c: Credentials): boolean {
  return c.bearerTokens.length === 0 && c.basicUsers.length === 0;
}

/**
 * Checks an Authorization header (RFC 6750 Bearer or RFC 7617 Basic). Returns the authenticated user name
 * ("bearer" for tokens) or undefined. Every configured secret is compared, so timing does not reveal which matched.
 */
export function authenticate(header: string | undefined, c: Credentials): string | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  let user: string | undefined;
  if (scheme === 'bearer') {
    for (const t of c.bearerTokens) if (safeEqual(value, t)) user = 'bearer';
  } else if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    for (const entry of c.basicUsers) if (safeEqual(decoded, entry)) user = entry.slice(0, entry.indexOf(':'));
  }
  return user;
}
