import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { verifyAuditChain } from './audit/audit-log';
import type { Config } from './config';
import { latestJob, type JobReport } from './db/jobs';
import { startGateway } from './gateway';
import { studyTag } from './logger';
import { SHARED_DATA_DIR } from './paths';
import { chestPhantom, phantomSeries } from './synthetic/phantom';

const THORAX = path.join(SHARED_DATA_DIR, 'thorax-ct-dicom/series');

/** The bundled study: the real thorax series when ../shared/data is present, else a generated chest phantom. */
function demoStudy(): { name: string; files: Buffer[] } {
  if (existsSync(THORAX)) {
    return { name: 'real thorax CT (141 slices, ../shared/data/thorax-ct-dicom)', files: readdirSync(THORAX).sort().map((f) => readFileSync(path.join(THORAX, f))) };
  }
  const vol = chestPhantom({ size: 256, slices: 60 });
  return { name: 'synthetic chest phantom with ground-glass blobs (60 slices, 256x256)', files: phantomSeries(vol, { seed: 'demo' }).map((s) => s.bytes) };
}

function multipart(files: Buffer[], boundary: string): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) parts.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), f, Buffer.from('\r\n'));
  parts.push(Buffer.from(`--${boundary}--`));
  return Buffer.concat(parts);
}

/**
 * `lung-triage demo`: embedded PostgreSQL, a local worker and the gateway on loopback; one study sent through
 * STOW-RS like a PACS would; waits for the result, prints a summary and where the outputs are, stops cleanly.
 * Each run starts from a fresh demo folder so it can be repeated.
 */
export async function runDemo(base: Config, say: (line: string) => void): Promise<number> {
  const dataDir = path.join(base.dataDir, 'demo');
  rmSync(dataDir, { recursive: true, force: true });
  const config: Config = {
    ...base,
    dataDir,
    spoolDir: path.join(dataDir, 'spool'),
    outputDir: base.pacs ? base.outputDir : path.join(dataDir, 'results'),
    http: { ...base.http, host: '127.0.0.1', port: 0 },
    grpc: { ...base.grpc, host: '127.0.0.1', port: 0 },
    stableSeconds: 2,
    pipeline: { ...base.pipeline, pollMs: 200 },
  };
  const study = demoStudy();
  say(`lung-triage demo: ${study.name}`);
  const t0 = Date.now();
  const gw = await startGateway(config);
  try {
    say(`gateway on http://127.0.0.1:${gw.httpPort}/dicom-web (STOW-RS), TriageService gRPC on 127.0.0.1:${gw.grpcPort}`);
    const boundary = 'lung-triage-demo';
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/dicom-web/studies`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
      body: multipart(study.files, boundary),
    });
    say(`STOW-RS: HTTP ${res.status}, ${study.files.length} instances sent`);
    if (res.status !== 200) return 1;
    const lastByte = Date.now();
    let job: JobReport | undefined;
    while (Date.now() - lastByte < 15 * 60_000) {
      job = await latestJob(gw.db.dataSource);
      if (job && ['delivered', 'failed'].includes(job.state)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (!job || !['delivered', 'failed'].includes(job.state)) {
      say('no result within 15 minutes');
      return 1;
    }
    const r = job.result;
    say('');
    say(`study ${studyTag(job.studyUid)} (UID hashed): job ${job.id} ${job.state.toUpperCase()} in ${((Date.now() - lastByte) / 1000).toFixed(1)} s after the last STOW byte`);
    if (r.assessment) {
      say(`  assessment : ${r.assessment.label} (decision ${r.assessment.decision}; P(positive) ${r.assessment.positiveProbability.toFixed(3)} vs threshold ${r.assessment.threshold.toFixed(3)})`);
      const inf = r.assessment.infection;
      if (inf) say(`  infection  : ${inf.decision}, ${inf.infectedMl.toFixed(1)} mL = ${(inf.fraction * 100).toFixed(2)}% of ${inf.lungMl.toFixed(0)} mL lung`);
      say(`  priority   : ${r.priority}`);
      const keys = r.keySlices ?? [];
      say(`  lesions    : laterality ${r.laterality ?? 'n/a'}, key slices ${keys.length > 0 ? keys.join(', ') : 'none'}`);
    }
    if (r.failure) say(`  no AI result: ${r.failure.stage}: ${r.failure.reason}`);
    say(`  stages (s) : ${Object.entries(job.timings).map(([k, v]) => `${k} ${Number(v).toFixed(2)}`).join(', ')}`);
    const n = (r.resultUids ?? []).length;
    const what = n <= 2 ? 'the SR and the summary page: nothing is drawn on a study without infection' : 'SR, summary page, infection SEG, heat maps, KOS';
    say(`  outputs    : ${n} DICOM objects (${what}) ${config.pacs ? `in the PACS ${config.pacs.url}` : `in ${path.join(config.outputDir, studyTag(job.studyUid))}`}`);
    const v = await verifyAuditChain(gw.db.dataSource);
    say(`  audit      : ${v.ok ? 'chain verified' : `BROKEN at row ${v.firstBadId}`} (${v.rows} rows)`);
    say(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return job.state === 'delivered' || r.failure ? 0 : 1;
  } finally {
    await gw.close();
  }
}
