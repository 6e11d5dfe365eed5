import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writePart10, SopClass, TransferSyntax, type NaturalDataset } from '../dicom/dcmjs';
import { derivedUid } from '../dicom/uid';

/** A ground-glass or consolidation blob placed in one lung (centre in voxel units, radius in mm). */
export interface Lesion {
  x: number;
  y: number;
  z: number;
  radiusMm: number;
  hu: number;
}

/** Parameters of a synthetic chest CT: a body, two lungs, a spine and optional lesions. */
export interface PhantomOptions {
  size?: number;
  slices?: number;
  pixelSpacing?: number;
  sliceSpacing?: number;
  lesions?: Lesion[];
  /** Seed for the per-study UIDs, so two phantoms with the same seed are the same study. */
  seed?: string;
  noise?: number;
}

/** A HU volume in z-major order (slice, row, column). */
export interface PhantomVolume {
  size: number;
  slices: number;
  pixelSpacing: number;
  sliceSpacing: number;
  hu: Int16Array;
}

/** Deterministic pseudo-random numbers (mulberry32) so phantoms are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Default lesions: two ground-glass blobs in the right lung and a denser one in the left, mid-chest. */
export function defaultLesions(size: number, slices: number): Lesion[] {
  return [
    { x: size * 0.3, y: size * 0.45, z: slices * 0.5, radiusMm: 18, hu: -450 },
    { x: size * 0.33, y: size * 0.6, z: slices * 0.6, radiusMm: 12, hu: -500 },
    { x: size * 0.7, y: size * 0.5, z: slices * 0.45, radiusMm: 14, hu: -150 },
  ];
}

/** Builds the HU volume of a chest phantom. Pure and deterministic. */
export function chestPhantom(opts: PhantomOptions = {}): PhantomVolume {
  const size = opts.size ?? 256;
  const slices = opts.slices ?? 64;
  const pixelSpacing = opts.pixelSpacing ?? 350 / size;
  const sliceSpacing = opts.sliceSpacing ?? 2.5;
  const lesions = opts.lesions ?? defaultLesions(size, slices);
  const noise = opts.noise ?? 12;
  const rand = rng(size * 7919 + slices);
  const hu = new Int16Array(size * size * slices);
  const c = size / 2;
  for (let z = 0; z < slices; z++) {
    // Lungs taper towards apex and base.
    const zt = z / Math.max(1, slices - 1);
    const lungScale = 0.55 + 0.45 * Math.sin(Math.PI * Math.min(1, Math.max(0, zt * 1.1 - 0.05)));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const bx = (x - c) / (size * 0.42);
        const by = (y - c) / (size * 0.3);
        let v = -1000;
        if (bx * bx + by * by <= 1) {
          v = 40;
          for (const side of [-1, 1]) {
            const lx = (x - (c + side * size * 0.19)) / (size * 0.14 * lungScale);
            const ly = (y - (c - size * 0.02)) / (size * 0.22 * lungScale);
            if (lx * lx + ly * ly <= 1) v = -850;
          }
          const sx = (x - c) / (size * 0.05);
          const sy = (y - (c + size * 0.22)) / (size * 0.05);
          if (sx * sx + sy * sy <= 1) v = 700;
          if (v === -850) {
            for (const l of lesions) {
              const d2 =
                ((x - l.x) * pixelSpacing) ** 2 + ((y - l.y) * pixelSpacing) ** 2 + ((z - l.z) * sliceSpacing) ** 2;
              const w = Math.exp(-d2 / (2 * (l.radiusMm / 1.5) ** 2));
              if (w > 0.05) v = Math.max(v, Math.round(-850 + (l.hu + 850) * Math.min(1, w * 1.3)));
            }
          }
        }
        hu[(z * size + y) * size + x] = Math.round(v + (rand() - 0.5) * 2 * noise);
      }
    }
  }
  return { size, slices, pixelSpacing, sliceSpacing, hu };
}

/** How to write a phantom as a DICOM CT series. */
export interface SeriesOptions {
  studyUid?: string;
  seriesUid?: string;
  seriesNumber?: number;
  seriesDescription?: string;
  convolutionKernel?: string;
  patientName?: string;
  patientId?: string;
  transferSyntax?: string;
  /** Overrides or extra attributes for every slice (e.g. ImageType for a localizer). */
  extra?: NaturalDataset;
  seed?: string;
  /** Overrides the position (and orientation) of slice z; default axial, one slice every sliceSpacing mm down z. */
  sliceGeometry?: (z: number) => { imagePositionPatient: number[]; imageOrientationPatient?: number[] };
  /** Store signed values (PixelRepresentation 1, stored = HU, RescaleIntercept 0) instead of HU + 1024 unsigned. */
  signed?: boolean;
  /** Rescale Slope to encode with (stored = round((HU - intercept) / slope)); default 1. */
  rescaleSlope?: number;
  /** Bits Stored (default 12 unsigned, 16 signed); values are clamped to what fits. */
  bitsStored?: number;
  /** Writes this stored value outside the reconstruction circle and declares it as Pixel Padding Value. */
  pixelPaddingValue?: number;
}

