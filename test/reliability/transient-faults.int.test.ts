/**
 * Transient faults are retried for hours, not 5 times in 28 s (issue 17, item 8): a worker whose only slot is held
 * by another caller, and a data disk filled while the job works, only delay the job; when the retry time
 * (LT_TRANSIENT_RETRY_SECONDS) runs out the job ends with its failure report and a 'study.failed' event.
 * Real gateways, a real worker with the committed models, real PostgreSQL, a real tmpfs.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { readPart10 } from '../../src/dicom/dcmjs';
import type { JobResult } from '../../src/db/jobs';
import type { Gateway } from '../../src/gateway';
import { startWorker, type WorkerHandle } from '../../src/inference/worker';
import { DEFAULT_MAX_ATTEMPTS } from '../../src/pipeline/pipeline';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TEST_MODELS_DIR } from '../support/models';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';

/** Holds one of the worker's slots the way a slow caller does: an Analyze call opened and left waiting. */
function holdSlot(port: number): () => void {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const raw = (b: Buffer) => b;
  const call = client.makeClientStreamRequest('/lungtriage.inference.v1.InferenceService/Analyze', raw, raw, new grpc.Metadata(), { deadline: Date.now() + 600_000 }, () => undefined);
  call.on('error', () => undefined);
  return () => {
    call.cancel();
    client.close();
  };
}

/** Pushes a small phantom study and returns its Study Instance UID. */
async function pushStudy(base: string, seed: string): Promise<string> {
  const series = phantomSeries(chestPhantom({ size: 64, slices: 12 }), { seed });
  const { status } = await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)));
  expect(status).toBe(200);
  return readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
}

const latestJob = async (gw: Gateway, studyUid: string) =>
  ((await gw.db.dataSource.query(`SELECT state, result, attempts FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid])) as { state: string; result: JobResult | null; attempts: number }[])[0];

const transientRetries = async (gw: Gateway, studyUid: string) =>
  ((await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM audit_log WHERE study_uid = $1 AND action = 'job.retry' AND detail->>'transient' = 'true'`, [studyUid])) as { n: number }[])[0].n;

const eventKinds = async (gw: Gateway, studyUid: string) =>
  ((await gw.db.dataSource.query(`SELECT kind FROM triage_event WHERE study_uid = $1 ORDER BY id`, [studyUid])) as { kind: string }[]).map((r) => r.kind);

/** Waits until the job has been retried more often than the old 5 attempts allowed, failing at once if it ends. */
async function retriedBeyondOldLimit(gw: Gateway, studyUid: string): Promise<void> {
  await until(
    `more than ${DEFAULT_MAX_ATTEMPTS} transient retries`,
    async () => {
      const job = await latestJob(gw, studyUid);
      if (job && ['failed', 'encoded', 'delivered'].includes(job.state) && job.result?.failure) throw new Error(`the job ended early: ${job.result.failure.reason}`);
      if (job?.state === 'failed') throw new Error('the job failed without a report');
      return (await transientRetries(gw, studyUid)) > DEFAULT_MAX_ATTEMPTS ? true : undefined;
    },
    300_000,
    250,
  );
}

const gatewayEnv = (workerPort: number, extra: Record<string, string> = {}) => ({
  LT_WORKERS: `127.0.0.1:${workerPort}`,
  LT_EARLY_INFERENCE: 'false',
  LT_SELECT_MIN_SLICES: '10',
  LT_STABLE_SECONDS: '1',
  LT_POLL_MS: '200',
  ...extra,
});

/** Each case waits through several backoff rounds (and, disk full, re-runs inference each time): minutes on a busy machine. */
const CASE_TIMEOUT_MS = 420_000;

