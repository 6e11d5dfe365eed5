/**
 * Series selection: from every instance received for a study, pick the one series that makes the right CT volume for
 * lung triage, and record why every other series was not used. Pure: works on headers only (no pixel data).
 */
import { SopClass } from '../dicom/dcmjs';
import type { InstanceHeader } from '../dicom/instance-header';
import { analyzeStack, DEFAULT_STACK_TOLERANCES, sliceNormal, stackSlices, type StackSlice, type StackTolerances } from '../volume/geometry';
import { isSupportedTransferSyntax } from '../volume/decode';
import type { SeriesRejection, SeriesSelection } from '../volume/types';

/** The rules of selection; every field has a default (DEFAULT_SELECTION_RULES). */
export interface SelectionRules {
  /** SOP classes that can make a volume (CT Image Storage and Enhanced CT Image Storage). */
  sopClasses: string[];
  /** Image Type values (any position, upper case) that disqualify a series: localizers and scouts. */
  rejectImageTypes: string[];
  /** Reject series whose Image Type says DERIVED (reformats, MIPs). Off by default: many thin axials are derived. */
  rejectDerived: boolean;
  /** Largest angle between the slice normal and the head-feet axis still counted as axial (degrees). */
  maxObliquityDeg: number;
  /** Fewest slices a usable series has. */
  minSlices: number;
  /** Most slices accepted (memory bound). */
  maxSlices: number;
  /** Thicker slices (mm) than this are rejected. */
  maxSliceThicknessMm: number;
  /** Slices at most this thick (mm) count as thin, which ranks first. */
  thinSliceMm: number;
  /** Regular expressions (case-insensitive) recognising a lung (sharp) reconstruction kernel. */
  lungKernelPatterns: string[];
  /** Accept a series with some unreadable instances (default false: a missing slice is a hole in the lungs). */
  allowUnreadable: boolean;
  tolerances: StackTolerances;
}

/** Defaults of SelectionRules. */
export const DEFAULT_SELECTION_RULES: SelectionRules = {
  sopClasses: [SopClass.CtImage, SopClass.EnhancedCtImage],
  rejectImageTypes: ['LOCALIZER', 'SCOUT', 'TOPOGRAM', 'SCANOGRAM'],
  rejectDerived: false,
  maxObliquityDeg: 20,
  minSlices: 20,
  maxSlices: 1500,
  maxSliceThicknessMm: 10,
  thinSliceMm: 2,
  // GE LUNG/BONEPLUS, Siemens B60-B80 / Bl / I50-I70 (Br is body), Canon FC50-FC56, Philips L / YA / YB.
  lungKernelPatterns: ['LUNG', 'BONEPLUS', '^B[6-8]\\d', '^Bl\\d', '^I[5-7]\\d', '^FC5[0-6]', '^L$', '^Y[AB]$'],
  allowUnreadable: false,
  tolerances: DEFAULT_STACK_TOLERANCES,
};

const SOP_NAMES: Record<string, string> = {
  [SopClass.CtImage]: 'CT Image Storage',
  [SopClass.EnhancedCtImage]: 'Enhanced CT Image Storage',
  [SopClass.SecondaryCapture]: 'Secondary Capture Image Storage',
  [SopClass.XRayRadiationDoseSr]: 'X-Ray Radiation Dose SR',
  [SopClass.Comprehensive3dSr]: 'Comprehensive 3D SR',
  [SopClass.KeyObjectSelection]: 'Key Object Selection',
  '1.2.840.10008.5.1.4.1.1.88.33': 'Comprehensive SR',
  '1.2.840.10008.5.1.4.1.1.88.22': 'Enhanced SR',
  '1.2.840.10008.5.1.4.1.1.88.11': 'Basic Text SR',
  '1.2.840.10008.5.1.4.1.1.7.4': 'Multi-frame True Color Secondary Capture',
  '1.2.840.10008.5.1.4.1.1.66': 'Raw Data Storage',
  '1.2.840.10008.5.1.4.1.1.66.4': 'Segmentation Storage',
  '1.2.840.10008.5.1.4.1.1.11.1': 'Grayscale Softcopy Presentation State',
  '1.2.840.10008.5.1.4.1.1.2.2': 'Legacy Converted Enhanced CT Image Storage',
};

