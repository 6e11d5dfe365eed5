import { readPart10, SopClass, type NaturalDataset } from '../../src/dicom/dcmjs';
import { buildResults, colormap, failureReport, triagePriority, mapValueAt, heatMapScale, laterality, lesionBurden, selectKeySlices } from '../../src/results';
import { mapCell } from '../../src/inference/infection';
import { infectionByRegion, lesionSlices, notApplicableReason } from '../../src/results/analysis-summary';
import { dciodvfy, dsrdump } from './dicom-tools';
import { syntheticStudy } from './fixtures';
import { codeTriples, findItems, first } from './sr-tree';

const NOW = new Date('2026-03-01T10:00:00Z');
const fx = syntheticStudy();
const results = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });
const datasetOf = (b: Buffer): NaturalDataset => readPart10(b).dataset;

describe('result objects pass the DICOM validators', () => {
  test.each(results.objects.map((o) => [`${o.kind}${o.sliceIndex ?? ''}`, o] as const))('%s: dciodvfy reports no errors', (_n, o) => {
    const v = dciodvfy(o.bytes);
    expect(v.errors).toEqual([]);
    expect(v.status).toBe(0);
  });

  test('the SR content tree passes dsrdump', () => {
    const r = dsrdump(results.sr.bytes);
    expect(r.status).toBe(0);
    expect(r.output).toContain('Imaging Measurement Report');
    expect(r.output).toContain('Verification Flag   : UNVERIFIED');
  });

  test('the failure SR passes dciodvfy and dsrdump and says why', () => {
    const f = failureReport(fx.study, { stage: 'series-selection', reason: 'no axial CT series with at least 40 slices', details: ['series 3: localizer'] }, { now: NOW });
    expect(f.objects.map((o) => o.kind)).toEqual(['sr', 'summary']);
    expect(dciodvfy(f.sr.bytes).errors).toEqual([]);
    const d = dsrdump(f.sr.bytes);
    expect(d.status).toBe(0);
    expect(d.output).toContain('AI analysis not performed');
    expect(d.output).toContain('No AI result: no axial CT series');
    expect(f.summary).toMatchObject({ outcome: 'not-analysed', priority: 'ROUTINE', failure: { stage: 'series-selection' } });
    // Inference failure through buildResults: also an SR, not silence.
    const g = buildResults({ study: fx.study, volume: fx.volume, keySlices: 4, failure: { stage: 'inference', reason: 'worker deadline exceeded' }, now: NOW });
    expect(g.objects.map((o) => o.kind)).toEqual(['sr', 'summary']);
    expect(dsrdump(g.sr.bytes).output).toContain('(STAGE-INFER,99LTRIAGE,"Inference")');
  });
});

