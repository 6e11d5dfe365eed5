/**
 * Peak RSS of the inference worker (its own process) for one 600-slice 512x512 volume (not a test).
 * Run: npm run build && node dist/bench/inference-rss.js [--slices 600] [--size 512]
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { InferenceClient } from '../src/inference/client';
import { configureLogger } from '../src/logger';
import { benchVolume } from './inference-throughput';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const slices = arg('slices', 600);
  const size = arg('size', 512);
  const child = fork(path.join(__dirname, 'inference-worker-proc.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise<Record<string, number>>((resolve) => child.once('message', (m) => resolve(m as Record<string, number>)));
  const started = await next();
  const vol = benchVolume(size, slices);
  const volMb = (vol.hu.byteLength / 1024 ** 2).toFixed(0);
  const client = new InferenceClient([`127.0.0.1:${started.port}`], { deadlineMs: 3_600_000 });
  const t0 = performance.now();
  let uploadedAt = 0;
  const a = await client.analyze(vol, { onProgress: (pr) => pr.sentSlices === pr.totalSlices && (uploadedAt = performance.now()) });
  const s = (performance.now() - t0) / 1000;
  client.close();
  child.send({ cmd: 'rss' });
  const r = await next();
  child.send({ cmd: 'exit' });
  const mb = (kb: number) => (kb / 1024).toFixed(0);
  process.stdout.write(
    `worker peak RSS for ${slices} slices ${size}x${size} (volume ${volMb} MiB int16): ${mb(r.maxRssKb)} MiB ` +
      `(after loading models: ${mb(started.rssKb)} MiB; peak JS heap ${mb(r.heapUsedKb)} MiB, peak ArrayBuffers ${mb(r.arrayBuffersKb)} MiB; ` +
      `${s.toFixed(1)} s, upload done after ${((uploadedAt - t0) / 1000).toFixed(1)} s, ${(slices / s).toFixed(2)} slices/s, EP ${a.executionProvider})\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