interface Candidate {
  seriesUid: string;
  seriesNumber?: number;
  description?: string;
  instances: number;
  slices: number;
  thickness: number;
  thin: boolean;
  lung: boolean;
  kernel?: string;
}

const fmt = (x: number) => Number(x.toFixed(2)).toString();

function planeName(iop: readonly number[]): string {
  const n = sliceNormal(iop);
  if (typeof n === 'string') return 'invalid';
  const a = n.map(Math.abs);
  if (a[2] >= a[0] && a[2] >= a[1]) return 'oblique axial';
  return a[1] >= a[0] ? 'coronal' : 'sagittal';
}

function isLungKernel(kernel: string | undefined, description: string | undefined, patterns: RegExp[]): boolean {
  if (kernel) return kernel.split('\\').some((k) => patterns.some((p) => p.test(k.trim())));
  return !!description && /\blung/i.test(description);
}

/** Words that name the chest in Body Part Examined (PS3.16 CID 4031 codes) and in free-text descriptions. */
const CHEST = /\b(CHEST|THORAX|THORACIC|LUNGS?|PULMONARY|PULMO|TORAX|THORAX_ABDOMEN|CHEST_ABDOMEN|CHEST_ABDOMEN_PELVIS|CAP|TAP|TORSO|TRUNK|WHOLEBODY|WHOLE BODY)\b/i;
/** Anatomy the model does not cover. */
const NOT_CHEST = /\b(ABDOMEN|ABDOMINAL|ABD|PELVIS|PELVIC|HEAD|BRAIN|SKULL|NECK|CSPINE|LSPINE|SPINE|KNEE|HIP|EXTREMITY|ARM|LEG|FOOT|HAND|ANKLE|WRIST|SHOULDER|ELBOW|SINUS|FACE|ORBIT|KIDNEY|LIVER)\b/i;

/**
 * Header gating: "not applicable: ..." when the header says the series is not of the chest. Body Part Examined
 * decides when it names a region (the chest, or a combined region with it, passes; other anatomy does not);
 * otherwise the protocol, series and study descriptions, where one naming other anatomy and none naming the
 * chest is not applicable.
 * Nothing said either way passes: the image gating (lung on enough slices) still applies after inference.
 */
export function headerNotChestReason(h: Pick<InstanceHeader, 'bodyPartExamined' | 'protocolName' | 'seriesDescription' | 'studyDescription'>): string | undefined {
  const words = (v: string | undefined) => (v ?? '').replace(/[_^]/g, ' ').trim();
  const bodyPart = words(h.bodyPartExamined);
  if (CHEST.test(bodyPart) || CHEST.test(h.bodyPartExamined ?? '')) return undefined;
  if (NOT_CHEST.test(bodyPart)) return `not applicable: Body Part Examined is ${bodyPart.toUpperCase()}, not the chest`;
  const texts = [
    ['Protocol Name', h.protocolName],
    ['Series Description', h.seriesDescription],
    ['Study Description', h.studyDescription],
  ] as const;
  if (texts.some(([, t]) => CHEST.test(words(t)))) return undefined;
  const other = texts.find(([, t]) => NOT_CHEST.test(words(t)));
  return other ? `not applicable: ${other[0]} "${words(other[1])}" names no chest` : undefined;
}

