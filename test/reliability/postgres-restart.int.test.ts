/**
 * PostgreSQL restarted while a sender is pushing a study: while the database is down the gateway refuses instances
 * with 503 + Retry-After (0xA700, nothing acknowledged that is not recorded), it stays up, and once the database is
 * back every acknowledged instance is recorded, the study is triaged and its result written exactly once.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { verifyAuditChain } from '../../src/audit/audit-log';
import { freePort, openDatabase } from '../../src/db/database';
import { readPart10, SopClass } from '../../src/dicom/dcmjs';
import { FolderTarget } from '../../src/egress/folder-target';
import { DicomReason } from '../../src/errors';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { TEST_MODELS_DIR } from '../support/models';
import { PostgresProcess } from '../support/postgres-process';
import { CliProcess } from '../support/process';
import { multipartBody, postStow, seqItems } from '../support/stow';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const dicomValue = (item: Record<string, { Value?: unknown[] }>, tag: string) => item[tag]?.Value?.[0];

describe('PostgreSQL restarted during ingest', () => {
  const pg = new PostgresProcess();
  const dataDir = tempDir('pgrestart');
  const outDir = path.join(dataDir, 'results');
  let gw: CliProcess | undefined;

  beforeAll(async () => {
    await pg.start();
  });
  afterAll(async () => {
    await gw?.stop();
    await pg.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new Client({ connectionString: pg.url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  test('every acknowledged instance is recorded and the study is triaged exactly once', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    gw = new CliProcess(['gateway'], {
      LT_DATABASE_URL: pg.url,
      LT_DATA_DIR: dataDir,
      LT_OUTPUT_DIR: outDir,
      LT_HTTP_PORT: String(port),
      LT_GRPC_PORT: '0',
      LT_STABLE_SECONDS: '3',
      LT_POLL_MS: '200',
      LT_SELECT_MIN_SLICES: '10',
      LT_MODELS_DIR: TEST_MODELS_DIR,
      LT_WORKER_THREADS: '1',
      LT_LOG_LEVEL: 'warn',
    }).start();
    await gw.waitForHttp(`${base}/healthz`, 120_000);

    const series = phantomSeries(chestPhantom({ size: 128, slices: 40 }), { seed: 'postgres-restart' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    const acknowledged = new Set<string>();
    const statuses: number[] = [];
    const refusals: number[] = [];
    let restarted = false;
    // A sender like a PACS: two instances per request, in order, retrying what was not acknowledged.
    for (let i = 0; i < series.length; ) {
      if (i === 16 && !restarted) {
        // Stopped while a request is being recorded: whatever it acknowledges must be there afterwards.
        const [racing] = await Promise.all([postStow(`${base}/dicom-web/studies`, multipartBody(series.slice(i, i + 2).map((s) => s.bytes))), pg.stop()]);
        for (const ok of seqItems(racing.json, '00081199')) acknowledged.add(dicomValue(ok, '00081155') as string);
        // While the database is down: refused for retry, never acknowledged.
        const down = await postStow(`${base}/dicom-web/studies`, multipartBody(series.slice(i, i + 2).map((s) => s.bytes)));
        expect(down.status).toBe(503);
        expect(down.headers.get('retry-after')).toBeTruthy();
        for (const f of seqItems(down.json, '00081198')) refusals.push(dicomValue(f, '00081197') as number);
        expect((await fetch(`${base}/readyz`)).status).toBe(503);
        await new Promise((r) => setTimeout(r, 3000));
        await pg.start();
        restarted = true;
      }
      let res;
      try {
        res = await postStow(`${base}/dicom-web/studies`, multipartBody(series.slice(i, i + 2).map((s) => s.bytes)));
      } catch {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      statuses.push(res.status);
      for (const ok of seqItems(res.json, '00081199')) acknowledged.add(dicomValue(ok, '00081155') as string);
      if (res.status === 200) i += 2;
      else await new Promise((r) => setTimeout(r, 500));
    }
    expect(refusals).toEqual([DicomReason.OutOfResources, DicomReason.OutOfResources]);
    expect(acknowledged.size).toBe(series.length);
    expect(gw.ended).toBe(false); // the gateway rode out the restart

    const recorded = await query<{ sop_instance_uid: string }>(`SELECT sop_instance_uid FROM instance WHERE study_uid = $1`, [studyUid]);
    expect(new Set(recorded.map((r) => r.sop_instance_uid))).toEqual(acknowledged);

    const job = await until('the study to be triaged and written', async () => {
      const rows = await query<{ state: string; instances: number }>(
        `SELECT j.state, (SELECT count(*)::int FROM instance i WHERE i.study_uid = j.study_uid) AS instances FROM job j WHERE j.study_uid = $1`,
        [studyUid],
      );
      return rows.length > 0 && rows.every((r) => ['delivered', 'failed'].includes(r.state)) ? rows : undefined;
    }, 300_000);
    expect(job).toEqual([{ state: 'delivered', instances: series.length }]);

    const dir = new FolderTarget(outDir).studyDir(studyUid);
    const written = readdirSync(dir).map((f) => readPart10(readFileSync(path.join(dir, f))).dataset.SOPClassUID);
    expect(written.filter((c) => c === SopClass.Comprehensive3dSr)).toHaveLength(1);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(path.join(dataDir, 'spool', '.incoming'))).toEqual([]); // nothing half-written

    const db = await openDatabase({ url: pg.url, dataDir });
    try {
      expect((await verifyAuditChain(db.dataSource)).ok).toBe(true);
    } finally {
      await db.close();
    }
  }, 420_000);
});
