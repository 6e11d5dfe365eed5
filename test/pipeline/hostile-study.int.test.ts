/**
 * One bad study must not start an endless crash loop (issue 17, Critical 3), against a real gateway and real
 * PostgreSQL: a JPEG-lossless frame claiming 32000 x 32000 pixels is refused from its frame header with a reason
 * (no decoder runs, the gateway keeps serving), and a job claimed more often than its attempts allow (its earlier
 * holders died with it) fails with a report instead of being run again.
 */
import path from 'node:path';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readPart10, writePart10 } from '../../src/dicom/dcmjs';
import { claimJob } from '../../src/db/jobs';
import { openJob } from '../../src/study/completeness';
import { chestPhantom, phantomSeries, writePhantomSeries } from '../../src/synthetic/phantom';
import { parseEncapsulated, parsePart10 } from '../../src/dicom/part10';
import { testGateway } from '../support/gateway';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';
import { dcmtkAll } from '../volume/helpers';
import { tempDir } from '../support/temp-dir';
import type { Config } from '../../src/config';
import { JAPANESE_NAME, JAPANESE_NAME_TEXT, seriesWithName } from '../support/charset';
import type { Gateway } from '../../src/gateway';

interface JobRow {
  id: string;
  state: string;
  attempts: number;
  result: { failure?: { stage: string; reason: string }; srSopInstanceUid?: string } | null;
}

