/**
 * Spool retention (issue 16, item 6) against a real PostgreSQL and the real spool: files are laid out by hashed
 * UIDs, removed once their study's job has ended (after LT_SPOOL_RETAIN_SECONDS) or reached LT_SPOOL_MAX_AGE_HOURS,
 * never while a job still needs them; unreferenced old files go; a re-sent instance comes back. Then through real
 * gateways: an old spool with raw-UID folders survives a restart (moved to hashed names, every instance still served),
 * and a delivered study's files are removed, with WADO-RS answering 410 and the gauges at zero.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import type { Database } from '../../src/db/database';
import { readPart10 } from '../../src/dicom/dcmjs';
import { startGateway } from '../../src/gateway';
import { acceptInstanceFile } from '../../src/ingest/accept';
import { InstanceRecorder } from '../../src/ingest/instance-store';
import { SpoolSweeper } from '../../src/ingest/retention';
import { Spool, spoolKey } from '../../src/ingest/spool';
import { registry } from '../../src/metrics';
import { openJob } from '../../src/study/completeness';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { TEST_MODELS_DIR } from '../support/models';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';

const HOUR = 3_600_000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function gaugeValue(name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name) as { values: { value: number }[] } | undefined;
  return m?.values[0]?.value ?? NaN;
}

function studyOf(series: { bytes: Buffer }[]): string {
  return readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
}

describe('spool retention (real PostgreSQL, real spool)', () => {
  let db: Database;
  let dataDir: string;
  let cleanup: () => Promise<void>;
  let spool: Spool;
  let recorder: InstanceRecorder;
  beforeAll(async () => {
    ({ db, dataDir, cleanup } = await testDatabase());
    spool = new Spool(path.join(dataDir, 'spool'));
    await spool.init();
    recorder = new InstanceRecorder(db.dataSource);
  });
  afterAll(async () => {
    await cleanup();
  });

  const vol = chestPhantom({ size: 32, slices: 4, seed: 'retention' });

  /** Stores a small study through the accept path and opens its job; returns the study UID. */
  async function storeStudy(seed: string): Promise<{ studyUid: string; jobId: number; bytes: Buffer[] }> {
    const series = phantomSeries(vol, { seed });
    for (const inst of series) {
      const f = await spool.incoming();
      await f.write(inst.bytes);
      const digest = await f.finish();
      const out = await acceptInstanceFile({ spool, recorder }, { path: f.path, size: f.size, sha256: digest }, { actor: 'test', source: 'push' });
      expect(out.message).toBe('stored');
    }
    const studyUid = studyOf(series);
    const job = await db.dataSource.transaction((tx) => openJob(tx, studyUid, series.length, 'test', { completedBy: 'quiet-period' }));
    return { studyUid, jobId: job.jobId, bytes: series.map((s) => s.bytes) };
  }

  const paths = async (studyUid: string) =>
    ((await db.dataSource.query(`SELECT spool_path, purged_at FROM instance WHERE study_uid = $1`, [studyUid])) as { spool_path: string; purged_at: Date | null }[]);
  const setJob = (jobId: number, state: string, endedAgoMs = 0) =>
    db.dataSource.query(`UPDATE job SET state = $2, updated_at = now() - make_interval(secs => $3) WHERE id = $1`, [jobId, state, endedAgoMs / 1000]);
  const age = async (studyUid: string, ms: number) => {
    await db.dataSource.query(`UPDATE study SET last_received_at = now() - make_interval(secs => $2) WHERE study_uid = $1`, [studyUid, ms / 1000]);
    const t = (Date.now() - ms) / 1000;
    for (const r of await paths(studyUid)) utimesSync(r.spool_path, t, t);
  };

  test('hashed layout; removed after the job ends or at the maximum age, never while a job needs them; orphans go; a re-send comes back', async () => {
    const delivered = await storeStudy('ret-delivered');
    const inProgress = await storeStudy('ret-in-progress');
    const justDone = await storeStudy('ret-just-done');

    // No raw UID on disk: the study folder and the file names are hashes.
    for (const r of await paths(delivered.studyUid)) {
      expect(r.spool_path).not.toContain(delivered.studyUid);
      expect(path.basename(path.dirname(r.spool_path))).toBe(spoolKey(delivered.studyUid));
    }
    expect(readdirSync(spool.root).sort()).toEqual(['.incoming', ...[delivered, inProgress, justDone].map((s) => spoolKey(s.studyUid))].sort());

    await setJob(delivered.jobId, 'delivered', 2 * HOUR);
    await setJob(inProgress.jobId, 'selected');
    await age(inProgress.studyUid, 100 * HOUR); // past the maximum age, but its job is running
    await setJob(justDone.jobId, 'failed', 10_000); // ended 10 s ago, retained for an hour
    const orphanDir = path.join(spool.root, 'ab'.repeat(16));
    mkdirSync(orphanDir);
    const oldOrphan = path.join(orphanDir, 'old.dcm');
    const freshOrphan = path.join(orphanDir, 'fresh.dcm');
    writeFileSync(oldOrphan, 'x');
    writeFileSync(freshOrphan, 'y');
    utimesSync(oldOrphan, (Date.now() - 100 * HOUR) / 1000, (Date.now() - 100 * HOUR) / 1000);

    const sweeper = new SpoolSweeper(db.dataSource, spool, { retainSeconds: 3600, maxAgeHours: 72 });
    const first = await sweeper.sweep();
    expect(first).toMatchObject({ studies: 1, files: 4, orphans: 1 });
    for (const r of await paths(delivered.studyUid)) {
      expect(r.purged_at).not.toBeNull();
      expect(existsSync(r.spool_path)).toBe(false);
    }
    expect(existsSync(path.join(spool.root, spoolKey(delivered.studyUid)))).toBe(false);
    for (const s of [inProgress, justDone]) for (const r of await paths(s.studyUid)) expect({ held: existsSync(r.spool_path), purged: r.purged_at }).toEqual({ held: true, purged: null });
    expect(existsSync(oldOrphan)).toBe(false);
    expect(existsSync(freshOrphan)).toBe(true);
    const heldBytes = [...inProgress.bytes, ...justDone.bytes].reduce((n, b) => n + b.length, 0) + 1;
    expect(await gaugeValue('lt_spool_bytes')).toBe(heldBytes);
    expect(await gaugeValue('lt_spool_oldest_file_age_seconds')).toBeGreaterThan(99 * 3600);

    // The running job fails for good: its study, past the maximum age, goes at the next sweep.
    await setJob(inProgress.jobId, 'failed');
    expect(await sweeper.sweep()).toMatchObject({ studies: 1, files: 4 });
    const audit = (await db.dataSource.query(`SELECT study_uid, detail FROM audit_log WHERE action = 'spool.purged' ORDER BY id`)) as {
      study_uid: string;
      detail: { reason: string; instances: number };
    }[];
    expect(audit.map((a) => [a.study_uid, a.detail.reason, a.detail.instances])).toEqual([
      [delivered.studyUid, 'retained', 4],
      [inProgress.studyUid, 'max_age', 4],
    ]);

    // Sent again after removal: stored again, the study reopened, the file back where the row says.
    const f = await spool.incoming();
    await f.write(delivered.bytes[0]);
    const digest = await f.finish();
    const again = await acceptInstanceFile({ spool, recorder }, { path: f.path, size: f.size, sha256: digest }, { actor: 'test', source: 'push' });
    expect(again.message).toBe('stored');
    const [back] = (await db.dataSource.query(`SELECT spool_path, purged_at FROM instance WHERE sop_instance_uid = $1`, [again.sopInstanceUid])) as {
      spool_path: string;
      purged_at: Date | null;
    }[];
    expect(back.purged_at).toBeNull();
    expect(sha(readFileSync(back.spool_path))).toBe(sha(delivered.bytes[0]));
    const [study] = (await db.dataSource.query(`SELECT state FROM study WHERE study_uid = $1`, [delivered.studyUid])) as { state: string }[];
    expect(study.state).toBe('receiving');
  });
});