describe('SR content (TID 1500, IHE AI Results)', () => {
  const sr = datasetOf(results.sr.bytes);

  test('header: source study, unverified, UTF-8, contributing equipment, evidence of the source series', () => {
    expect(sr.SOPClassUID).toBe(SopClass.Comprehensive3dSr);
    expect(sr.StudyInstanceUID).toBe(fx.study.StudyInstanceUID);
    expect(first(sr.PatientName).Alphabetic ?? sr.PatientName).toBe('PHANTOM^CHEST');
    expect(sr.PatientID).toBe('PHANTOM-001');
    expect(sr.AccessionNumber).toBe('SYN0001');
    expect(sr.VerificationFlag).toBe('UNVERIFIED');
    expect(sr.SpecificCharacterSet).toBe('ISO_IR 192');
    expect(first(sr.ContributingEquipmentSequence).Manufacturer).toBe('lung-triage project');
    const ev = first(sr.CurrentRequestedProcedureEvidenceSequence);
    const series = first(ev.ReferencedSeriesSequence);
    expect(series.SeriesInstanceUID).toBe(fx.volume.seriesUid);
    expect((series.ReferencedSOPSequence as unknown[]).length).toBe(fx.volume.slices);
    expect(first(sr.ContentTemplateSequence).TemplateIdentifier).toBe('1500');
  });

  test('codes: procedure, algorithm, assessment, priority, lesion types, laterality, burden, disclaimer', () => {
    const codes = codeTriples(sr);
    for (const c of [
      '126000|DCM|Imaging Measurement Report',
      '121058|DCM|Procedure reported',
      '169069000|SCT|Computed tomography of chest',
      '111001|DCM|Algorithm Name',
      '111003|DCM|Algorithm Version',
      '840539006|SCT|COVID-19',
      'THRESHOLD|99LTRIAGE|Operating threshold',
      'POSITIVE|99LTRIAGE|Positive at operating threshold',
      'URGENT|99LTRIAGE|Urgent',
      '112120|DCM|Ground glass opacity',
      '95436008|SCT|Consolidation of lung',
      'CRAZYPAVING|99LTRIAGE|Crazy paving pattern',
      '74101002|SCT|Both lungs',
      'BURDEN|99LTRIAGE|Lesion burden (share of lung slices with lesion)',
      '112039|DCM|Tracking Identifier',
      '112040|DCM|Tracking Unique Identifier',
      '111030|DCM|Image Region',
      '1|UCUM|no units',
    ])
      expect(codes).toContain(c);
    expect(first(sr.CodingSchemeIdentificationSequence).CodingSchemeDesignator).toBe('99LTRIAGE');
    // The key-slice groups (TID 1410 style), one per lung with lesion on each of the 4 key slices (the phantom has
    // lesions in both); the volumetric ones (TID 1411) reference the SEG instead.
    const groups = findItems(sr, '125007').filter((g) => findItems(g, '121191').length === 0);
    expect(groups).toHaveLength(8);
    expect(findItems(sr, '125007')).toHaveLength(8 + 6);
    for (const g of groups) {
      expect(findItems(g, '112040')[0].UID).toMatch(/^2\.25\.\d+$/);
      const region = findItems(g, '111030')[0];
      expect(region.GraphicType).toBe('POLYLINE');
      const selected = first(region.ContentSequence);
      expect(selected.RelationshipType).toBe('SELECTED FROM');
      expect(fx.volume.sources.map((s) => s.sopInstanceUid)).toContain(first(selected.ReferencedSOPSequence).ReferencedSOPInstanceUID);
    }
    const comments = findItems(sr, '121106').map((c) => String(c.TextValue));
    expect(comments.some((t) => /not been reviewed by a physician/.test(t))).toBe(true);
  });
});

