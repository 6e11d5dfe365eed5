/**
 * The header ingest records (issue 18): series selection, the volume and the results' Patient/Study attributes come
 * from the instance rows, not from parsing the spooled files again, and give byte-identical results to the old way
 * (every file's header re-read, the first chosen file read whole with dcmjs), the volume analysed by the real models. A row recorded before headers were
 * (header NULL: a gateway upgraded with studies in its spool) is parsed once on demand and filled in.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readPart10 } from '../../src/dicom/dcmjs';
import { readSeriesHeaders } from '../../src/dicom/instance-header';
import { analyzeVolume } from '../../src/inference/analysis-job';
import { InferenceEngine } from '../../src/inference/engine';
import type { Analysis } from '../../src/inference/types';
import { parsePart10 } from '../../src/dicom/part10';
import { Tags } from '../../src/dicom/tags';
import { InstanceRecorder, markStudyPurged, recordedHeaders } from '../../src/ingest/instance-store';
import { Spool } from '../../src/ingest/spool';
import { importLocal } from '../../src/pipeline/local-study';
import { studyVolume } from '../../src/pipeline/study-volume';
import { buildResults, studyContextFromDataset, type StudyContext } from '../../src/results';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { buildVolume, type HuVolume } from '../../src/volume';
import { selectSeries } from '../../src/study/series-selection';
import { testDatabase } from '../support/db';
import { requireModels } from '../support/models';
import { tempDir } from '../support/temp-dir';

const NOW = new Date('2026-06-01T12:00:00Z');

/** A file dcmjs wrote (always UTF-8) re-encoded as ISO_IR 100: the character set and the person names in Latin-1. */
function asLatin1(bytes: Buffer, names: Record<'PatientName' | 'ReferringPhysicianName', string>): Buffer {
  const head = (group: number, element: number, vr: string) => Buffer.from([group & 0xff, group >> 8, element & 0xff, element >> 8, ...Buffer.from(vr, 'latin1')]);
  let out = bytes;
  for (const [tag, text] of [
    [head(0x0008, 0x0005, 'CS'), 'ISO_IR 100'],
    [head(0x0008, 0x0090, 'PN'), names.ReferringPhysicianName],
    [head(0x0010, 0x0010, 'PN'), names.PatientName],
  ] as const) {
    const at = out.indexOf(tag);
    const value = Buffer.from(text.length % 2 ? `${text} ` : text, 'latin1');
    const element = Buffer.concat([tag, Buffer.from([value.length & 0xff, value.length >> 8]), value]);
    out = Buffer.concat([out.subarray(0, at), element, out.subarray(at + 8 + out.readUInt16LE(at + 6))]);
  }
  return out;
}

