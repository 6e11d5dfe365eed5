import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { assertAuthenticatedOffLoopback, Authenticator } from './api/authenticator';
import { createHttpApp } from './api/http';
import { OidcVerifier } from './api/oidc';
import { AuthFailureLog } from './audit/auth-failures';
import { writeAuditCheckpoint, type AuditCheckpoint } from './audit/audit-log';
import { startTriageServer } from './api/triage-service';
import type { Config, HttpTls } from './config';
import { openDatabase, type Database } from './db/database';
import { createDeliveryTarget, Deliverer } from './egress';
import { startDimseListener, type DimseListener } from './ingest/dimse';
import { StudiesInFlight } from './ingest/in-flight';
import { InstanceRecorder } from './ingest/instance-store';
import { Puller, requestPull } from './ingest/pull';
import { Reconciler } from './ingest/reconcile';
import { SPOOL_SWEEP_INTERVAL_MS, SpoolSweeper } from './ingest/retention';
import { Spool } from './ingest/spool';
import { log, studyTag } from './logger';
import { EarlyInference } from './pipeline/early-inference';
import { inferenceFor } from './pipeline/analyzer';
import { Pipeline } from './pipeline/pipeline';
import { DEVICE } from './results/device';
import { startPoller, type Poller } from './poller';
import { RateLimiter } from './rate-limit';
import { completenessCheck } from './study/completeness';
import { PacsCompleteness } from './study/pacs-completeness';

/** Refused logins are summarised in one audit row per window (AuthFailureLog). */
const AUTH_FAILURE_WINDOW_MS = 60_000;