/** Evaluates one series: a rejection reason, or a ranked candidate. */
function evaluate(uid: string, hs: InstanceHeader[], r: SelectionRules, lungPatterns: RegExp[]): { reason: string } | Candidate {
  const bad = hs.filter((h) => h.error);
  const ok = hs.filter((h) => !h.error);
  if (bad.length && (!r.allowUnreadable || ok.length === 0)) {
    return { reason: `${bad.length} of ${hs.length} instance(s) unreadable (first: ${bad[0].error})` };
  }
  const classes = [...new Set(ok.map((h) => h.sopClassUid))];
  const foreign = classes.filter((c) => !r.sopClasses.includes(c));
  if (foreign.length) {
    const names = foreign.map((c) => `${SOP_NAMES[c] ?? 'SOP class'} (${c})`).join(', ');
    const dose = foreign.includes(SopClass.XRayRadiationDoseSr) || ok.some((h) => /dose/i.test(h.seriesDescription ?? '') || h.imageType.includes('DOSE_INFO'));
    return { reason: `not a CT image series: ${names}${dose ? '; a dose report' : ''}` };
  }
  const modalities = [...new Set(ok.map((h) => h.modality ?? ''))];
  if (modalities.some((m) => m !== 'CT')) return { reason: `modality ${modalities.join('/') || '(missing)'} is not CT` };
  const anatomy = headerNotChestReason(ok[0]);
  if (anatomy) return { reason: anatomy };
  const disq = ok.find((h) => h.imageType.some((t) => r.rejectImageTypes.includes(t)));
  if (disq) return { reason: `localizer/scout image (Image Type ${disq.imageType.join('\\')})` };
  if (r.rejectDerived) {
    const derived = ok.find((h) => h.imageType[0] === 'DERIVED');
    if (derived) return { reason: `derived images (Image Type ${derived.imageType.join('\\')}) are excluded by the rules` };
  }
  const unsupported = ok.find((h) => !isSupportedTransferSyntax(h.transferSyntaxUid));
  if (unsupported) return { reason: `unsupported transfer syntax ${unsupported.transferSyntaxUid}` };
  const slices: StackSlice[] = ok.flatMap(stackSlices);
  if (slices.length < r.minSlices) return { reason: `only ${slices.length} slice(s), fewer than the minimum of ${r.minSlices}` };
  if (slices.length > r.maxSlices) return { reason: `${slices.length} slices, more than the maximum of ${r.maxSlices}` };
  const iop = slices[0].imageOrientationPatient;
  if (!iop) return { reason: 'missing Image Orientation (Patient) (0020,0037)' };
  const n = sliceNormal(iop);
  if (typeof n === 'string') return { reason: n };
  const obliq = (Math.acos(Math.min(1, Math.abs(n[2]))) * 180) / Math.PI;
  if (obliq > r.maxObliquityDeg) {
    return { reason: `not axial: ${planeName(iop)} slices, normal ${fmt(obliq)} degrees from the head-feet axis (tolerance ${r.maxObliquityDeg})` };
  }
  const geo = analyzeStack(slices, r.tolerances);
  if (!geo.ok) return { reason: `inconsistent geometry: ${geo.error}` };
  if (geo.order.length < r.minSlices) return { reason: `only ${geo.order.length} distinct slice position(s), fewer than the minimum of ${r.minSlices}` };
  const thicknesses = ok.map((h) => h.sliceThickness).filter((t): t is number => t !== undefined && t > 0);
  const thickness = thicknesses.length ? thicknesses.sort((a, b) => a - b)[Math.floor(thicknesses.length / 2)] : geo.medianSpacing;
  if (thickness > r.maxSliceThicknessMm) return { reason: `slices ${fmt(thickness)} mm thick, above the maximum of ${r.maxSliceThicknessMm} mm` };
  const h0 = ok[0];
  return {
    seriesUid: uid,
    seriesNumber: h0.seriesNumber,
    description: h0.seriesDescription,
    instances: hs.length,
    slices: geo.order.length,
    thickness,
    thin: thickness <= r.thinSliceMm,
    lung: isLungKernel(h0.convolutionKernel, h0.seriesDescription, lungPatterns),
    kernel: h0.convolutionKernel,
  };
}

