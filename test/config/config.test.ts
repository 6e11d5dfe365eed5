import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { tempDir } from '../support/temp-dir';

const dir = tempDir('config');

describe('configuration', () => {
  test('defaults need nothing set', () => {
    const c = loadConfig({});
    expect(c.http.port).toBe(8080);
    expect(c.workers).toEqual([]);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.stableSeconds).toBe(10);
  });

  test('the inflated-size limit defaults to 256 MiB or the instance limit when smaller, and may not exceed it', () => {
    expect(loadConfig({}).limits.maxInflatedBytes).toBe(256 * 1024 * 1024);
    expect(loadConfig({ LT_MAX_INSTANCE_BYTES: '1048576' }).limits.maxInflatedBytes).toBe(1048576);
    expect(loadConfig({ LT_MAX_INFLATED_BYTES: '4096' }).limits.maxInflatedBytes).toBe(4096);
    expect(() => loadConfig({ LT_MAX_INSTANCE_BYTES: '1048576', LT_MAX_INFLATED_BYTES: '2097152' })).toThrow(/LT_MAX_INFLATED_BYTES must not exceed LT_MAX_INSTANCE_BYTES/);
  });

  test('DIMSE: off unless LT_DIMSE_PORT is set; AE titles and the results peer are validated', () => {
    expect(loadConfig({}).dimse).toBeUndefined();
    expect(loadConfig({ LT_DIMSE_PORT: '11112', LT_DIMSE_ALLOWED_AES: 'PACS1, PACS2' }).dimse).toEqual({
      host: '127.0.0.1',
      port: 11112,
      aeTitle: 'LUNG_TRIAGE',
      allowedAes: ['PACS1', 'PACS2'],
      allowedHosts: [],
    });
    expect(loadConfig({ LT_RESULTS_DIMSE: 'ORTHANC@pacs.local:4242', LT_DIMSE_AE_TITLE: 'LT' }).resultsDimse).toEqual({
      aeTitle: 'ORTHANC',
      host: 'pacs.local',
      port: 4242,
      callingAeTitle: 'LT',
    });
    expect(() => loadConfig({ LT_DIMSE_AE_TITLE: 'A_TITLE_LONGER_THAN_16' })).toThrow(/LT_DIMSE_AE_TITLE/);
    expect(() => loadConfig({ LT_DIMSE_ALLOWED_AES: 'OK,BAD\\AE' })).toThrow(/LT_DIMSE_ALLOWED_AES/);
    expect(() => loadConfig({ LT_RESULTS_DIMSE: 'pacs.local:4242' })).toThrow(/LT_RESULTS_DIMSE: must be AE@host:port/);
    expect(() => loadConfig({ LT_RESULTS_DIMSE: 'PACS@pacs.local:70000' })).toThrow(/LT_RESULTS_DIMSE: port must be at most 65535/);
  });

  test('every problem is reported at once', () => {
    try {
      loadConfig({ LT_HTTP_PORT: 'abc', LT_WORKERS: 'nohost', LT_PACS_AUTH: 'basic', LT_STABLE_SECONDS: '-1', LT_HTTP_PROT: '1' });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const text = (e as ConfigError).problems.join('\n');
      expect(text).toMatch(/LT_HTTP_PORT/);
      expect(text).toMatch(/LT_WORKERS/);
      expect(text).toMatch(/LT_STABLE_SECONDS/);
      expect(text).toMatch(/LT_HTTP_PROT: unknown setting/);
    }
  });

  test('cross-field rules are checked after the fields', () => {
    expect(() => loadConfig({ LT_PACS_AUTH: 'basic', LT_PACS_URL: 'http://pacs/dicom-web' })).toThrow(/LT_PACS_USERNAME and LT_PACS_PASSWORD/);
    expect(() => loadConfig({ LT_TLS_CERT: '/x' })).toThrow(/LT_TLS_CERT and LT_TLS_KEY/);
    expect(() => loadConfig({ LT_HTTP_TLS_KEY: '/k' })).toThrow(/LT_HTTP_TLS_CERT and LT_HTTP_TLS_KEY must be given together/);
    expect(() => loadConfig({ LT_HTTP_TLS_CA: '/ca' })).toThrow(/LT_HTTP_TLS_CA and LT_HTTP_TLS_REQUIRE_CLIENT_CERT need LT_HTTP_TLS_CERT/);
    expect(() => loadConfig({ LT_HTTP_TLS_CERT: '/c', LT_HTTP_TLS_KEY: '/k', LT_HTTP_TLS_REQUIRE_CLIENT_CERT: 'true' })).toThrow(/LT_HTTP_TLS_REQUIRE_CLIENT_CERT needs LT_HTTP_TLS_CA/);
    expect(loadConfig({ LT_HTTP_TLS_CERT: '/c', LT_HTTP_TLS_KEY: '/k' }).http.tls).toEqual({ cert: '/c', key: '/k', ca: undefined, requireClientCert: false });
    expect(loadConfig({}).http.tls).toBeUndefined();
  });

  test('a JSON file gives values, env overrides them, and secrets come from *_FILE', () => {
    const file = path.join(dir, 'lt.json');
    writeFileSync(file, JSON.stringify({ LT_HTTP_PORT: 9000, LT_WORKERS: ['a:1', 'b:2'], LT_STABLE_SECONDS: 5 }));
    const secret = path.join(dir, 'tokens');
    writeFileSync(secret, 'tok1,[reader+auditor]tok2\n');
    const c = loadConfig({ LT_CONFIG_FILE: file, LT_STABLE_SECONDS: '7', LT_AUTH_BEARER_TOKENS_FILE: secret });
    expect(c.http.port).toBe(9000);
    expect(c.workers).toEqual(['a:1', 'b:2']);
    expect(c.stableSeconds).toBe(7);
    expect(c.auth.bearerTokens).toEqual([
      { secret: 'tok1', roles: ['sender'] },
      { secret: 'tok2', roles: ['reader', 'auditor'] },
    ]);
  });

  test('roles of static credentials are checked; OIDC needs issuer and audience together; the audit key has a minimum length', () => {
    expect(() => loadConfig({ LT_GRPC_AUTH_TOKENS: '[admin]x' })).toThrow(/unknown role "admin"/);
    expect(loadConfig({ LT_GRPC_AUTH_TOKENS: 'x' }).grpc.authTokens).toEqual([{ secret: 'x', roles: ['reader', 'operator', 'auditor'] }]);
    expect(() => loadConfig({ LT_OIDC_ISSUER: 'https://idp.example' })).toThrow(/LT_OIDC_AUDIENCE/);
    expect(() => loadConfig({ LT_OIDC_AUDIENCE: 'lt' })).toThrow(/need LT_OIDC_ISSUER/);
    expect(loadConfig({ LT_OIDC_ISSUER: 'https://idp.example', LT_OIDC_AUDIENCE: 'lt' }).auth.oidc).toEqual({ issuer: 'https://idp.example', audience: 'lt', jwksUrl: undefined });
    expect(() => loadConfig({ LT_AUDIT_KEY: 'short' })).toThrow(/LT_AUDIT_KEY.*at least 32/);
  });

  test('an unreadable config or secret file is a problem, not a crash', () => {
    expect(() => loadConfig({ LT_CONFIG_FILE: path.join(dir, 'missing.json') })).toThrow(/cannot read/);
    expect(() => loadConfig({ LT_PACS_TOKEN_FILE: path.join(dir, 'missing') })).toThrow(/LT_PACS_TOKEN_FILE: cannot read/);
  });
});
