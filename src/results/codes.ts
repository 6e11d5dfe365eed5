import type { Code } from '../dicom/code';

/**
 * Every coded concept the results use, as explicit (value, scheme, meaning) triples (PS3.3 8.8, PS3.16).
 *
 * Private scheme "99LTRIAGE" (PS3.16 8.3 allows "99" designators for local use): lung-triage's own concepts where
 * DICOM, SNOMED CT, LOINC and UCUM have none. Every SR that uses one declares it in the Coding Scheme Identification
 * Sequence (0008,0110), see {@link PRIVATE_SCHEME}. Codes are stable: never reuse a value with another meaning.
 */
export const PRIVATE_SCHEME = {
  designator: '99LTRIAGE',
  name: 'lung-triage private codes',
  organization: 'lung-triage project',
} as const;

const dcm = (value: string, meaning: string): Code => ({ value, scheme: 'DCM', meaning });
const sct = (value: string, meaning: string): Code => ({ value, scheme: 'SCT', meaning });
const lt = (value: string, meaning: string): Code => ({ value, scheme: PRIVATE_SCHEME.designator, meaning });

/** DICOM Controlled Terminology (PS3.16 Annex D). */
export const DCM = {
  ImagingMeasurementReport: dcm('126000', 'Imaging Measurement Report'),
  LanguageOfContent: dcm('121049', 'Language of Content Item and Descendants'),
  ProcedureReported: dcm('121058', 'Procedure reported'),
  ImageLibrary: dcm('111028', 'Image Library'),
  ImageLibraryGroup: dcm('126200', 'Image Library Group'),
  ImagingMeasurements: dcm('126010', 'Imaging Measurements'),
  MeasurementGroup: dcm('125007', 'Measurement Group'),
  TrackingIdentifier: dcm('112039', 'Tracking Identifier'),
  TrackingUniqueIdentifier: dcm('112040', 'Tracking Unique Identifier'),
  Finding: dcm('121071', 'Finding'),
  ImageRegion: dcm('111030', 'Image Region'),
  AlgorithmName: dcm('111001', 'Algorithm Name'),
  AlgorithmVersion: dcm('111003', 'Algorithm Version'),
  AlgorithmParameters: dcm('111002', 'Algorithm Parameters'),
  ObserverType: dcm('121005', 'Observer Type'),
  Device: dcm('121007', 'Device'),
  DeviceObserverUid: dcm('121012', 'Device Observer UID'),
  DeviceObserverName: dcm('121013', 'Device Observer Name'),
  DeviceObserverManufacturer: dcm('121014', 'Device Observer Manufacturer'),
  DeviceObserverModelName: dcm('121015', 'Device Observer Model Name'),
  Comment: dcm('121106', 'Comment'),
  OfInterest: dcm('113000', 'Of Interest'),
  KeyObjectDescription: dcm('113012', 'Key Object Description'),
  ProcessingEquipment: dcm('109102', 'Processing Equipment'),
  /** SEG: Derivation Code (CID 7203) and Purpose of Reference (CID 7202) of each frame's source image. */
  Segmentation: dcm('113076', 'Segmentation'),
  SourceImageForProcessing: dcm('121322', 'Source image for image processing operation'),
  /** TID 1411: the segment a volumetric group measures (IMAGE), and the series it was made from (UIDREF). */
  ReferencedSegment: dcm('121191', 'Referenced Segment'),
  SourceSeriesForSegmentation: dcm('121232', 'Source series for segmentation'),
} as const;

/** SNOMED CT (STANDARDS.md "Clinical codes"). */
export const SCT = {
  CtOfChest: sct('169069000', 'Computed tomography of chest'),
  Covid19: sct('840539006', 'COVID-19'),
  Pneumonia: sct('233604007', 'Pneumonia'),
  LeftLung: sct('44029006', 'Left lung'),
  RightLung: sct('3341006', 'Right lung'),
  BothLungs: sct('74101002', 'Both lungs'),
  /** The zones the per-zone volumes are of: thirds of the lungs' craniocaudal extent (PS3.16 CID 6124). */
  UpperZoneOfLung: sct('281392002', 'Upper zone of lung'),
  MiddleZoneOfLung: sct('281393007', 'Middle zone of lung'),
  LowerZoneOfLung: sct('281394001', 'Lower zone of lung'),
  FindingSite: sct('363698007', 'Finding Site'),
  Lung: sct('39607008', 'Lung'),
  /** TID 1419 / CID 7469: the measured volume (ml) of a volumetric group. */
  Volume: sct('118565006', 'Volume'),
  /**
   * The SEG's segment: category CID 7150 "Morphologically Abnormal Structure", type "Inflammation" of CID 7159
   * Lesion Segmentation Types (in CID 7151): a pneumonia's infected lung, ground glass or consolidation alike.
   */
  MorphologicallyAbnormalStructure: sct('49755003', 'Morphologically Abnormal Structure'),
  Inflammation: sct('23583003', 'Inflammation'),
  /** Presence values of a qualitative evaluation (CODE concept = the finding, value = present / absent). */
  Present: sct('52101004', 'Present'),
  Absent: sct('2667000', 'Absent'),
} as const;

