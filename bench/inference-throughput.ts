/**
 * Inference throughput, side by side in one run (not a test):
 *   1. bare onnxruntime-node InferenceSession.run on preprocessed slices (batches of manifest batchSize, every window);
 *   2. the whole worker call (gRPC upload of the HU volume, preprocessing, both models) on the same slices;
 *   3. PyTorch (Debian's python3-torch) on the same network, weights, tensors, threads and batch size.
 * Prints slices/s for each, the worker/PyTorch ratio (goal >= 1.5) and the worker overhead over bare
 * onnxruntime (goal < 15%).
 * Run: npm run build && node dist/bench/inference-throughput.js [--slices 48] [--size 512] [--threads 2] [--rounds 3]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InferenceClient } from '../src/inference/client';
import { InferenceEngine } from '../src/inference/engine';
import { sessionOptions } from '../src/inference/providers';
import { prepareSlice, writeWindow } from '../src/inference/preprocess';
import { startWorker } from '../src/inference/worker';
import { configureLogger } from '../src/logger';
import { chestPhantom } from '../src/synthetic/phantom';
import type { HuVolume } from '../src/volume/types';

const ROOT = [path.resolve(__dirname, '..'), path.resolve(__dirname, '../..')].find((d) => existsSync(path.join(d, 'models'))) ?? process.cwd();

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

function out(line: string): void {
  process.stdout.write(line + '\n');
}

/** A phantom of the given size as an HuVolume. */
export function benchVolume(size: number, slices: number): HuVolume {
  const p = chestPhantom({ size, slices: Math.min(slices, 64) });
  const plane = size * size;
  const hu = new Int16Array(plane * slices);
  for (let s = 0; s < slices; s++) hu.set(p.hu.subarray((s % p.slices) * plane, ((s % p.slices) + 1) * plane), s * plane);
  return {
    studyUid: '2.25.9',
    seriesUid: '2.25.10',
    rows: size,
    columns: size,
    slices,
    pixelSpacing: [p.pixelSpacing, p.pixelSpacing],
    sliceSpacing: p.sliceSpacing,
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    hu,
    sources: Array.from({ length: slices }, (_, i) => ({
      sopInstanceUid: `2.25.${i + 100}`,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      position: i * p.sliceSpacing,
      imagePositionPatient: [0, 0, i * p.sliceSpacing] as [number, number, number],
    })),
    contentHash: 'bench',
    warnings: [],
  };
}

function findWeights(modelsDir: string): string | undefined {
  const dirs = [path.join(modelsDir, 'weights'), modelsDir, path.join(modelsDir, 'training')];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    const f = readdirSync(d).find((x) => /^slice-.*\.pt$/.test(x));
    if (f) return path.join(d, f);
  }
  return undefined;
}

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const slices = arg('slices', 48);
  const size = arg('size', 512);
  const threads = arg('threads', 2);
  const rounds = arg('rounds', 3);
  const modelsDir = process.env.LT_MODELS_DIR ?? path.join(ROOT, 'models');
  const engine = await InferenceEngine.load({ modelsDir, executionProvider: 'cpu', threads });
  const m = engine.manifest;
  const p = m.preprocessing;
  const W = p.windows.length;
  const plane = p.size * p.size;
  const bs = m.slice.batchSize;
  const vol = benchVolume(size, slices);
  out(`inference throughput: ${slices} slices ${size}x${size}, ${W} windows, batch ${bs}, ${threads} threads, models ${m.name} ${m.version}`);

  // Preprocessed inputs, laid out per batch and window exactly as the worker runs them.
  const tensors: Float32Array[] = [];
  const all = new Float32Array(slices * W * 3 * plane);
  let allOff = 0;
  for (let b0 = 0; b0 < slices; b0 += bs) {
    const k = Math.min(bs, slices - b0);
    const preps = Array.from({ length: k }, (_, i) => prepareSlice(vol.hu.subarray((b0 + i) * size * size, (b0 + i + 1) * size * size), size, size, p));
    for (const win of p.windows) {
      const t = new Float32Array(k * 3 * plane);
      preps.forEach((pr, i) => writeWindow(pr.resized, win, p.normalisation, t, i * 3 * plane));
      tensors.push(t);
      all.set(t, allOff);
      allOff += t.length;
    }
  }
  // The reference: a bare session on this thread with the worker's options, nothing around it.
  const bareSession = await ort.InferenceSession.create(path.join(modelsDir, m.slice.file), { ...sessionOptions(threads), executionProviders: ['cpu'] });
  const run = (t: Float32Array) => bareSession.run({ [m.slice.inputName]: new ort.Tensor('float32', t, [t.length / (3 * plane), 3, p.size, p.size]) });
  await run(tensors[0]); // warm-up

  // Bare runs and whole worker calls alternate; the fastest of each is kept (the machine may be shared).
  const worker = await startWorker({ modelsDir, port: 0, engine, maxConcurrent: 1 });
  const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 3_600_000 });
  await client.analyze(benchVolume(size, 2)); // warm-up of the channel
  let bareS = Infinity;
  let workerS = Infinity;
  let timings: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    const tb = performance.now();
    for (const t of tensors) await run(t);
    bareS = Math.min(bareS, (performance.now() - tb) / 1000);
    const tw = performance.now();
    const a = await client.analyze(vol);
    const s = (performance.now() - tw) / 1000;
    if (s < workerS) {
      workerS = s;
      timings = a.timingsMs;
    }
  }
  client.close();
  await worker.close();
  await bareSession.release();
  const bare = slices / bareS;
  const wps = slices / workerS;
  out(`  bare InferenceSession.run     ${bare.toFixed(2)} slices/s  (${bareS.toFixed(2)} s, best of ${rounds})`);
  out(`  whole worker call (gRPC)      ${wps.toFixed(2)} slices/s  (${workerS.toFixed(2)} s, best of ${rounds}; worker timings ms ${JSON.stringify(timings)})`);
  out(`  worker overhead over bare onnxruntime: ${((workerS / bareS - 1) * 100).toFixed(1)}%  (goal < 15%)`);

  const weights = findWeights(modelsDir);
  if (!weights || !existsSync('/usr/bin/python3')) {
    out('  PyTorch: skipped (no slice-*.pt weights under models/ or no /usr/bin/python3)');
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-'));
    try {
      const tf = path.join(dir, 'x.f32');
      writeFileSync(tf, Buffer.from(all.buffer, all.byteOffset, all.byteLength));
      const res = execFileSync(
        '/usr/bin/python3',
        [path.join(ROOT, 'bench/inference_pytorch.py'), '--weights', weights, '--tensor', tf, '--n', String(slices * W), '--windows', String(W), '--threads', String(threads), '--batch', String(bs), '--repeat', String(rounds)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: String(threads) } },
      );
      const py = JSON.parse(res.trim().split('\n').pop() as string) as { slicesPerSecond: number; seconds: number; torch: string };
      out(`  PyTorch ${py.torch} forward     ${py.slicesPerSecond.toFixed(2)} slices/s  (${py.seconds.toFixed(2)} s)`);
      out(`  ratio bare onnxruntime / PyTorch: ${(bare / py.slicesPerSecond).toFixed(2)}x`);
      out(`  ratio whole worker / PyTorch:     ${(wps / py.slicesPerSecond).toFixed(2)}x  (goal >= 1.5x)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  await engine.close();
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
