import express, { type NextFunction, type Request, type Response } from 'express';
import type { DataSource } from 'typeorm';
import type { AuthFailureLog } from '../audit/auth-failures';
import type { Role } from '../config';
import { unfinishedJobsByState } from '../db/jobs';
import { asLtError, LtError } from '../errors';
import { createStowHandler, type StowDeps } from '../ingest/stow-handler';
import { createWadoHandler } from '../ingest/wado';
import type { Spool } from '../ingest/spool';
import { log, withLogContext } from '../logger';
import { registry, metrics } from '../metrics';
import type { RateLimiter } from '../rate-limit';
import { callerOf, requireRole, type Authenticator, type Principal } from './authenticator';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';

/** What the HTTP front door needs. */
export interface HttpDeps extends StowDeps {
  dataSource: DataSource;
  spool: Spool;
  auth: Authenticator;
  authFailures: AuthFailureLog;
  /** Requests per second per caller on STOW-RS and WADO-RS (undefined: no limit). */
  rateLimiter?: RateLimiter;
}

/**
 * The gateway's HTTP app: DICOMweb STOW-RS and WADO-RS under /dicom-web, plus /healthz, /readyz and /metrics
 * (left open for probes and scrapers; they carry no PHI).
 */
export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use((req, _res, next) => withLogContext({ requestId: (req.headers['x-request-id'] as string) || randomUUID() }, next));

  // Liveness: the process can still open a file. Out of descriptors it can serve nothing, so it should be restarted.
  app.get('/healthz', async (_req, res) => {
    const problem = await fs.open(deps.spool.root, 'r').then(
      (fh) => fh.close().then(() => undefined),
      (e: NodeJS.ErrnoException) => e.code ?? 'error',
    );
    if (problem) res.status(503).json({ status: 'failing', reason: `cannot open files (${problem})` });
    else res.json({ status: 'ok' });
  });
  // Each readiness check is a synced spool write and a query, each scrape a query: shared, so a flood of probes or
  // scrapes costs one run a second and cannot slow uploads (issue 17: 4-15x).
  // Only a ready answer is reused: a recovery shows at the next probe.
  const ready = sharedRecent(() => readiness(deps.dataSource, deps.spool), PROBE_REUSE_MS, (c) => c.database && c.spool);
  const queueDepth = sharedRecent(() => refreshQueueDepth(deps.dataSource), PROBE_REUSE_MS);
  app.get('/readyz', async (_req, res) => {
    const checks = await ready();
    res.status(checks.database && checks.spool ? 200 : 503).json(checks);
  });
  app.get('/metrics', async (_req, res) => {
    await queueDepth();
    res.type(registry.contentType).send(await registry.metrics());
  });

  const dicomWeb = express.Router();
  const stow = createStowHandler(deps);
  const wado = createWadoHandler(deps.dataSource);
  const sender = requireAuth(deps, 'sender');
  const reader = requireAuth(deps, 'reader');
  dicomWeb.post('/studies', sender, stow);
  dicomWeb.post('/studies/:study', sender, stow);
  dicomWeb.get('/studies/:study', reader, wado);
  dicomWeb.get('/studies/:study/series/:series', reader, wado);
  dicomWeb.get('/studies/:study/series/:series/instances/:instance', reader, wado);
  app.use('/dicom-web', dicomWeb);

  app.use((_req, _res, next) => next(LtError.notFound('no such resource')));
  // One error handler: known errors answer their status; unknown ones are logged and answered 500.
  app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const err = asLtError(e);
    if (!(e instanceof LtError)) log.error('request failed', { err: e });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err.httpStatus === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="lung-triage", Basic realm="lung-triage"');
    if (typeof err.details?.retryAfterSeconds === 'number') res.setHeader('Retry-After', String(err.details.retryAfterSeconds));
    res.status(err.httpStatus).json({ error: err.message, ...(err.dicomReason !== undefined ? { dicomReason: err.dicomReason } : {}) });
  });
  return app;
}

/**
 * Authenticates the request, checks its route's role and the caller's request rate: 401 (with WWW-Authenticate)
 * without valid credentials, 403 without the role, 429 with Retry-After over the rate (LT_RATE_LIMIT_PER_SECOND,
 * per identity, or per address when authentication is off). Refusals are counted (AuthFailureLog), not audited one row each.
 */
function requireAuth(deps: HttpDeps, role: Role) {
  return async (req: Request, res: Response, next: NextFunction) => {
    let principal: Principal | undefined;
    try {
      const r = await deps.auth.authenticate(req.headers.authorization);
      if ('refused' in r) throw LtError.unauthenticated(r.refused);
      principal = r.principal;
      if (principal.name !== 'anonymous') res.locals.user = principal.name;
      requireRole(principal, role);
      const wait = deps.rateLimiter?.take(callerOf(principal, req.socket.remoteAddress ?? 'unknown')) ?? 0;
      if (wait > 0) throw LtError.tooManyRequests('too many requests from this caller (LT_RATE_LIMIT_PER_SECOND); retry later', wait);
      next();
    } catch (e) {
      const err = asLtError(e);
      if (req.method === 'POST' && [401, 403, 429].includes(err.httpStatus)) metrics.stowRequests.inc({ status: String(err.httpStatus) });
      if (err.httpStatus === 401 || err.httpStatus === 403) {
        deps.authFailures.record({
          surface: 'dicomweb',
          outcome: err.httpStatus === 401 ? 'unauthenticated' : 'forbidden',
          method: `${req.method} ${req.baseUrl}${req.route ? String((req.route as { path: string }).path) : ''}`,
          peer: req.socket.remoteAddress ?? 'unknown',
          principal: principal?.name,
        });
      }
      next(err);
    }
  };
}

/** How long a readiness answer or the queue depth gauge is reused. */
const PROBE_REUSE_MS = 1000;

/**
 * One run of `fn` shared by its callers: a call while it runs waits for that run, and its answer is reused for
 * maxAgeMs after it ends when `reusable` says so. A run that fails is not reused.
 */
export function sharedRecent<T>(fn: () => Promise<T>, maxAgeMs: number, reusable: (value: T) => boolean = () => true): () => Promise<T> {
  let running: Promise<T> | undefined;
  let last: { value: T; at: number } | undefined;
  return () => {
    if (last && performance.now() - last.at < maxAgeMs) return Promise.resolve(last.value);
    running ??= fn()
      .then((value) => {
        last = reusable(value) ? { value, at: performance.now() } : undefined;
        return value;
      })
      .finally(() => (running = undefined));
    return running;
  };
}

/** Readiness: the database answers and the spool accepts a synced write. */
export async function readiness(dataSource: DataSource, spool: Spool): Promise<{ database: boolean; spool: boolean }> {
  const database = await dataSource
    .query('SELECT 1')
    .then(() => true)
    .catch(() => false);
  return { database, spool: await spool.writable() };
}

async function refreshQueueDepth(dataSource: DataSource): Promise<void> {
  try {
    const rows = await unfinishedJobsByState(dataSource);
    metrics.queueDepth.reset();
    for (const r of rows) metrics.queueDepth.set({ state: r.state }, r.n);
  } catch {
    /* database down: /readyz reports it */
  }
}
