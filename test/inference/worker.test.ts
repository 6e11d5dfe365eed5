// The inference worker end to end: a real worker on localhost:0 with the real models from models/, no mocks.
import { execFileSync, fork } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { LtError } from '../../src/errors';
import { InferenceClient } from '../../src/inference/client';
import { analyzeVolume } from '../../src/inference/analysis-job';
import { InferenceEngine } from '../../src/inference/engine';
import { inferenceProto, MAX_CHUNK_BYTES } from '../../src/inference/proto';
import { startWorker, type WorkerHandle } from '../../src/inference/worker';
import type { AnalyzeRequest } from '../../src/generated/lungtriage/inference/v1/AnalyzeRequest';
import type { VolumeHeader } from '../../src/generated/lungtriage/inference/v1/VolumeHeader';
import type { Analysis } from '../../src/inference/types';
import { phantomVolume } from './support/fixtures';
import { requireModels } from '../support/models';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

let engine: InferenceEngine;
let worker: WorkerHandle;
const small = phantomVolume({ size: 96, slices: 6 });

beforeAll(async () => {
  engine = await InferenceEngine.load({ modelsDir: requireModels(), executionProvider: 'auto' });
  worker = await startWorker({ modelsDir: requireModels(), port: 0, engine, maxConcurrent: 1, maxSlices: 64 });
});

afterAll(async () => {
  await worker?.close();
  await engine?.close();
});

function checkAnalysis(a: Analysis, slices: number): void {
  const nC = a.classes.length;
  expect(a.classes.map((c) => c.label)).toContain(a.positiveClass);
  expect(a.lesionTypes).toHaveLength(5);
  expect(a.slices).toHaveLength(slices);
  for (const s of a.slices) {
    expect(s.lesionProbability).toBeGreaterThanOrEqual(0);
    expect(s.lesionProbability).toBeLessThanOrEqual(1);
    expect(s.classProbabilities).toHaveLength(nC);
    expect(s.classProbabilities.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 4);
    expect(s.lesionTypeProbabilities).toHaveLength(5);
    expect(s.lesionMap).toBeInstanceOf(Uint8Array);
    expect(s.lesionMap.length).toBe(s.mapWidth * s.mapHeight);
    expect(s.mapWidth).toBeGreaterThan(0);
  }
  expect(a.patient.classProbabilities).toHaveLength(nC);
  expect(a.patient.classProbabilities.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 4);
  // Models 2.0: the decision is the infection answer (volume evidence), the label the COVID-19 pattern.
  const inf = a.patient.infection;
  expect(inf).toBeDefined();
  expect(a.patient.decision).toBe({ present: 'positive', indeterminate: 'indeterminate', absent: 'negative' }[inf!.decision]);
  expect(inf!.fraction).toBeGreaterThanOrEqual(0);
  expect(inf!.fraction).toBeLessThanOrEqual(1);
  expect(inf!.lungMl).toBeGreaterThan(0);
  if (inf!.decision === 'absent') expect(a.patient.label).not.toBe(a.positiveClass);
  expect(a.models.map((m) => m.role)).toEqual(['slice', 'patient']);
  for (const m of a.models) expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(['cpu', 'cuda']).toContain(a.executionProvider);
}

/** Strips timings, which differ between runs. */
function numbers(a: Analysis): unknown {
  return { ...a, timingsMs: undefined, slices: a.slices.map((s) => ({ ...s, lesionMap: Array.from(s.lesionMap) })) };
}

/** Opens a raw Analyze call (no InferenceClient) to send hand-made messages. */
function rawCall(port: number, opts: grpc.CallOptions = {}) {
  const client = new inferenceProto.InferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  let resolve!: (r: { err: grpc.ServiceError | null }) => void;
  const result = new Promise<{ err: grpc.ServiceError | null }>((r) => (resolve = r));
  const call = client.analyze({ deadline: Date.now() + 30_000, ...opts }, (err) => {
    resolve({ err });
    client.close();
  });
  return { call, result };
}

function goodHeader(over: Partial<VolumeHeader> = {}): VolumeHeader {
  return {
    studyId: 's',
    seriesId: 'r',
    rows: 4,
    columns: 4,
    slices: 2,
    rowSpacingMm: 0.7,
    columnSpacingMm: 0.7,
    slicePositionsMm: [0, 1],
    contentHash: 'h',
    ...over,
  };
}

