/**
 * Ingest benchmark, one run, both sides on this machine with the same client:
 *  1. STOW-RS throughput of the lung-triage gateway vs Orthanc's own STOW-RS (DICOMweb plugin) on the same series.
 *  2. Peak RSS of the gateway while it receives one ~2 GB multipart body (streamed, never buffered).
 * Run: npm run build && node dist/bench/ingest.js [--reps 3] [--big-gb 2]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/database';
import { readPart10, writePart10 } from '../src/dicom/dcmjs';
import { newUid } from '../src/dicom/uid';
import { TestOrthanc } from '../test/support/orthanc';
import { CliProcess } from '../test/support/process';
import { multipartBody, multipartType } from '../test/support/stow';
import { arg, loadSeries, out, relabel } from './support';

async function timeStow(url: string, body: Buffer): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': multipartType(), Accept: 'application/dicom+json' }, body });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function main(): Promise<void> {
  const reps = arg('reps', 3);
  const bigGb = arg('big-gb', 2);
  const { name, files } = loadSeries();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-ingest-'));
  const port = await freePort();
  const gw = new CliProcess(['gateway'], { LT_DATA_DIR: dataDir, LT_HTTP_PORT: String(port), LT_GRPC_PORT: '0', LT_STABLE_SECONDS: '86400', LT_LOG_LEVEL: 'warn', LT_MAX_BODY_BYTES: String(8 * 1024 ** 3) }).start();
  const orthanc = await new TestOrthanc().start();
  try {
    await gw.waitForHttp(`http://127.0.0.1:${port}/healthz`, 60000);
    const ours = `http://127.0.0.1:${port}/dicom-web/studies`;
    const theirs = `${orthanc.dicomWebUrl}/studies`;
    const mb = files.reduce((a, f) => a + f.length, 0) / 1024 ** 2;
    out(`series: ${name}, ${files.length} instances, ${mb.toFixed(1)} MB per STOW request; ${reps} alternating repetitions`);
    // Warm-up (connection, JIT, first-study set-up) on both sides, not counted.
    await timeStow(ours, multipartBody(relabel(files)));
    await timeStow(theirs, multipartBody(relabel(files)));
    const t = { ours: [] as number[], orthanc: [] as number[] };
    for (let r = 0; r < reps; r++) {
      t.ours.push(await timeStow(ours, multipartBody(relabel(files))));
      t.orthanc.push(await timeStow(theirs, multipartBody(relabel(files))));
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const mo = median(t.ours);
    const mt = median(t.orthanc);
    out(`| side | median s | MB/s | instances/s |`);
    out(`| lung-triage gateway | ${mo.toFixed(2)} | ${(mb / mo).toFixed(1)} | ${(files.length / mo).toFixed(1)} |`);
    out(`| Orthanc STOW-RS | ${mt.toFixed(2)} | ${(mb / mt).toFixed(1)} | ${(files.length / mt).toFixed(1)} |`);
    out(`throughput ratio lung-triage / Orthanc: ${(mt / mo).toFixed(2)}x (goal >= 1.0)`);

    if (bigGb <= 0) return;
    // One ~2 GB multipart body, generated on the fly (fresh UIDs per instance), while sampling the gateway's RSS.
    const template = relabel(files);
    const boundary = 'lt-bench-boundary';
    const total = bigGb * 1024 ** 3;
    let sent = 0;
    let i = 0;
    const study = newUid();
    const stream = new ReadableStream({
      pull(c) {
        if (sent >= total) {
          c.enqueue(Buffer.from(`--${boundary}--`));
          return c.close();
        }
        const { dataset } = readPart10(template[i++ % template.length]);
        Object.assign(dataset, { StudyInstanceUID: study, SOPInstanceUID: newUid() });
        const part = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), writePart10(dataset), Buffer.from('\r\n')]);
        sent += part.length;
        c.enqueue(part);
      },
    });
    const pid = gw.proc!.pid!;
    const rss0 = rssMb(pid);
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);
    const t0 = Date.now();
    const res = await fetch(ours, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await res.arrayBuffer();
    clearInterval(sampler);
    const secs = (Date.now() - t0) / 1000;
    out(`big body: ${(sent / 1024 ** 3).toFixed(2)} GB, ${i} instances, HTTP ${res.status}, ${(sent / 1024 ** 2 / secs).toFixed(1)} MB/s`);
    out(`gateway RSS: ${rss0.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB while receiving (goal < 300 MB)`);
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