/** Other standard schemes. */
export const OTHER = {
  UmlsQualitativeEvaluations: { value: 'C0034375', scheme: 'UMLS', meaning: 'Qualitative Evaluations' } as Code,
  EnglishUs: { value: 'en-US', scheme: 'RFC5646', meaning: 'English (United States)' } as Code,
  NoUnits: { value: '1', scheme: 'UCUM', meaning: 'no units' } as Code,
  Percent: { value: '%', scheme: 'UCUM', meaning: 'percent' } as Code,
  Milliliter: { value: 'ml', scheme: 'UCUM', meaning: 'milliliter' } as Code,
} as const;

/** The 99LTRIAGE codes (documented here; values are at most 16 characters, SH). */
export const LT = {
  /** Concept name: the most likely patient-level class (value: the class code). */
  AiClassification: lt('CLASS', 'AI classification'),
  /** NUM: probability 0..1 of the concept it qualifies (units: no units). */
  Probability: lt('PROB', 'Probability'),
  /** NUM: the operating threshold applied to the positive-class probability. */
  OperatingThreshold: lt('THRESHOLD', 'Operating threshold'),
  /** Concept name: positive / negative at the operating threshold. */
  AiDecision: lt('DECISION', 'AI decision'),
  Positive: lt('POSITIVE', 'Positive at operating threshold'),
  Negative: lt('NEGATIVE', 'Negative at operating threshold'),
  Indeterminate: lt('INDETERMINATE', 'Indeterminate (below the infection threshold)'),
  /**
   * NUM (percent, UCUM %): infected share of the lung volume (models 2.0); PS3.16 has no concept for a share of an
   * organ's volume (its "percent of volume" concepts are of calcification and cavities). The infected volume itself
   * is SCT Volume of the infection.
   */
  InfectedShare: lt('INFSHARE', 'Infected share of lung volume'),
  /** Concept name: triage priority (values below), see src/results/priority.ts. */
  TriagePriority: lt('PRIORITY', 'Triage priority'),
  Urgent: lt('URGENT', 'Urgent'),
  High: lt('HIGH', 'High'),
  Routine: lt('ROUTINE', 'Routine'),
  /** NUM (percent): share of lung-bearing slices whose lesion probability reaches the slice threshold. */
  LesionBurden: lt('BURDEN', 'Lesion burden (share of lung slices with lesion)'),
  /** Concept name: lung infection at study level (value: SCT Present / Absent, or Indeterminate), models 2.0. */
  LungInfection: lt('INFECTION', 'Lung infection (AI infection map)'),
  /** A finding: the study-level negative result (the measurement group of a negative study). */
  NoInfectionDetected: lt('NOINFECTION', 'No infection detected (AI)'),
  /** A finding: lung lesion as located by the weakly supervised lesion map. */
  LungLesion: lt('LESION', 'Lung lesion (AI lesion map)'),
  /** No DCM, SNOMED CT (in PS3.16) or RadLex-in-DICOM code exists for crazy paving. */
  CrazyPaving: lt('CRAZYPAVING', 'Crazy paving pattern'),
  /** NUM (percent): slice-level lesion probability in a key-slice measurement group. */
  SliceLesionProbability: lt('SLICEPROB', 'Slice lesion probability'),
  /** IMAGE: the heat-map secondary capture made for the key slice. */
  HeatMapImage: lt('HEATMAP', 'AI lesion heat map'),
  /** Concept name: the AI analysis could not be performed (value: the stage that failed). */
  AnalysisNotPerformed: lt('NOTPERFORMED', 'AI analysis not performed'),
  /** Stages that can fail. */
  StageSeriesSelection: lt('STAGE-SELECT', 'Series selection'),
  StageVolume: lt('STAGE-VOLUME', 'Volume reconstruction'),
  StageInference: lt('STAGE-INFER', 'Inference'),
  StageOther: lt('STAGE-OTHER', 'Other processing stage'),
} as const;

/**
 * NUM concept: the probability of a finding, named after it ("Ground glass opacity probability"), so a viewer that
 * labels a measurement by its concept name (OHIF) says what was measured. The finding's own code qualifies the NUM.
 */
export function probabilityOf(finding: Code): Code {
  return lt(`P-${finding.value}`.slice(0, 16), `${finding.meaning} probability`.slice(0, 64));
}

/** The code for a stage name used by the pipeline ('selection', 'volume', 'inference', anything else). */
export function stageCode(stage: string): Code {
  if (/select|series/i.test(stage)) return LT.StageSeriesSelection;
  if (/volume|decode/i.test(stage)) return LT.StageVolume;
  if (/infer|model|worker/i.test(stage)) return LT.StageInference;
  return LT.StageOther;
}

/** A label's code from the model manifest, or a private one derived from the label when the manifest has none. */
export function labelCode(label: { label: string; display: string; code: Code | null }): Code {
  if (label.code) return label.code;
  if (/crazy/i.test(label.label)) return LT.CrazyPaving;
  const value = label.label.toUpperCase().replace(/[^A-Z0-9]+/g, '-').slice(0, 16) || 'LABEL';
  return lt(value, label.display || label.label);
}