async function sendRaw(msgs: AnalyzeRequest[]): Promise<grpc.ServiceError> {
  const { call, result } = rawCall(worker.port);
  for (const m of msgs) call.write(m);
  call.end();
  const { err } = await result;
  if (!err) throw new Error('expected an error');
  return err;
}

const voxels = (n: number, start = 0) => ({ chunk: { firstVoxel: start, hu: Buffer.alloc(n * 2) } });

describe('analysis through the worker', () => {
  let viaWorker: Analysis;

  test('a synthetic chest phantom gives a complete, sane analysis with the manifest labels and model identity', async () => {
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 120_000 });
    const progress: number[] = [];
    viaWorker = await client.analyze(small, { onProgress: (p) => progress.push(p.sentSlices) });
    client.close();
    checkAnalysis(viaWorker, small.slices);
    expect(progress[progress.length - 1]).toBe(small.slices);
    expect(viaWorker.executionProvider).toBe(engine.executionProvider);
    expect(viaWorker.models).toEqual(engine.models);
    for (const k of ['preprocess', 'sliceModel', 'patientModel', 'total', 'rpc']) expect(viaWorker.timingsMs[k]).toBeGreaterThanOrEqual(0);
    // The lung crop lies inside the slice and is smaller than it (the phantom has air around the body).
    for (const s of viaWorker.slices) {
      expect(s.cropBox.x).toBeGreaterThan(0);
      expect(s.cropBox.x + s.cropBox.width).toBeLessThanOrEqual(small.columns);
      expect(s.cropBox.width * s.cropBox.height).toBeLessThan(small.rows * small.columns);
    }
  });

  test('is deterministic and equal to the in-process analyzeVolume, number for number', async () => {
    const inProcess = await analyzeVolume(engine, small);
    expect(numbers(inProcess)).toEqual(numbers(viaWorker));
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 120_000 });
    const again = await client.analyze(small);
    client.close();
    expect(numbers(again)).toEqual(numbers(viaWorker));
  });

  test('chunks larger than one slice and slices larger than one chunk are reassembled', async () => {
    // 768 x 768 slices: 1.125 MiB per slice, so every slice spans two 1 MiB chunks.
    const big = phantomVolume({ size: 768, slices: 2 });
    expect(big.rows * big.columns * 2).toBeGreaterThan(MAX_CHUNK_BYTES);
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 120_000 });
    const a = await client.analyze(big);
    client.close();
    checkAnalysis(a, 2);
    expect(numbers(await analyzeVolume(engine, big))).toEqual(numbers(a));
  });

  test('ListModels and grpc.health.v1 say what is loaded and on which execution provider', async () => {
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 10_000 });
    const [info] = await client.listModels();
    client.close();
    expect(info.executionProvider).toBe(engine.executionProvider);
    expect(info.models.map((m) => [m.role, m.name, m.version, m.sha256])).toEqual(engine.models.map((m) => [m.role, m.name, m.version, m.sha256]));
    expect(info.models[1].kind).toBe(engine.manifest.patient.kind);
    expect(info.classes.map((c) => c.label)).toEqual(engine.manifest.classes.map((c) => c.label));
    expect(info.maxConcurrent).toBe(1);
    expect(info.maxSlices).toBe(64);
  });
});

