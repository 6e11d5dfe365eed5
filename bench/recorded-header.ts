/**
 * What recording the parsed header at ingest saves (issue 18), on the thorax series (or a phantom of its size),
 * stored through the real accept path into an embedded PostgreSQL. Old path, per study: every spooled file's header
 * parsed again for series selection, and the first chosen file read whole (pixel data included) by dcmjs for the
 * Patient/Study attributes. New path: the headers read from the instance rows, the Patient/Study attributes from the
 * recorded excerpt (both with the files in the page cache). Also what building the header costs ingest, per
 * instance. Both paths in one run, alternating.
 *
 *   node dist/bench/recorded-header.js [--reps 5]
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/db/database';
import { readPart10 } from '../src/dicom/dcmjs';
import { checkedHeader, readSeriesHeaders } from '../src/dicom/instance-header';
import { parsePart10Inflating } from '../src/dicom/part10';
import { InstanceRecorder, recordedHeaders } from '../src/ingest/instance-store';
import { Spool } from '../src/ingest/spool';
import { configureLogger } from '../src/logger';
import { importLocal } from '../src/pipeline/local-study';
import { studyContextFromDataset } from '../src/results';
import { selectSeries } from '../src/study/series-selection';
import { arg, loadSeries, out } from './support';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const reps = arg('reps', 5);
  const series = loadSeries();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-header-'));
  chmodSync(dir, 0o755); // as root, the embedded server runs as the 'postgres' user
  const db = await openDatabase({ dataDir: path.join(dir, 'pg'), migrate: true });
  try {
    const dataSource = db.dataSource;
    const input = path.join(dir, 'input');
    mkdirSync(input);
    series.files.forEach((b, i) => writeFileSync(path.join(input, `${i}.dcm`), b));
    const spool = new Spool(path.join(dir, 'spool'));
    await spool.init();
    const imported = await importLocal({ dataSource, spool, recorder: new InstanceRecorder(dataSource) }, input);
    const studyUid = readPart10(series.files[0]).dataset.StudyInstanceUID as string;
    const paths = ((await dataSource.query(`SELECT spool_path FROM instance WHERE study_uid = $1`, [studyUid])) as { spool_path: string }[]).map((r) => r.spool_path);
    out(`${series.name}: ${imported.stored.length} instances stored, ${reps} repetitions of each path`);

    const oldPath = async () => {
      const headers = await readSeriesHeaders(paths);
      const pick = selectSeries(headers).chosen!;
      const first = headers.find((h) => h.seriesUid === pick.seriesUid && !h.error)!;
      return studyContextFromDataset(readPart10(readFileSync(first.path)).dataset);
    };
    const newPath = async () => {
      const headers = await recordedHeaders(dataSource, studyUid);
      const pick = selectSeries(headers).chosen!;
      const first = headers.find((h) => h.seriesUid === pick.seriesUid && !h.error)!;
      return studyContextFromDataset(readPart10(first.patientStudy!).dataset);
    };
    if (JSON.stringify(await oldPath()) !== JSON.stringify(await newPath())) throw new Error('the two paths disagree');
    const oldMs: number[] = [];
    const newMs: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t = performance.now();
      await oldPath();
      oldMs.push(performance.now() - t);
      t = performance.now();
      await newPath();
      newMs.push(performance.now() - t);
    }
    const n = paths.length;
    const o = median(oldMs);
    const w = median(newMs);
    out(`per study : old ${o.toFixed(1)} ms (re-parse ${n} headers + dcmjs whole file), new ${w.toFixed(1)} ms (instance rows): ratio old/new ${(o / w).toFixed(2)}x`);
    out(`per instance: old ${((o / n) * 1000).toFixed(0)} us, new ${((w / n) * 1000).toFixed(0)} us`);

    // What ingest now does in addition, per instance: build the header and the Patient/Study excerpt from its parse.
    const parsed = await Promise.all(series.files.map((b) => parsePart10Inflating(b, { toEnd: true })));
    const build: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      parsed.forEach((p, i) => checkedHeader(`${i}.dcm`, p, series.files[i].length));
      build.push(performance.now() - t);
    }
    out(`ingest's added cost: ${((median(build) / n) * 1000).toFixed(0)} us per instance (${median(build).toFixed(1)} ms for the study)`);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