/** A running gateway: its ports and a graceful stop. */
export interface Gateway {
  httpPort: number;
  grpcPort: number;
  /** The DIMSE listener's port, when LT_DIMSE_PORT is set. */
  dimsePort?: number;
  db: Database;
  spool: Spool;
  pipeline: Pipeline;
  deliverer: Deliverer;
  /** Runs every background loop once now (tests, demo). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the gateway: database (migrated), spool (crash leftovers removed, a legacy layout moved to hashed names),
 * the DICOMweb listener, the TriageService, the inference client and the background loops (completeness, pipeline,
 * delivery, finalisation, spool retention, reconciliation with the PACS).
 * close() stops every part, in reverse order.
 */
export async function startGateway(config: Config): Promise<Gateway> {
  const oidc = config.auth.oidc ? new OidcVerifier(config.auth.oidc) : undefined;
  const dicomWebAuth = new Authenticator({ bearer: config.auth.bearerTokens, basic: config.auth.basicUsers, oidc });
  const grpcAuth = new Authenticator({ bearer: config.grpc.authTokens, oidc });
  assertAuthenticatedOffLoopback(
    [
      { name: 'DICOMweb', host: config.http.host, auth: dicomWebAuth },
      { name: 'TriageService', host: config.grpc.host, auth: grpcAuth },
    ],
    config.auth.allowUnauthenticated,
  );
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, migrate: true, audit: config.audit });
  const authFailures = new AuthFailureLog(db.dataSource);
  if (config.databaseUrl && !config.audit.key)
    log.warn('LT_AUDIT_KEY is not set: the audit chain is keyed with the per-install key in the data dir; gateways sharing a database must share one LT_AUDIT_KEY');
  const spool = new Spool(config.spoolDir);
  const swept = await spool.init();
  if (swept > 0) log.warn('removed unacknowledged partial uploads left by a previous run', { files: swept });
  const sweeper = new SpoolSweeper(db.dataSource, spool, config.spool);
  await sweeper.relayoutLegacy();
  const recorder = new InstanceRecorder(db.dataSource, { maxInstancesPerStudy: config.limits.maxInstancesPerStudy });
  // Set once the workers are known; STOW requests that end before that are left to the quiet period.
  const stages: { early?: EarlyInference } = {};
  const inFlight = new StudiesInFlight();
  // Each stage wakes the next at once instead of leaving it to the next poll (the polls stay as the safety net).
  const loops: Partial<Record<'pull' | 'pipeline' | 'delivery', Poller>> = {};
  const pacsCompleteness =
    config.pacs && config.pacsCompleteness
      ? new PacsCompleteness({
          dataSource: db.dataSource,
          pacs: config.pacs,
          inFlight: () => inFlight.list(),
          onReady: () => void loops.pipeline?.kick(),
        })
      : undefined;
  const requestEnded = (uids: string[]) => {
    pacsCompleteness?.requestEnded(uids);
    stages.early?.requestEnded(uids);
  };
  const app = createHttpApp({
    dataSource: db.dataSource,
    spool,
    recorder,
    limits: config.limits,
    publicUrl: config.http.publicUrl,
    auth: dicomWebAuth,
    authFailures,
    rateLimiter: new RateLimiter('dicomweb', config.rateLimit),
    receivingHeartbeatMs: Math.max(200, (config.stableSeconds * 1000) / 3),
    inFlight,
    onStored: (uid) => stages.early?.received(uid),
    onRequestEnd: requestEnded,
  });
  const server = listenerFor(app, config.http.tls);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  // Large studies stream for minutes: no whole-request timeout; a body that goes quiet is ended by the STOW handler
  // (LT_STOW_IDLE_SECONDS), headers must arrive promptly, and TCP keep-alive finds peers that vanished.
  server.requestTimeout = 0;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 65_000;
  // Slow or idle connections opened before any authentication must not use up the process's descriptors.
  server.maxConnections = config.http.maxConnections;
  server.on('connection', (socket) => socket.setKeepAlive(true, 30_000));
  const httpPort = (server.address() as AddressInfo).port;
  const dimse: DimseListener | undefined = config.dimse
    ? await startDimseListener(
        {
          dataSource: db.dataSource,
          spool,
          recorder,
          maxInflatedBytes: config.limits.maxInflatedBytes,
          maxInstanceBytes: config.limits.maxInstanceBytes,
          aeTitle: config.dimse.aeTitle,
          allowedAes: config.dimse.allowedAes,
          allowedHosts: config.dimse.allowedHosts,
          rateLimiter: new RateLimiter('dimse', config.rateLimit),
          onStored: (uid) => stages.early?.received(uid),
          onAssociationEnd: requestEnded,
          inFlight,
        },
        config.dimse,
      )
    : undefined;

  const inference = await inferenceFor(config);
  const selection = { minSlices: config.volume.minSlices };
  const early = config.pipeline.earlyInference
    ? new EarlyInference({
        dataSource: db.dataSource,
        analyzer: inference.analyzer,
        selection,
        maxSlices: config.volume.maxSlices,
        busy: () => pipeline.busy,
        keepMs: (config.stableSeconds + 60) * 1000,
      })
    : undefined;
  stages.early = early;
  const pipeline: Pipeline = new Pipeline({
    dataSource: db.dataSource,
    analyzer: inference.analyzer,
    early,
    workDir: path.join(config.dataDir, 'work'),
    leaseSeconds: config.pipeline.leaseSeconds,
    transientRetrySeconds: config.pipeline.transientRetrySeconds,
    keySlices: config.pipeline.keySlices,
    reportNotApplicable: config.pipeline.reportNotApplicable,
    selection,
    maxSlices: config.volume.maxSlices,
    onStage: (_job, stage) => void (stage === 'encoded' && loops.delivery?.kick()),
  });
  const deliverer = new Deliverer(db.dataSource, createDeliveryTarget(config), {
    pollMs: config.pipeline.pollMs,
    leaseMs: config.pipeline.leaseSeconds * 1000,
    onlyHeldStudies: config.pipeline.onlyHeldStudies,
  });
  const pullDeps = { dataSource: db.dataSource, spool, recorder, pacs: config.pacs, maxInflatedBytes: config.limits.maxInflatedBytes };
  const puller = new Puller({ ...pullDeps, leaseSeconds: config.pipeline.leaseSeconds });
  const triage = await startTriageServer(
    {
      dataSource: db.dataSource,
      auth: grpcAuth,
      authFailures,
      rateLimiter: new RateLimiter('grpc', config.rateLimit),
      pollMs: config.pipeline.pollMs,
      submit: config.pacs
        ? async (uid, actor) => {
            const r = await requestPull(pullDeps, uid, actor, 'submit');
            void loops.pull?.kick();
            return r;
          }
        : undefined,
    },
    { host: config.grpc.host, port: config.grpc.port, tls: config.tls },
  );

  // The head of the audit chain, signed, outside the database: a cut tail is found by `audit verify`.
  let lastCheckpoint: AuditCheckpoint | undefined;
  const checkpoint = async () => {
    lastCheckpoint = await writeAuditCheckpoint(db.dataSource, lastCheckpoint);
  };
  const poll = config.pipeline.pollMs;
  const completeness = completenessCheck(db.dataSource, config.stableSeconds, () => inFlight.list());
  const pollers: Poller[] = [
    startPoller('study-completeness', Math.min(poll, Math.max(100, config.stableSeconds * 250)), async () => {
      const ready = await completeness();
      for (const s of ready) log.info('study ready', { study: studyTag(s.studyUid), jobId: String(s.jobId), instances: s.instances });
      if (ready.length > 0) void loops.pipeline?.kick();
    }),
    // Pulls recorded by SubmitStudy and reconciliation, one at a time; a pull a crash cut short is resumed here.
    (loops.pull = startPoller('pull', poll, async () => {
      for (let r = await puller.runOnce(); r.ran; r = await puller.runOnce()) if (r.result) void loops.pipeline?.kick();
    })),
    (loops.pipeline = startPoller('pipeline', poll, async () => {
      while (await pipeline.runOnce()) {
        /* drain runnable jobs */
      }
    })),
    (loops.delivery = startPoller('delivery', poll, () => deliverer.deliverDue())),
    startPoller('finalize', poll, () => pipeline.finalize()),
    startPoller('spool-retention', SPOOL_SWEEP_INTERVAL_MS, () => sweeper.sweep()),
    startPoller('audit-checkpoint', config.audit.checkpointSeconds * 1000, checkpoint),
    startPoller('auth-failures', AUTH_FAILURE_WINDOW_MS, () => authFailures.flush()),
  ];
  const { reconcile } = config;
  if (reconcile.periodSeconds > 0) {
    const reconciler = new Reconciler(pullDeps, { ...reconcile, ourManufacturer: DEVICE.manufacturer });
    pollers.push(
      startPoller('reconcile', reconcile.periodSeconds * 1000, async () => {
        if ((await reconciler.once()).recovered > 0) void loops.pull?.kick();
      }),
    );
  }
  log.info('gateway listening', { [config.http.tls ? 'https' : 'http']: `${config.http.host}:${httpPort}`, grpc: `${config.grpc.host}:${triage.port}`, dimse: dimse?.port, delivery: deliverer.target.description });
  return {
    httpPort,
    grpcPort: triage.port,
    dimsePort: dimse?.port,
    db,
    spool,
    pipeline,
    deliverer,
    async tick() {
      for (const p of pollers) await p.kick();
    },
    async close() {
      puller.stop();
      for (const p of pollers) await p.stop();
      pacsCompleteness?.close();
      early?.close();
      await triage.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await dimse?.close();
      await inference.close();
      await authFailures.flush();
      await checkpoint().catch((e: unknown) => log.error('audit checkpoint failed', { err: e }));
      await db.close();
      log.info('gateway stopped');
    },
  };
}

/**
 * The DICOMweb listener: plain HTTP, or HTTPS with LT_HTTP_TLS_* (the same app, /healthz and /metrics included).
 * With a client CA, client certificates it signed are accepted; with requireClientCert only those connect (mTLS).
 */
function listenerFor(app: http.RequestListener, tls: HttpTls | undefined): http.Server | https.Server {
  if (!tls) return http.createServer(app);
  return https.createServer(
    {
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
      ca: tls.ca ? readFileSync(tls.ca) : undefined,
      requestCert: Boolean(tls.ca),
      rejectUnauthorized: tls.requireClientCert,
      minVersion: 'TLSv1.2',
    },
    app,
  );
}