describe('bad input is refused with INVALID_ARGUMENT naming the problem', () => {
  const cases: [string, AnalyzeRequest[], RegExp][] = [
    ['empty stream', [], /empty stream/],
    ['chunk before header', [voxels(4)], /first message must be a VolumeHeader/],
    ['zero rows', [{ header: goodHeader({ rows: 0 }) }], /rows must be > 0/],
    ['zero columns', [{ header: goodHeader({ columns: 0 }) }], /columns must be > 0/],
    ['zero slices', [{ header: goodHeader({ slices: 0, slicePositionsMm: [] }) }], /slices must be > 0/],
    ['too many slices', [{ header: goodHeader({ slices: 65, slicePositionsMm: Array.from({ length: 65 }, (_, i) => i) }) }], /too many slices: 65 > .*64/],
    ['huge rows', [{ header: goodHeader({ rows: 5000 }) }], /rows must be at most 4096/],
    ['zero spacing', [{ header: goodHeader({ rowSpacingMm: 0 }) }], /row_spacing_mm must be a finite number > 0/],
    ['negative spacing', [{ header: goodHeader({ columnSpacingMm: -1 }) }], /column_spacing_mm must be a finite number > 0/],
    ['NaN spacing', [{ header: goodHeader({ rowSpacingMm: NaN }) }], /row_spacing_mm must be a finite number > 0 \(got NaN\)/],
    ['infinite position', [{ header: goodHeader({ slicePositionsMm: [0, Infinity] }) }], /slice_positions_mm\[1\] is not finite/],
    ['NaN position', [{ header: goodHeader({ slicePositionsMm: [NaN, 1] }) }], /slice_positions_mm\[0\] is not finite/],
    ['positions count', [{ header: goodHeader({ slicePositionsMm: [0] }) }], /slice_positions_mm has 1 entries, expected one per slice \(2\)/],
    ['descending positions', [{ header: goodHeader({ slicePositionsMm: [1, 0] }) }], /must be ascending/],
    ['two headers', [{ header: goodHeader() }, { header: goodHeader() }], /second VolumeHeader/],
    ['odd chunk', [{ header: goodHeader() }, { chunk: { firstVoxel: 0, hu: Buffer.alloc(3) } }], /odd number of bytes/],
    ['empty chunk', [{ header: goodHeader() }, { chunk: { firstVoxel: 0, hu: Buffer.alloc(0) } }], /hu is empty/],
    ['oversized chunk', [{ header: goodHeader({ rows: 1024, columns: 1024 }) }, voxels(MAX_CHUNK_BYTES / 2 + 1)], /more than the 1048576-byte limit/],
    ['gap between chunks', [{ header: goodHeader() }, voxels(8), voxels(8, 9)], /first_voxel is 9, expected 8/],
    ['extra data', [{ header: goodHeader() }, voxels(32), voxels(1, 32)], /extra data/],
    ['missing data', [{ header: goodHeader() }, voxels(20)], /missing data: the stream ended after 20 of the 32 voxels/],
    ['header only', [{ header: goodHeader() }], /missing data: the stream ended after 0 of the 32 voxels/],
  ];
  test.each(cases)('%s', async (_name, msgs, re) => {
    const err = await sendRaw(msgs);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(re);
    await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 20_000, 20);
  });

  test('the client turns it into an LtError carrying INVALID_ARGUMENT', async () => {
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 10_000 });
    const bad = { ...small, pixelSpacing: [0, 0.7] as [number, number] };
    const err = (await client.analyze(bad).catch((e: unknown) => e)) as LtError;
    client.close();
    expect(err).toBeInstanceOf(LtError);
    expect(err.grpcCode).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.message).toMatch(/row_spacing_mm/);
  });
});

describe('limits, deadlines and cancellation', () => {
  // Enough work to take several seconds: 4 batches of slices, each three windows.
  const slow = phantomVolume({ size: 128, slices: 64 });

  test('more work than the limit gets RESOURCE_EXHAUSTED at once; the slot is freed when the holder goes', async () => {
    const holder = rawCall(worker.port);
    holder.call.write({ header: goodHeader() });
    await until('one call in flight', () => worker.activeCalls() === 1 || undefined, 20_000, 20);
    const t0 = Date.now();
    const second = rawCall(worker.port);
    second.call.write({ header: goodHeader() });
    const { err } = await second.result;
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/busy: 1 of 1/);
    expect(Date.now() - t0).toBeLessThan(5000);
    // The client, with only this worker, reports the same code as a typed error.
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 10_000 });
    const e = (await client.analyze(small).catch((x: unknown) => x)) as LtError;
    expect(e.grpcCode).toBe(grpc.status.RESOURCE_EXHAUSTED);
    holder.call.cancel();
    await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 20_000, 20);
    checkAnalysis(await client.analyze(small), small.slices);
    client.close();
  });

  test('a call past its deadline gets DEADLINE_EXCEEDED and the worker stops between batches', async () => {
    const before = engine.stats.batches;
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 800 });
    const e = (await client.analyze(slow).catch((x: unknown) => x)) as LtError;
    client.close();
    expect(e).toBeInstanceOf(LtError);
    expect(e.grpcCode).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 20_000, 20);
    // 64 slices are 4 batches; the work stopped before the end.
    expect(engine.stats.batches - before).toBeLessThan(4);
  });

  test('a cancelled call (AbortSignal) ends CANCELLED, frees its slot and stops its work', async () => {
    const before = engine.stats.batches;
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 120_000 });
    const ac = new AbortController();
    const p = client.analyze(slow, { signal: ac.signal, onProgress: (x) => x.sentSlices >= 32 && ac.abort() });
    const e = (await p.catch((x: unknown) => x)) as LtError;
    expect(e.grpcCode).toBe(grpc.status.CANCELLED);
    await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 20_000, 20);
    expect(engine.stats.batches - before).toBeLessThan(4);
    // The worker serves the next call normally.
    checkAnalysis(await client.analyze(small), small.slices);
    client.close();
  });
});

