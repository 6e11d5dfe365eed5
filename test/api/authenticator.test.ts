import { assertAuthenticatedOffLoopback, Authenticator } from '../../src/api/authenticator';
import { loadConfig } from '../../src/config';
import { startGateway } from '../../src/gateway';

const basic = (s: string) => 'Basic ' + Buffer.from(s).toString('base64');

describe('static credentials and roles', () => {
  const auth = new Authenticator({
    bearer: [
      { secret: 'upload', roles: ['sender'] },
      { secret: 'view', roles: ['reader'] },
    ],
    basic: [{ secret: 'pacs:pw', roles: ['sender'] }],
  });

  test('each secret gives its own roles; wrong or missing credentials are refused with a reason', async () => {
    // Each token by its position, so each is its own caller for rate limits.
    expect(await auth.authenticate('Bearer upload')).toEqual({ principal: { name: 'bearer', roles: new Set(['sender']), token: 0 } });
    expect(await auth.authenticate('Bearer view')).toEqual({ principal: { name: 'bearer', roles: new Set(['reader']), token: 1 } });
    expect(await auth.authenticate(basic('pacs:pw'))).toEqual({ principal: { name: 'pacs', roles: new Set(['sender']) } });
    expect(await auth.authenticate(undefined)).toEqual({ refused: 'authentication required' });
    for (const h of ['Bearer nope', basic('pacs:nope'), 'Bearer', 'Digest x', 'Bearer a.b.c']) expect(await auth.authenticate(h)).toEqual({ refused: 'wrong credentials' });
  });

  test('nothing configured: open, anonymous with every role', async () => {
    const open = new Authenticator({});
    expect(open.open).toBe(true);
    expect(await open.authenticate(undefined)).toEqual({ principal: { name: 'anonymous', roles: new Set(['sender', 'reader', 'operator', 'auditor']) } });
  });
});

describe('no unauthenticated listener off loopback (issue 17, item 10)', () => {
  const open = new Authenticator({});
  const closed = new Authenticator({ bearer: [{ secret: 't', roles: ['reader'] }] });

  test('loopback may stay open; any other address needs credentials or LT_ALLOW_UNAUTHENTICATED', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost']) expect(() => assertAuthenticatedOffLoopback([{ name: 'DICOMweb', host, auth: open }], false)).not.toThrow();
    expect(() => assertAuthenticatedOffLoopback([{ name: 'DICOMweb', host: '0.0.0.0', auth: closed }, { name: 'TriageService', host: '0.0.0.0', auth: open }], false)).toThrow(
      /refusing to listen without authentication on TriageService 0\.0\.0\.0.*LT_ALLOW_UNAUTHENTICATED/,
    );
    expect(() => assertAuthenticatedOffLoopback([{ name: 'TriageService', host: '0.0.0.0', auth: open }], true)).not.toThrow();
  });

  test('the gateway refuses to start on 0.0.0.0 without auth, before touching anything', async () => {
    await expect(startGateway(loadConfig({ LT_HTTP_HOST: '0.0.0.0', LT_DATA_DIR: '/nonexistent/never-created' }))).rejects.toThrow(/refusing to listen without authentication on DICOMweb 0\.0\.0\.0/);
  });
});