describe('heat maps and key objects', () => {
  const heat = results.objects.filter((o) => o.kind === 'heatmap');

  test('RGB, PlanarConfiguration 0, uncompressed, study copied, source image referenced, key slices as configured', () => {
    expect(heat).toHaveLength(4);
    expect(results.summary.keySlices).toEqual(heat.map((h) => h.sliceIndex));
    for (const h of heat) {
      const { meta, dataset: d } = readPart10(h.bytes);
      expect(meta.TransferSyntaxUID).toBe('1.2.840.10008.1.2.1');
      expect(d).toMatchObject({ PhotometricInterpretation: 'RGB', PlanarConfiguration: 0, SamplesPerPixel: 3, BitsAllocated: 8, BurnedInAnnotation: 'YES' });
      expect(d.StudyInstanceUID).toBe(fx.study.StudyInstanceUID);
      expect(d.PatientID).toBe('PHANTOM-001');
      expect(first(d.SourceImageSequence).ReferencedSOPInstanceUID).toBe(fx.volume.sources[h.sliceIndex as number].sopInstanceUid);
      // Measurable in a viewer: the CT's spacing over the integer scale the image part is drawn at.
      const f = heatMapScale(fx.volume);
      expect((d.PixelSpacing as number[]).map(Number)).toEqual(fx.volume.pixelSpacing.map((v) => Number((v / f).toPrecision(10))));
    }
    const two = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: NOW });
    expect(two.objects.filter((o) => o.kind === 'heatmap')).toHaveLength(2);
  });

  test('the overlay is the top of the scale (viridis yellow) where the lesion map is high and grey outside the lungs', () => {
    const h = heat[0];
    const slice = fx.analysis.slices[h.sliceIndex as number];
    const d = datasetOf(h.bytes);
    const px = new Uint8Array(first(d.PixelData) as unknown as ArrayBuffer);
    const f = heatMapScale(fx.volume);
    const w = d.Columns as number;
    let best = { v: -1, x: 0, y: 0 };
    for (let y = 0; y < fx.volume.rows; y++) for (let x = 0; x < fx.volume.columns; x++) {
      const v = mapValueAt(slice, x, y);
      if (v > best.v) best = { v, x, y };
    }
    expect(best.v).toBeGreaterThan(0.9);
    const at = (x: number, y: number) => Array.from(px.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));
    const [r, g, b] = at(best.x * f + 1, best.y * f + 1);
    expect(r - b).toBeGreaterThan(100);
    expect(g - b).toBeGreaterThan(100);
    const [r2, g2, b2] = at(w - 2, Math.round(w * 0.9));
    expect(r2).toBe(g2);
    expect(g2).toBe(b2);
  });

  test('colour only where the engine kept map cells (the lung): smoothing spreads none onto the body wall or spine', () => {
    for (const h of heat) {
      const slice = fx.analysis.slices[h.sliceIndex as number];
      const d = datasetOf(h.bytes);
      const px = new Uint8Array(first(d.PixelData) as unknown as ArrayBuffer);
      const f = heatMapScale(fx.volume);
      const { cropBox: b, mapWidth: mw, mapHeight: mh } = slice;
      let coloured = 0;
      for (let y = 0; y < fx.volume.rows; y++) for (let x = 0; x < fx.volume.columns; x++) {
        const o = ((y * f) * (d.Columns as number) + x * f) * 3;
        if (px[o] === px[o + 1] && px[o + 1] === px[o + 2]) continue;
        coloured++;
        const inCrop = x >= b.x && y >= b.y && x < b.x + b.width && y < b.y + b.height;
        expect(inCrop && slice.lesionMap[mapCell(y - b.y, b.height, mh) * mw + mapCell(x - b.x, b.width, mw)]).toBeGreaterThan(0);
      }
      expect(coloured).toBeGreaterThan(0);
    }
  });

  test('a perceptual colour scale: viridis (matplotlib anchors), lightness rising from low to high; a fixed legend below the image', () => {
    expect(colormap(0)).toEqual([68, 1, 84]);
    expect(colormap(128 / 255)).toEqual([33, 145, 140]);
    expect(colormap(1)).toEqual([253, 231, 37]);
    // Relative luminance (sRGB, ITU-R BT.709) strictly increases along the scale: a rainbow's does not.
    const lin = (c: number) => (c / 255 <= 0.04045 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
    const luminance = (v: number) => {
      const [r, g, b] = colormap(v).map(lin);
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    for (let i = 1; i <= 50; i++) expect(luminance(i / 50)).toBeGreaterThan(luminance((i - 1) / 50));
    // The image is the slice matrix times the scale from the top; the legend strip below it holds the colour bar.
    const d = datasetOf(heat[0].bytes);
    const f = heatMapScale(fx.volume);
    expect(d.Columns).toBe(fx.volume.columns * f);
    expect(d.Rows as number).toBeGreaterThan(fx.volume.rows * f);
    const px = new Uint8Array(first(d.PixelData) as unknown as ArrayBuffer);
    const w = d.Columns as number;
    const strip = new Set<string>();
    for (let y = fx.volume.rows * f; y < (d.Rows as number); y++) for (let x = 0; x < w; x++) strip.add(Array.from(px.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)).join(','));
    expect(strip.has(colormap(1).join(','))).toBe(true);
    expect(strip.has(colormap(0.15).join(','))).toBe(true);
  });

  test('the KOS lists the key CT slices and their heat maps', () => {
    const kos = datasetOf(results.objects.find((o) => o.kind === 'kos')!.bytes);
    expect(kos.Modality).toBe('KO');
    const refs = (kos.ContentSequence as NaturalDataset[]).filter((i) => i.ValueType === 'IMAGE').map((i) => first(i.ReferencedSOPSequence).ReferencedSOPInstanceUID);
    expect(refs).toHaveLength(8);
    expect(refs).toEqual(expect.arrayContaining(heat.map((h) => h.sopInstanceUid)));
  });
});