describe('several workers', () => {
  test('a worker killed mid-run: the client moves on to another and still returns the analysis', async () => {
    const a = await startWorker({ modelsDir: requireModels(), port: 0, engine, maxConcurrent: 2 });
    const b = await startWorker({ modelsDir: requireModels(), port: 0, engine, maxConcurrent: 2 });
    const vol = phantomVolume({ size: 96, slices: 20 });
    const client = new InferenceClient([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], { deadlineMs: 120_000 });
    try {
      const p = client.analyze(vol);
      await until('one call in flight', () => a.activeCalls() + b.activeCalls() === 1 || undefined, 20_000, 20);
      const victim = a.activeCalls() === 1 ? a : b;
      const survivor = victim === a ? b : a;
      await victim.close({ force: true });
      const res = await p;
      checkAnalysis(res, vol.slices);
      expect(numbers(res)).toEqual(numbers(await analyzeVolume(engine, vol)));
      expect(survivor.activeCalls()).toBe(0);
      // The dead worker is now skipped by the health check; the next call goes straight to the survivor.
      checkAnalysis(await client.analyze(small), small.slices);
    } finally {
      client.close();
      await a.close();
      await b.close();
    }
  });

  test('a worker process killed (SIGKILL) mid-upload: the client retries on the other worker', async () => {
    const child = fork(path.join(__dirname, 'support/worker-child.js'), [], {
      env: { ...process.env, LT_MODELS_DIR: requireModels() },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const b = await startWorker({ modelsDir: requireModels(), port: 0, engine, maxConcurrent: 2 });
    try {
      const msg = await new Promise<{ port?: number; error?: string }>((resolve) => child.once('message', resolve));
      expect(msg.error).toBeUndefined();
      const vol = phantomVolume({ size: 512, slices: 12 }); // 6 MiB: several chunks, so the kill lands mid-upload
      const c = new InferenceClient([`127.0.0.1:${msg.port}`, `127.0.0.1:${b.port}`], { deadlineMs: 120_000 });
      const workers: string[] = [];
      let killed = false;
      const res = await c.analyze(vol, {
        onProgress: (pr) => {
          workers.push(pr.worker);
          if (!killed && pr.worker.endsWith(`:${msg.port}`)) {
            killed = true;
            child.kill('SIGKILL');
          }
        },
      });
      c.close();
      expect(killed).toBe(true);
      expect(workers[workers.length - 1]).toBe(`127.0.0.1:${b.port}`);
      checkAnalysis(res, vol.slices);
    } finally {
      child.kill('SIGKILL');
      await b.close();
    }
  });

  test('no worker reachable: UNAVAILABLE', async () => {
    const client = new InferenceClient(['127.0.0.1:1'], { deadlineMs: 5000, healthTimeoutMs: 1000 });
    const e = (await client.analyze(small).catch((x: unknown) => x)) as LtError;
    client.close();
    expect(e.grpcCode).toBe(grpc.status.UNAVAILABLE);
    expect(e.message).toMatch(/no healthy inference worker/);
  });
});

describe('TLS', () => {
  let dir: string;
  const f = (n: string) => path.join(dir, n);
  beforeAll(() => {
    // A throwaway CA, server and client certificates, made at test time (never committed).
    dir = tempDir('tls');
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=lt-test-ca');
    for (const who of ['server', 'client']) {
      ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'lt-gateway'}`);
      const ext = f(`${who}.ext`);
      writeFileSync(ext, who === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
      ossl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '1', '-extfile', ext);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('mTLS: a client with a certificate from the CA is served; one without, or in plaintext, is not', async () => {
    const w = await startWorker({
      modelsDir: requireModels(),
      port: 0,
      engine,
      tls: { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem'), requireClientCert: true },
    });
    const addr = [`localhost:${w.port}`];
    try {
      const good = new InferenceClient(addr, { deadlineMs: 60_000, tls: { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key') } });
      const [info] = await good.listModels();
      expect(info.executionProvider).toBe(engine.executionProvider);
      checkAnalysis(await good.analyze(small), small.slices);
      good.close();

      const noCert = new InferenceClient(addr, { deadlineMs: 5000, tls: { ca: f('ca.pem') } });
      const e1 = (await noCert.listModels().catch((x: unknown) => x)) as LtError;
      noCert.close();
      expect(e1.grpcCode).toBe(grpc.status.UNAVAILABLE);

      const plain = new InferenceClient(addr, { deadlineMs: 5000 });
      const e2 = (await plain.analyze(small).catch((x: unknown) => x)) as LtError;
      plain.close();
      expect(e2.grpcCode).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await w.close();
    }
  });

  test('server-only TLS: the client verifies the server against the CA', async () => {
    const w = await startWorker({ modelsDir: requireModels(), port: 0, engine, tls: { cert: f('server.pem'), key: f('server.key') } });
    try {
      const c = new InferenceClient([`localhost:${w.port}`], { deadlineMs: 60_000, tls: { ca: f('ca.pem') } });
      expect((await c.listModels())[0].models).toHaveLength(2);
      c.close();
      // A client trusting another CA refuses the server.
      const other = new InferenceClient([`localhost:${w.port}`], { deadlineMs: 5000, tls: { ca: f('client.pem') } });
      const e = (await other.listModels().catch((x: unknown) => x)) as LtError;
      other.close();
      expect(e.grpcCode).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await w.close();
    }
  });
});

describe('a model session thread that dies', () => {
  test('turns the worker NOT_SERVING, so clients move on, and fails its calls with a reason', async () => {
    const own = await InferenceEngine.load({ modelsDir: requireModels(), executionProvider: 'cpu' });
    const w = await startWorker({ modelsDir: requireModels(), port: 0, engine: own, maxConcurrent: 1 });
    try {
      const healthy = new InferenceClient([`127.0.0.1:${w.port}`], { deadlineMs: 60_000 });
      checkAnalysis(await healthy.analyze(small), small.slices);
      healthy.close();
      // Kill the slice session's thread from outside, as a native crash would end it.
      await (own.sliceSession as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      const job = own.newJob({ rows: small.rows, columns: small.columns, slices: small.slices });
      for (let s = 0; s < small.slices; s++) await job.addSlice(small.hu.subarray(s * small.rows * small.columns, (s + 1) * small.rows * small.columns));
      await expect(job.finish()).rejects.toThrow(/inference thread stopped/);
      const client = new InferenceClient([`127.0.0.1:${w.port}`], { deadlineMs: 5000, healthTimeoutMs: 1000 });
      await expect(client.analyze(small)).rejects.toThrow(/no healthy inference worker/);
      client.close();
    } finally {
      await w.close();
      await own.close();
    }
  });
});

describe('worker token (issue 17, item 10)', () => {
  test('with LT_WORKER_AUTH_TOKEN every inference call needs the token; health stays open; off loopback a token or mTLS is required', async () => {
    const w = await startWorker({ modelsDir: requireModels(), port: 0, engine, authToken: 'worker-secret' });
    const addr = [`127.0.0.1:${w.port}`];
    try {
      const good = new InferenceClient(addr, { deadlineMs: 60_000, authToken: 'worker-secret' });
      expect((await good.listModels())[0].models).toHaveLength(2);
      checkAnalysis(await good.analyze(small), small.slices);
      good.close();
      for (const authToken of [undefined, 'wrong']) {
        const bad = new InferenceClient(addr, { deadlineMs: 5000, authToken });
        const e1 = (await bad.listModels().catch((x: unknown) => x)) as LtError;
        const e2 = (await bad.analyze(small).catch((x: unknown) => x)) as LtError;
        bad.close();
        expect(e2.grpcCode).toBe(grpc.status.UNAUTHENTICATED);
        // listModels asks every worker and sums up: none reachable, each refusal named.
        expect(e1.message).toMatch(/missing or wrong worker token/);
      }
    } finally {
      await w.close();
    }
    await expect(startWorker({ modelsDir: requireModels(), host: '0.0.0.0', port: 0, engine })).rejects.toThrow(/refusing to listen without authentication on worker 0\.0\.0\.0/);
  });
});