/** The stored value a phantom voxel is written as, and how it maps back (for tests' expected HU). */
export function storedValue(hu: number, opts: Pick<SeriesOptions, 'signed' | 'rescaleSlope' | 'bitsStored'>): number {
  const slope = opts.rescaleSlope ?? 1;
  const intercept = opts.signed ? 0 : -1024;
  const bits = opts.bitsStored ?? (opts.signed ? 16 : 12);
  const v = Math.round((hu - intercept) / slope);
  const lo = opts.signed ? -(2 ** (bits - 1)) : 0;
  const hi = opts.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return Math.min(hi, Math.max(lo, v));
}

/** True for voxels outside the reconstruction circle (where padding is written when asked). */
export function outsideFov(size: number, x: number, y: number): boolean {
  const c = (size - 1) / 2;
  return (x - c) ** 2 + (y - c) ** 2 > (size / 2) ** 2;
}

/** One written instance. */
export interface WrittenInstance {
  sopInstanceUid: string;
  bytes: Buffer;
}

/**
 * Encodes a phantom as CT Image Storage instances (one per slice, uncompressed, stored value = HU + 1024 with
 * RescaleIntercept -1024, like most scanners). Returns Part 10 bytes per slice.
 */
export function phantomSeries(vol: PhantomVolume, opts: SeriesOptions = {}): WrittenInstance[] {
  const seed = opts.seed ?? 'phantom';
  const studyUid = opts.studyUid ?? derivedUid(seed, 'study');
  const seriesUid = opts.seriesUid ?? derivedUid(seed, studyUid, 'series', String(opts.seriesNumber ?? 2));
  const frameOfReference = derivedUid(seed, studyUid, 'for');
  const { size, slices } = vol;
  const out: WrittenInstance[] = [];
  for (let z = 0; z < slices; z++) {
    const sopInstanceUid = derivedUid(seriesUid, 'slice', String(z));
    const px = opts.signed ? new Int16Array(size * size) : new Uint16Array(size * size);
    const base = z * size * size;
    const plain = !opts.signed && opts.rescaleSlope === undefined && opts.bitsStored === undefined;
    for (let i = 0; i < px.length; i++) {
      if (opts.pixelPaddingValue !== undefined && outsideFov(size, i % size, Math.floor(i / size))) px[i] = opts.pixelPaddingValue;
      else px[i] = plain ? Math.max(0, vol.hu[base + i] + 1024) : storedValue(vol.hu[base + i], opts);
    }
    const zPos = -z * vol.sliceSpacing;
    const geom = opts.sliceGeometry?.(z);
    const bitsStored = opts.bitsStored ?? (opts.signed ? 16 : 12);
    const dataset: NaturalDataset = {
      SpecificCharacterSet: 'ISO_IR 192',
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      SOPClassUID: SopClass.CtImage,
      SOPInstanceUID: sopInstanceUid,
      StudyDate: '20260101',
      SeriesDate: '20260101',
      StudyTime: '120000',
      AccessionNumber: 'SYN0001',
      Modality: 'CT',
      Manufacturer: 'lung-triage synthetic phantom',
      ReferringPhysicianName: '',
      StudyDescription: 'CT CHEST',
      SeriesDescription: opts.seriesDescription ?? 'Lung 1.0',
      PatientName: opts.patientName ?? 'PHANTOM^CHEST',
      PatientID: opts.patientId ?? 'PHANTOM-001',
      PatientBirthDate: '',
      PatientSex: 'O',
      BodyPartExamined: 'CHEST',
      SliceThickness: vol.sliceSpacing,
      KVP: 120,
      ConvolutionKernel: opts.convolutionKernel ?? 'LUNG',
      PatientPosition: 'HFS',
      StudyInstanceUID: studyUid,
      SeriesInstanceUID: seriesUid,
      StudyID: '1',
      SeriesNumber: opts.seriesNumber ?? 2,
      InstanceNumber: z + 1,
      AcquisitionNumber: 1,
      PatientOrientation: '',
      ImagePositionPatient: geom?.imagePositionPatient ?? [-(size / 2) * vol.pixelSpacing, -(size / 2) * vol.pixelSpacing, zPos],
      ImageOrientationPatient: geom?.imageOrientationPatient ?? [1, 0, 0, 0, 1, 0],
      FrameOfReferenceUID: frameOfReference,
      PositionReferenceIndicator: '',
      SliceLocation: zPos,
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: size,
      Columns: size,
      PixelSpacing: [vol.pixelSpacing, vol.pixelSpacing],
      BitsAllocated: 16,
      BitsStored: bitsStored,
      HighBit: bitsStored - 1,
      PixelRepresentation: opts.signed ? 1 : 0,
      ...(opts.pixelPaddingValue !== undefined ? { PixelPaddingValue: opts.pixelPaddingValue } : {}),
      WindowCenter: -600,
      WindowWidth: 1500,
      RescaleIntercept: opts.signed ? 0 : -1024,
      RescaleSlope: opts.rescaleSlope ?? 1,
      RescaleType: 'HU',
      PixelData: [px.buffer],
      _vrMap: { PixelData: 'OW', ...(opts.pixelPaddingValue !== undefined ? { PixelPaddingValue: opts.signed ? 'SS' : 'US' } : {}) },
      ...opts.extra,
    };
    out.push({ sopInstanceUid, bytes: writePart10(dataset, opts.transferSyntax ?? TransferSyntax.ExplicitLittle) });
  }
  return out;
}

