/**
 * Child process for bench/inference-rss: a worker alone in its process, so its peak RSS is its own.
 * Reports {port} when serving and {maxRssKb} when asked (IPC), then exits.
 */
import path from 'node:path';
import { startWorker } from '../src/inference/worker';
import { configureLogger } from '../src/logger';

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const modelsDir = process.env.LT_MODELS_DIR ?? path.resolve(__dirname, '../../models');
  const w = await startWorker({ modelsDir, port: 0, maxConcurrent: 1, maxSlices: 4000, threads: Number(process.env.BENCH_THREADS ?? 2) });
  process.send?.({ port: w.port, rssKb: process.memoryUsage().rss / 1024 });
  // Where the memory is: the largest JS heap and ArrayBuffer (typed arrays, Buffers) totals seen while working.
  const peak = { heapUsedKb: 0, arrayBuffersKb: 0 };
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peak.heapUsedKb = Math.max(peak.heapUsedKb, m.heapUsed / 1024);
    peak.arrayBuffersKb = Math.max(peak.arrayBuffersKb, m.arrayBuffers / 1024);
  }, 250);
  timer.unref();
  process.on('message', (msg: { cmd?: string }) => {
    if (msg.cmd === 'rss') process.send?.({ maxRssKb: process.resourceUsage().maxRSS, rssKb: process.memoryUsage().rss / 1024, ...peak });
    if (msg.cmd === 'exit') void w.close().then(() => process.exit(0));
  });
}

void main();
