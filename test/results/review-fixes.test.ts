/**
 * Regression tests for the PACS integration review of the results (issue 15): each block pins one finding, checked
 * on the encoded objects and with the real validators (dciodvfy, dsrdump) where they apply.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { readPart10, writePart10, type NaturalDataset } from '../../src/dicom/dcmjs';
import { buildResults, failureReport, resultSeriesNumbers, SERIES_NUMBER, studyContextFromDataset } from '../../src/results';
import { DEVICE } from '../../src/results/device';
import { mapCell } from '../../src/inference/infection';
import { readManifest } from '../../src/inference/manifest';
import { PACKAGE_ROOT } from '../../src/paths';
import { DCENTVFY_SR_ACCESSION, dcentvfy, dciodvfy, dsrdump } from './dicom-tools';
import { syntheticAnalysis, syntheticStudy } from './fixtures';
import { codeTriples, findItems, first } from './sr-tree';

const NOW = new Date('2026-03-01T10:00:00Z');
const fx = syntheticStudy();
const positive = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });
const datasetOf = (b: Buffer): NaturalDataset => readPart10(b).dataset;

describe('Finding Site is a concept modifier (TID 1501/1410)', () => {
  test('every Finding Site item is HAS CONCEPT MOD, in the measurement groups and the qualitative evaluations', () => {
    const sr = datasetOf(positive.sr.bytes);
    const sites = findItems(sr, '363698007');
    const inGroups = findItems(sr, '125007').flatMap((g) => findItems(g, '363698007'));
    expect(inGroups.length).toBeGreaterThan(0);
    expect(sites.length).toBeGreaterThan(inGroups.length);
    expect(sites.map((s) => s.RelationshipType)).toEqual(sites.map(() => 'HAS CONCEPT MOD'));
    const out = dsrdump(positive.sr.bytes).output;
    expect(out).toContain('<has concept mod CODE:(363698007,SCT,"Finding Site")');
    expect(out).not.toMatch(/<contains CODE:\(363698007,SCT/);
  });
});

describe('the failure SR has an Image Library, the examined instances as evidence and a measurement group', () => {
  const localizer = { seriesUid: '2.25.777', sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '2.25.7771' };
  const ct = fx.instances
    .slice(0, 3)
    .map((i, n) => ({ seriesUid: fx.volume.seriesUid, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: i.sopInstanceUid, rows: 128, columns: 96, instanceNumber: 3 - n }));
  const priorSr = { seriesUid: '2.25.888', sopClassUid: '1.2.840.10008.5.1.4.1.1.88.34', sopInstanceUid: '2.25.8881' };
  const f = failureReport(fx.study, { stage: 'series-selection', reason: 'no series qualifies for lung triage' }, { now: NOW, examined: [localizer, ...ct, priorSr] });
  const sr = datasetOf(f.sr.bytes);

  test('dciodvfy and dsrdump accept it', () => {
    expect(dciodvfy(f.sr.bytes).errors).toEqual([]);
    const d = dsrdump(f.sr.bytes);
    expect(d.status).toBe(0);
    expect(d.output).toContain('<contains CONTAINER:(111028,DCM,"Image Library")');
    expect(d.output).toContain('<contains CONTAINER:(125007,DCM,"Measurement Group")');
  });

  test('the examined-but-rejected images are the evidence and the library (structured documents left out)', () => {
    const ev = first(sr.CurrentRequestedProcedureEvidenceSequence);
    const series = ev.ReferencedSeriesSequence as NaturalDataset[];
    const refs = series.flatMap((s) => (s.ReferencedSOPSequence as NaturalDataset[]).map((r) => r.ReferencedSOPInstanceUID));
    expect(refs.sort()).toEqual([localizer, ...ct].map((i) => i.sopInstanceUid).sort());
    expect(series.map((s) => s.SeriesInstanceUID).sort()).toEqual([localizer.seriesUid, fx.volume.seriesUid].sort());
    const library = findItems(sr, '111028');
    expect(library).toHaveLength(1);
    const images = (first(library[0].ContentSequence).ContentSequence as NaturalDataset[]).map((i) => first(i.ReferencedSOPSequence).ReferencedSOPInstanceUID);
    expect(images.sort()).toEqual(refs.sort());
  });

  test('one measurement group, "AI analysis not performed" with the reason, tracking identifier and UID, framing an examined image', () => {
    const groups = findItems(sr, '125007');
    expect(groups).toHaveLength(1);
    const g = groups[0];
    expect(String(findItems(g, '112039')[0].TextValue)).toMatch(/AI analysis not performed/);
    expect(findItems(g, '112040')[0].UID).toMatch(/^2\.25\.\d+$/);
    expect(codeTriples(first(findItems(g, '121071')))).toContain('NOTPERFORMED|99LTRIAGE|AI analysis not performed');
    expect(findItems(g, '121106').map((c) => c.TextValue)).toContain('No AI result: no series qualifies for lung triage');
    // OHIF 3.12's SR viewport fails on a group without a region: the group frames the middle CT image (by Instance
    // Number, not the order given) along its edges, the localizer of unknown size and the prior SR left out.
    const region = findItems(g, '111030');
    expect(region).toHaveLength(1);
    expect(region[0].GraphicType).toBe('POLYLINE');
    expect(Array.from(region[0].GraphicData as number[])).toEqual([0.5, 0.5, 95.5, 0.5, 95.5, 127.5, 0.5, 127.5, 0.5, 0.5]);
    expect(first(first(region[0].ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID).toBe(ct[1].sopInstanceUid);
  });

  test('the same examined instances in another order frame the same image', () => {
    const again = failureReport(fx.study, { stage: 'series-selection', reason: 'no series qualifies for lung triage' }, { now: NOW, examined: [priorSr, ...ct].reverse().concat(localizer) });
    const framed = (d: NaturalDataset) => first(first(findItems(d, '111030')[0].ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID;
    expect(framed(datasetOf(again.sr.bytes))).toBe(framed(sr));
  });

  test('an inference failure lists the volume it examined in the library and frames its middle slice; a study with nothing readable has the library, no group', () => {
    const g = buildResults({ study: fx.study, volume: fx.volume, keySlices: 4, failure: { stage: 'inference', reason: 'worker deadline exceeded' }, now: NOW });
    const lib = findItems(datasetOf(g.sr.bytes), '111028')[0];
    expect((first(lib.ContentSequence).ContentSequence as unknown[]).length).toBe(fx.volume.slices);
    const region = findItems(findItems(datasetOf(g.sr.bytes), '125007')[0], '111030');
    expect(first(first(region[0].ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID).toBe(fx.volume.sources[fx.volume.slices / 2].sopInstanceUid);
    const none = failureReport(fx.study, 'no readable instance in the study', { now: NOW });
    expect(findItems(datasetOf(none.sr.bytes), '111028')).toHaveLength(1);
    expect(findItems(datasetOf(none.sr.bytes), '125007')).toHaveLength(0);
    expect(dsrdump(none.sr.bytes).output).toContain('AI analysis not performed');
    expect(dsrdump(none.sr.bytes).status).toBe(0);
    expect(dciodvfy(none.sr.bytes).errors).toEqual([]);
  });
});

describe('a negative study asserts no lesion; lesion types are present/absent', () => {
  const negAnalysis = syntheticAnalysis(fx.volume, 0.1);
  const neg = buildResults({ study: fx.study, volume: fx.volume, analysis: negAnalysis, keySlices: 4, now: NOW });
  const sr = datasetOf(neg.sr.bytes);
  const typeCodes = ['112120', '95436008', 'CRAZYPAVING'];

  test('the SR and the summary page alone, the SR valid, with one measurement group stating the negative result (no lesion region, no image)', () => {
    expect(negAnalysis.patient.decision).toBe('negative');
    expect(neg.objects.map((o) => o.kind)).toEqual(['sr', 'summary']);
    expect(dciodvfy(neg.sr.bytes).errors).toEqual([]);
    const d = dsrdump(neg.sr.bytes);
    expect(d.status).toBe(0);
    const groups = findItems(sr, '125007');
    expect(groups).toHaveLength(1);
    expect(codeTriples(first(findItems(groups[0], '121071')))).toContain('NOINFECTION|99LTRIAGE|No infection detected (AI)');
    expect(findItems(groups[0], '112040')[0].UID).toMatch(/^2\.25\.\d+$/);
    // No lesion region: the group frames the examined middle slice along its edges (OHIF fails on a group without
    // a region), and references no image (no heat map).
    const region = findItems(groups[0], '111030');
    expect(region).toHaveLength(1);
    expect(Array.from(region[0].GraphicData as number[])).toEqual([0.5, 0.5, fx.volume.columns - 0.5, 0.5, fx.volume.columns - 0.5, fx.volume.rows - 0.5, 0.5, fx.volume.rows - 0.5, 0.5, 0.5]);
    expect(first(first(region[0].ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID).toBe(fx.volume.sources[fx.volume.slices / 2].sopInstanceUid);
    expect((groups[0].ContentSequence as NaturalDataset[]).filter((i) => i.ValueType === 'IMAGE')).toEqual([]);
  });

  test('no lesion or lesion type anywhere; "no infection" said once, at study level', () => {
    const codes = codeTriples(sr);
    expect(codes.filter((c) => c.startsWith('LESION|'))).toEqual([]);
    for (const t of typeCodes) expect(codes.filter((c) => c.startsWith(`${t}|`))).toEqual([]);
    const infection = findItems(sr, 'INFECTION');
    expect(infection).toHaveLength(1);
    expect(codeTriples(infection[0])).toEqual(['INFECTION|99LTRIAGE|Lung infection (AI infection map)', '2667000|SCT|Absent']);
    expect(dsrdump(neg.sr.bytes).output.match(/No infection detected/g)).toHaveLength(1);
  });

  test('COVID-19 is a finding only by its value: Absent on a negative study, Present on a positive one', () => {
    const covid = (d: NaturalDataset) =>
      (first(findItems(d, 'C0034375')).ContentSequence as NaturalDataset[]).filter((i) => String(first(i.ConceptNameCodeSequence).CodeValue) === '840539006');
    expect(covid(sr)).toHaveLength(1);
    expect(String(first(covid(sr)[0].ConceptCodeSequence).CodeValue)).toBe('2667000');
    // No study-level "Finding = COVID-19" (a code given as a finding reads as present); a class named as the
    // qualifier of its probability is no assertion.
    const topLevel = first(findItems(sr, 'C0034375')).ContentSequence as NaturalDataset[];
    const findingValues = topLevel.filter((i) => String(first(i.ConceptNameCodeSequence).CodeValue) === '121071').map((i) => String(first(i.ConceptCodeSequence).CodeValue));
    expect(findingValues).not.toContain('840539006');
    expect(String(first(covid(datasetOf(positive.sr.bytes))[0].ConceptCodeSequence).CodeValue)).toBe('52101004');
  });

  test('a positive study: each lesion type Present or Absent with its probability as a property', () => {
    const pos = datasetOf(positive.sr.bytes);
    const qual = first(findItems(pos, 'C0034375'));
    const items = (qual.ContentSequence as NaturalDataset[]).filter((i) => typeCodes.includes(String(first(i.ConceptNameCodeSequence).CodeValue)));
    expect(items).toHaveLength(3);
    const value = (i: NaturalDataset) => String(first(i.ConceptCodeSequence).CodeValue);
    expect(items.map(value)).toEqual(['52101004', '2667000', '2667000']);
    for (const i of items) {
      const prob = first(i.ContentSequence);
      expect(prob.RelationshipType).toBe('HAS PROPERTIES');
      expect(first(prob.ConceptNameCodeSequence).CodeValue).toBe('PROB');
    }
    expect(codeTriples(first(findItems(pos, 'INFECTION')))).toContain('52101004|SCT|Present');
  });

  test('an indeterminate study asserts no lesion type present', () => {
    const a = { ...fx.analysis, patient: { ...fx.analysis.patient, decision: 'indeterminate' as const } };
    const r = datasetOf(buildResults({ study: fx.study, volume: fx.volume, analysis: a, keySlices: 2, now: NOW }).sr.bytes);
    const qual = first(findItems(r, 'C0034375'));
    const items = (qual.ContentSequence as NaturalDataset[]).filter((i) => typeCodes.includes(String(first(i.ConceptNameCodeSequence).CodeValue)));
    expect(items.map((i) => String(first(i.ConceptCodeSequence).CodeValue))).toEqual(['2667000', '2667000', '2667000']);
  });
});

/**
 * Builds a result set (and a failure report) in a child Node process with TZ set, since a jest sandbox's
 * process.env does not reach the process's time zone; TypeScript is compiled on the fly with @swc/core.
 */
