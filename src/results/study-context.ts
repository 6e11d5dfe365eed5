import type { NaturalDataset } from '../dicom/dcmjs';

/**
 * Patient and study attributes copied into every result object (Patient and General Study modules, PS3.3 C.7.1.1,
 * C.7.2.1), read by the pipeline from one source header. Keywords are DICOM keywords; values as decoded from the
 * source's Specific Character Set (PN with all its component groups, "Alphabetic=Ideographic=Phonetic"). Only StudyInstanceUID is required; absent type 2 attributes are written empty.
 */
export interface StudyContext {
  StudyInstanceUID: string;
  PatientName?: string;
  PatientID?: string;
  IssuerOfPatientID?: string;
  PatientBirthDate?: string;
  PatientSex?: string;
  PatientAge?: string;
  StudyDate?: string;
  StudyTime?: string;
  AccessionNumber?: string;
  ReferringPhysicianName?: string;
  StudyID?: string;
  StudyDescription?: string;
  /** Requested Procedure ID (0040,1001) of the source's Request Attributes Sequence (0040,0275), when present. */
  RequestedProcedureID?: string;
  /** Requested Procedure Description (0032,1060) of the same request, when present. */
  RequestedProcedureDescription?: string;
  /** Body Part Examined (0018,0015) of the source header, when present. */
  BodyPartExamined?: string;
  /** Series Number (0020,0011) of the source header read (the analysed series), when it has one. */
  SeriesNumber?: number;
  /** The largest Series Number among the study's acquired series, when the caller knows them all. */
  MaxSeriesNumber?: number;
}

const STRING_KEYS = [
  'PatientID',
  'IssuerOfPatientID',
  'PatientBirthDate',
  'PatientSex',
  'PatientAge',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'StudyID',
  'StudyDescription',
] as const;

/**
 * A PN value as dcmjs naturalizes it ([{Alphabetic, Ideographic, Phonetic}], or a plain string) back to its string,
 * every component group kept ("Wang^XiaoDong=王^小东"): the ideographic and phonetic groups are the name for
 * Chinese, Japanese and Korean patients (PS3.5 6.2.1), dropping them lost the name.
 */
function personName(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const first = Array.isArray(v) ? v[0] : v;
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object') {
    const pn = first as { Alphabetic?: unknown; Ideographic?: unknown; Phonetic?: unknown };
    return [pn.Alphabetic, pn.Ideographic, pn.Phonetic]
      .map((g) => (g === undefined || g === null ? '' : String(g)))
      .join('=')
      .replace(/=+$/, '');
  }
  return undefined;
}

/** Reads the study context from a naturalized source header. */
export function studyContextFromDataset(dataset: NaturalDataset): StudyContext {
  if (typeof dataset.StudyInstanceUID !== 'string') throw new Error('source header has no StudyInstanceUID');
  const ctx: StudyContext = { StudyInstanceUID: dataset.StudyInstanceUID };
  for (const k of STRING_KEYS) {
    const v = dataset[k];
    if (v !== undefined && v !== null) ctx[k] = String(Array.isArray(v) ? v[0] : v);
  }
  const sn = Number(Array.isArray(dataset.SeriesNumber) ? dataset.SeriesNumber[0] : dataset.SeriesNumber);
  if (dataset.SeriesNumber !== undefined && dataset.SeriesNumber !== null && dataset.SeriesNumber !== '' && Number.isInteger(sn)) ctx.SeriesNumber = sn;
  const req = (Array.isArray(dataset.RequestAttributesSequence) ? dataset.RequestAttributesSequence[0] : dataset.RequestAttributesSequence) as NaturalDataset | undefined;
  if (typeof dataset.BodyPartExamined === 'string' && dataset.BodyPartExamined.trim()) ctx.BodyPartExamined = dataset.BodyPartExamined.trim();
  for (const k of ['RequestedProcedureID', 'RequestedProcedureDescription'] as const) {
    const v = req?.[k];
    if (v !== undefined && v !== null && String(v) !== '') ctx[k] = String(Array.isArray(v) ? v[0] : v);
  }
  ctx.PatientName = personName(dataset.PatientName);
  ctx.ReferringPhysicianName = personName(dataset.ReferringPhysicianName);
  return ctx;
}

/** Patient + General Study module attributes for a result object (type 2 attributes present, possibly empty). */
export function patientStudyAttributes(s: StudyContext): NaturalDataset {
  const out: NaturalDataset = {
    PatientName: s.PatientName ?? '',
    PatientID: s.PatientID ?? '',
    PatientBirthDate: s.PatientBirthDate ?? '',
    PatientSex: s.PatientSex ?? '',
    StudyInstanceUID: s.StudyInstanceUID,
    StudyDate: s.StudyDate ?? '',
    StudyTime: s.StudyTime ?? '',
    ReferringPhysicianName: s.ReferringPhysicianName ?? '',
    StudyID: s.StudyID ?? '',
    AccessionNumber: s.AccessionNumber ?? '',
  };
  // Optional attributes as the source has them: present (even empty) exactly when the source's are, so the study
  // entity stays the same across the CT and our objects (dcentvfy).
  if (s.IssuerOfPatientID !== undefined) out.IssuerOfPatientID = s.IssuerOfPatientID;
  if (s.PatientAge !== undefined) out.PatientAge = s.PatientAge;
  if (s.StudyDescription !== undefined) out.StudyDescription = s.StudyDescription;
  return out;
}

/**
 * Referenced Request Sequence (0040,A370) of an SR (SR Document General module, PS3.3 C.17.2): the request the
 * source was acquired for, from its Accession Number and Requested Procedure ID; empty when neither is known.
 */
export function referencedRequest(s: StudyContext): NaturalDataset[] {
  if (!s.AccessionNumber && !s.RequestedProcedureID) return [];
  return [
    {
      StudyInstanceUID: s.StudyInstanceUID,
      ReferencedStudySequence: [],
      AccessionNumber: s.AccessionNumber ?? '',
      PlacerOrderNumberImagingServiceRequest: '',
      FillerOrderNumberImagingServiceRequest: '',
      RequestedProcedureID: s.RequestedProcedureID ?? '',
      RequestedProcedureDescription: s.RequestedProcedureDescription ?? '',
      RequestedProcedureCodeSequence: [],
    },
  ];
}