/** Writes a phantom series to a folder as <n>.dcm files; returns the file paths. */
export function writePhantomSeries(dir: string, vol: PhantomVolume, opts: SeriesOptions = {}): string[] {
  mkdirSync(dir, { recursive: true });
  return phantomSeries(vol, opts).map((inst, i) => {
    const file = path.join(dir, `${String(i).padStart(4, '0')}.dcm`);
    writeFileSync(file, inst.bytes);
    return file;
  });
}

/** How to write a phantom as one Enhanced CT Image Storage instance (PS3.3 A.38, multi-frame with functional groups). */
export interface EnhancedCtOptions extends Pick<SeriesOptions, 'studyUid' | 'seriesUid' | 'seriesNumber' | 'seriesDescription' | 'convolutionKernel' | 'seed' | 'transferSyntax'> {
  /** Frame order in the file: frameOrder[k] is the slice index of frame k+1 (default 0..n-1). */
  frameOrder?: number[];
  /** Give each frame its own Rescale Intercept (-1024 - (slice % 3)) in the per-frame functional groups. */
  perFrameRescale?: boolean;
}

/** The Rescale Intercept used for slice z by enhancedCtInstance with perFrameRescale. */
export function enhancedIntercept(z: number, perFrame: boolean | undefined): number {
  return perFrame ? -1024 - (z % 3) : -1024;
}

/** Encodes a phantom as one Enhanced CT multi-frame instance; per-frame positions, shared orientation and spacing. */
export function enhancedCtInstance(vol: PhantomVolume, opts: EnhancedCtOptions = {}): WrittenInstance {
  const seed = opts.seed ?? 'phantom-enhanced';
  const studyUid = opts.studyUid ?? derivedUid(seed, 'study');
  const seriesUid = opts.seriesUid ?? derivedUid(seed, studyUid, 'series', String(opts.seriesNumber ?? 3));
  const sopInstanceUid = derivedUid(seriesUid, 'enhanced');
  const { size, slices } = vol;
  const order = opts.frameOrder ?? Array.from({ length: slices }, (_, z) => z);
  const px = new Uint16Array(size * size * order.length);
  const perFrame: NaturalDataset[] = [];
  order.forEach((z, k) => {
    const intercept = enhancedIntercept(z, opts.perFrameRescale);
    const base = z * size * size;
    for (let i = 0; i < size * size; i++) px[k * size * size + i] = Math.max(0, vol.hu[base + i] - intercept);
    perFrame.push({
      FrameContentSequence: [{ FrameAcquisitionNumber: 1, StackID: '1', InStackPositionNumber: z + 1 }],
      PlanePositionSequence: [{ ImagePositionPatient: [-(size / 2) * vol.pixelSpacing, -(size / 2) * vol.pixelSpacing, -z * vol.sliceSpacing] }],
      PixelValueTransformationSequence: [{ RescaleIntercept: intercept, RescaleSlope: 1, RescaleType: 'HU' }],
    });
  });
  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL', 'NONE'],
    SOPClassUID: SopClass.EnhancedCtImage,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: '20260101',
    ContentDate: '20260101',
    StudyTime: '120000',
    ContentTime: '120000',
    AccessionNumber: 'SYN0001',
    Modality: 'CT',
    Manufacturer: 'lung-triage synthetic phantom',
    ReferringPhysicianName: '',
    StudyDescription: 'CT CHEST',
    SeriesDescription: opts.seriesDescription ?? 'Enhanced Lung 1.0',
    PatientName: 'PHANTOM^CHEST',
    PatientID: 'PHANTOM-001',
    PatientBirthDate: '',
    PatientSex: 'O',
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: seriesUid,
    StudyID: '1',
    SeriesNumber: opts.seriesNumber ?? 3,
    InstanceNumber: 1,
    FrameOfReferenceUID: derivedUid(seed, studyUid, 'for'),
    PositionReferenceIndicator: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: order.length,
    Rows: size,
    Columns: size,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: [1, 0, 0, 0, 1, 0] }],
        PixelMeasuresSequence: [{ PixelSpacing: [vol.pixelSpacing, vol.pixelSpacing], SliceThickness: vol.sliceSpacing }],
        CTImageFrameTypeSequence: [{ FrameType: ['ORIGINAL', 'PRIMARY', 'AXIAL', 'NONE'] }],
        CTReconstructionSequence: [{ ConvolutionKernel: opts.convolutionKernel ?? 'LUNG' }],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: [px.buffer],
    _vrMap: { PixelData: 'OW' },
  };
  return { sopInstanceUid, bytes: writePart10(dataset, opts.transferSyntax ?? TransferSyntax.ExplicitLittle) };
}
