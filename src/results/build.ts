import { createHash } from 'node:crypto';
import type { Analysis, Code, SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { SopClass, writePart10, type NaturalDataset } from '../dicom/dcmjs';
import { derivedUid } from '../dicom/uid';
import { DCM, LT, OTHER, PRIVATE_SCHEME, SCT, labelCode, stageCode } from './codes';
import { contributingEquipment, DEVICE, dicomDateTime, equipmentAttributes } from './device';
import { renderHeatMap, DISCLAIMER, sliceLabel } from './heatmap';
import { buildInfectionSeg, INFECTION_SEGMENT } from './seg';
import {
  dominantLesionType,
  infectionByRegion,
  laterality,
  lateralityCode,
  lesionBurden,
  lesionRegion,
  lesionSlices,
  patientOrientation,
  selectKeySlices,
  type InfectionByRegion,
  type Laterality,
  type RegionVolume,
} from './analysis-summary';
import { PRIORITY, type PriorityRank } from '../triage-priority';
import { triagePriority, type TriagePriority } from './priority';
import { CodeContentItem, type ContentItem, evidenceSequence, type InstanceRef, NumContentItem, referencedSop, TextContentItem } from './sr/content';
import type { RgbImage } from './font';
import { renderSummary, type SummaryFacts } from './summary';
import {
  AlgorithmIdentification,
  findingSite,
  ImageLibrary,
  ImagingMeasurementReport,
  KeyObjectSelectionDocument,
  MeasurementGroup,
  probability,
  VolumetricRoiMeasurements,
} from './sr/templates';
import { patientStudyAttributes, referencedRequest, type StudyContext } from './study-context';

/** Series numbers of the result series when the source's are unknown (high, so they sort after acquired series). */
export const SERIES_NUMBER = { heatMaps: 9001, sr: 9002, kos: 9003, seg: 9004, summary: 9005 } as const;

/** How far above the source's largest Series Number the result series start. */
export const SERIES_NUMBER_OFFSET = 1000;

/**
 * Series numbers of the result series, so they sort after the source's (OHIF's default hanging protocol opens the
 * lowest first): the study's largest known Series Number (MaxSeriesNumber, else the analysed series') + 1000 + n,
 * or {@link SERIES_NUMBER} when neither is known. IS values stay within 2^31 - 1.
 */
export function resultSeriesNumbers(study: Pick<StudyContext, 'SeriesNumber' | 'MaxSeriesNumber'>): Record<keyof typeof SERIES_NUMBER, number> {
  const known = [study.SeriesNumber, study.MaxSeriesNumber].filter((n): n is number => typeof n === 'number' && Number.isInteger(n));
  if (known.length === 0) return { ...SERIES_NUMBER };
  const base = Math.min(2 ** 31 - 1 - 5, Math.max(0, ...known) + SERIES_NUMBER_OFFSET);
  return { heatMaps: base + 1, sr: base + 2, kos: base + 3, seg: base + 4, summary: base + 5 };
}

/** Key slices are kept at least this far apart along the slice normal, so they show different levels. */
export const KEY_SLICE_MIN_GAP_MM = 10;

/** The statement every report carries. */
export const NOT_REVIEWED =
  'This report was produced automatically by an AI algorithm (lung-triage) and has not been reviewed by a physician. ' +
  'It is intended for worklist triage only, not for diagnosis.';

/** An earlier result this one replaces (the pipeline keeps these from the previous run). */
export interface Supersedes {
  srSopInstanceUid: string;
  srSeriesInstanceUid: string;
  /** Earlier heat-map/KOS instances, if the caller wants them listed (informational). */
  otherSopInstanceUids?: string[];
}

/** One encoded result instance. */
export interface ResultObject {
  kind: 'sr' | 'heatmap' | 'kos' | 'seg' | 'summary';
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  /** For heat maps: the volume slice index shown. */
  sliceIndex?: number;
  bytes: Buffer;
}

/** What the pipeline and the audit need to know about a result. */
export interface ResultSummary {
  outcome: 'analysed' | 'not-analysed';
  priority: TriagePriority;
  /** The priority's rank on the one scale (src/triage-priority.ts: higher goes first). */
  priorityRank: PriorityRank;
  keySlices: number[];
  decision?: 'positive' | 'indeterminate' | 'negative';
  label?: string;
  positiveProbability?: number;
  threshold?: number;
  lesionBurden?: number;
  /** Models 2.0: infected volume per lung and per zone. */
  infectionByRegion?: InfectionByRegion;
  laterality?: Laterality;
  supersedes?: string;
  failure?: { stage: string; reason: string };
}

/** The result instances of one study run, SR first. */
export interface ResultObjects {
  studyUid: string;
  sr: ResultObject;
  objects: ResultObject[];
  summary: ResultSummary;
}

/** Input of {@link buildResults}. */
export interface BuildResultsInput {
  study: StudyContext;
  volume?: HuVolume;
  /** Required unless `failure` is given. */
  analysis?: Analysis;
  keySlices: number;
  supersedes?: Supersedes;
  /** Inference (or an earlier stage) failed: produce an SR that says so and why. */
  failure?: { stage: string; reason: string; details?: string[] };
  /** Creation time stamped on the objects (defaults to now; UIDs never depend on it). */
  now?: Date;
  /** With `failure`: the study's instances that were examined and not used (see {@link failureReport}). */
  examined?: ExaminedInstance[];
}

/** An instance of the study that was looked at (an InstanceHeader fits), for the evidence of a failure report. */
export interface ExaminedInstance {
  seriesUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
}

/**
 * The infected volume (ml) and share of the lung (%) of both lungs, each lung (Finding Site) and each zone, as
 * TID 1411 groups measuring the SEG's infection segment (models 2.0 evidence, positive and indeterminate studies).
 */
function volumetricGroups(o: {
  total: RegionVolume;
  byRegion: InfectionByRegion;
  algorithm: AlgorithmIdentification;
  segment: InstanceRef & { segmentNumber: number };
  sourceSeriesUid: string;
  trackingUid: (region: string) => string;
}): VolumetricRoiMeasurements[] {
  const zone = (z: Code) => [new CodeContentItem(LT.LungZone, z, 'HAS CONCEPT MOD')];
  const regions: [string, string, RegionVolume, Code, ContentItem[]][] = [
    ['both', 'both lungs', o.total, SCT.BothLungs, []],
    ['right', 'right lung', o.byRegion.right, SCT.RightLung, []],
    ['left', 'left lung', o.byRegion.left, SCT.LeftLung, []],
    ['upper', 'upper zone', o.byRegion.upper, SCT.BothLungs, zone(LT.UpperZone)],
    ['middle', 'middle zone', o.byRegion.middle, SCT.BothLungs, zone(LT.MiddleZone)],
    ['lower', 'lower zone', o.byRegion.lower, SCT.BothLungs, zone(LT.LowerZone)],
  ];
  return regions.map(
    ([key, name, v, site, modifiers]) =>
      new VolumetricRoiMeasurements({
        trackingIdentifier: `AI infected lung volume, ${name}`,
        trackingUid: o.trackingUid(key),
        finding: SCT.Inflammation,
        findingSite: site,
        modifiers,
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

/** The algorithm as the report names it: the models' names and versions, patient model last. */
export function algorithmOf(a: Analysis): AlgorithmIdentification {
  const models = [...a.models].sort((x, y) => (x.role === y.role ? 0 : x.role === 'slice' ? -1 : 1));
  if (models.length === 0) return new AlgorithmIdentification('lung-triage', DEVICE.softwareVersion);
  return new AlgorithmIdentification(
    models.map((m) => m.name).join(' + '),
    models.map((m) => m.version).join(' + '),
    [
      ...models.map((m) => `${m.role} model sha256 ${m.sha256}`),
      `operating threshold ${a.patient.threshold}`,
      `slice lesion threshold ${a.sliceLesionThreshold}`,
      `execution provider ${a.executionProvider}`,
    ],
  );
}

/** The model identity that result UIDs depend on (name, version and weights hash of every model). */
export function modelKey(a: Analysis | undefined): string {
  if (!a) return 'no-model';
  return [...a.models]
    .sort((x, y) => x.role.localeCompare(y.role))
    .map((m) => `${m.role}:${m.name}@${m.version}#${m.sha256}`)
    .join('|');
}

/**
 * UIDs of one result set: functions of (study, input hash, model, lung-triage's software version, the settings that
 * change the content), never of time, so a retry re-creates them and any change of content gets new ones (a PACS
 * keeps the first instance it saw under a SOP Instance UID).
 */
export function resultUids(studyUid: string, inputHash: string, model: string, settings = '') {
  const seed = ['lung-triage-results', studyUid, inputHash, model, `software ${DEVICE.softwareVersion}`, settings];
  return {
    srSeries: derivedUid(...seed, 'sr-series'),
    sr: derivedUid(...seed, 'sr'),
    heatSeries: derivedUid(...seed, 'heatmap-series'),
    heat: (slice: number) => derivedUid(...seed, 'heatmap', String(slice)),
    kosSeries: derivedUid(...seed, 'kos-series'),
    kos: derivedUid(...seed, 'kos'),
    segSeries: derivedUid(...seed, 'seg-series'),
    summarySeries: derivedUid(...seed, 'summary-series'),
    summary: derivedUid(...seed, 'summary'),
    seg: derivedUid(...seed, 'seg'),
    tracking: (slice: number) => derivedUid(...seed, 'tracking', String(slice)),
    /** Tracking UID of a volumetric group (one per region measured on the SEG). */
    volumeTracking: (region: string) => derivedUid(...seed, 'tracking', 'volume', region),
    /** Tracking UID of the study-level group (no result, or a negative result). */
    studyTracking: derivedUid(...seed, 'tracking', 'study'),
  };
}

function sourceRef(v: HuVolume, index: number): InstanceRef {
  const s = v.sources[index];
  return { sopClassUid: s.sopClassUid, sopInstanceUid: s.sopInstanceUid, frameNumber: s.frameNumber };
}

function common(study: StudyContext, now: Date): { header: NaturalDataset; when: ReturnType<typeof dicomDateTime> } {
  const when = dicomDateTime(now);
  return {
    when,
    header: {
      SpecificCharacterSet: 'ISO_IR 192',
      InstanceCreationDate: when.date,
      InstanceCreationTime: when.time,
      // Our times are local: say which zone, or readers shift them by the offset.
      TimezoneOffsetFromUTC: when.offset,
      ...patientStudyAttributes(study),
    },
  };
}

function codingSchemes(): NaturalDataset[] {
  return [
    {
      CodingSchemeDesignator: PRIVATE_SCHEME.designator,
      CodingSchemeName: PRIVATE_SCHEME.name,
      CodingSchemeResponsibleOrganization: PRIVATE_SCHEME.organization,
    },
  ];
}

function predecessor(study: StudyContext, s: Supersedes | undefined): NaturalDataset {
  if (!s) return {};
  return {
    PredecessorDocumentsSequence: evidenceSequence(study.StudyInstanceUID, [
      { seriesUid: s.srSeriesInstanceUid, refs: [{ sopClassUid: SopClass.Comprehensive3dSr, sopInstanceUid: s.srSopInstanceUid }] },
    ]),
  };
}

function srDocument(o: {
  study: StudyContext;
  now: Date;
  sopInstanceUid: string;
  seriesUid: string;
  algorithmVersion: string;
  root: ContentItem;
  evidence: NaturalDataset[];
  otherEvidence: NaturalDataset[];
  supersedes?: Supersedes;
  completion: 'COMPLETE' | 'PARTIAL';
}): NaturalDataset {
  const { header, when } = common(o.study, o.now);
  const request = referencedRequest(o.study);
  return {
    ...header,
    SOPClassUID: SopClass.Comprehensive3dSr,
    SOPInstanceUID: o.sopInstanceUid,
    Modality: 'SR',
    SeriesInstanceUID: o.seriesUid,
    SeriesNumber: resultSeriesNumbers(o.study).sr,
    SeriesDescription: 'AI triage report (lung-triage, not reviewed)',
    SeriesDate: when.date,
    SeriesTime: when.time,
    ReferencedPerformedProcedureStepSequence: [],
    ...equipmentAttributes(o.algorithmVersion),
    ContributingEquipmentSequence: contributingEquipment(o.algorithmVersion, when),
    InstanceNumber: 1,
    CompletionFlag: o.completion,
    VerificationFlag: 'UNVERIFIED',
    ContentDate: when.date,
    ContentTime: when.time,
    ...(request.length ? { ReferencedRequestSequence: request } : {}),
    ...(o.evidence.length ? { CurrentRequestedProcedureEvidenceSequence: o.evidence } : {}),
    ...(o.otherEvidence.length ? { PertinentOtherEvidenceSequence: o.otherEvidence } : {}),
    ...predecessor(o.study, o.supersedes),
    PerformedProcedureCodeSequence: [],
    CodingSchemeIdentificationSequence: codingSchemes(),
    ...o.root.toDataset(true),
  };
}

function srObject(ds: NaturalDataset): ResultObject {
  return {
    kind: 'sr',
    sopClassUid: SopClass.Comprehensive3dSr,
    sopInstanceUid: ds.SOPInstanceUID as string,
    seriesInstanceUid: ds.SeriesInstanceUID as string,
    bytes: writePart10(ds),
  };
}

function supersedesText(s: Supersedes | undefined): ContentItem | undefined {
  return s
    ? new TextContentItem(DCM.Comment, `This report supersedes the earlier AI report ${s.srSopInstanceUid}, made from different input.`)
    : undefined;
}

/**
 * An RGB secondary capture in the source study (heat maps, the summary page): interleaved, uncompressed, burned-in
 * text; the CT image it shows, when it shows one, in the Source Image Sequence.
 */
function secondaryCapture(o: {
  study: StudyContext;
  header: NaturalDataset;
  when: ReturnType<typeof dicomDateTime>;
  algoVersion: string;
  sopInstanceUid: string;
  seriesUid: string;
  seriesNumber: number;
  seriesDescription: string;
  instanceNumber: number;
  patientOrientation: [string, string] | '';
  derivationDescription: string;
  imageComments: string;
  source?: InstanceRef;
  image: RgbImage;
}): Omit<ResultObject, 'kind'> {
  const img = o.image;
  const pixels = img.data.length % 2 ? Buffer.concat([Buffer.from(img.data), Buffer.alloc(1)]) : Buffer.from(img.data);
  const ds: NaturalDataset = {
    ...o.header,
    SOPClassUID: SopClass.SecondaryCapture,
    SOPInstanceUID: o.sopInstanceUid,
    Modality: 'OT',
    SeriesInstanceUID: o.seriesUid,
    SeriesNumber: o.seriesNumber,
    // General Series: no Laterality (type 2C, for a single paired body part; an empty value says nothing about a
    // chest); Body Part Examined is the source's, or CHEST.
    BodyPartExamined: o.study.BodyPartExamined ?? 'CHEST',
    SeriesDescription: o.seriesDescription,
    SeriesDate: o.when.date,
    SeriesTime: o.when.time,
    ...equipmentAttributes(o.algoVersion),
    ConversionType: 'WSD',
    ContributingEquipmentSequence: contributingEquipment(o.algoVersion, o.when),
    InstanceNumber: o.instanceNumber,
    PatientOrientation: o.patientOrientation,
    ContentDate: o.when.date,
    ContentTime: o.when.time,
    ImageType: ['DERIVED', 'SECONDARY'],
    DerivationDescription: o.derivationDescription.slice(0, 1024),
    ImageComments: o.imageComments.slice(0, 10240),
    BurnedInAnnotation: 'YES',
    LossyImageCompression: '00',
    ...(o.source ? { SourceImageSequence: [referencedSop(o.source)] } : {}),
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: img.height,
    Columns: img.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength)],
    _vrMap: { PixelData: 'OB' },
  };
  return { sopClassUid: SopClass.SecondaryCapture, sopInstanceUid: o.sopInstanceUid, seriesInstanceUid: o.seriesUid, bytes: writePart10(ds) };
}

/** The summary page as a secondary capture of its own series (after the other result series). */
function summaryPage(o: {
  study: StudyContext;
  now: Date;
  uids: ReturnType<typeof resultUids>;
  algoVersion: string;
  facts: SummaryFacts;
  text: string;
}): ResultObject {
  const { header, when } = common(o.study, o.now);
  return {
    ...secondaryCapture({
      study: o.study,
      header,
      when,
      algoVersion: o.algoVersion,
      sopInstanceUid: o.uids.summary,
      seriesUid: o.uids.summarySeries,
      seriesNumber: resultSeriesNumbers(o.study).summary,
      seriesDescription: 'AI triage summary (not for diagnostic use)',
      instanceNumber: 1,
      patientOrientation: '',
      derivationDescription: `AI triage summary page (lung-triage); ${DISCLAIMER}`,
      imageComments: `${DISCLAIMER}. ${o.text}`,
      image: renderSummary(o.facts),
    }),
    kind: 'summary',
  };
}

/**
 * Encodes the results of one analysed study: heat-map secondary captures for the key slices, a Comprehensive 3D SR
 * (TID 1500) and a Key Object Selection, all in the source study with deterministic UIDs. With `failure`, returns
 * {@link failureReport} instead.
 */
export function buildResults(input: BuildResultsInput): ResultObjects {
  const { study, volume, analysis } = input;
  if (input.failure || !analysis || !volume) {
    return failureReport(study, input.failure ?? { stage: 'inference', reason: 'no analysis was produced' }, {
      volume,
      analysis,
      supersedes: input.supersedes,
      now: input.now,
      examined: input.examined,
    });
  }
  if (analysis.slices.length !== volume.slices) throw new Error(`analysis has ${analysis.slices.length} slices, volume ${volume.slices}`);
  const now = input.now ?? new Date();
  const studyUid = study.StudyInstanceUID;
  const uids = resultUids(studyUid, volume.contentHash, modelKey(analysis), `keySlices ${input.keySlices}`);
  const algorithm = algorithmOf(analysis);
  const algoVersion = `${algorithm.name} ${algorithm.version}`;
  const keys = selectKeySlices(analysis, input.keySlices, Math.ceil(KEY_SLICE_MIN_GAP_MM / Math.max(0.1, volume.sliceSpacing)));
  const rowX = volume.imageOrientationPatient[0];
  const lat = laterality(lesionSlices(analysis), rowX);
  const burden = lesionBurden(analysis);
  const byRegion = infectionByRegion(analysis, volume);
  const prio = triagePriority(analysis.patient);
  const { header, when } = common(study, now);

  // Heat maps.
  const heatMaps: ResultObject[] = keys.map((slice, i) => ({
    ...secondaryCapture({
      study,
      header,
      when,
      algoVersion,
      sopInstanceUid: uids.heat(slice.index),
      seriesUid: uids.heatSeries,
      seriesNumber: resultSeriesNumbers(study).heatMaps,
      seriesDescription: 'AI lesion heat maps (not for diagnostic use)',
      instanceNumber: i + 1,
      patientOrientation: patientOrientation(volume.imageOrientationPatient),
      derivationDescription: `AI infection probability map over CT ${sliceLabel(volume, slice.index)}, lung window; ${DISCLAIMER}`,
      imageComments: `${DISCLAIMER}. Lesion probability ${slice.lesionProbability.toFixed(3)}.`,
      source: sourceRef(volume, slice.index),
      image: renderHeatMap(volume, slice, { keyIndex: i + 1, keyCount: keys.length }),
    }),
    kind: 'heatmap' as const,
    sliceIndex: slice.index,
  }));
  const heatRef = (slice: SliceResult): InstanceRef => ({ sopClassUid: SopClass.SecondaryCapture, sopInstanceUid: uids.heat(slice.index) });

  // The infection SEG (positive and indeterminate studies with a pixel threshold): exactly the pixels counted.
  const segBuilt =
    analysis.patient.decision !== 'negative' && analysis.infectionPixelThreshold !== undefined
      ? buildInfectionSeg({
          volume,
          slices: analysis.slices,
          pixelThreshold: analysis.infectionPixelThreshold,
          header,
          when,
          sopInstanceUid: uids.seg,
          seriesUid: uids.segSeries,
          seriesNumber: resultSeriesNumbers(study).seg,
          algorithm,
          bodyPartExamined: study.BodyPartExamined,
        })
      : undefined;
  const seg: ResultObject | undefined = segBuilt && {
    kind: 'seg',
    sopClassUid: SopClass.Segmentation,
    sopInstanceUid: uids.seg,
    seriesInstanceUid: uids.segSeries,
    bytes: segBuilt.bytes,
  };

  // SR content. A negative study asserts no lesion: one group states the negative result (no region, no image).
  const p = analysis.patient;
  const negative = p.decision === 'negative';
  const typeCodes = analysis.lesionTypes.map(labelCode);
  const negativeGroup = new MeasurementGroup({
    trackingIdentifier: 'AI result: no infection detected',
    trackingUid: uids.studyTracking,
    finding: LT.NoInfectionDetected,
    algorithm,
    measurements: [],
  });
  const keyGroups = keys.map(
    (slice, i) =>
      new MeasurementGroup({
        trackingIdentifier: `AI key slice ${i + 1} of ${keys.length} (${sliceLabel(volume, slice.index)})`,
        trackingUid: uids.tracking(slice.index),
        finding: dominantLesionType(slice) >= 0 && slice.lesionProbability >= analysis.sliceLesionThreshold ? typeCodes[dominantLesionType(slice)] : LT.LungLesion,
        findingSite: lateralityCode(laterality([slice], rowX)),
        algorithm,
        measurements: [
          { name: LT.SliceLesionProbability, value: slice.lesionProbability, units: OTHER.NoUnits },
          ...slice.lesionTypeProbabilities.map((p, t) => ({ name: LT.Probability, value: p, units: OTHER.NoUnits, qualifier: typeCodes[t] })),
        ],
        region: { points: lesionRegion(slice), source: sourceRef(volume, slice.index) },
        images: [{ name: LT.HeatMapImage, ref: heatRef(slice) }],
      }),
  );
  const volumeGroups =
    seg && byRegion && p.infection
      ? volumetricGroups({
          total: { infectedMl: p.infection.infectedMl, lungMl: p.infection.lungMl, fraction: p.infection.fraction },
          byRegion,
          algorithm,
          segment: { sopClassUid: SopClass.Segmentation, sopInstanceUid: seg.sopInstanceUid, segmentNumber: INFECTION_SEGMENT },
          sourceSeriesUid: volume.seriesUid,
          trackingUid: uids.volumeTracking,
        })
      : [];
  const groups = negative ? [negativeGroup] : [...volumeGroups, ...keyGroups];
  const positive = analysis.classes.find((c) => c.label === analysis.positiveClass);
  const top = analysis.classes.find((c) => c.label === analysis.patient.label);
  const qualitative: ContentItem[] = [
    new CodeContentItem(LT.LungInfection, p.decision === 'positive' ? SCT.Present : negative ? SCT.Absent : LT.Indeterminate),
    // The positive class as a finding is asserted only by its value: Present when the patient-level label is it.
    positive &&
      new CodeContentItem(labelCode(positive), analysis.patient.label === analysis.positiveClass ? SCT.Present : SCT.Absent).add(
        probability(p.positiveProbability),
        new NumContentItem(LT.OperatingThreshold, p.threshold, OTHER.NoUnits, 'HAS PROPERTIES'),
        new CodeContentItem(LT.AiDecision, p.decision === 'positive' ? LT.Positive : p.decision === 'indeterminate' ? LT.Indeterminate : LT.Negative, 'HAS PROPERTIES'),
      ),
    // The infected volume is a finding only where there is infection (per region in the volumetric groups); the
    // lung volume the share is taken of is stated on every analysed study.
    !negative && p.infection && new NumContentItem(LT.InfectedVolume, p.infection.infectedMl, OTHER.Milliliter),
    !negative && p.infection && new NumContentItem(LT.InfectedShare, p.infection.fraction * 100, OTHER.Percent),
    p.infection && new NumContentItem(SCT.Volume, p.infection.lungMl, OTHER.Milliliter).add(findingSite(SCT.BothLungs)),
    top && new CodeContentItem(LT.AiClassification, labelCode(top)).add(probability(p.classProbabilities[analysis.classes.indexOf(top)] ?? 0)),
    ...analysis.classes.map((c, i) => new NumContentItem(LT.Probability, p.classProbabilities[i] ?? 0, OTHER.NoUnits).add(new CodeContentItem(DCM.Finding, labelCode(c), 'HAS CONCEPT MOD'))),
    new CodeContentItem(LT.TriagePriority, prio.code),
    !negative &&
      new CodeContentItem(DCM.Finding, LT.LungLesion).add(
        new NumContentItem(LT.LesionBurden, burden * 100, OTHER.Percent, 'HAS PROPERTIES'),
        lateralityCode(lat) && findingSite(lateralityCode(lat) as Code),
      ),
    ...(negative ? [] : lesionTypeItems(analysis, typeCodes)),
    supersedesText(input.supersedes),
    new TextContentItem(DCM.Comment, NOT_REVIEWED),
    ...volume.warnings.slice(0, 20).map((w) => new TextContentItem(DCM.Comment, `Input note: ${w}`.slice(0, 1024))),
  ].filter((x): x is ContentItem => Boolean(x));
  const report = new ImagingMeasurementReport({
    procedure: SCT.CtOfChest,
    device: DEVICE,
    imageLibrary: new ImageLibrary(keys.map((s) => sourceRef(volume, s.index))),
    measurementGroups: groups,
    qualitativeEvaluations: qualitative,
  });
  const allSources = volume.sources.map((_, i) => sourceRef(volume, i));
  const srDs = srDocument({
    study,
    now,
    sopInstanceUid: uids.sr,
    seriesUid: uids.srSeries,
    algorithmVersion: algoVersion,
    root: report.root(),
    // The heat maps are in this study, made for this request: Current Requested Procedure Evidence with the CT
    // (Pertinent Other Evidence is for other requested procedures).
    evidence: evidenceSequence(studyUid, [
      { seriesUid: volume.seriesUid, refs: allSources },
      { seriesUid: uids.heatSeries, refs: keys.map(heatRef) },
      { seriesUid: uids.segSeries, refs: seg ? [{ sopClassUid: SopClass.Segmentation, sopInstanceUid: seg.sopInstanceUid }] : [] },
    ]),
    otherEvidence: [],
    supersedes: input.supersedes,
    completion: 'COMPLETE',
  });
  const sr = srObject(srDs);

  // Key Object Selection: the key CT slices, then their heat maps.
  const kosImages = [...keys.map((s) => sourceRef(volume, s.index)), ...keys.map(heatRef)];
  const kosRoot = new KeyObjectSelectionDocument({
    title: DCM.OfInterest,
    description: `AI key slices (lung-triage, not reviewed): the ${keys.length} slices with the highest lesion probability and their heat maps.`,
    device: DEVICE,
    images: kosImages,
  }).root();
  const kosDs: NaturalDataset = {
    ...header,
    SOPClassUID: SopClass.KeyObjectSelection,
    SOPInstanceUID: uids.kos,
    Modality: 'KO',
    SeriesInstanceUID: uids.kosSeries,
    SeriesNumber: resultSeriesNumbers(study).kos,
    SeriesDescription: 'AI key images (lung-triage, not reviewed)',
    SeriesDate: when.date,
    SeriesTime: when.time,
    ReferencedPerformedProcedureStepSequence: [],
    ...equipmentAttributes(algoVersion),
    ContributingEquipmentSequence: contributingEquipment(algoVersion, when),
    InstanceNumber: 1,
    ContentDate: when.date,
    ContentTime: when.time,
    CurrentRequestedProcedureEvidenceSequence: evidenceSequence(studyUid, [
      { seriesUid: volume.seriesUid, refs: keys.map((s) => sourceRef(volume, s.index)) },
      { seriesUid: uids.heatSeries, refs: keys.map(heatRef) },
    ]),
    ...kosRoot.toDataset(true),
  };
  const positiveClass = positive?.display || analysis.positiveClass;
  const summary = summaryPage({
    study,
    now,
    uids,
    algoVersion,
    facts: {
      outcome: 'analysed',
      decision: p.decision,
      positiveClass,
      positiveProbability: p.positiveProbability,
      threshold: p.threshold,
      priority: prio.priority,
      ...(p.infection ? { infection: { infectedMl: p.infection.infectedMl, lungMl: p.infection.lungMl, fraction: p.infection.fraction } } : {}),
      ...(byRegion ? { byRegion } : {}),
      keySlices: keys.map((s) => sliceLabel(volume, s.index)),
      algorithm: algoVersion,
    },
    text:
      `Decision ${p.decision}; P(${positiveClass}) ${p.positiveProbability.toFixed(3)} vs threshold ${p.threshold.toFixed(3)}; ` +
      (p.infection && !negative ? `infected ${p.infection.infectedMl.toFixed(1)} ml = ${(p.infection.fraction * 100).toFixed(1)}% of lung; ` : '') +
      `priority ${prio.priority}.`,
  });
  const kos: ResultObject = {
    kind: 'kos',
    sopClassUid: SopClass.KeyObjectSelection,
    sopInstanceUid: uids.kos,
    seriesInstanceUid: uids.kosSeries,
    bytes: writePart10(kosDs),
  };
  return {
    studyUid,
    sr,
    // No key slice (a negative study): nothing drawn and no key-object note, the SR alone says so.
    objects: [sr, summary, ...(seg ? [seg] : []), ...(keys.length > 0 ? [...heatMaps, kos] : [])],
    summary: {
      outcome: 'analysed',
      priority: prio.priority,
      priorityRank: prio.rank,
      keySlices: keys.map((s) => s.index),
      decision: p.decision,
      label: p.label,
      positiveProbability: p.positiveProbability,
      threshold: p.threshold,
      lesionBurden: burden,
      ...(byRegion ? { infectionByRegion: byRegion } : {}),
      laterality: lat,
      supersedes: input.supersedes?.srSopInstanceUid,
    },
  };
}

/** Structured documents (SR, KOS) are never evidence or library images of a failure report. */
const STRUCTURED_DOCUMENT = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\./;

/** The examined instances by series (the volume's sources first, then `examined`), without documents or repeats. */
function examinedSeries(v: HuVolume | undefined, examined: ExaminedInstance[]): { seriesUid: string; refs: InstanceRef[] }[] {
  const bySeries = new Map<string, InstanceRef[]>();
  const seen = new Set<string>();
  const push = (seriesUid: string, ref: InstanceRef) => {
    if (STRUCTURED_DOCUMENT.test(ref.sopClassUid) || seen.has(ref.sopInstanceUid)) return;
    seen.add(ref.sopInstanceUid);
    const list = bySeries.get(seriesUid) ?? [];
    list.push(ref);
    bySeries.set(seriesUid, list);
  };
  if (v) v.sources.forEach((_, i) => push(v.seriesUid, sourceRef(v, i)));
  for (const e of examined) push(e.seriesUid, { sopClassUid: e.sopClassUid, sopInstanceUid: e.sopInstanceUid });
  return [...bySeries].map(([seriesUid, refs]) => ({ seriesUid, refs }));
}

/**
 * An SR that says the study was not analysed and why (no qualifying series, a decoding or inference failure),
 * so the radiologist sees an explicit "no AI result" rather than silence: one measurement group (no region) whose
 * finding is "AI analysis not performed" with the reason, so OHIF's SR viewport shows it, and the examined
 * instances (the volume's, and `examined`) in the Image Library and the Current Requested Procedure Evidence.
 * Deterministic UIDs from the study, the input hash (when a volume exists) and the stage and reason.
 */
export function failureReport(
  study: StudyContext,
  reason: string | { stage: string; reason: string; details?: string[] },
  opts: { volume?: HuVolume; analysis?: Analysis; supersedes?: Supersedes; now?: Date; examined?: ExaminedInstance[] } = {},
): ResultObjects {
  const f = typeof reason === 'string' ? { stage: 'series-selection', reason } : reason;
  const now = opts.now ?? new Date();
  const studyUid = study.StudyInstanceUID;
  // What else changes the report's content: the details listed and the examined instances.
  const contentKey = createHash('sha256')
    .update(JSON.stringify([f.details ?? [], (opts.examined ?? []).map((e) => e.sopInstanceUid).sort()]))
    .digest('hex');
  const uids = resultUids(studyUid, opts.volume?.contentHash ?? 'no-input', `failure|${f.stage}|${f.reason}|${modelKey(opts.analysis)}`, `content ${contentKey}`);
  const algorithm = opts.analysis ? algorithmOf(opts.analysis) : new AlgorithmIdentification('lung-triage', DEVICE.softwareVersion);
  const qualitative: ContentItem[] = [
    new CodeContentItem(LT.AnalysisNotPerformed, stageCode(f.stage)).add(
      new TextContentItem(DCM.Comment, `No AI result: ${f.reason}`.slice(0, 1024), 'HAS PROPERTIES'),
      ...(f.details ?? []).slice(0, 50).map((d) => new TextContentItem(DCM.Comment, d.slice(0, 1024), 'HAS PROPERTIES')),
      ...algorithm.items('HAS CONCEPT MOD'),
    ),
    new CodeContentItem(LT.TriagePriority, LT.Routine),
    supersedesText(opts.supersedes),
    new TextContentItem(DCM.Comment, NOT_REVIEWED),
  ].filter((x): x is ContentItem => Boolean(x));
  const v = opts.volume;
  const examined = examinedSeries(v, opts.examined ?? []);
  const notPerformed = new MeasurementGroup({
    trackingIdentifier: `AI analysis not performed (${stageCode(f.stage).meaning})`,
    trackingUid: uids.studyTracking,
    finding: LT.AnalysisNotPerformed,
    algorithm,
    measurements: [],
    comments: [`No AI result: ${f.reason}`],
  });
  const report = new ImagingMeasurementReport({
    procedure: SCT.CtOfChest,
    device: DEVICE,
    imageLibrary: new ImageLibrary(examined.flatMap((s) => s.refs)),
    measurementGroups: [notPerformed],
    qualitativeEvaluations: qualitative,
  });
  const ds = srDocument({
    study,
    now,
    sopInstanceUid: uids.sr,
    seriesUid: uids.srSeries,
    algorithmVersion: `${algorithm.name} ${algorithm.version}`,
    root: report.root(),
    evidence: evidenceSequence(studyUid, examined),
    otherEvidence: [],
    supersedes: opts.supersedes,
    completion: 'PARTIAL',
  });
  const sr = srObject(ds);
  const stage = stageCode(f.stage).meaning;
  const summary = summaryPage({
    study,
    now,
    uids,
    algoVersion: `${algorithm.name} ${algorithm.version}`,
    facts: { outcome: 'not-analysed', stage, reason: f.reason, algorithm: `${algorithm.name} ${algorithm.version}` },
    text: `No AI result (${stage}): ${f.reason}`,
  });
  return {
    studyUid,
    sr,
    objects: [sr, summary],
    summary: {
      outcome: 'not-analysed',
      priority: 'ROUTINE',
      priorityRank: PRIORITY.ROUTINE,
      keySlices: [],
      supersedes: opts.supersedes?.srSopInstanceUid,
      failure: { stage: f.stage, reason: f.reason },
    },
  };
}
