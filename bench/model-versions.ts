/**
 * Slice-model throughput of the shipped models against an earlier model release, side by side in one run (not a
 * test): the in-process engine (preprocessing, every window, both models) on the same phantom volume, alternating the
 * two, the best of each reported, and the ratio new/old (issue 14: the new model keeps at least the old throughput).
 * The earlier release is read from git history (default: mlung-sys 1.2.0 at commit 4fb7d6f) into a temp folder.
 * Run: npm run build && node dist/bench/model-versions.js [--ref 4fb7d6f] [--models models] [--slices 48] [--threads 2] [--rounds 3]
 * (--models: the new side's models folder, default the working tree's, e.g. a candidate export before it is committed)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyzeVolume } from '../src/inference/analysis-job';
import { InferenceEngine } from '../src/inference/engine';
import { configureLogger } from '../src/logger';
import { benchVolume } from './inference-throughput';

const ROOT = path.resolve(__dirname, '..', '..');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

/** The models folder of a git revision (manifest and the ONNX files it names) in a temp folder. */
function modelsAt(ref: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lt-models-'));
  const show = (p: string) => execFileSync('git', ['show', `${ref}:models/${p}`], { cwd: ROOT, maxBuffer: 1 << 28 });
  const manifest = JSON.parse(show('manifest.json').toString()) as { slice: { file: string }; patient: { file: string } };
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  for (const f of [manifest.slice.file, manifest.patient.file]) writeFileSync(path.join(dir, f), show(f));
  return dir;
}

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const ref = arg('ref', '4fb7d6f');
  const slices = Number(arg('slices', '48'));
  const threads = Number(arg('threads', '2'));
  const rounds = Number(arg('rounds', '3'));
  const oldDir = modelsAt(ref);
  try {
    const volume = benchVolume(512, slices);
    const engines = {
      new: await InferenceEngine.load({ modelsDir: path.resolve(arg('models', path.join(ROOT, 'models'))), executionProvider: 'cpu', threads }),
      old: await InferenceEngine.load({ modelsDir: oldDir, executionProvider: 'cpu', threads }),
    };
    const best = { new: Infinity, old: Infinity };
    for (const e of Object.values(engines)) await analyzeVolume(e, benchVolume(512, 4)); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const k of ['old', 'new'] as const) {
        const t0 = performance.now();
        await analyzeVolume(engines[k], volume);
        best[k] = Math.min(best[k], (performance.now() - t0) / 1000);
      }
    }
    const rate = { new: slices / best.new, old: slices / best.old };
    const name = (e: InferenceEngine) => `${e.manifest.name} ${e.manifest.version}`;
    process.stdout.write(`${name(engines.old)} (${ref}): ${rate.old.toFixed(1)} slices/s\n`);
    process.stdout.write(`${name(engines.new)} (${arg('models', 'working tree')}): ${rate.new.toFixed(1)} slices/s\n`);
    process.stdout.write(`ratio new/old: ${(rate.new / rate.old).toFixed(2)} (${slices} slices 512x512, ${threads} threads, best of ${rounds})\n`);
    await engines.new.close();
    await engines.old.close();
  } finally {
    rmSync(oldDir, { recursive: true, force: true });
  }
}

void main();