describe('the recorded header', () => {
  let env: Awaited<ReturnType<typeof testDatabase>>;
  let engine: InferenceEngine;
  /** The real models' analysis of the chosen series (the same volume either way: its content hash is compared). */
  let analysis: Analysis | undefined;
  let studyUid: string;
  let files: string[];
  /** Stores the folder of files through the accept path, as `lung-triage analyze` does. */
  let ingest: () => ReturnType<typeof importLocal>;

  beforeAll(async () => {
    env = await testDatabase();
    engine = await InferenceEngine.load({ modelsDir: requireModels(), executionProvider: 'cpu' });
    const dir = tempDir('recorded-header');
    // Attributes that must reach the results exactly as sent: another character set, non-ASCII names, empty type 2
    // and type 3 values, a request.
    const names = { PatientName: 'Müller^Jörg', ReferringPhysicianName: 'Ærø^Åse' };
    const extra = {
      ...names,
      IssuerOfPatientID: '',
      PatientAge: '',
      StudyDescription: 'Thorax ohne KM',
      RequestAttributesSequence: [{ RequestedProcedureID: 'RP-7', RequestedProcedureDescription: 'CT Thorax', ScheduledProcedureStepID: 'S1' }],
    };
    const chest = phantomSeries(chestPhantom({ size: 64, slices: 24 }), { seed: 'recorded-header', extra });
    // A second, thick-slice series of the same study that selection must rank below the first.
    const thick = phantomSeries(chestPhantom({ size: 64, slices: 22 }), { seed: 'recorded-header', seriesNumber: 3, convolutionKernel: 'STANDARD', extra });
    files = [...chest, ...thick].map((s, i) => {
      const f = path.join(dir, `${i}.dcm`);
      writeFileSync(f, asLatin1(s.bytes, names));
      return f;
    });
    studyUid = readPart10(chest[0].bytes).dataset.StudyInstanceUID as string;
    const spool = new Spool(path.join(env.dataDir, 'spool'));
    await spool.init();
    ingest = () => importLocal({ dataSource: env.db.dataSource, spool, recorder: new InstanceRecorder(env.db.dataSource) }, dir);
    expect((await ingest()).stored).toHaveLength(files.length);
  });
  afterAll(async () => {
    await engine?.close();
    await env.cleanup();
  });

  /** The old path: every spooled file's header read again, the first chosen file read whole by dcmjs. */
  async function analysedTheOldWay(): Promise<{ volume: HuVolume; study: StudyContext }> {
    const rows = (await env.db.dataSource.query(`SELECT spool_path FROM instance WHERE study_uid = $1`, [studyUid])) as { spool_path: string }[];
    const headers = await readSeriesHeaders(rows.map((r) => r.spool_path));
    const pick = selectSeries(headers).chosen!;
    const chosen = headers.filter((h) => h.seriesUid === pick.seriesUid && !h.error);
    const study = studyContextFromDataset(readPart10(readFileSync(chosen[0].path)).dataset);
    return { volume: await buildVolume(chosen), study: { ...study, MaxSeriesNumber: 3 } };
  }

  /** The new path, as the runner takes it: selection and volume from the recorded headers, the study from patient_study. */
  async function analysedFromRecords(): Promise<{ volume: HuVolume; study: StudyContext }> {
    const { volume, chosen, maxSeriesNumber } = await studyVolume(env.db.dataSource, studyUid);
    const study = studyContextFromDataset(readPart10(chosen[0].patientStudy!).dataset);
    return { volume, study: { ...study, MaxSeriesNumber: maxSeriesNumber } };
  }

  /** The results the runner encodes (SR, summary page and, when the models find infection, heat maps, KOS, SEG). */
  async function results(a: { volume: HuVolume; study: StudyContext }): Promise<Buffer[]> {
    analysis ??= await analyzeVolume(engine, a.volume);
    const sources = a.volume.sources.map((x) => ({ sopInstanceUid: x.sopInstanceUid, instanceNumber: x.instanceNumber, positionMm: x.position }));
    return buildResults({ study: a.study, volume: a.volume, analysis: { ...analysis, sources }, keySlices: 2, now: NOW }).objects.map((o) => o.bytes);
  }

  test('ingest records every instance header and its Patient/Study elements as received', async () => {
    const rows = (await env.db.dataSource.query(`SELECT header, patient_study FROM instance WHERE study_uid = $1`, [studyUid])) as { header: unknown; patient_study: Buffer | null }[];
    expect(rows).toHaveLength(files.length);
    for (const r of rows) {
      expect(r.header).toMatchObject({ studyUid, modality: 'CT', rows: 64, columns: 64 });
      expect(r.patient_study).toBeInstanceOf(Buffer);
    }
    const { dataset } = parsePart10(rows[0].patient_study!);
    expect(dataset.string(Tags.SpecificCharacterSet)).toBe('ISO_IR 100');
    expect(dataset.bytes(Tags.PatientName)).toEqual(Buffer.from('Müller^Jörg ', 'latin1'));
    expect(dataset.bytes(Tags.IssuerOfPatientID)).toEqual(Buffer.alloc(0)); // empty, yet present: as received
    expect(dataset.items(Tags.RequestAttributesSequence)).toHaveLength(1);
    expect(dataset.has(Tags.PixelData)).toBe(false);
  });

  test('selection, volume and results from the records are byte-identical to re-parsing the spooled files', async () => {
    const old = await analysedTheOldWay();
    const recorded = await analysedFromRecords();
    expect(recorded.study).toEqual(old.study);
    expect(recorded.study.PatientName).toBe('Müller^Jörg');
    expect(recorded.study.RequestedProcedureID).toBe('RP-7');
    expect(recorded.volume.contentHash).toBe(old.volume.contentHash);
    const before = await results(old);
    const after = await results(recorded);
    // The models find the phantom's lesions: heat maps, KOS and SEG besides the SR and the summary page.
    expect(analysis?.patient.decision).toBe('positive');
    expect(after.length).toBeGreaterThan(2);
    expect(after.map((b) => b.toString('base64'))).toEqual(before.map((b) => b.toString('base64')));
  });

  test('rows stored before the migration (no header) are parsed once on demand and give the same results', async () => {
    const expected = await results(await analysedFromRecords());
    await env.db.dataSource.query(`UPDATE instance SET header = NULL, patient_study = NULL WHERE study_uid = $1`, [studyUid]);
    const again = await results(await analysedFromRecords());
    expect(again.map((b) => b.toString('base64'))).toEqual(expected.map((b) => b.toString('base64')));
    const [{ missing }] = (await env.db.dataSource.query(`SELECT count(*)::int AS missing FROM instance WHERE study_uid = $1 AND (header IS NULL OR patient_study IS NULL)`, [studyUid])) as {
      missing: number;
    }[];
    expect(missing).toBe(0);
    expect((await recordedHeaders(env.db.dataSource, studyUid)).every((h) => h.patientStudy !== undefined && !h.error)).toBe(true);
  });

  test('retention removes the recorded header with the file; the instance sent again records it again', async () => {
    const dataSource = env.db.dataSource;
    const held = async () =>
      ((await dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE study_uid = $1 AND header IS NOT NULL AND patient_study IS NOT NULL`, [studyUid])) as { n: number }[])[0].n;
    await dataSource.query(`UPDATE study SET state = 'ready' WHERE study_uid = $1`, [studyUid]);
    const { paths } = await markStudyPurged(dataSource, studyUid, 'max_age', 'test');
    for (const p of paths) rmSync(p);
    expect(paths).toHaveLength(files.length);
    expect(await held()).toBe(0); // the Patient/Study elements do not outlive the file
    expect((await ingest()).stored).toHaveLength(files.length);
    expect(await held()).toBe(files.length);
    expect((await recordedHeaders(dataSource, studyUid)).every((h) => h.patientStudy !== undefined && !h.error)).toBe(true);
  });
});