/** Orders candidates: thin slices first, then a lung kernel, then most slices, then thinner, then series number. */
function compare(a: Candidate, b: Candidate): number {
  return (
    Number(b.thin) - Number(a.thin) ||
    Number(b.lung) - Number(a.lung) ||
    b.slices - a.slices ||
    a.thickness - b.thickness ||
    (a.seriesNumber ?? Infinity) - (b.seriesNumber ?? Infinity) ||
    a.seriesUid.localeCompare(b.seriesUid)
  );
}

function whyBelow(loser: Candidate, winner: Candidate): string {
  if (winner.thin !== loser.thin) return `thick slices (${fmt(loser.thickness)} mm vs ${fmt(winner.thickness)} mm)`;
  if (winner.lung !== loser.lung) return `no lung kernel (${loser.kernel ?? 'none'} vs ${winner.kernel ?? 'lung'})`;
  if (winner.slices !== loser.slices) return `fewer slices (${loser.slices} vs ${winner.slices})`;
  if (winner.thickness !== loser.thickness) return `thicker slices (${fmt(loser.thickness)} mm vs ${fmt(winner.thickness)} mm)`;
  return 'equal rank, later series number';
}

function describeCandidate(c: Candidate): string {
  return `${c.slices} axial CT slices, ${fmt(c.thickness)} mm${c.thin ? ' (thin)' : ''}, kernel ${c.kernel ?? '(none)'}${c.lung ? ' (lung)' : ''}`;
}

/**
 * Chooses the series to analyse. Every other series (and every group of unreadable files) is listed in `rejected`
 * with its reason; when nothing qualifies, `chosen` is absent.
 */
export function selectSeries(headers: InstanceHeader[], rules: Partial<SelectionRules> = {}): SeriesSelection {
  const r: SelectionRules = { ...DEFAULT_SELECTION_RULES, ...rules, tolerances: { ...DEFAULT_SELECTION_RULES.tolerances, ...rules.tolerances } };
  const lungPatterns = r.lungKernelPatterns.map((p) => new RegExp(p, 'i'));
  const bySeries = new Map<string, InstanceHeader[]>();
  for (const h of headers) {
    const list = bySeries.get(h.seriesUid);
    if (list) list.push(h);
    else bySeries.set(h.seriesUid, [h]);
  }
  const rejected: SeriesRejection[] = [];
  const candidates: Candidate[] = [];
  for (const [uid, hs] of bySeries) {
    const h0 = hs.find((h) => !h.error) ?? hs[0];
    const base = {
      seriesUid: uid,
      ...(h0.seriesNumber !== undefined ? { seriesNumber: h0.seriesNumber } : {}),
      ...(h0.seriesDescription ? { description: h0.seriesDescription } : {}),
      ...(h0.modality ? { modality: h0.modality } : {}),
      instances: hs.length,
    };
    if (uid === '') {
      rejected.push({ ...base, reason: `${hs.length} file(s) unreadable or without a Series Instance UID (first: ${hs[0].error ?? 'no Series Instance UID'})` });
      continue;
    }
    const res = evaluate(uid, hs, r, lungPatterns);
    if ('reason' in res) rejected.push({ ...base, reason: res.reason });
    else candidates.push(res);
  }
  candidates.sort(compare);
  const [best, ...rest] = candidates;
  for (const c of rest) {
    const h0 = bySeries.get(c.seriesUid)![0];
    rejected.push({
      seriesUid: c.seriesUid,
      ...(c.seriesNumber !== undefined ? { seriesNumber: c.seriesNumber } : {}),
      ...(c.description ? { description: c.description } : {}),
      ...(h0.modality ? { modality: h0.modality } : {}),
      instances: c.instances,
      reason: `usable (${describeCandidate(c)}) but ranked below series ${best.seriesNumber ?? best.seriesUid}: ${whyBelow(c, best)}`,
    });
  }
  if (!best) return { rejected };
  const others = rest.length ? `; preferred over ${rest.length} other usable series` : '';
  return { chosen: { seriesUid: best.seriesUid, reason: `${describeCandidate(best)}${others}` }, rejected };
}
