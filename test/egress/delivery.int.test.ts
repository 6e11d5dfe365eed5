/**
 * Delivery into a real Orthanc through the durable outbox in a real PostgreSQL: objects arrive in the source study,
 * Orthanc renders the heat maps, the SR round-trips, re-delivery makes no duplicates, a study mismatch fails for good,
 * and a PACS outage of 30 s delays but never loses or doubles a result. Also saves a web-viewer screenshot to out/.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { DataSource } from 'typeorm';
import { readAudit } from '../../src/audit/audit-log';
import { readPart10 } from '../../src/dicom/dcmjs';
import { Deliverer, DicomWebTarget, enqueueResults, jobDeliveryState } from '../../src/egress';
import { buildResults, failureReport, heatMapScale, mapValueAt, type ResultObjects } from '../../src/results';
import { testDatabase } from '../support/db';
import { TestOrthanc } from '../support/orthanc';
import { syntheticStudy } from '../results/fixtures';
import { codeTriples } from '../results/sr-tree';
import { tempDir } from '../support/temp-dir';

const OUT = path.resolve(__dirname, '../../out/egress');
const fx = syntheticStudy({ seed: 'delivery-test' });
const studyUid = fx.study.StudyInstanceUID;
const NOW = new Date('2026-03-01T10:00:00Z');
const results = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });

let env: Awaited<ReturnType<typeof testDatabase>>;
let dataSource: DataSource;
let orthanc: TestOrthanc;
let spool: string;

async function newJob(): Promise<string> {
  await dataSource.query(`INSERT INTO study (study_uid, state) VALUES ($1, 'ready') ON CONFLICT DO NOTHING`, [studyUid]);
  const [{ id }] = (await dataSource.query(`INSERT INTO job (study_uid, state) VALUES ($1, 'encoded') RETURNING id`, [studyUid])) as { id: string }[];
  return id;
}

async function enqueue(jobId: string, objects: ResultObjects | ResultObjects['objects'], uid = studyUid): Promise<number> {
  return dataSource.transaction((tx) => enqueueResults(tx, jobId, uid, objects, spool));
}

function deliverer(): Deliverer {
  return new Deliverer(dataSource, new DicomWebTarget({ url: orthanc.dicomWebUrl, auth: 'none' }, { timeoutMs: 10000 }), {
    baseDelayMs: 1000,
    maxDelayMs: 8000,
    maxAttempts: 30,
    pollMs: 200,
  });
}

async function orthancIdOf(sopInstanceUid: string): Promise<string> {
  const hits = await orthanc.rest<{ ID: string; Type: string }[]>('POST', '/tools/lookup', sopInstanceUid);
  const hit = hits.find((h) => h.Type === 'Instance');
  if (!hit) throw new Error('instance not in Orthanc');
  return hit.ID;
}

async function studyInstanceCount(): Promise<number> {
  const id = await orthanc.studyId(studyUid);
  return (await orthanc.rest<unknown[]>('GET', `/studies/${id}/instances`)).length;
}

beforeAll(async () => {
  env = await testDatabase();
  dataSource = env.db.dataSource;
  spool = tempDir('outbox');
  orthanc = await new TestOrthanc().start();
  await orthanc.upload(fx.instances.map((i) => i.bytes));
});

afterAll(async () => {
  await orthanc?.destroy();
  await env?.cleanup();
  rmSync(spool, { recursive: true, force: true });
});

test('delivered into the source study: QIDO finds SR, SEG, heat maps, summary and KOS; Orthanc renders the overlay; the SR round-trips', async () => {
  const jobId = await newJob();
  expect(results.objects.map((o) => o.kind)).toEqual(['sr', 'summary', 'seg', 'heatmap', 'heatmap', 'heatmap', 'heatmap', 'kos']);
  expect(await enqueue(jobId, results)).toBe(8);
  const [state] = await deliverer().drain([jobId], 60000);
  expect(state).toMatchObject({ state: 'delivered', delivered: 8, pending: 0, failed: 0 });

  const qido = async (q: string) => {
    const res = await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances?${q}`, { headers: { Accept: 'application/dicom+json' } });
    return (await res.json()) as Record<string, { Value?: unknown[] }>[];
  };
  const uidsOf = (rows: Record<string, { Value?: unknown[] }>[]) => rows.map((r) => r['00080018']?.Value?.[0]).sort();
  expect(uidsOf(await qido('Modality=SR'))).toEqual([results.sr.sopInstanceUid]);
  expect(uidsOf(await qido('Modality=KO'))).toEqual(results.objects.filter((o) => o.kind === 'kos').map((o) => o.sopInstanceUid));
  expect(uidsOf(await qido('Modality=OT'))).toEqual(results.objects.filter((o) => o.kind === 'heatmap' || o.kind === 'summary').map((o) => o.sopInstanceUid).sort());
  expect(uidsOf(await qido('Modality=SEG'))).toEqual(results.objects.filter((o) => o.kind === 'seg').map((o) => o.sopInstanceUid));

  // Orthanc renders every heat map; where the lesion map peaks the preview is the top of the scale (yellow), not grey.
  for (const h of results.objects.filter((o) => o.kind === 'heatmap')) {
    const id = await orthancIdOf(h.sopInstanceUid);
    const res = await fetch(`${orthanc.url}/instances/${id}/preview`, { headers: { Accept: 'image/png' } });
    expect(res.status).toBe(200);
    const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    const slice = fx.analysis.slices[h.sliceIndex as number];
    let best = { v: -1, x: 0, y: 0 };
    for (let y = 0; y < fx.volume.rows; y++) for (let x = 0; x < fx.volume.columns; x++) {
      const v = mapValueAt(slice, x, y);
      if (v > best.v) best = { v, x, y };
    }
    const f = (heatMapScale(fx.volume) * fx.volume.columns) / png.width;
    const px = Math.floor((best.x * heatMapScale(fx.volume) + 1) / f);
    const py = Math.floor((best.y * heatMapScale(fx.volume) + 1) / f);
    const o = (py * png.width + px) * 4;
    const [r, g, b] = [png.data[o], png.data[o + 1], png.data[o + 2]];
    expect(best.v).toBeGreaterThan(0.5);
    expect(r).toBeGreaterThan(b + 60);
    expect(g).toBeGreaterThan(b + 60);
  }

  // The SR comes back from the PACS with every code intact.
  const srFile = Buffer.from(await (await fetch(`${orthanc.url}/instances/${await orthancIdOf(results.sr.sopInstanceUid)}/file`)).arrayBuffer());
  const back = readPart10(srFile).dataset;
  const sent = readPart10(results.sr.bytes).dataset;
  expect(codeTriples(back)).toEqual(codeTriples(sent));
  expect(codeTriples(back).length).toBeGreaterThan(100);
  expect(back.VerificationFlag).toBe('UNVERIFIED');

  // Every attempt is audited.
  const audit = await readAudit(dataSource, { studyUid });
  expect(audit.filter((a) => a.action === 'result.deliver' && a.outcome === 'success').length).toBeGreaterThanOrEqual(1);

  // Web viewer screenshot for review.
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  expect(chromium).toBeDefined();
  const firstHeatMap = results.objects.find((o) => o.kind === 'heatmap') as (typeof results.objects)[number];
  const series = (await orthanc.rest<{ ParentSeries: string }>('GET', `/instances/${await orthancIdOf(firstHeatMap.sopInstanceUid)}`)).ParentSeries;
  mkdirSync(OUT, { recursive: true });
  const shot = path.join(OUT, 'web-viewer-heatmap.png');
  rmSync(shot, { force: true });
  const profile = tempDir('chromium');
  const run = spawnSync(
    chromium as string,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', `--user-data-dir=${profile}`, '--window-size=1280,900', '--virtual-time-budget=15000', '--hide-scrollbars',
      `--screenshot=${shot}`, `${orthanc.url}/web-viewer/app/viewer.html?series=${series}`,
    ],
    { timeout: 90000, encoding: 'utf8' },
  );
  rmSync(profile, { recursive: true, force: true });
  expect(existsSync(shot)).toBe(true);
  const img = PNG.sync.read(readFileSync(shot));
  expect(img.width).toBe(1280);
  // Somewhere on screen the overlay's red shows (the heat map is displayed, not an empty viewer).
  let red = 0;
  for (let i = 0; i < img.data.length; i += 4) if (img.data[i] > 180 && img.data[i + 1] < 90 && img.data[i + 2] < 90) red++;
  if (red < 50) process.stderr.write(`chromium output: ${run.stderr?.slice(-1000)}\n`);
  expect(red).toBeGreaterThan(50);
}, 180000);

test('delivering the same result again creates no duplicates', async () => {
  const before = await studyInstanceCount();
  expect(before).toBe(fx.instances.length + 8);
  const jobId = await newJob();
  expect(await enqueue(jobId, results)).toBe(0); // same UIDs: nothing new queued
  await dataSource.query(`UPDATE outbox SET state = 'pending', next_attempt_at = now() WHERE sop_instance_uid = ANY($1)`, [results.objects.map((o) => o.sopInstanceUid)]);
  const d = deliverer();
  const round = await d.deliverDue();
  expect(round).toMatchObject({ attempted: 8, stored: 8, failed: 0 });
  expect(await studyInstanceCount()).toBe(before);
});

test('a study UID mismatch is recorded as failed and not retried', async () => {
  const jobId = await newJob();
  const other = failureReport(fx.study, 'mismatch probe', { now: NOW });
  await enqueue(jobId, other, '1.2.826.0.1.3680043.8.498.1');
  const round = await deliverer().deliverDue();
  // The report and its summary page.
  expect(round).toMatchObject({ attempted: 2, failed: 2 });
  const rows = (await dataSource.query(`SELECT state, attempts, last_error FROM outbox WHERE job_id = $1`, [jobId])) as { state: string; attempts: number; last_error: string }[];
  expect(rows).toHaveLength(2);
  for (const row of rows) {
    expect(row).toMatchObject({ state: 'failed', attempts: 1 });
    expect(row.last_error).toMatch(/HTTP (400|409)/);
  }
  expect((await jobDeliveryState(dataSource, jobId)).state).toBe('failed');
  expect((await deliverer().deliverDue()).attempted).toBe(0);
});

test('PACS down for 30 s: results wait in the outbox and arrive exactly once after restart', async () => {
  const before = await studyInstanceCount();
  const rerun = buildResults({
    study: fx.study,
    volume: { ...fx.volume, contentHash: 'c'.repeat(64) },
    analysis: fx.analysis,
    keySlices: 4,
    supersedes: { srSopInstanceUid: results.sr.sopInstanceUid, srSeriesInstanceUid: results.sr.seriesInstanceUid },
    now: NOW,
  });
  const jobId = await newJob();
  await orthanc.stop();
  expect(await enqueue(jobId, rerun)).toBe(8);
  const d = deliverer();
  const stop = new AbortController();
  const running = d.run(stop.signal);
  try {
    await new Promise((r) => setTimeout(r, 30000));
    const waiting = (await dataSource.query(`SELECT state, attempts >= 3 AS retried, last_error FROM outbox WHERE job_id = $1`, [jobId])) as unknown[];
    expect(waiting).toEqual(rerun.objects.map(() => ({ state: 'pending', retried: true, last_error: 'no answer' })));
    await orthanc.start();
    const deadline = Date.now() + 60000;
    while ((await jobDeliveryState(dataSource, jobId)).state === 'pending' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  } finally {
    stop.abort();
    await running;
  }
  expect(await jobDeliveryState(dataSource, jobId)).toMatchObject({ state: 'delivered', delivered: 8 });
  expect(await studyInstanceCount()).toBe(before + 8);
  const srs = (await (await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances?Modality=SR`)).json()) as unknown[];
  expect(srs).toHaveLength(2); // the first SR and the superseding one
  const attempts = (await readAudit(dataSource, { studyUid })).filter((a) => a.action === 'result.deliver' && a.detail.httpStatus === 0);
  expect(attempts.length).toBeGreaterThanOrEqual(3);
}, 150000);
