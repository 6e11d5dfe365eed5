/**
 * The AI triage report: a Comprehensive 3D SR (TID 1500, IHE AI Results conventions) of an analysed study, or of a
 * study that could not be analysed and why. Content from the templates in src/results/sr/.
 */
import type { Analysis, Code, SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { SopClass, writePart10, type NaturalDataset } from '../dicom/dcmjs';
import {
  dominantLesionType,
  laterality,
  lateralityCode,
  lesionRegions,
  type InfectionByRegion,
  type Laterality,
  type RegionVolume,
} from './analysis-summary';
import { DCM, LT, OTHER, PRIVATE_SCHEME, SCT, labelCode, probabilityOf, stageCode } from './codes';
import { contributingEquipment, DEVICE, equipmentAttributes } from './device';
import { sliceLabel } from './heatmap';
import { heatMapRef } from './heatmap-series';
import type { triagePriority } from './priority';
import { resultSeriesNumbers, sourceRef, type ResultContext, type ResultObject, type Supersedes } from './result-set';
import { INFECTION_SEGMENT } from './seg';
import { CodeContentItem, type ContentItem, evidenceSequence, type InstanceRef, NumContentItem, TextContentItem } from './sr/content';
import {
  type AlgorithmIdentification,
  findingSite,
  ImageLibrary,
  ImagingMeasurementReport,
  MeasurementGroup,
  type MeasurementGroupOptions,
  probability,
  VolumetricRoiMeasurements,
} from './sr/templates';
import { referencedRequest } from './study-context';

/** The statement every report carries. */
export const NOT_REVIEWED =
  'This report was produced automatically by an AI algorithm (lung-triage) and has not been reviewed by a physician. ' +
  'It is intended for worklist triage only, not for diagnosis.';

function codingSchemes(): NaturalDataset[] {
  return [
    {
      CodingSchemeDesignator: PRIVATE_SCHEME.designator,
      CodingSchemeName: PRIVATE_SCHEME.name,
      CodingSchemeResponsibleOrganization: PRIVATE_SCHEME.organization,
    },
  ];
}

function predecessor(studyUid: string, s: Supersedes | undefined): NaturalDataset {
  if (!s) return {};
  return {
    PredecessorDocumentsSequence: evidenceSequence(studyUid, [
      { seriesUid: s.srSeriesInstanceUid, refs: [{ sopClassUid: SopClass.Comprehensive3dSr, sopInstanceUid: s.srSopInstanceUid }] },
    ]),
  };
}

function supersedesText(s: Supersedes | undefined): ContentItem | undefined {
  return s
    ? new TextContentItem(DCM.Comment, `This report supersedes the earlier AI report ${s.srSopInstanceUid}, made from different input.`)
    : undefined;
}

/** The SR document around a content tree (SR Document General and Content modules). */
function srDocument(
  ctx: ResultContext,
  o: { root: ContentItem; evidence: NaturalDataset[]; supersedes?: Supersedes; completion: 'COMPLETE' | 'PARTIAL' },
): ResultObject {
  const { study, uids, when } = ctx;
  const request = referencedRequest(study);
  const dataset: NaturalDataset = {
    ...ctx.header,
    SOPClassUID: SopClass.Comprehensive3dSr,
    SOPInstanceUID: uids.sr,
    Modality: 'SR',
    SeriesInstanceUID: uids.srSeries,
    SeriesNumber: resultSeriesNumbers(study).sr,
    SeriesDescription: 'AI triage report (lung-triage, not reviewed)',
    SeriesDate: when.date,
    SeriesTime: when.time,
    ReferencedPerformedProcedureStepSequence: [],
    ...equipmentAttributes(ctx.algoVersion),
    ContributingEquipmentSequence: contributingEquipment(ctx.models, ctx.when),
    InstanceNumber: 1,
    CompletionFlag: o.completion,
    VerificationFlag: 'UNVERIFIED',
    ContentDate: when.date,
    ContentTime: when.time,
    ...(request.length ? { ReferencedRequestSequence: request } : {}),
    // Same-study evidence made for this request is Current Requested Procedure Evidence (Pertinent Other Evidence is
    // for other requested procedures).
    ...(o.evidence.length ? { CurrentRequestedProcedureEvidenceSequence: o.evidence } : {}),
    ...predecessor(study.StudyInstanceUID, o.supersedes),
    PerformedProcedureCodeSequence: [],
    CodingSchemeIdentificationSequence: codingSchemes(),
    ...o.root.toDataset(true),
  };
  return { kind: 'sr', sopClassUid: SopClass.Comprehensive3dSr, sopInstanceUid: uids.sr, seriesInstanceUid: uids.srSeries, bytes: writePart10(dataset) };
}

/**
 * The infected volume (ml) and share of the lung (%) of both lungs, each lung (Finding Site) and each zone, as
 * TID 1411 groups measuring the SEG's infection segment (models 2.0 evidence, positive and indeterminate studies).
 * All measure the one segment, so they share its Tracking UID.
 */
function volumetricGroups(o: {
  total: RegionVolume;
  byRegion: InfectionByRegion;
  algorithm: AlgorithmIdentification;
  segment: InstanceRef & { segmentNumber: number };
  sourceSeriesUid: string;
  trackingUid: string;
}): VolumetricRoiMeasurements[] {
  const regions: [string, RegionVolume, Code][] = [
    ['both lungs', o.total, SCT.BothLungs],
    ['right lung', o.byRegion.right, SCT.RightLung],
    ['left lung', o.byRegion.left, SCT.LeftLung],
    ['upper zone', o.byRegion.upper, SCT.UpperZoneOfLung],
    ['middle zone', o.byRegion.middle, SCT.MiddleZoneOfLung],
    ['lower zone', o.byRegion.lower, SCT.LowerZoneOfLung],
  ];
  return regions.map(
    ([name, v, site]) =>
      new VolumetricRoiMeasurements({
        trackingIdentifier: `AI infected lung volume, ${name}`,
        trackingUid: o.trackingUid,
        finding: SCT.Inflammation,
        findingSite: site,
        algorithm: o.algorithm,
        segment: o.segment,
        sourceSeriesUid: o.sourceSeriesUid,
        measurements: [
          { name: SCT.Volume, value: v.infectedMl, units: OTHER.Milliliter },
          { name: LT.InfectedShare, value: v.fraction * 100, units: OTHER.Percent },
        ],
      }),
  );
}

/**
 * The lesion types as qualitative evaluations: CODE (type) = Present / Absent, the highest slice probability as a
 * property. Present only on a positive study and when that probability reaches the slice lesion threshold; callers
 * leave them out on a negative study.
 */
function lesionTypeItems(a: Analysis, typeCodes: Code[]): ContentItem[] {
  return a.lesionTypes.map((_t, i) => {
    const maxP = Math.max(0, ...a.slices.map((s) => s.lesionTypeProbabilities[i] ?? 0));
    const present = a.patient.decision === 'positive' && maxP >= a.sliceLesionThreshold;
    return new CodeContentItem(typeCodes[i], present ? SCT.Present : SCT.Absent).add(probability(maxP));
  });
}

/**
 * A key slice's probabilities in percent, each NUM named after what it measures: the lesion types, most probable
 * first (the group's finding), then the slice's. OHIF labels a measurement "concept name: value unit code" and
 * draws the first five, so these read "Ground glass opacity probability: 92.00 %".
 */
function keySliceMeasurements(slice: SliceResult, typeCodes: Code[]): MeasurementGroupOptions['measurements'] {
  const types = slice.lesionTypeProbabilities.map((p, t) => ({ name: probabilityOf(typeCodes[t]), value: p * 100, units: OTHER.Percent, qualifier: typeCodes[t] }));
  return [...types.sort((a, b) => b.value - a.value), { name: LT.SliceLesionProbability, value: slice.lesionProbability * 100, units: OTHER.Percent }];
}

/** What the report of an analysed study states beyond the analysis itself. */
export interface AnalysisReportInput {
  volume: HuVolume;
  analysis: Analysis;
  keys: SliceResult[];
  seg?: ResultObject;
  byRegion?: InfectionByRegion;
  priority: ReturnType<typeof triagePriority>;
  laterality: Laterality;
  burden: number;
  supersedes?: Supersedes;
}

/**
 * The report of an analysed study: a measurement group per key slice (region, heat map), TID 1411 groups on the
 * SEG, the patient-level qualitative evaluations; a negative study asserts no lesion, one group states the negative
 * result on the examined middle image (no lesion region, no heat map, no infected volume).
 */
export function analysisReport(ctx: ResultContext, o: AnalysisReportInput): ResultObject {
  const { uids, algorithm } = ctx;
  const { volume, analysis, keys, seg } = o;
  const p = analysis.patient;
  const negative = p.decision === 'negative';
  const rowX = volume.imageOrientationPatient[0];
  const typeCodes = analysis.lesionTypes.map(labelCode);
  // OHIF (3.12 to 3.14) reads an image region from every measurement group and fails on one without: the negative
  // result frames the examined middle image (no lesion region, no heat map), as a failure report does.
  const examined = middleImage(volume);
  const negativeGroup = new MeasurementGroup({
    trackingIdentifier: 'AI result: no infection detected',
    trackingUid: uids.studyTracking,
    finding: LT.NoInfectionDetected,
    algorithm,
    measurements: [],
    region: { points: frame(examined), source: examined.ref },
  });
  // The volumetric groups have no image region (TID 1411 names the segment as their only ROI): they share the
  // infection's Tracking UID with the key slice of its largest section (its first region), which OHIF merges them
  // with (it merges groups by Tracking UID and draws the merged group's region) instead of failing on them.
  const segmented = Boolean(seg && o.byRegion && p.infection);
  const largest = (keys.length > 0 || !segmented ? keys : analysis.slices).reduce<SliceResult | undefined>(
    (a, s) => (!a || s.infectedAreaMm2 > a.infectedAreaMm2 ? s : a),
    undefined,
  );
  // One group per lung a key slice's lesion lies in (its half-max box there), so no region spans both lungs.
  const keyGroups = keys.flatMap((slice, i) =>
    lesionRegions(slice, rowX).map(
      (region, r) =>
        new MeasurementGroup({
          trackingIdentifier: `AI key slice ${i + 1} of ${keys.length} (${sliceLabel(volume, slice.index)})${region.side ? `, ${region.side} lung` : ''}`,
          trackingUid: segmented && slice === largest && r === 0 ? uids.infectionTracking : uids.tracking(slice.index, region.side),
          finding: dominantLesionType(slice) >= 0 && slice.lesionProbability >= analysis.sliceLesionThreshold ? typeCodes[dominantLesionType(slice)] : LT.LungLesion,
          findingSite: region.side ? lateralityCode(region.side) : lateralityCode(laterality([slice], rowX)),
          algorithm,
          measurements: keySliceMeasurements(slice, typeCodes),
          region: { points: region.points, source: sourceRef(volume, slice.index) },
          images: [{ name: LT.HeatMapImage, ref: heatMapRef(uids, slice) }],
        }),
    ),
  );
  // No key slice (none reaches the models' minimum infected area) but a SEG: the infection's largest section is the
  // group the volumetric ones merge with in OHIF, drawn without a heat map.
  const sectionGroups =
    keys.length === 0 && segmented && largest
      ? lesionRegions(largest, rowX)
          .slice(0, 1)
          .map(
            (region) =>
              new MeasurementGroup({
                trackingIdentifier: `AI infection, largest section (${sliceLabel(volume, largest.index)})`,
                trackingUid: uids.infectionTracking,
                finding: SCT.Inflammation,
                findingSite: lateralityCode(region.side ?? laterality([largest], rowX)),
                algorithm,
                measurements: keySliceMeasurements(largest, typeCodes),
                region: { points: region.points, source: sourceRef(volume, largest.index) },
              }),
          )
      : [];
  const volumeGroups =
    seg && o.byRegion && p.infection
      ? volumetricGroups({
          total: { infectedMl: p.infection.infectedMl, lungMl: p.infection.lungMl, fraction: p.infection.fraction },
          byRegion: o.byRegion,
          algorithm,
          segment: { sopClassUid: SopClass.Segmentation, sopInstanceUid: seg.sopInstanceUid, segmentNumber: INFECTION_SEGMENT },
          sourceSeriesUid: volume.seriesUid,
          trackingUid: uids.infectionTracking,
        })
      : [];
  const positive = analysis.classes.find((c) => c.label === analysis.positiveClass);
  const top = analysis.classes.find((c) => c.label === p.label);
  const lat = lateralityCode(o.laterality);
  const qualitative: ContentItem[] = [
    new CodeContentItem(LT.LungInfection, p.decision === 'positive' ? SCT.Present : negative ? SCT.Absent : LT.Indeterminate),
    // The positive class as a finding is asserted only by its value: Present when the patient-level label is it.
    positive &&
      new CodeContentItem(labelCode(positive), p.label === analysis.positiveClass ? SCT.Present : SCT.Absent).add(
        probability(p.positiveProbability),
        new NumContentItem(LT.OperatingThreshold, p.threshold, OTHER.NoUnits, 'HAS PROPERTIES'),
        new CodeContentItem(LT.AiDecision, p.decision === 'positive' ? LT.Positive : p.decision === 'indeterminate' ? LT.Indeterminate : LT.Negative, 'HAS PROPERTIES'),
      ),
    // The infected volume is a finding only where there is infection (per region in the volumetric groups); the
    // lung volume the share is taken of is stated on every analysed study.
    !negative && p.infection && new NumContentItem(SCT.Volume, p.infection.infectedMl, OTHER.Milliliter).add(new CodeContentItem(DCM.Finding, SCT.Inflammation, 'HAS CONCEPT MOD'), findingSite(SCT.BothLungs)),
    !negative && p.infection && new NumContentItem(LT.InfectedShare, p.infection.fraction * 100, OTHER.Percent),
    p.infection && new NumContentItem(SCT.Volume, p.infection.lungMl, OTHER.Milliliter).add(findingSite(SCT.BothLungs)),
    top && new CodeContentItem(LT.AiClassification, labelCode(top)).add(probability(p.classProbabilities[analysis.classes.indexOf(top)] ?? 0)),
    ...analysis.classes.map((c, i) => new NumContentItem(LT.Probability, p.classProbabilities[i] ?? 0, OTHER.NoUnits).add(new CodeContentItem(DCM.Finding, labelCode(c), 'HAS CONCEPT MOD'))),
    new CodeContentItem(LT.TriagePriority, o.priority.code),
    !negative &&
      new CodeContentItem(DCM.Finding, LT.LungLesion).add(
        new NumContentItem(LT.LesionBurden, o.burden * 100, OTHER.Percent, 'HAS PROPERTIES'),
        lat && findingSite(lat),
      ),
    ...(negative ? [] : lesionTypeItems(analysis, typeCodes)),
    supersedesText(o.supersedes),
    new TextContentItem(DCM.Comment, NOT_REVIEWED),
    ...volume.warnings.slice(0, 20).map((w) => new TextContentItem(DCM.Comment, `Input note: ${w}`.slice(0, 1024))),
  ].filter((x): x is ContentItem => Boolean(x));
  const report = new ImagingMeasurementReport({
    procedure: SCT.CtOfChest,
    device: DEVICE,
    imageLibrary: new ImageLibrary([...keys, ...(sectionGroups.length && largest ? [largest] : [])].map((s) => sourceRef(volume, s.index))),
    measurementGroups: negative ? [negativeGroup] : [...keyGroups, ...sectionGroups, ...volumeGroups],
    qualitativeEvaluations: qualitative,
  });
  return srDocument(ctx, {
    root: report.root(),
    evidence: evidenceSequence(ctx.study.StudyInstanceUID, [
      { seriesUid: volume.seriesUid, refs: volume.sources.map((_, i) => sourceRef(volume, i)) },
      { seriesUid: uids.heatSeries, refs: keys.map((s) => heatMapRef(uids, s)) },
      { seriesUid: uids.segSeries, refs: seg ? [{ sopClassUid: SopClass.Segmentation, sopInstanceUid: seg.sopInstanceUid }] : [] },
    ]),
    supersedes: o.supersedes,
    completion: 'COMPLETE',
  });
}

/** A closed polyline along an image's edges, half a pixel in (column,row pairs; 0,0 is the top left pixel's corner). */
function frame(i: ExaminedImage): number[] {
  const [c0, r0, c1, r1] = [0.5, 0.5, i.columns - 0.5, i.rows - 0.5];
  return [c0, r0, c1, r0, c1, r1, c0, r1, c0, r0];
}

/** An examined image and its matrix. */
export interface ExaminedImage {
  ref: InstanceRef;
  rows: number;
  columns: number;
}

/** The volume's middle slice as the image a study-level group frames. */
export function middleImage(v: HuVolume): ExaminedImage {
  return { ref: sourceRef(v, Math.floor(v.sources.length / 2)), rows: v.rows, columns: v.columns };
}

/**
 * The report of a study that was not analysed: "AI analysis not performed" with the stage and reason as a qualitative
 * evaluation, the examined instances in the Image Library and the Current Requested Procedure Evidence, and, when an
 * examined image is known, the same as the one measurement group framing that image. OHIF's SR viewport opens a
 * report on its groups' regions and fails on a group without one (3.12 reads coords[0]), so there is no group when
 * there is no image.
 */
export function notAnalysedReport(
  ctx: ResultContext,
  o: {
    failure: { stage: string; reason: string; details?: string[] };
    examined: { seriesUid: string; refs: InstanceRef[] }[];
    image?: ExaminedImage;
    supersedes?: Supersedes;
  },
): ResultObject {
  const f = o.failure;
  const qualitative: ContentItem[] = [
    new CodeContentItem(LT.AnalysisNotPerformed, stageCode(f.stage)).add(
      new TextContentItem(DCM.Comment, `No AI result: ${f.reason}`.slice(0, 1024), 'HAS PROPERTIES'),
      ...(f.details ?? []).slice(0, 50).map((d) => new TextContentItem(DCM.Comment, d.slice(0, 1024), 'HAS PROPERTIES')),
      ...ctx.algorithm.items('HAS CONCEPT MOD'),
    ),
    new CodeContentItem(LT.TriagePriority, LT.Routine),
    supersedesText(o.supersedes),
    new TextContentItem(DCM.Comment, NOT_REVIEWED),
  ].filter((x): x is ContentItem => Boolean(x));
  const notPerformed =
    o.image &&
    new MeasurementGroup({
      trackingIdentifier: `AI analysis not performed (${stageCode(f.stage).meaning})`,
      trackingUid: ctx.uids.studyTracking,
      finding: LT.AnalysisNotPerformed,
      algorithm: ctx.algorithm,
      measurements: [],
      comments: [`No AI result: ${f.reason}`],
      region: { points: frame(o.image), source: o.image.ref },
    });
  const report = new ImagingMeasurementReport({
    procedure: SCT.CtOfChest,
    device: DEVICE,
    imageLibrary: new ImageLibrary(o.examined.flatMap((s) => s.refs)),
    measurementGroups: notPerformed ? [notPerformed] : [],
    qualitativeEvaluations: qualitative,
  });
  return srDocument(ctx, {
    root: report.root(),
    evidence: evidenceSequence(ctx.study.StudyInstanceUID, o.examined),
    supersedes: o.supersedes,
    completion: 'PARTIAL',
  });
}
