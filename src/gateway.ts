import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApp } from './api/http';
import type { Config } from './config';
import { openDatabase, type Database } from './db/database';
import { InstanceRecorder } from './ingest/instance-store';
import { Spool } from './ingest/spool';
import { log } from './logger';
import { startPoller, type Poller } from './poller';
import { markStableStudies } from './study/completeness';
import { studyTag } from './logger';

/** A running gateway: its ports and a graceful stop. */
export interface Gateway {
  httpPort: number;
  db: Database;
  spool: Spool;
  /** Runs the background loops once now (tests, demo). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the gateway: database (migrated), spool (crash leftovers removed), the DICOMweb listener and the
 * background loops (study completeness). Every part is stopped by close(), in reverse order.
 */
export async function startGateway(config: Config): Promise<Gateway> {
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, migrate: true });
  const spool = new Spool(config.spoolDir);
  const swept = await spool.init();
  if (swept > 0) log.warn('removed unacknowledged partial uploads left by a previous run', { files: swept });
  const recorder = new InstanceRecorder(db.dataSource);
  const app = createHttpApp({
    ds: db.dataSource,
    spool,
    recorder,
    limits: config.limits,
    publicUrl: config.http.publicUrl,
    credentials: config.auth,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.http.port, config.http.host, () => resolve(s));
    s.on('error', reject);
  });
  // Large studies stream for minutes: no request timeout, but idle sockets are closed.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const httpPort = (server.address() as AddressInfo).port;
  const pollers: Poller[] = [
    startPoller('study-completeness', Math.min(1000, Math.max(100, config.stableSeconds * 250)), async () => {
      for (const s of await markStableStudies(db.dataSource, config.stableSeconds))
        log.info('study ready', { study: studyTag(s.studyUid), jobId: String(s.jobId), instances: s.instances });
    }),
  ];
  log.info('gateway listening', { http: `${config.http.host}:${httpPort}` });
  return {
    httpPort,
    db,
    spool,
    async tick() {
      for (const p of pollers) await p.kick();
    },
    async close() {
      for (const p of pollers) await p.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await db.close();
      log.info('gateway stopped');
    },
  };
}
