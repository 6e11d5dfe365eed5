/**
 * Sustained STOW-RS load against a gateway running as its own process on loopback (issue 8, item 5). Not a test.
 *
 *   npx tsc -p . && node dist/bench/load.js [--senders 20] [--seconds 60 | --minutes 5] [--instances 4] [--size 128]
 *                                           [--max-concurrent-stow N] [--retry-cap-ms 5000] [--sample-s 5]
 *
 * Each sender loops: one STOW request of --instances fresh CT instances (synthetic phantom slices, new SOP Instance
 * UIDs patched into a template, a new study every 50 requests), measuring latency. A 503 is retried after its
 * Retry-After (capped by --retry-cap-ms), as a PACS would. Every --sample-s seconds: throughput, gateway RSS and open
 * file handles (/proc/<pid>/fd). At the end: p50/p99 latency, errors, 5xx, 503 with/without Retry-After, and a check
 * that every acknowledged instance is in the database exactly once (instance row, one instance.stored audit row,
 * spool file of the recorded size).
 */
import { chmodSync, readdirSync, readFileSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, openDatabase } from '../src/db/database';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';
import { CliProcess } from '../test/support/process';

const argv = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const out = (s: string) => process.stdout.write(s + '\n');

const SENDERS = arg('senders', 20);
const SECONDS = argv.includes('--minutes') ? arg('minutes', 5) * 60 : arg('seconds', 60);
const PER_REQUEST = arg('instances', 4);
const SIZE = arg('size', 128);
const MAX_CONCURRENT = arg('max-concurrent-stow', 8);
const RETRY_CAP_MS = arg('retry-cap-ms', 5000);
const SAMPLE_S = arg('sample-s', 5);
const BOUNDARY = 'lt-load-boundary-5c1e';

// Fixed-length placeholder UIDs in the template, overwritten in place per instance (no DICOM re-encoding per request).
const UID_LEN = 44;
const SOP_PLACEHOLDER = '2.25.1' + '1'.repeat(UID_LEN - 6);
const STUDY_PLACEHOLDER = '2.25.2' + '2'.repeat(UID_LEN - 6);
const SERIES_PLACEHOLDER = '2.25.3' + '3'.repeat(UID_LEN - 6);
const RUN = String(Date.now() % 1e9).padStart(9, '0');
let uidCounter = 0;
function freshUid(kind: number): string {
  const n = String(++uidCounter).padStart(UID_LEN - 6 - 1 - RUN.length, '0');
  return `2.25.${kind}${RUN}9${n}`.slice(0, UID_LEN);
}

function positions(buf: Buffer, s: string): number[] {
  const needle = Buffer.from(s, 'latin1');
  const at: number[] = [];
  for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + 1)) at.push(i);
  return at;
}

interface Template {
  bytes: Buffer;
  sop: number[];
  study: number[];
  series: number[];
}

function templates(): Template[] {
  const series = phantomSeries(chestPhantom({ size: SIZE, slices: PER_REQUEST }), {
    seed: 'load',
    studyUid: STUDY_PLACEHOLDER,
    seriesUid: SERIES_PLACEHOLDER,
    extra: { SOPInstanceUID: SOP_PLACEHOLDER },
  });
  return series.map((s) => {
    const bytes = Buffer.from(s.bytes);
    const t = { bytes, sop: positions(bytes, SOP_PLACEHOLDER), study: positions(bytes, STUDY_PLACEHOLDER), series: positions(bytes, SERIES_PLACEHOLDER) };
    if (t.sop.length < 2 || t.study.length < 1 || t.series.length < 1) throw new Error('placeholder UIDs not found in the template');
    return t;
  });
}

