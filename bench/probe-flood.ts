/**
 * Uploads under a flood of /readyz and /metrics (issue 17: floods slowed uploads 4-15x), one run: the STOW-RS
 * latency of small one-instance uploads to a real gateway (its own process, embedded PostgreSQL), first quiet, then
 * while `--flooders` clients request /readyz and /metrics, each `--gap-ms` apart. Prints the medians, the ratio, the
 * probes answered and the gateway's CPU time. Run: npm run build && node dist/bench/probe-flood.js [--uploads 60] [--flooders 32] [--gap-ms 100]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/database';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';
import { CliProcess } from '../test/support/process';
import { multipartBody, multipartType } from '../test/support/stow';
import { arg, out } from './support';

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The flood, in its own process so it does not slow this one's clock: clients asking /readyz and /metrics back to back. */
const FLOOD = `
const [base, n, gapMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let served = 0;
process.on('SIGTERM', () => { process.stdout.write(String(served)); process.exit(0); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < n; i++) (async () => { for (;;) { const r = await fetch(base + (i % 2 ? '/metrics' : '/readyz')); await r.arrayBuffer(); served++; await sleep(gapMs); } })();
`;

async function uploads(url: string, n: number, seed: string): Promise<number[]> {
  const slices = phantomSeries(chestPhantom({ size: 64, slices: n }), { seed });
  const ms: number[] = [];
  for (const s of slices) {
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': multipartType() }, body: multipartBody([s.bytes]) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`STOW: HTTP ${res.status}`);
    ms.push(performance.now() - t0);
  }
  return ms;
}

async function main(): Promise<void> {
  const n = arg('uploads', 60);
  const flooders = arg('flooders', 32);
  // Each client's pause between probes: 0 = back to back (then HTTP parsing alone takes the CPU of a 2-core machine).
  const gapMs = arg('gap-ms', 100);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-flood-'));
  const port = await freePort();
  // No local worker work: nothing is analysed during the run (a day's quiet period).
  const gw = new CliProcess(['gateway'], { LT_DATA_DIR: dataDir, LT_HTTP_PORT: String(port), LT_GRPC_PORT: '0', LT_STABLE_SECONDS: '86400', LT_LOG_LEVEL: 'warn' }).start();
  const base = `http://127.0.0.1:${port}`;
  try {
    await gw.waitForHttp(`${base}/healthz`, 120_000);
    await uploads(`${base}/dicom-web/studies`, 5, 'flood-warmup');
    const quiet = await uploads(`${base}/dicom-web/studies`, n, 'flood-quiet');
    const flood = spawn(process.execPath, ['-e', FLOOD, base, String(flooders), String(gapMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let served = '';
    flood.stdout.on('data', (d: Buffer) => (served += d.toString()));
    await new Promise((r) => setTimeout(r, 2000)); // the flood is under way
    const cpu0 = cpuSeconds(gw.proc!.pid!);
    const t0 = performance.now();
    const loaded = await uploads(`${base}/dicom-web/studies`, n, 'flood-loaded');
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(gw.proc!.pid!) - cpu0;
    const exited = new Promise((r) => flood.once('exit', r));
    flood.kill('SIGTERM');
    await exited;
    const probes = Number(served);
    const q = median(quiet);
    const l = median(loaded);
    out(`| uploads | quiet median ms | flooded median ms | ratio | probes answered (${flooders} clients, ${gapMs} ms apart each) | gateway CPU during the flooded uploads |`);
    out(`| ${n} x one 64x64 instance | ${q.toFixed(1)} | ${l.toFixed(1)} | ${(l / q).toFixed(2)}x | ${probes} | ${cpu.toFixed(1)} s in ${seconds.toFixed(1)} s |`);
  } finally {
    await gw.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
