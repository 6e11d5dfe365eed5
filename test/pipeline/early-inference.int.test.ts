/**
 * Early inference (src/pipeline/early-inference.ts): a study is analysed while it arrives and during its quiet period, and its job uses
 * that analysis only when the study's instances are still exactly those it was done on. Real gateways, real
 * PostgreSQL, the real worker with the committed models; results go to the gateway's results folder.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readAudit, verifyAuditChain } from '../../src/audit/audit-log';
import { readPart10 } from '../../src/dicom/dcmjs';
import type { Gateway } from '../../src/gateway';
import { InstanceRecorder } from '../../src/ingest/instance-store';
import { metrics } from '../../src/metrics';
import { importLocal } from '../../src/pipeline/local-study';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

/** How many early analyses this process has started or had used so far. */
async function earlyCount(outcome: 'started' | 'used'): Promise<number> {
  return (await metrics.earlyInference.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

interface JobRow {
  id: string;
  state: string;
  result: { slices: number; assessment: { positiveProbability: number; decision: string } };
}

async function finishedJob(gw: Gateway, studyUid: string): Promise<JobRow> {
  return until(
    'the study triaged',
    async () => {
      const rows = (await gw.db.dataSource.query(`SELECT id, state, result FROM job WHERE study_uid = $1 ORDER BY id`, [studyUid])) as JobRow[];
      return rows.length > 0 && rows.every((r) => r.state === 'delivered' || r.state === 'failed') ? rows[rows.length - 1] : undefined;
    },
    120_000,
  );
}

async function startedEarly(gw: Gateway, studyUid: string): Promise<boolean[]> {
  return (await readAudit(gw.db.dataSource, { studyUid })).filter((a) => a.action === 'job.inferred').map((a) => a.detail.startedEarly as boolean);
}

/** The slices each job's analysis had from the worker's slice cache. */
async function slicesReused(gw: Gateway, studyUid: string): Promise<number[]> {
  return (await readAudit(gw.db.dataSource, { studyUid })).filter((a) => a.action === 'job.inferred').map((a) => a.detail.slicesReused as number);
}

// Each study its own pixels (the noise level), so the worker's slice cache holds no slice of one for another.
const study = (seed: string, noise: number, slices = 24) => {
  const series = phantomSeries(chestPhantom({ size: 128, slices, noise }), { seed });
  return { series, uid: readPart10(series[0].bytes).dataset.StudyInstanceUID as string, bytes: series.map((s) => s.bytes) };
};

describe('early inference while a study arrives and during its quiet period', () => {
  const env = { LT_STABLE_SECONDS: '3', LT_SELECT_MIN_SLICES: '10', LT_POLL_MS: '200' };
  let on: Awaited<ReturnType<typeof testGateway>>;
  beforeAll(async () => {
    on = await testGateway(env);
  });
  afterAll(async () => {
    await on?.cleanup();
  });

  test('the job takes the analysis made during the quiet period, and the result equals one made without it', async () => {
    // 14 slices: fewer than an analysis while the request still streams waits for, so one analysis, at its end.
    const s = study('early-used', 12, 14);
    const [started, used] = [await earlyCount('started'), await earlyCount('used')];
    expect((await postStow(`${on.url}/dicom-web/studies`, multipartBody(s.bytes))).status).toBe(200);
    // Under way well before the study is complete (3 s quiet period).
    await until('early inference started', async () => (await earlyCount('started')) > started || undefined, 2500);
    expect(await on.gw.db.dataSource.query(`SELECT id FROM job WHERE study_uid = $1`, [s.uid])).toEqual([]);
    const job = await finishedJob(on.gw, s.uid);
    expect(job.state).toBe('delivered');
    expect(job.result.slices).toBe(14);
    expect(await earlyCount('used')).toBe(used + 1);
    expect(await startedEarly(on.gw, s.uid)).toEqual([true]);
    expect(await slicesReused(on.gw, s.uid)).toEqual([0]);

    const off = await testGateway({ ...env, LT_EARLY_INFERENCE: 'false' });
    try {
      await postStow(`${off.url}/dicom-web/studies`, multipartBody(s.bytes));
      const plain = await finishedJob(off.gw, s.uid);
      expect(await startedEarly(off.gw, s.uid)).toEqual([false]);
      expect(plain.result.assessment).toEqual(job.result.assessment);
    } finally {
      await off.cleanup();
    }
  });

  test('instances arriving after the early start: that analysis runs on, and the analysis of the whole study reuses its slices', async () => {
    const s = study('early-dropped', 13);
    const started = await earlyCount('started');
    await postStow(`${on.url}/dicom-web/studies`, multipartBody(s.bytes.slice(0, 16)));
    await until('early inference started', async () => (await earlyCount('started')) > started || undefined, 2500);
    await postStow(`${on.url}/dicom-web/studies`, multipartBody(s.bytes.slice(16)));
    const job = await finishedJob(on.gw, s.uid);
    expect(job.result.slices).toBe(24);
    // One job: the quiet period was never broken. Its analysis is of the whole study, never the one of the first
    // 16 slices: the early one the second request started once the first had ended, or (if the quiet period ended
    // sooner) the job's own; either ran the model on the 8 new slices only.
    expect(await on.gw.db.dataSource.query(`SELECT id FROM job WHERE study_uid = $1`, [s.uid])).toHaveLength(1);
    expect(await slicesReused(on.gw, s.uid)).toEqual([16]);
  });

  test('an instance stored elsewhere (another gateway) after the early start: the digests differ and the job analyses again', async () => {
    const s = study('early-elsewhere', 14);
    const [started, used] = [await earlyCount('started'), await earlyCount('used')];
    await postStow(`${on.url}/dicom-web/studies`, multipartBody(s.bytes.slice(0, 16)));
    // Two early analyses of the 16: one at the 16th instance stored, one after the request ended (once the first is
    // done). Wait for both, so the 8 below arrive after every early start (with a fast model the second could
    // otherwise begin after them and rightly cover all 24).
    await until('both early analyses started', async () => (await earlyCount('started')) >= started + 2 || undefined, 5000);
    // Stored without passing through this gateway's STOW listener, as another gateway on the same database would.
    const dir = tempDir('early-elsewhere');
    try {
      s.bytes.slice(16).forEach((b, i) => writeFileSync(path.join(dir, `${i}.dcm`), b));
      const imported = await importLocal({ dataSource: on.gw.db.dataSource, spool: on.gw.spool, recorder: new InstanceRecorder(on.gw.db.dataSource) }, dir);
      expect(imported.stored).toHaveLength(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const job = await finishedJob(on.gw, s.uid);
    expect(job.result.slices).toBe(24);
    expect(await earlyCount('used')).toBe(used);
    expect(await startedEarly(on.gw, s.uid)).toEqual([false]);
    // The job's own analysis waited for the early one and ran the model on the 8 new slices only.
    expect(await slicesReused(on.gw, s.uid)).toEqual([16]);
    expect((await verifyAuditChain(on.gw.db.dataSource)).ok).toBe(true);
  });
});