describe('deterministic UIDs and supersession', () => {
  test('a retry re-creates the same objects; changed input or model makes new ones', () => {
    const again = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });
    expect(again.objects.map((o) => o.sopInstanceUid)).toEqual(results.objects.map((o) => o.sopInstanceUid));
    expect(again.objects.map((o) => o.bytes.equals(results.objects[again.objects.indexOf(o)].bytes))).toEqual(again.objects.map(() => true));
    const changed = buildResults({ study: fx.study, volume: { ...fx.volume, contentHash: 'f'.repeat(64) }, analysis: fx.analysis, keySlices: 4, now: NOW });
    const before = new Set(results.objects.map((o) => o.sopInstanceUid));
    expect(changed.objects.every((o) => !before.has(o.sopInstanceUid))).toBe(true);
    const model = buildResults({ study: fx.study, volume: fx.volume, analysis: { ...fx.analysis, models: [{ ...fx.analysis.models[0], version: '0.2.0' }, fx.analysis.models[1]] }, keySlices: 4, now: NOW });
    expect(model.sr.sopInstanceUid).not.toBe(results.sr.sopInstanceUid);
  });

  test('a re-run on changed input supersedes the earlier SR (Predecessor Documents Sequence)', () => {
    const next = buildResults({
      study: fx.study,
      volume: { ...fx.volume, contentHash: 'e'.repeat(64) },
      analysis: fx.analysis,
      keySlices: 4,
      supersedes: { srSopInstanceUid: results.sr.sopInstanceUid, srSeriesInstanceUid: results.sr.seriesInstanceUid },
      now: NOW,
    });
    const d = datasetOf(next.sr.bytes);
    const pred = first(first(first(d.PredecessorDocumentsSequence).ReferencedSeriesSequence).ReferencedSOPSequence);
    expect(pred.ReferencedSOPInstanceUID).toBe(results.sr.sopInstanceUid);
    expect(next.summary.supersedes).toBe(results.sr.sopInstanceUid);
    expect(dciodvfy(next.sr.bytes).errors).toEqual([]);
    expect(dsrdump(next.sr.bytes).output).toContain('supersedes the earlier AI report');
  });
});

