/**
 * What every result object of one study run shares: the result-set identity (deterministic UIDs, series numbers),
 * the algorithm as the objects name it, the patient/study header and creation time, and the object types.
 */
import type { Analysis, ModelIdentity } from '../inference/types';
import type { HuVolume } from '../volume/types';
import type { NaturalDataset } from '../dicom/dcmjs';
import { derivedUid } from '../dicom/uid';
import type { PriorityRank } from '../triage-priority';
import type { InfectionByRegion, Laterality } from './analysis-summary';
import { DEVICE, dicomDateTime } from './device';
import type { TriagePriority } from './priority';
import type { InstanceRef } from './sr/content';
import { AlgorithmIdentification } from './sr/templates';
import { patientStudyAttributes, type StudyContext } from './study-context';

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
    seg: derivedUid(...seed, 'seg'),
    summarySeries: derivedUid(...seed, 'summary-series'),
    summary: derivedUid(...seed, 'summary'),
    /** Tracking UID of a key slice's region (one per lung it shows lesion in). */
    tracking: (slice: number, side = '') => derivedUid(...seed, 'tracking', String(slice), side),
    /** Tracking UID of the infection: the SEG segment's volumetric groups and the key slice of its largest section. */
    infectionTracking: derivedUid(...seed, 'tracking', 'infection'),
    /** Tracking UID of the study-level group (no result, or a negative result). */
    studyTracking: derivedUid(...seed, 'tracking', 'study'),
  };
}

/** The UIDs of one result set. */
export type ResultUids = ReturnType<typeof resultUids>;

/** What each object builder of one result set shares. */
export interface ResultContext {
  study: StudyContext;
  uids: ResultUids;
  algorithm: AlgorithmIdentification;
  /** "name version" of the algorithm, for equipment and software versions. */
  algoVersion: string;
  /** The models that made the results (none for a report made before inference): the contributing equipment. */
  models: ModelIdentity[];
  /** Character set, creation time with its zone, and the Patient and Study modules, copied into every object. */
  header: NaturalDataset;
  when: ReturnType<typeof dicomDateTime>;
}

/** The context of one result set created at `now`. */
export function resultContext(study: StudyContext, uids: ResultUids, algorithm: AlgorithmIdentification, now: Date, models: ModelIdentity[] = []): ResultContext {
  const when = dicomDateTime(now);
  return {
    study,
    uids,
    algorithm,
    models,
    algoVersion: `${algorithm.name} ${algorithm.version}`,
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

/** The source image of volume slice `index`. */
export function sourceRef(v: HuVolume, index: number): InstanceRef {
  const s = v.sources[index];
  return { sopClassUid: s.sopClassUid, sopInstanceUid: s.sopInstanceUid, frameNumber: s.frameNumber };
}
