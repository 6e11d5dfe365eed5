import { freePort, type Database } from '../../src/db/database';
import { readAudit, verifyAuditChain } from '../../src/audit/audit-log';
import { readPart10, SopClass } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { TEST_MODELS_DIR } from '../support/models';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';
import { CliProcess } from '../support/process';
import { multipartBody, postStow } from '../support/stow';


describe('kill -9 of the gateway in the middle of inference', () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let orthanc: TestOrthanc;
  let env: Record<string, string>;
  let base: string;
  beforeAll(async () => {
    const t = await testDatabase();
    cleanup = t.cleanup;
    db = t.db;
    orthanc = await new TestOrthanc().start();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      LT_DATABASE_URL: t.url,
      LT_DATA_DIR: t.dataDir,
      LT_HTTP_PORT: String(port),
      LT_GRPC_PORT: '0',
      LT_STABLE_SECONDS: '1',
      LT_POLL_MS: '100',
      LT_JOB_LEASE_SECONDS: '5',
      LT_MODELS_DIR: TEST_MODELS_DIR,
      LT_PACS_URL: orthanc.dicomWebUrl,
      LT_SELECT_MIN_SLICES: '10',
      LT_LOG_LEVEL: 'warn',
    };
  });
  afterAll(async () => {
    await db?.close();
    await orthanc?.destroy();
    await cleanup?.();
  });

  test('after restart the study completes exactly once', async () => {
    const series = phantomSeries(chestPhantom({ size: 256, slices: 80 }), { seed: 'crash-inference' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    await orthanc.upload(series.map((s) => s.bytes));
    let gw = new CliProcess(['gateway'], env).start();
    await gw.waitForHttp(`${base}/healthz`, 60_000);
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    // 'selected' is recorded just before the volume goes to the worker: kill while inference runs.
    await until('inference to start', async () => {
      const rows = (await db.dataSource.query(`SELECT state FROM job WHERE study_uid = $1`, [studyUid])) as { state: string }[];
      return rows[0]?.state === 'selected' ? true : undefined;
    }, 240_000, 50);
    await gw.kill9();
    expect(((await db.dataSource.query(`SELECT state FROM job WHERE study_uid = $1`, [studyUid])) as { state: string }[])[0].state).toBe('selected');

    gw = new CliProcess(['gateway'], env).start();
    try {
      await gw.waitForHttp(`${base}/healthz`, 60_000);
      const job = await until('the job to finish after the restart', async () => {
        const rows = (await db.dataSource.query(`SELECT state, attempts FROM job WHERE study_uid = $1`, [studyUid])) as { state: string; attempts: number }[];
        return rows[0] && ['delivered', 'failed'].includes(rows[0].state) ? rows[0] : undefined;
      }, 240_000);
      expect(job.state).toBe('delivered');
      expect(job.attempts).toBe(2); // the crashed claim and the one that finished it
      const res = await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances`);
      const classes = ((await res.json()) as Record<string, { Value?: string[] }>[]).map((i) => i['00080016']?.Value?.[0]);
      expect(classes.filter((c) => c === SopClass.Comprehensive3dSr)).toHaveLength(1);
      expect(classes.filter((c) => c === SopClass.KeyObjectSelection)).toHaveLength(1);
      const actions = (await readAudit(db.dataSource, { studyUid })).map((r) => r.action);
      expect(actions.filter((a) => a === 'job.inferred')).toHaveLength(1);
      expect(actions.filter((a) => a === 'job.delivered')).toHaveLength(1);
      expect((await verifyAuditChain(db.dataSource)).ok).toBe(true);
    } finally {
      await gw.stop();
    }
  });
});