describe('summary logic', () => {
  test('triage priority', () => {
    expect(triagePriority({ decision: 'positive', positiveProbability: 0.95, threshold: 0.4 }).priority).toBe('URGENT');
    expect(triagePriority({ decision: 'positive', positiveProbability: 0.6, threshold: 0.4 }).priority).toBe('HIGH');
    expect(triagePriority({ decision: 'positive', positiveProbability: 0.93, threshold: 0.95 }).priority).toBe('HIGH');
    expect(triagePriority({ decision: 'negative', positiveProbability: 0.3, threshold: 0.4 })).toMatchObject({ priority: 'ROUTINE', rank: 1 });
    // Models 2.0: the priority follows the infection burden, whatever the COVID-19 pattern probability.
    const infection = (decision: 'present' | 'indeterminate' | 'absent', fraction: number) => ({ decision, fraction, infectedMl: 1, lungMl: 1, urgentFraction: 0.1 });
    expect(triagePriority({ decision: 'positive', positiveProbability: 0.1, threshold: 0.4, infection: infection('present', 0.2) }).priority).toBe('URGENT');
    expect(triagePriority({ decision: 'positive', positiveProbability: 0.99, threshold: 0.4, infection: infection('present', 0.05) }).priority).toBe('HIGH');
    expect(triagePriority({ decision: 'indeterminate', positiveProbability: 0.99, threshold: 0.4, infection: infection('indeterminate', 0.002) }).priority).toBe('HIGH');
    expect(triagePriority({ decision: 'negative', positiveProbability: 0.99, threshold: 0.4, infection: infection('absent', 0) }).priority).toBe('ROUTINE');
    expect(results.summary).toMatchObject({ priority: 'URGENT', priorityRank: 3, decision: 'positive', laterality: 'both' });
  });

  test('laterality: a lesion on image right is in the patient left lung (HFS axial)', () => {
    const size = 96;
    const left = syntheticStudy({ size, slices: 24, seed: 'left', lesions: [{ x: size * 0.7, y: size * 0.5, z: 12, radiusMm: 20, hu: -300 }] });
    expect(laterality(lesionSlices(left.analysis), 1)).toBe('left');
    expect(laterality(lesionSlices(left.analysis), -1)).toBe('right');
    const r = buildResults({ study: left.study, volume: left.volume, analysis: left.analysis, keySlices: 3, now: NOW });
    expect(codeTriples(datasetOf(r.sr.bytes))).toContain('44029006|SCT|Left lung');
    // Per lung and per zone: the sides and the thirds each add up to the whole, and the lesion is in the left lung,
    // in the middle third (z = 12 of 24 slices).
    const reg = infectionByRegion(left.analysis, left.volume)!;
    const total = left.analysis.slices.reduce((t, x) => t + (x.infectedAreaMm2 * left.volume.sliceSpacing) / 1000, 0);
    expect(reg.right.infectedMl + reg.left.infectedMl).toBeCloseTo(total, 6);
    expect(reg.upper.infectedMl + reg.middle.infectedMl + reg.lower.infectedMl).toBeCloseTo(total, 6);
    expect(reg.left.infectedMl).toBeGreaterThan(reg.right.infectedMl);
    expect(reg.middle.infectedMl).toBeGreaterThan(reg.upper.infectedMl + reg.lower.infectedMl);
    expect(r.summary.infectionByRegion).toEqual(reg);
  });

  test('a series with lung on too few slices is not applicable; a chest CT is', () => {
    expect(notApplicableReason(fx.analysis)).toBeUndefined();
    const few = { ...fx.analysis, slices: fx.analysis.slices.map((s, i) => (i < 2 ? s : { ...s, lungAreaMm2: 0 })) };
    expect(notApplicableReason(few)).toMatch(/^not applicable: lung found on \d+% of the slices/);
    const none = { ...fx.analysis, slices: fx.analysis.slices.map((s) => ({ ...s, lungAreaMm2: 0 })) };
    expect(notApplicableReason(none)).toMatch(/lung found on 0% of the slices/);
  });

  test('lesion burden and key slices spread along the volume', () => {
    const b = lesionBurden(fx.analysis);
    expect(b).toBeGreaterThan(0);
    expect(b).toBeLessThan(1);
    const keys = selectKeySlices(fx.analysis, 4, 4).map((s) => s.index);
    for (let i = 1; i < keys.length; i++) expect(keys[i] - keys[i - 1]).toBeGreaterThanOrEqual(4);
    // Key slices come from the slices with lesion only (infected area at least the model's minimum), never from
    // slices without lung, and a negative study has none.
    const withLesion = lesionSlices(fx.analysis);
    expect(withLesion.length).toBeGreaterThan(0);
    expect(withLesion.length).toBeLessThan(fx.volume.slices);
    expect(selectKeySlices(fx.analysis, 100).map((s) => s.index)).toEqual(withLesion.map((s) => s.index));
    const negative = { ...fx.analysis, patient: { ...fx.analysis.patient, decision: 'negative' as const } };
    expect(selectKeySlices(negative, 4)).toEqual([]);
  });
});
