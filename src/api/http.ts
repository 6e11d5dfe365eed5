import express, { type NextFunction, type Request, type Response } from 'express';
import type { DataSource } from 'typeorm';
import { audit } from '../audit/audit-log';
import { unfinishedJobsByState } from '../db/jobs';
import { asLtError, LtError } from '../errors';
import { createStowHandler, actorOf, type StowDeps } from '../ingest/stow-handler';
import { createWadoHandler } from '../ingest/wado';
import type { Spool } from '../ingest/spool';
import { log, withLogContext } from '../logger';
import { registry, metrics } from '../metrics';
import { authDisabled, authenticate, type Credentials } from './auth';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';

/** What the HTTP front door needs. */
export interface HttpDeps extends StowDeps {
  ds: DataSource;
  spool: Spool;
  credentials: Credentials;
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
  app.get('/readyz', async (_req, res) => {
    const checks = await readiness(deps.ds, deps.spool);
    res.status(checks.database && checks.spool ? 200 : 503).json(checks);
  });
  app.get('/metrics', async (_req, res) => {
    await refreshQueueDepth(deps.ds);
    res.type(registry.contentType).send(await registry.metrics());
  });

  const dicomWeb = express.Router();
  dicomWeb.use(requireAuth(deps));
  const stow = createStowHandler(deps);
  const wado = createWadoHandler(deps.ds);
  dicomWeb.post('/studies', stow);
  dicomWeb.post('/studies/:study', stow);
  dicomWeb.get('/studies/:study', wado);
  dicomWeb.get('/studies/:study/series/:series', wado);
  dicomWeb.get('/studies/:study/series/:series/instances/:instance', wado);
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
    res.status(err.httpStatus).json({ error: err.message, ...(err.dicomReason !== undefined ? { dicomReason: err.dicomReason } : {}) });
  });
  return app;
}

function requireAuth(deps: HttpDeps) {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (authDisabled(deps.credentials)) return next();
    const user = authenticate(req.headers.authorization, deps.credentials);
    if (user) {
      res.locals.user = user;
      return next();
    }
    metrics.stowRequests.inc({ status: '401' });
    await audit(deps.ds, {
      actor: actorOf(req, res),
      action: 'auth.rejected',
      outcome: 'failure',
      detail: { method: req.method, path: req.baseUrl, presented: req.headers.authorization ? 'wrong credentials' : 'none' },
    }).catch((e: unknown) => log.error('audit write failed', { err: e }));
    next(LtError.unauthenticated());
  };
}

/** Readiness: the database answers and the spool accepts a synced write. */
export async function readiness(ds: DataSource, spool: Spool): Promise<{ database: boolean; spool: boolean }> {
  const database = await ds
    .query('SELECT 1')
    .then(() => true)
    .catch(() => false);
  return { database, spool: await spool.writable() };
}

async function refreshQueueDepth(ds: DataSource): Promise<void> {
  try {
    const rows = await unfinishedJobsByState(ds);
    metrics.queueDepth.reset();
    for (const r of rows) metrics.queueDepth.set({ state: r.state }, r.n);
  } catch {
    /* database down: /readyz reports it */
  }
}
