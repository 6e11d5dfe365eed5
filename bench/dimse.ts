/**
 * DIMSE ingest benchmark, one run, both sides on this machine with the same client (dcmtk's storescu, one association
 * per repetition): C-STORE into the lung-triage gateway vs into Orthanc's own C-STORE SCP, on the same series, with
 * the gateway's peak RSS while it receives.
 * Run: npm run build && node dist/bench/dimse.js [--reps 3]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/database';
import { TestOrthanc } from '../test/support/orthanc';
import { CliProcess } from '../test/support/process';
import { arg, loadSeries, out, relabel } from './support';

/** The series under fresh UIDs, written to a folder (each repetition stores new instances). */
function relabelledFolder(files: Buffer[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return relabel(files).map((bytes, i) => {
    const file = path.join(dir, `${i}.dcm`);
    writeFileSync(file, bytes);
    return file;
  });
}

/** Seconds storescu takes to send the files in one association; fails unless every store succeeded. */
function timeStorescu(port: number, calledAe: string, files: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const p = spawn('storescu', ['-aet', 'BENCH', '-aec', calledAe, '127.0.0.1', String(port), ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.stderr.on('data', (d: Buffer) => (text += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 && !/E: |Failed|Error/.test(text) ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : reject(new Error(`storescu to ${calledAe}: ${code}\n${text.slice(-2000)}`))));
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function main(): Promise<void> {
  const reps = arg('reps', 3);
  const { name, files } = loadSeries();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-dimse-'));
  chmodSync(dataDir, 0o755); // the embedded PostgreSQL's initdb runs as another user and must reach its folder
  const [httpPort, dimsePort] = [await freePort(), await freePort()];
  const gw = new CliProcess(['gateway'], {
    LT_DATA_DIR: path.join(dataDir, 'gateway'),
    LT_HTTP_PORT: String(httpPort),
    LT_GRPC_PORT: '0',
    LT_DIMSE_PORT: String(dimsePort),
    LT_STABLE_SECONDS: '86400',
    // Ingest alone: no analysis of the received studies (it would load the models into this process).
    LT_EARLY_INFERENCE: 'false',
    LT_LOG_LEVEL: 'warn',
  }).start();
  const orthanc = await new TestOrthanc().start();
  try {
    await gw.waitForHttp(`http://127.0.0.1:${httpPort}/healthz`, 60000);
    const mb = files.reduce((a, f) => a + f.length, 0) / 1024 ** 2;
    out(`series: ${name}, ${files.length} instances, ${mb.toFixed(1)} MB per association; ${reps} alternating repetitions, storescu to both`);
    let n = 0;
    const folder = () => relabelledFolder(files, path.join(dataDir, `send-${n++}`));
    const pid = gw.proc!.pid!;
    const rssIdle = rssMb(pid);
    // Warm-up on both sides, not counted.
    await timeStorescu(dimsePort, 'LUNG_TRIAGE', folder());
    await timeStorescu(orthanc.dicomPort, 'ORTHANC', folder());
    const rss0 = rssMb(pid);
    let peak = rss0;
    const t = { ours: [] as number[], orthanc: [] as number[] };
    for (let r = 0; r < reps; r++) {
      const ours = folder();
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);
      t.ours.push(await timeStorescu(dimsePort, 'LUNG_TRIAGE', ours));
      clearInterval(sampler);
      t.orthanc.push(await timeStorescu(orthanc.dicomPort, 'ORTHANC', folder()));
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const mo = median(t.ours);
    const mt = median(t.orthanc);
    out(`| side | median s | MB/s | instances/s |`);
    out(`| lung-triage C-STORE SCP | ${mo.toFixed(2)} | ${(mb / mo).toFixed(1)} | ${(files.length / mo).toFixed(1)} |`);
    out(`| Orthanc C-STORE SCP | ${mt.toFixed(2)} | ${(mb / mt).toFixed(1)} | ${(files.length / mt).toFixed(1)} |`);
    out(`throughput ratio lung-triage / Orthanc: ${(mt / mo).toFixed(2)}x; runs ours ${t.ours.map((x) => x.toFixed(2)).join(', ')} s, Orthanc ${t.orthanc.map((x) => x.toFixed(2)).join(', ')} s`);
    out(`gateway RSS: ${rssIdle.toFixed(0)} MB idle, ${rss0.toFixed(0)} MB after the warm-up association, peak ${peak.toFixed(0)} MB while receiving`);
  } finally {
    await gw.stop();
    await orthanc.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