async function finishedJob(gw: Gateway, studyUid: string): Promise<JobRow> {
  return until(
    'the job to end',
    async () => {
      await gw.tick();
      const [row] = (await gw.db.dataSource.query(`SELECT id, state, attempts, result FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid])) as JobRow[];
      return row && (row.state === 'failed' || row.state === 'delivered') ? row : undefined;
    },
    120_000,
    200,
  );
}

async function studyFailedEvents(gw: Gateway, studyUid: string): Promise<number> {
  const rows = (await gw.db.dataSource.query(`SELECT 1 FROM triage_event WHERE study_uid = $1 AND kind = 'study.failed'`, [studyUid])) as unknown[];
  return rows.length;
}

describe('a JPEG-lossless frame claiming 32000 x 32000 (real gateway)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  const tmp = tempDir('hostile-study');
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({ LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200' }));
  });
  afterAll(async () => {
    await cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('is refused with the reason in a failure report; the gateway keeps serving', async () => {
    const src = writePhantomSeries(path.join(tmp, 'src'), chestPhantom({ size: 64, slices: 24 }), { seed: 'hostile-jpeg' });
    const files = dcmtkAll('dcmcjpeg', ['+e1'], path.dirname(src[0]), path.join(tmp, 'jpeg'));
    const bad = readFileSync(files[12]);
    const px = parsePart10(bad).pixelData!;
    const sof = bad.indexOf(Buffer.from([0xff, 0xc3]), parseEncapsulated(bad, px.offset, true).fragments[0].offset);
    expect(sof).toBeGreaterThan(0);
    bad.writeUInt16BE(32000, sof + 5);
    bad.writeUInt16BE(32000, sof + 7);
    writeFileSync(files[12], bad);
    const studyUid = readPart10(bad).dataset.StudyInstanceUID as string;
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(files.map((f) => readFileSync(f))))).status).toBe(200);
    const job = await finishedJob(gw, studyUid);
    expect(job.state).toBe('failed');
    expect(job.attempts).toBe(1);
    expect(job.result?.failure?.stage).toBe('volume');
    expect(job.result?.failure?.reason).toMatch(/frame header says 32000 x 32000 pixels but Columns x Rows say 64 x 64/);
    expect(await studyFailedEvents(gw, studyUid)).toBe(1);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

describe('a Japanese study (ISO 2022 IR 87) through the whole pipeline (real gateway, real worker)', () => {
  let gw: Gateway;
  let base: string;
  let config: Config;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, url: base, config, cleanup } = await testGateway({ LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200' }));
  });
  afterAll(() => cleanup());

  test('is analysed (dcmjs refused it before) and its SR carries the whole name in UTF-8', async () => {
    const series = seriesWithName(['', 'ISO 2022 IR 87'], JAPANESE_NAME, { size: 64, slices: 24, seed: 'hostile-japanese-e2e' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    const job = await finishedJob(gw, studyUid);
    expect(job.result?.failure).toBeUndefined();
    expect(job.state).toBe('delivered');
    const sr = await until('the SR delivered', () => {
      const all = readdirSync(config.outputDir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
      return all.map((d) => readFileSync(path.join(d.parentPath, d.name))).find((b) => b.includes(job.result!.srSopInstanceUid!));
    });
    expect(readPart10(sr).dataset.SpecificCharacterSet).toBe('ISO_IR 192');
    expect(sr.includes(Buffer.from(JAPANESE_NAME_TEXT, 'utf8'))).toBe(true);
  });
});

describe('a job claimed more often than maxAttempts (real gateway)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    // Studies never turn quiet on their own here: the test opens the job itself, as the completeness check would.
    ({ gw, url: base, cleanup } = await testGateway({ LT_EARLY_INFERENCE: 'false', LT_STABLE_SECONDS: '3600', LT_POLL_MS: '60000' }));
  });
  afterAll(() => cleanup());

  test('fails with its report instead of running again', async () => {
    const series = phantomSeries(chestPhantom({ size: 64, slices: 24 }), { seed: 'hostile-attempts' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    const dataSource = gw.db.dataSource;
    const { jobId } = await dataSource.transaction((tx) => openJob(tx, studyUid, series.length, 'test', { completedBy: 'quiet-period' }));
    // Five gateways in turn claim the job and die with it: each lease simply runs out.
    for (let i = 1; i <= 5; i++) {
      const claimed = await claimJob(dataSource, 60, `crashed-gateway-${i}`);
      expect(claimed).toMatchObject({ id: jobId, attempts: i });
      await dataSource.query(`UPDATE job SET lease_until = now() - interval '1 second' WHERE id = $1`, [jobId]);
    }
    const job = await finishedJob(gw, studyUid);
    expect(job.state).toBe('failed');
    expect(job.attempts).toBe(6);
    expect(job.result?.failure?.reason).toMatch(/gave up after 5 attempts: the process stopped while working on this study/);
    expect(job.result?.failure?.stage).toBe('volume');
    expect(await studyFailedEvents(gw, studyUid)).toBe(1);
    const audited = (await dataSource.query(`SELECT 1 FROM audit_log WHERE action = 'job.attempts-exhausted' AND study_uid = $1`, [studyUid])) as unknown[];
    expect(audited).toHaveLength(1);
  });
});

describe('refusals that cannot succeed on retry fail at once (real gateway, real worker)', () => {
  let gw: Gateway;
  let base: string;
  let config: Config;
  let cleanup: () => Promise<void>;
  const tmp = tempDir('hostile-refused');
  beforeAll(async () => {
    // The worker takes at most 10 slices; a series of 3 qualifies.
    ({ gw, url: base, config, cleanup } = await testGateway({ LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200', LT_SELECT_MIN_SLICES: '3', LT_WORKER_MAX_SLICES: '10' }));
  });
  afterAll(async () => {
    await cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a 5000 x 5000 RLE series is refused from its header before any frame is decoded: one attempt, a report, study.failed', async () => {
    const small = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'hostile-rle-5000' });
    const native = path.join(tmp, 'native');
    mkdirSync(native, { recursive: true });
    for (const [i, s] of small.entries()) {
      const { dataset } = readPart10(s.bytes);
      writeFileSync(path.join(native, `${i}.dcm`), writePart10({ ...dataset, Rows: 5000, Columns: 5000, PixelData: new Uint16Array(5000 * 5000).buffer }));
    }
    const files = dcmtkAll('dcmcrle', [], native, path.join(tmp, 'rle'));
    const studyUid = readPart10(small[0].bytes).dataset.StudyInstanceUID as string;
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(files.map((f) => readFileSync(f))))).status).toBe(200);
    const job = await finishedJob(gw, studyUid);
    expect(job.state).toBe('failed');
    expect(job.attempts).toBe(1);
    // Refused when the headers are read, so the series never qualifies; the report says why, instance by instance.
    expect(job.result?.failure).toMatchObject({ stage: 'series-selection', reason: 'no series qualifies for lung triage' });
    const sr = await until('the report delivered', () => {
      const all = readdirSync(config.outputDir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
      return all.map((d) => readFileSync(path.join(d.parentPath, d.name))).find((b) => b.includes(job.result!.srSopInstanceUid!));
    });
    expect(sr.toString('latin1')).toMatch(/image of 5000 x 5000 pixels: larger than the 4096 x 4096 the analysis takes/);
    expect(await studyFailedEvents(gw, studyUid)).toBe(1);
  });

  test('a volume the worker refuses (more slices than it takes) fails at once with its report, not after 5 attempts', async () => {
    const series = phantomSeries(chestPhantom({ size: 32, slices: 12 }), { seed: 'hostile-worker-refuses' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    const job = await finishedJob(gw, studyUid);
    expect(job.state).toBe('failed');
    expect(job.attempts).toBe(1);
    expect(job.result?.failure?.reason).toMatch(/too many slices: 12 > the worker's limit of 10/);
    expect(await studyFailedEvents(gw, studyUid)).toBe(1);
    const retries = (await gw.db.dataSource.query(`SELECT 1 FROM audit_log WHERE action = 'job.retry' AND study_uid = $1`, [studyUid])) as unknown[];
    expect(retries).toHaveLength(0);
  });
});