function buildInZone(tz: string): { kind: string; bytes: Buffer }[] {
  const script = `
    const fs = require('node:fs');
    const swc = require('@swc/core');
    require.extensions['.ts'] = (m, f) => m._compile(swc.transformSync(fs.readFileSync(f, 'utf8'), {
      filename: f, jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true } }, module: { type: 'commonjs' } }).code, f);
    const { buildResults, failureReport } = require(${JSON.stringify(path.resolve(__dirname, '../../src/results'))});
    const { syntheticStudy } = require(${JSON.stringify(path.resolve(__dirname, 'fixtures.ts'))});
    const fx = syntheticStudy({ size: 64, slices: 24 });
    const now = new Date(${JSON.stringify(NOW.toISOString())});
    const r = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now });
    const f = failureReport(fx.study, 'no series qualifies', { now });
    process.stdout.write(JSON.stringify([...r.objects, ...f.objects].map((o) => ({ kind: o.kind, bytes: o.bytes.toString('base64') }))));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { kind: string; bytes: string }[]).map((o) => ({ kind: o.kind, bytes: Buffer.from(o.bytes, 'base64') }));
}

describe('times are local with Timezone Offset From UTC on every result object', () => {
  test.each([
    ['Asia/Kolkata', '+0530', '20260301', '153000'],
    ['America/New_York', '-0500', '20260301', '050000'],
    ['Pacific/Kiritimati', '+1400', '20260302', '000000'],
  ])('TZ=%s: offset %s, local date and time', (tz, offset, date, time) => {
    const objects = buildInZone(tz);
    expect(objects.map((o) => o.kind)).toEqual(['sr', 'summary', 'seg', 'heatmap', 'heatmap', 'kos', 'sr', 'summary']);
    for (const o of objects) {
      const d = datasetOf(o.bytes);
      expect([o.kind, d.TimezoneOffsetFromUTC]).toEqual([o.kind, offset]);
      expect([d.InstanceCreationDate, d.InstanceCreationTime, d.ContentDate, d.ContentTime, d.SeriesTime]).toEqual([date, time, date, time, time]);
      expect(String(first(d.ContributingEquipmentSequence).ContributionDateTime).trim()).toBe(`${date}${time}${offset}`);
      expect(dciodvfy(o.bytes).errors).toEqual([]);
    }
  });
});

describe('result series sort after the source series', () => {
  test('derived from the source Series Number read with the study context, for every object', () => {
    const src = readPart10(fx.instances[0].bytes).dataset;
    const study = studyContextFromDataset({ ...src, SeriesNumber: 10230 });
    expect(study.SeriesNumber).toBe(10230);
    const r = buildResults({ study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW });
    const numbers = r.objects.map((o) => [o.kind, datasetOf(o.bytes).SeriesNumber]);
    expect(numbers).toEqual([
      ['sr', 11232],
      ['summary', 11235],
      ['seg', 11234],
      ['heatmap', 11231],
      ['heatmap', 11231],
      ['kos', 11233],
    ]);
    expect(datasetOf(failureReport(study, 'no series', { now: NOW }).sr.bytes).SeriesNumber).toBe(11232);
    expect(dsrdump(r.sr.bytes).output).toContain('(#11232)');
    for (const o of r.objects) expect(dciodvfy(o.bytes).errors).toEqual([]);
  });

  test('the study-wide maximum wins when known; the fixed numbers when nothing is known', () => {
    expect(resultSeriesNumbers({ SeriesNumber: 3, MaxSeriesNumber: 10230 })).toEqual({ heatMaps: 11231, sr: 11232, kos: 11233, seg: 11234, summary: 11235 });
    expect(resultSeriesNumbers({})).toEqual(SERIES_NUMBER);
    const noNumber = studyContextFromDataset({ StudyInstanceUID: '2.25.1' });
    expect(noNumber.SeriesNumber).toBeUndefined();
    expect(datasetOf(failureReport(noNumber, 'no series', { now: NOW }).sr.bytes).SeriesNumber).toBe(SERIES_NUMBER.sr);
  });
});

describe('same-study heat maps are Current Requested Procedure Evidence', () => {
  test('the heat-map series is listed with the CT series; no Pertinent Other Evidence', () => {
    const sr = datasetOf(positive.sr.bytes);
    expect(sr.PertinentOtherEvidenceSequence).toBeUndefined();
    const ev = sr.CurrentRequestedProcedureEvidenceSequence as NaturalDataset[];
    expect(ev).toHaveLength(1);
    expect(first(ev).StudyInstanceUID).toBe(fx.study.StudyInstanceUID);
    const series = first(ev).ReferencedSeriesSequence as NaturalDataset[];
    const heat = positive.objects.filter((o) => o.kind === 'heatmap');
    expect(heat.length).toBeGreaterThan(0);
    const heatSeries = series.find((s) => s.SeriesInstanceUID === heat[0].seriesInstanceUid);
    expect(heatSeries).toBeDefined();
    expect((heatSeries!.ReferencedSOPSequence as NaturalDataset[]).map((r) => r.ReferencedSOPInstanceUID)).toEqual(heat.map((h) => h.sopInstanceUid));
    expect(series.find((s) => s.SeriesInstanceUID === fx.volume.seriesUid)).toBeDefined();
    expect(dciodvfy(positive.sr.bytes).errors).toEqual([]);
    expect(dsrdump(positive.sr.bytes).status).toBe(0);
  });
});

describe('Referenced Request Sequence (0040,A370) from the source request', () => {
  const src = readPart10(fx.instances[0].bytes).dataset;

  test('accession number and requested procedure of the source, in the SR and the failure SR', () => {
    const study = studyContextFromDataset({
      ...src,
      AccessionNumber: 'ACC-42',
      RequestAttributesSequence: [{ RequestedProcedureID: 'RP-7', RequestedProcedureDescription: 'CT chest without contrast', ScheduledProcedureStepID: 'SPS-1' }],
    });
    expect(study).toMatchObject({ AccessionNumber: 'ACC-42', RequestedProcedureID: 'RP-7', RequestedProcedureDescription: 'CT chest without contrast' });
    const r = buildResults({ study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW });
    const f = failureReport(study, 'no series', { now: NOW });
    for (const o of [r.sr, f.sr]) {
      const req = datasetOf(o.bytes).ReferencedRequestSequence as NaturalDataset[];
      expect(req).toHaveLength(1);
      expect(first(req)).toMatchObject({
        StudyInstanceUID: fx.study.StudyInstanceUID,
        AccessionNumber: 'ACC-42',
        RequestedProcedureID: 'RP-7',
        RequestedProcedureDescription: 'CT chest without contrast',
      });
      expect(dciodvfy(o.bytes).errors).toEqual([]);
      expect(dsrdump(o.bytes).status).toBe(0);
    }
  });

  test('the fixture accession alone is enough; no request known, no sequence', () => {
    expect(first(datasetOf(positive.sr.bytes).ReferencedRequestSequence).AccessionNumber).toBe('SYN0001');
    const none = studyContextFromDataset({ ...src, AccessionNumber: '' });
    expect(datasetOf(failureReport(none, 'no series', { now: NOW }).sr.bytes).ReferencedRequestSequence).toBeUndefined();
  });
});

describe('Patient and Study modules copied exactly: dcentvfy over the CT and every result is clean', () => {
  test('present-but-empty Patient Age and Study Description in the source stay present (and empty) in every object', () => {
    // The source as the thorax series has it: both attributes present with no value.
    const ct = fx.instances.map((i) => {
      const { dataset } = readPart10(i.bytes);
      return writePart10({ ...dataset, PatientAge: '', StudyDescription: '' });
    });
    const study = studyContextFromDataset(readPart10(ct[0]).dataset);
    const r = buildResults({ study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW });
    const f = failureReport(study, 'no series qualifies', { now: NOW });
    for (const o of [...r.objects, ...f.objects]) expect([o.kind, 'PatientAge' in datasetOf(o.bytes), 'StudyDescription' in datasetOf(o.bytes)]).toEqual([o.kind, true, true]);
    const files = [
      ...ct.map((bytes, k) => ({ name: `ct${k}`, bytes })),
      ...r.objects.map((o, k) => ({ name: o.kind === 'sr' || o.kind === 'kos' ? o.kind : `${o.kind}${k}`, bytes: o.bytes })),
    ];
    expect(dcentvfy(files, [DCENTVFY_SR_ACCESSION])).toEqual([]);
    // Absent in the source: absent in ours.
    const bare = buildResults({ study: { ...study, PatientAge: undefined, StudyDescription: undefined }, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW });
    expect('PatientAge' in datasetOf(bare.sr.bytes)).toBe(false);
  });
});

describe('heat-map SC: no empty Laterality, Body Part Examined', () => {
  test('CHEST by default, the source body part when it has one; dciodvfy clean', () => {
    const heat = positive.objects.filter((o) => o.kind === 'heatmap');
    expect(heat.length).toBeGreaterThan(0);
    for (const h of heat) {
      const d = datasetOf(h.bytes);
      expect('Laterality' in d).toBe(false);
      expect(d.BodyPartExamined).toBe('CHEST');
      expect(dciodvfy(h.bytes).errors).toEqual([]);
    }
    const study = studyContextFromDataset({ ...readPart10(fx.instances[0].bytes).dataset, BodyPartExamined: 'LUNG' });
    const r = buildResults({ study, volume: fx.volume, analysis: fx.analysis, keySlices: 1, now: NOW });
    const d = datasetOf(r.objects.find((o) => o.kind === 'heatmap')!.bytes);
    expect(d.BodyPartExamined).toBe('LUNG');
  });
});

describe('deterministic UIDs change with the software version and the content settings', () => {
  const uidsOf = (r: { objects: { sopInstanceUid: string; seriesInstanceUid: string }[] }) => r.objects.flatMap((o) => [o.sopInstanceUid, o.seriesInstanceUid]);

  test('another key-slice count (LT_KEY_SLICES) gives new UIDs for every object and series', () => {
    const two = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW });
    const before = new Set(uidsOf(positive));
    expect(uidsOf(two).filter((u) => before.has(u))).toEqual([]);
    // Still deterministic for the same settings.
    expect(uidsOf(buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW }))).toEqual(uidsOf(two));
  });

  test('another lung-triage version gives new UIDs (analysed and failure reports)', () => {
    const failure = failureReport(fx.study, 'no series qualifies', { now: NOW });
    const saved = DEVICE.softwareVersion;
    try {
      DEVICE.softwareVersion = `${saved}-next`;
      const next = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });
      const before = new Set(uidsOf(positive));
      expect(uidsOf(next).filter((u) => before.has(u))).toEqual([]);
      expect(failureReport(fx.study, 'no series qualifies', { now: NOW }).sr.sopInstanceUid).not.toBe(failure.sr.sopInstanceUid);
    } finally {
      DEVICE.softwareVersion = saved;
    }
  });

  test('a failure report listing other details or examined instances is a new instance', () => {
    const a = failureReport(fx.study, { stage: 'series-selection', reason: 'no series qualifies', details: ['series 3: localizer'] }, { now: NOW });
    const b = failureReport(fx.study, { stage: 'series-selection', reason: 'no series qualifies', details: ['series 3: localizer', 'series 4: 12 slices'] }, { now: NOW });
    const c = failureReport(fx.study, { stage: 'series-selection', reason: 'no series qualifies', details: ['series 3: localizer'] }, { now: NOW, examined: [{ seriesUid: '2.25.5', sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '2.25.51' }] });
    expect(new Set([a, b, c].map((r) => r.sr.sopInstanceUid)).size).toBe(3);
  });
});

describe('key-slice measurements read well in a viewer that labels them by concept name (OHIF)', () => {
  const groups = findItems(datasetOf(positive.sr.bytes), '125007').filter((g) => findItems(g, '111030').length > 0);

  test('each NUM is named after what it measures, in percent, the lesion types most probable first, each qualified by its code', () => {
    expect(groups).toHaveLength(8);
    for (const g of groups) {
      const nums = (g.ContentSequence as NaturalDataset[]).filter((i) => i.ValueType === 'NUM');
      const meaning = (i: NaturalDataset) => String(first(i.ConceptNameCodeSequence).CodeMeaning);
      const value = (i: NaturalDataset) => Number(first(i.MeasuredValueSequence).NumericValue);
      expect(nums.map(meaning).slice(0, 3).sort()).toEqual(['Consolidation of lung probability', 'Crazy paving pattern probability', 'Ground glass opacity probability']);
      expect(nums.map(meaning)[3]).toBe('Slice lesion probability');
      for (const n of nums) {
        const units = first(first(n.MeasuredValueSequence).MeasurementUnitsCodeSequence);
        expect([units.CodeValue, units.CodingSchemeDesignator]).toEqual(['%', 'UCUM']);
        expect(value(n)).toBeGreaterThanOrEqual(0);
        expect(value(n)).toBeLessThanOrEqual(100);
      }
      const types = nums.slice(0, 3);
      expect(types.map(value)).toEqual([...types.map(value)].sort((a, b) => b - a));
      for (const t of types) expect(meaning(t)).toBe(`${String(first(first(t.ContentSequence).ConceptCodeSequence).CodeMeaning)} probability`);
    }
  });

  test('each NUM is inferred from the group\'s image region (OHIF\'s measurement tracking reads the region there)', () => {
    for (const g of groups) {
      const region = findItems(g, '111030').find((r) => r.RelationshipType === 'CONTAINS');
      const nums = (g.ContentSequence as NaturalDataset[]).filter((i) => i.ValueType === 'NUM');
      for (const n of nums) {
        const inferred = (n.ContentSequence as NaturalDataset[]).filter((i) => i.RelationshipType === 'INFERRED FROM');
        expect(inferred).toHaveLength(1);
        expect(inferred[0].ValueType).toBe('SCOORD');
        expect(Array.from(inferred[0].GraphicData as number[])).toEqual(Array.from(region?.GraphicData as number[]));
        expect(first(first(inferred[0].ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID).toBe(
          first(first(region?.ContentSequence as NaturalDataset[]).ReferencedSOPSequence).ReferencedSOPInstanceUID,
        );
      }
    }
    expect(dciodvfy(positive.sr.bytes).errors).toEqual([]);
    expect(dsrdump(positive.sr.bytes).output).toContain('<inferred from SCOORD:(111030,DCM,"Image Region")');
    expect(dsrdump(positive.sr.bytes).output).toMatch(/<contains NUM:\(P-112120,99LTRIAGE,"Ground glass opacity probability"\)="[\d.]+" \(%,UCUM,"percent"\)>/);
  });
});

/**
 * OHIF (3.12 to 3.14) merges the measurement groups of a report by Tracking UID and fails on a merged group without
 * an image region (SCOORD in the group, or inferred by its NUMs): every report we write must have one in each.
 */
describe('every measurement group has an image region once merged by Tracking UID, as OHIF reads the report', () => {
  const merged = (sr: NaturalDataset) => {
    const byUid = new Map<string, NaturalDataset[]>();
    for (const g of findItems(sr, '125007')) {
      const uid = String(findItems(g, '112040')[0].UID);
      byUid.set(uid, [...(byUid.get(uid) ?? []), g]);
    }
    return [...byUid.values()];
  };
  const hasRegion = (groups: NaturalDataset[]) => groups.some((g) => (g.ContentSequence as NaturalDataset[]).some((i) => i.ValueType === 'SCOORD'));
  const negative = buildResults({ study: fx.study, volume: fx.volume, analysis: syntheticAnalysis(fx.volume, 0.1), keySlices: 4, now: NOW });
  const failed = buildResults({ study: fx.study, volume: fx.volume, keySlices: 4, failure: { stage: 'inference', reason: 'worker deadline exceeded' }, now: NOW });
  // Infection in the SEG but no slice reaching the models' minimum infected area: no key slice.
  const noKeySlice = buildResults({ study: fx.study, volume: fx.volume, analysis: { ...fx.analysis, minInfectedSliceAreaMm2: 1e9 }, keySlices: 4, now: NOW });

  test.each([
    ['positive', positive],
    ['negative', negative],
    ['failure', failed],
    ['positive without key slice', noKeySlice],
  ])('the %s report', (_name, r) => {
    const sets = merged(datasetOf(r.sr.bytes));
    expect(sets.length).toBeGreaterThan(0);
    for (const set of sets) expect(hasRegion(set)).toBe(true);
    expect(dciodvfy(r.sr.bytes).errors).toEqual([]);
  });

  test('without a key slice, the volumetric groups merge with the infection\'s largest section, drawn without a heat map', () => {
    expect(noKeySlice.summary.keySlices).toEqual([]);
    expect(noKeySlice.objects.map((o) => o.kind).sort()).toEqual(['seg', 'sr', 'summary']);
    const groups = findItems(datasetOf(noKeySlice.sr.bytes), '125007');
    const section = groups.filter((g) => findItems(g, '121191').length === 0);
    expect(section).toHaveLength(1);
    expect(String(findItems(section[0], '112039')[0].TextValue)).toMatch(/^AI infection, largest section \((image \d+|slice) at -?[\d.]+ mm\)$/);
    expect((section[0].ContentSequence as NaturalDataset[]).filter((i) => i.ValueType === 'IMAGE')).toEqual([]);
    const largest = fx.analysis.slices.reduce((a, s) => (s.infectedAreaMm2 > a.infectedAreaMm2 ? s : a));
    const region = findItems(section[0], '111030').find((r) => r.RelationshipType === 'CONTAINS')!;
    expect(first(first(region.ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID).toBe(fx.volume.sources[largest.index].sopInstanceUid);
  });

  test("the TID 1411 groups on the SEG share the infection's Tracking UID with one key slice, that of its largest section", () => {
    const sr = datasetOf(positive.sr.bytes);
    const volumetric = findItems(sr, '125007').filter((g) => findItems(g, '121191').length > 0);
    expect(volumetric).toHaveLength(6);
    const uids = new Set(volumetric.map((g) => String(findItems(g, '112040')[0].UID)));
    expect(uids.size).toBe(1);
    const planar = findItems(sr, '125007').filter((g) => uids.has(String(findItems(g, '112040')[0].UID)) && findItems(g, '121191').length === 0);
    expect(planar).toHaveLength(1);
    const source = String(first(first(findItems(planar[0], '111030')[0].ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID);
    const largest = positive.summary.keySlices.map((i) => fx.analysis.slices[i]).reduce((a, s) => (s.infectedAreaMm2 > a.infectedAreaMm2 ? s : a));
    expect(source).toBe(fx.volume.sources[largest.index].sopInstanceUid);
    // Key-slice groups come first: OHIF labels the merged group with its first NUMs (the slice's probabilities).
    const all = findItems(sr, '125007');
    expect(all.indexOf(planar[0])).toBeLessThan(all.indexOf(volumetric[0]));
  });
});

describe('IHE AI Results: one Contributing Equipment item per algorithm, in every result object', () => {
  test('the slice network and the patient-level model, each with its name, version and Device UID, as processing equipment', () => {
    expect(positive.objects.map((o) => o.kind).sort()).toEqual(['heatmap', 'heatmap', 'heatmap', 'heatmap', 'kos', 'seg', 'sr', 'summary']);
    for (const o of positive.objects) {
      const items = datasetOf(o.bytes).ContributingEquipmentSequence as NaturalDataset[];
      expect(items.map((i) => [i.ManufacturerModelName, i.SoftwareVersions])).toEqual([
        ['mlung-slice', '0.1.0'],
        ['mlung-patient', '0.1.0'],
      ]);
      expect(items.map((i) => String(i.ContributionDescription))).toEqual([expect.stringMatching(/^slice network/), expect.stringMatching(/^patient level/)]);
      for (const i of items) expect(first(i.PurposeOfReferenceCodeSequence)).toMatchObject({ CodeValue: '109102', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Processing Equipment' });
      expect(new Set(items.map((i) => i.DeviceUID)).size).toBe(2);
      for (const i of items) expect(String(i.DeviceUID)).toMatch(/^2\.25\.\d+$/);
    }
    // Another model version is another device.
    const other = buildResults({ study: fx.study, volume: fx.volume, analysis: { ...fx.analysis, models: [fx.analysis.models[0], { ...fx.analysis.models[1], version: '0.2.0' }] }, keySlices: 4, now: NOW });
    const uidsOf = (r: typeof positive) => (datasetOf(r.sr.bytes).ContributingEquipmentSequence as NaturalDataset[]).map((i) => i.DeviceUID);
    expect(uidsOf(other)[0]).toBe(uidsOf(positive)[0]);
    expect(uidsOf(other)[1]).not.toBe(uidsOf(positive)[1]);
    for (const o of positive.objects) expect(dciodvfy(o.bytes).errors).toEqual([]);
  });

  test('a report made before any model ran names lung-triage itself, once', () => {
    const f = failureReport(fx.study, 'no series qualifies for lung triage', { now: NOW });
    for (const o of f.objects) {
      const items = datasetOf(o.bytes).ContributingEquipmentSequence as NaturalDataset[];
      expect(items.map((i) => [i.ManufacturerModelName, i.SoftwareVersions, i.DeviceUID])).toEqual([[DEVICE.modelName, DEVICE.softwareVersion, DEVICE.uid]]);
    }
  });
});

describe('standard codes where PS3.16 has them', () => {
  test("the models' lesion types: DCM ground glass opacity, air bronchogram, septal lines; crazy paving stays private", () => {
    const manifest = readManifest(path.join(PACKAGE_ROOT, 'models'));
    const byLabel = Object.fromEntries(manifest.lesionTypes.map((t) => [t.label, t.code && `${t.code.value}|${t.code.scheme}|${t.code.meaning}`]));
    expect(byLabel).toEqual({
      ggo: '112120|DCM|Ground glass opacity',
      consolidation: '95436008|SCT|Consolidation of lung',
      'crazy-paving': 'CRAZYPAVING|99LTRIAGE|Crazy paving pattern',
      'air-bronchogram': '112071|DCM|Air bronchogram',
      'septal-thickening': '112114|DCM|Septal line(s)',
    });
  });

  test('zones are SNOMED CT lung zones, the infected volume is SCT Volume of the inflammation; no private zone or volume code', () => {
    const sr = datasetOf(positive.sr.bytes);
    const codes = codeTriples(sr);
    expect(codes).toEqual(expect.arrayContaining(['281392002|SCT|Upper zone of lung', '281393007|SCT|Middle zone of lung', '281394001|SCT|Lower zone of lung']));
    expect(codes.filter((c) => /^(ZONE|INFVOL)/.test(c))).toEqual([]);
    const qualitative = findItems(sr, 'C0034375')[0];
    const volumes = (qualitative.ContentSequence as NaturalDataset[]).filter((i) => i.ValueType === 'NUM' && first(i.ConceptNameCodeSequence).CodeValue === '118565006');
    const infected = volumes.filter((v) => codeTriples(v).includes('23583003|SCT|Inflammation'));
    expect(infected).toHaveLength(1);
    expect(Number(first(infected[0].MeasuredValueSequence).NumericValue)).toBeCloseTo(fx.analysis.patient.infection!.infectedMl, 3);
    expect(codeTriples(infected[0])).toContain('74101002|SCT|Both lungs');
    expect(dciodvfy(positive.sr.bytes).errors).toEqual([]);
    expect(dsrdump(positive.sr.bytes).status).toBe(0);
  });
});

describe('the key-slice box (half-max bounding box) never spans both lungs', () => {
  const sr = datasetOf(positive.sr.bytes);
  const planar = findItems(sr, '125007').filter((g) => findItems(g, '121191').length === 0);
  const rowX = fx.volume.imageOrientationPatient[0];

  test('one group per lung with lesion on each key slice, its box on pixel edges within that half of the crop, around its half-max pixels', () => {
    const keys = positive.summary.keySlices;
    expect(planar.length).toBeGreaterThan(keys.length); // the phantom has lesions in both lungs
    for (const g of planar) {
      const region = findItems(g, '111030').find((r) => r.RelationshipType === 'CONTAINS')!;
      const source = String(first(first(region.ContentSequence).ReferencedSOPSequence).ReferencedSOPInstanceUID);
      const slice = fx.analysis.slices[fx.volume.sources.findIndex((s) => s.sopInstanceUid === source)];
      expect(keys).toContain(slice.index);
      const [c0, r0, c1, , , r1] = Array.from(region.GraphicData as number[]);
      for (const v of [c0, r0, c1, r1]) expect(Number.isInteger(v)).toBe(true);
      // The crop's midline (the halves the engine's lateral areas use) is never inside the box.
      const { cropBox: b, mapWidth: mw, mapHeight: mh, lesionMap } = slice;
      const mid = b.x + b.width / 2;
      expect(c1 <= Math.ceil(mid) || c0 >= Math.floor(mid)).toBe(true);
      const imageLeft = c1 <= Math.ceil(mid);
      const side = String(first(findItems(g, '363698007')[0].ConceptCodeSequence).CodeValue);
      expect(side).toBe((imageLeft === rowX >= 0) ? '3341006' : '44029006'); // image left is the patient's right (HFS)
      expect(String(findItems(g, '112039')[0].TextValue)).toMatch(imageLeft === rowX >= 0 ? /, right lung$/ : /, left lung$/);
      // The box is the bounding box of the half-max pixels in its half.
      const max = Math.max(...lesionMap);
      let box = [Infinity, Infinity, -Infinity, -Infinity];
      for (let r = b.y; r < b.y + b.height; r++) for (let c = b.x; c < b.x + b.width; c++) {
        const cell = mapCell(c - b.x, b.width, mw);
        if ((cell + 0.5 < mw / 2) !== imageLeft || lesionMap[mapCell(r - b.y, b.height, mh) * mw + cell] < max / 2) continue;
        box = [Math.min(box[0], c), Math.min(box[1], r), Math.max(box[2], c + 1), Math.max(box[3], r + 1)];
      }
      expect([c0, r0, c1, r1]).toEqual(box);
    }
    expect(dciodvfy(positive.sr.bytes).errors).toEqual([]);
    expect(dsrdump(positive.sr.bytes).status).toBe(0);
  });
});
