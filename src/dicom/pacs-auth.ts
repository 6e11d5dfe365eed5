import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Config } from '../config';
import { LtError } from '../errors';
import { log } from '../logger';

/** PACS connection settings (Config.pacs). */
export type PacsConfig = NonNullable<Config['pacs']>;

/** Supplies the Authorization header for PACS requests; invalidate() after a 401 forces a fresh token. */
export interface PacsAuth {
  authorization(): Promise<string | undefined>;
  invalidate(): void;
}

/** An HTTPS agent trusting only the configured CA file (LT_PACS_CA), or undefined to use the system CAs. */
export function pacsHttpsAgent(pacs: Pick<PacsConfig, 'caFile'>): https.Agent | undefined {
  if (!pacs.caFile) return undefined;
  return new https.Agent({ ca: readFileSync(pacs.caFile) });
}

/** Builds the auth provider for a PACS config. */
export function createPacsAuth(pacs: PacsConfig, agent?: https.Agent): PacsAuth {
  switch (pacs.auth) {
    case 'basic': {
      const value = 'Basic ' + Buffer.from(`${pacs.username ?? ''}:${pacs.password ?? ''}`).toString('base64');
      return { authorization: async () => value, invalidate: () => undefined };
    }
    case 'bearer':
      return { authorization: async () => `Bearer ${pacs.token ?? ''}`, invalidate: () => undefined };
    case 'oauth2':
      if (!pacs.oauth) throw new Error('oauth2 auth needs the oauth settings');
      return new OAuth2ClientCredentials(pacs.oauth, agent);
    default:
      return { authorization: async () => undefined, invalidate: () => undefined };
  }
}

/**
 * OAuth 2.0 client credentials grant (RFC 6749 4.4) with client_secret_basic authentication (2.3.1).
 * The token is cached until shortly before it expires (10% of its lifetime, at most 60 s, early), fetched again
 * after invalidate() (a 401 from the PACS), and concurrent callers share one token request.
 */
export class OAuth2ClientCredentials implements PacsAuth {
  private token?: { value: string; refreshAt: number };
  private inflight?: Promise<string>;
  /** How many tokens were fetched (for tests and metrics). */
  fetched = 0;

  constructor(
    private readonly options: { tokenUrl: string; clientId: string; clientSecret: string; scope?: string },
    private readonly agent?: https.Agent,
    private readonly now: () => number = Date.now,
  ) {}

  async authorization(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return `Bearer ${this.token.value}`;
    this.inflight ??= this.fetchToken().finally(() => (this.inflight = undefined));
    return `Bearer ${await this.inflight}`;
  }

  invalidate(): void {
    this.token = undefined;
  }

  private async fetchToken(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.options.scope) form.set('scope', this.options.scope);
    const basic = Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`).toString('base64');
    const res = await postForm(this.options.tokenUrl, form.toString(), { Authorization: `Basic ${basic}` }, this.agent);
    if (res.status !== 200) throw LtError.unavailable(`token endpoint answered ${res.status}`);
    let body: { access_token?: unknown; expires_in?: unknown; token_type?: unknown };
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      throw LtError.unavailable('token endpoint answered with something other than JSON');
    }
    if (typeof body.access_token !== 'string' || !body.access_token) throw LtError.unavailable('token endpoint gave no access_token');
    if (body.token_type !== undefined && String(body.token_type).toLowerCase() !== 'bearer') throw LtError.unavailable(`unsupported token type ${String(body.token_type)}`);
    const lifetimeMs = Math.max(1, Number(body.expires_in ?? 300)) * 1000;
    const early = Math.min(60_000, lifetimeMs * 0.1);
    this.token = { value: body.access_token, refreshAt: this.now() + lifetimeMs - early };
    this.fetched++;
    log.debug('pacs oauth token fetched', { expiresInS: lifetimeMs / 1000 });
    return body.access_token;
  }
}

/** POSTs a form with node's http(s) (so the custom CA applies), with a 30 s timeout. */
function postForm(url: string, body: string, headers: Record<string, string>, agent?: https.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
        ...(u.protocol === 'https:' && agent ? { agent } : {}),
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('token request timed out')));
    req.on('error', (e) => reject(LtError.unavailable(`token endpoint unreachable: ${e.message}`)));
    req.end(body);
  });
}