function request(tpls: Template[], study: string, series: string): { body: Buffer; sops: string[] } {
  const parts: Buffer[] = [];
  const sops: string[] = [];
  for (const t of tpls) {
    const b = Buffer.from(t.bytes);
    const sop = freshUid(1);
    for (const p of t.sop) b.write(sop, p, 'latin1');
    for (const p of t.study) b.write(study, p, 'latin1');
    for (const p of t.series) b.write(series, p, 'latin1');
    sops.push(sop);
    parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`, 'latin1'), b, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${BOUNDARY}--`, 'latin1'));
  return { body: Buffer.concat(parts), sops };
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}
const pct = (a: number[], p: number) => (a.length ? [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : NaN);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-load-'));
  chmodSync(dataDir, 0o755); // as root, the embedded server runs as the 'postgres' user, which must reach its folder
  // The bench's own embedded PostgreSQL, so it can check the database afterwards; the gateway connects to it.
  const db = await openDatabase({ dataDir: path.join(dataDir, 'bench-db'), migrate: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gw = new CliProcess(['gateway'], {
    LT_DATABASE_URL: db.url,
    LT_DATA_DIR: path.join(dataDir, 'gw'),
    LT_HTTP_PORT: String(port),
    LT_GRPC_PORT: '0',
    LT_STABLE_SECONDS: '86400', // ingest only: no pipeline work competing for the 2 cores
    LT_WORKERS: '127.0.0.1:9',
    LT_LOG_LEVEL: 'warn',
    LT_MAX_CONCURRENT_STOW: String(MAX_CONCURRENT),
  }).start();
  const tpls = templates();
  const stats = {
    requests: 0,
    ok: 0,
    partial: 0,
    errors: 0,
    http5xx: 0,
    busyWithRetryAfter: 0,
    busyWithout: 0,
    other4xx: 0,
    latencies: [] as number[],
    acked: new Set<string>(),
    bytes: 0,
  };
  const statusCounts: Record<string, number> = {};
  try {
    await gw.waitForHttp(`${base}/healthz`, 60_000);
    const pid = gw.proc!.pid!;
    out(`gateway pid ${pid} on ${base}; ${SENDERS} senders for ${SECONDS} s; ${PER_REQUEST} instances of ${SIZE}x${SIZE} per request (${(request(tpls, freshUid(2), freshUid(3)).body.length / 1024).toFixed(0)} KiB); LT_MAX_CONCURRENT_STOW=${MAX_CONCURRENT}`);
    out(`| t (s) | requests/s | instances/s | MB/s | gateway RSS MB | open fds | 503s so far |`);
    out(`|---|---|---|---|---|---|---|`);
    const t0 = Date.now();
    const end = t0 + SECONDS * 1000;
    let lastSample = { t: t0, acked: 0, requests: 0, bytes: 0 };
    const rss: number[] = [];
    const fds: number[] = [];
    const sampler = setInterval(() => {
      const now = Date.now();
      const dt = (now - lastSample.t) / 1000;
      const r = rssMb(pid);
      const f = fdCount(pid);
      rss.push(r);
      fds.push(f);
      out(
        `| ${((now - t0) / 1000).toFixed(0)} | ${((stats.requests - lastSample.requests) / dt).toFixed(1)} | ${((stats.acked.size - lastSample.acked) / dt).toFixed(1)} | ${((stats.bytes - lastSample.bytes) / dt / 1e6).toFixed(2)} | ${r.toFixed(0)} | ${f} | ${stats.busyWithRetryAfter + stats.busyWithout} |`,
      );
      lastSample = { t: now, acked: stats.acked.size, requests: stats.requests, bytes: stats.bytes };
    }, SAMPLE_S * 1000);

    const sender = async (k: number) => {
      let study = freshUid(2);
      let series = freshUid(3);
      let n = 0;
      while (Date.now() < end) {
        if (++n % 50 === 0) {
          study = freshUid(2);
          series = freshUid(3);
        }
        const { body, sops } = request(tpls, study, series);
        // Retry the same body after a 503 (Retry-After honoured, capped), until acknowledged or time is up.
        for (;;) {
          const r0 = performance.now();
          try {
            const res = await fetch(`${base}/dicom-web/studies`, {
              method: 'POST',
              headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`, Accept: 'application/dicom+json' },
              body,
            });
            const status = res.status;
            const text = await res.text();
            stats.latencies.push(performance.now() - r0);
            stats.requests++;
            statusCounts[status] = (statusCounts[status] ?? 0) + 1;
            if (status === 503) {
              const ra = Number(res.headers.get('retry-after'));
              if (Number.isFinite(ra) && ra > 0) stats.busyWithRetryAfter++;
              else stats.busyWithout++;
              await new Promise((r) => setTimeout(r, Math.min(RETRY_CAP_MS, (Number.isFinite(ra) ? ra : 1) * 1000) * (0.5 + Math.random() / 2)));
              if (Date.now() < end) continue;
              break;
            }
            if (status >= 500) stats.http5xx++;
            else if (status >= 400) stats.other4xx++;
            if (status === 200 || status === 202) {
              const json = JSON.parse(text) as Record<string, { Value?: Record<string, { Value?: string[] }>[] }>;
              const refs = (json['00081199']?.Value ?? []).map((i) => i['00081155']?.Value?.[0]).filter((x): x is string => Boolean(x));
              for (const s of refs) stats.acked.add(s);
              stats.bytes += body.length;
              if (status === 200 && refs.length === sops.length) stats.ok++;
              else stats.partial++;
            }
          } catch (e) {
            stats.errors++;
            if (stats.errors <= 5) out(`sender ${k}: ${(e as Error).message}`);
          }
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, (_, k) => sender(k)));
    clearInterval(sampler);
    const secs = (Date.now() - t0) / 1000;
    // Idle for a moment: RSS and handles should settle back.
    await new Promise((r) => setTimeout(r, 2000));
    const rssIdle = rssMb(pid);
    const fdIdle = fdCount(pid);

    // Every acknowledged instance: exactly one instance row, one instance.stored audit row, its spool file intact.
    const acked = [...stats.acked];
    const rows = (await db.dataSource.query(`SELECT sop_instance_uid, spool_path, size_bytes FROM instance WHERE sop_instance_uid = ANY($1)`, [acked])) as {
      sop_instance_uid: string;
      spool_path: string;
      size_bytes: string;
    }[];
    const storedAudit = (await db.dataSource.query(
      `SELECT object_uids[1] AS uid, count(*)::int AS n FROM audit_log WHERE action = 'instance.stored' AND object_uids[1] = ANY($1) GROUP BY 1`,
      [acked],
    )) as { uid: string; n: number }[];
    const missing = acked.length - rows.length;
    const auditNotOnce = acked.length - storedAudit.filter((r) => r.n === 1).length;
    let badFiles = 0;
    for (const r of rows) {
      try {
        if (statSync(r.spool_path).size !== Number(r.size_bytes)) badFiles++;
      } catch {
        badFiles++;
      }
    }
    const [{ n: totalRows }] = (await db.dataSource.query(`SELECT count(*)::int AS n FROM instance`)) as { n: number }[];

    out('');
    out(`| figure | value |`);
    out(`|---|---|`);
    out(`| duration | ${secs.toFixed(1)} s, ${SENDERS} senders, LT_MAX_CONCURRENT_STOW=${MAX_CONCURRENT} |`);
    out(`| requests answered | ${stats.requests} (${(stats.requests / secs).toFixed(1)}/s); by status ${JSON.stringify(statusCounts)} |`);
    out(`| instances acknowledged | ${acked.length} (${(acked.length / secs).toFixed(1)}/s, ${(stats.bytes / secs / 1e6).toFixed(2)} MB/s) |`);
    out(`| latency p50 / p99 / max | ${pct(stats.latencies, 50).toFixed(0)} / ${pct(stats.latencies, 99).toFixed(0)} / ${Math.max(...stats.latencies).toFixed(0)} ms |`);
    out(`| errors (network, no answer) | ${stats.errors} |`);
    out(`| 5xx other than 503 | ${stats.http5xx} |`);
    out(`| 503 with Retry-After / without | ${stats.busyWithRetryAfter} / ${stats.busyWithout} |`);
    out(`| other 4xx; 200 with partial acknowledgment or 202 | ${stats.other4xx}; ${stats.partial} |`);
    out(`| gateway RSS min / max during, idle after | ${Math.min(...rss).toFixed(0)} / ${Math.max(...rss).toFixed(0)}, ${rssIdle.toFixed(0)} MB |`);
    out(`| open fds min / max during, idle after | ${Math.min(...fds)} / ${Math.max(...fds)}, ${fdIdle} |`);
    // Soak: growth shows as the last fifth of the run sitting above the first fifth (medians, after warm-up).
    const fifth = Math.max(1, Math.floor(rss.length / 5));
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? 0;
    out(
      `| soak: median RSS first fifth -> last fifth; fds | ${median(rss.slice(1, fifth + 1)).toFixed(0)} -> ${median(rss.slice(-fifth)).toFixed(0)} MB; ${median(fds.slice(1, fifth + 1))} -> ${median(fds.slice(-fifth))} |`,
    );
    out(`| acknowledged but not in the database | ${missing} |`);
    out(`| acknowledged without exactly one instance.stored audit row | ${auditNotOnce} |`);
    out(`| spool file missing or of the wrong size | ${badFiles} |`);
    out(`| instance rows in the database (acknowledged + stored after a lost answer) | ${totalRows} |`);
    const ok = missing === 0 && auditNotOnce === 0 && badFiles === 0 && stats.errors === 0 && stats.http5xx === 0 && stats.busyWithout === 0;
    out(ok ? 'RESULT: every acknowledged instance is stored exactly once; no errors, no 5xx except 503 + Retry-After' : 'RESULT: FAILED (see above)');
    if (!ok) process.exitCode = 1;
  } finally {
    await gw.stop();
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