describe('retention through real gateways: an old spool across a restart, then a delivered study removed', () => {
  test('raw-UID folders are moved to hashed names at start-up with every instance kept; after delivery the files go and WADO-RS answers 410', async () => {
    const { url: dbUrl, dataDir, cleanup, db } = await testDatabase();
    await db.close();
    const env = { LT_DATABASE_URL: dbUrl, LT_DATA_DIR: dataDir, LT_HTTP_PORT: '0', LT_GRPC_PORT: '0', LT_STABLE_SECONDS: '1', LT_POLL_MS: '200' };
    const series = phantomSeries(chestPhantom({ size: 96, slices: 24, seed: 'retention-gw' }), { seed: 'retention-gw' });
    const studyUid = studyOf(series);
    try {
      // 1. A gateway that keeps files (no retention yet) receives the study.
      let gw = await startGateway(loadConfig({ ...env, LT_MODELS_DIR: TEST_MODELS_DIR, LT_SPOOL_RETAIN_SECONDS: '86400', LT_EARLY_INFERENCE: 'false' }));
      try {
        expect((await postStow(`http://127.0.0.1:${gw.httpPort}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
      } finally {
        await gw.close();
      }
      // 2. Rewrite the spool the way the previous release laid it out: <spool>/<StudyInstanceUID>/<SOPInstanceUID>.<sha16>.dcm.
      const spoolDir = path.join(dataDir, 'spool');
      const pg = new Client({ connectionString: dbUrl });
      await pg.connect();
      try {
        const rows = (await pg.query(`SELECT sop_instance_uid, sha256, spool_path FROM instance`)).rows as { sop_instance_uid: string; sha256: string; spool_path: string }[];
        mkdirSync(path.join(spoolDir, studyUid));
        for (const r of rows) {
          const legacy = path.join(spoolDir, studyUid, `${r.sop_instance_uid}.${r.sha256.slice(0, 16)}.dcm`);
          renameSync(r.spool_path, legacy);
          await pg.query(`UPDATE instance SET spool_path = $2 WHERE sop_instance_uid = $1`, [r.sop_instance_uid, legacy]);
        }
      } finally {
        await pg.end();
      }
      // 3. The new release starts on that spool, with retention on: nothing lost, nothing left under a raw UID.
      gw = await startGateway(loadConfig({ ...env, LT_MODELS_DIR: TEST_MODELS_DIR, LT_SPOOL_RETAIN_SECONDS: '0', LT_EARLY_INFERENCE: 'false' }));
      try {
        const base = `http://127.0.0.1:${gw.httpPort}`;
        expect(readdirSync(spoolDir).sort()).toEqual(['.incoming', spoolKey(studyUid)]);
        const moved = (await gw.db.dataSource.query(`SELECT spool_path, sha256 FROM instance`)) as { spool_path: string; sha256: string }[];
        expect(moved).toHaveLength(series.length);
        for (const r of moved) {
          expect(r.spool_path).not.toContain(studyUid);
          expect(sha(readFileSync(r.spool_path))).toBe(r.sha256);
        }
        const wado = await fetch(`${base}/dicom-web/studies/${studyUid}`);
        expect(wado.status).toBe(200);
        const body = Buffer.from(await wado.arrayBuffer());
        for (const s of series) expect(body.includes(s.bytes)).toBe(true);

        // 4. The job runs to delivery (local worker, results to the folder target); retention 0 then removes the files.
        await until(
          'the study to be delivered and its files removed',
          async () => {
            await gw.tick();
            const [r] = (await gw.db.dataSource.query(
              `SELECT count(*) FILTER (WHERE purged_at IS NULL)::int AS held, (SELECT state FROM job ORDER BY id DESC LIMIT 1) AS job FROM instance`,
            )) as { held: number; job: string | null }[];
            return r.job === 'delivered' && r.held === 0 ? r : undefined;
          },
          180_000,
          300,
        );
        for (const r of moved) expect(existsSync(r.spool_path)).toBe(false);
        expect(readdirSync(spoolDir)).toEqual(['.incoming']);
        const gone = await fetch(`${base}/dicom-web/studies/${studyUid}`);
        expect(gone.status).toBe(410);
        expect(((await gone.json()) as { error: string }).error).toMatch(/removed from the spool by retention.*retrieve it from the PACS/);
        expect((await fetch(`${base}/dicom-web/studies/1.2.3.4.5`)).status).toBe(404);
        const metricsText = await (await fetch(`${base}/metrics`)).text();
        expect(metricsText).toMatch(/^lt_spool_bytes 0$/m);
        expect(metricsText).toMatch(/^lt_spool_oldest_file_age_seconds 0$/m);
        // The counter also holds the first describe's removals (one registry per test file).
        expect(Number(/^lt_spool_purged_files_total\{reason="retained"\} (\d+)$/m.exec(metricsText)?.[1])).toBeGreaterThanOrEqual(series.length);
      } finally {
        await gw.close();
      }
    } finally {
      await cleanup();
    }
  });
});