describe('transient faults (real gateway, real worker, real PostgreSQL)', () => {
  let worker: WorkerHandle;
  beforeAll(async () => {
    worker = await startWorker({ host: '127.0.0.1', port: 0, modelsDir: TEST_MODELS_DIR, maxConcurrent: 1, threads: 1 });
  });
  afterAll(() => worker?.close({ force: true }));

  test('a busy worker (its only slot held) delays the job past the old 5 tries; once the slot frees the study is triaged', async () => {
    const { gw, url, cleanup } = await testGateway(gatewayEnv(worker.port));
    const release = holdSlot(worker.port);
    try {
      await until('the slot held', async () => (worker.activeCalls() === 1 ? true : undefined), 10_000, 20);
      const studyUid = await pushStudy(url, 'busy-worker');
      await retriedBeyondOldLimit(gw, studyUid);
      release();
      const job = await until('the job delivered', async () => ((await latestJob(gw, studyUid))?.state === 'delivered' ? latestJob(gw, studyUid) : undefined), 300_000);
      expect(job.result?.failure).toBeUndefined();
      expect(job.attempts).toBeLessThanOrEqual(DEFAULT_MAX_ATTEMPTS);
      expect(await eventKinds(gw, studyUid)).toEqual(['study.received', 'result.ready']);
    } finally {
      release();
      await cleanup();
    }
  }, CASE_TIMEOUT_MS);

  test('when LT_TRANSIENT_RETRY_SECONDS run out, the job fails with its failure report and a study.failed event', async () => {
    const { gw, url, cleanup } = await testGateway(gatewayEnv(worker.port, { LT_TRANSIENT_RETRY_SECONDS: '3' }));
    const release = holdSlot(worker.port);
    try {
      await until('the slot held', async () => (worker.activeCalls() === 1 ? true : undefined), 10_000, 20);
      const studyUid = await pushStudy(url, 'busy-worker-final');
      const job = await until('the job finished', async () => ((await latestJob(gw, studyUid))?.state === 'failed' ? latestJob(gw, studyUid) : undefined), 60_000);
      expect(job.result?.failure).toMatchObject({ stage: 'inference', reason: expect.stringContaining('worker busy') });
      expect(job.result?.srSopInstanceUid).toBeTruthy();
      expect(await eventKinds(gw, studyUid)).toEqual(['study.received', 'study.failed']);
    } finally {
      release();
      await cleanup();
    }
  }, CASE_TIMEOUT_MS);

  /** A small tmpfs as the data dir makes the disk really full; mounting needs root (the test command runs as root). 32 MiB:
   * once space is freed, the whole result set (SR, SEG, summary page, heat maps, KOS) and its delivered copies fit. */
  const mountDir = mkdtempSync(path.join(os.tmpdir(), 'lt-transient-'));
  const canMount = (() => {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountDir], { stdio: 'ignore' });
      return true;
    } catch {
      rmSync(mountDir, { recursive: true, force: true });
      return false;
    }
  })();
  const testIfMount = canMount ? test : test.skip;
  afterAll(() => {
    if (!canMount) return;
    execFileSync('umount', ['--lazy', mountDir], { stdio: 'ignore' });
    rmSync(mountDir, { recursive: true, force: true });
  });

  testIfMount(`the data disk full while the job works (ENOSPC${canMount ? '' : ', SKIPPED: mounting a tmpfs needs root'}) only delays it; after space is freed it is triaged`, async () => {
    const { gw, url, cleanup } = await testGateway(gatewayEnv(worker.port, { LT_DATA_DIR: mountDir }));
    const ballast = path.join(mountDir, 'ballast');
    try {
      const studyUid = await pushStudy(url, 'disk-full-job');
      // Take every byte left before the quiet period ends: the job's work files and results cannot be written.
      try {
        for (;;) appendFileSync(ballast, Buffer.alloc(16 * 1024));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      await retriedBeyondOldLimit(gw, studyUid);
      rmSync(ballast);
      const job = await until('the job delivered', async () => ((await latestJob(gw, studyUid))?.state === 'delivered' ? latestJob(gw, studyUid) : undefined), 300_000);
      expect(job.result?.failure).toBeUndefined();
      expect(await eventKinds(gw, studyUid)).toEqual(['study.received', 'result.ready']);
    } finally {
      rmSync(ballast, { force: true });
      await cleanup();
    }
  }, CASE_TIMEOUT_MS);
});
