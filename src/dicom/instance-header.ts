/**
 * The parsed header of a received instance: everything series selection, volume assembly and the results need,
 * without pixel data (PS3.3 C.7.6.2 Image Plane, C.7.6.3 Image Pixel, C.11.1 Modality LUT, C.8.15 Enhanced CT; the
 * Patient and Study modules as received). Ingest records it with the instance row; later stages read it from there.
 */
import { open } from 'node:fs/promises';
import { LtError } from '../errors';
import { SopClass, TransferSyntax } from './dcmjs';
import { NeedMoreData, parsePart10Inflating, part10Excerpt, type DicomDataset, type ParsedFile, type PixelDataLocation } from './part10';
import { Tags as T, tagName, type Tag } from './tags';

/** Geometry and value mapping of one frame (a single-frame instance has exactly one). */
export interface FrameInfo {
  /** 1-based frame number within the instance. */
  frameNumber: number;
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  rescaleSlope: number;
  rescaleIntercept: number;
}

/** What we know about one received instance after reading its header. */
export interface InstanceHeader {
  /** File on disk (the spool). */
  path: string;
  /** Set when the file could not be read or parsed; the other fields are then best effort. */
  error?: string;
  sopInstanceUid: string;
  sopClassUid: string;
  studyUid: string;
  seriesUid: string;
  frameOfReferenceUid?: string;
  modality?: string;
  /** Image Type (0008,0008), or Frame Type of the shared functional groups for Enhanced CT; upper case. */
  imageType: string[];
  transferSyntaxUid: string;
  seriesNumber?: number;
  seriesDescription?: string;
  /** Body Part Examined (0018,0015), Protocol Name (0018,1030), Study Description (0008,1030): the header's anatomy. */
  bodyPartExamined?: string;
  protocolName?: string;
  studyDescription?: string;
  instanceNumber?: number;
  /** Convolution Kernel (0018,1210), joined with "\" when multi-valued. */
  convolutionKernel?: string;
  gantryDetectorTilt?: number;
  rows: number;
  columns: number;
  samplesPerPixel: number;
  photometricInterpretation?: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: number;
  pixelPaddingValue?: number;
  pixelPaddingRangeLimit?: number;
  /** Of the first frame (Enhanced CT: per-frame values are in frames). */
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  numberOfFrames: number;
  /** One entry per frame, in frame order. */
  frames: FrameInfo[];
  /** Where Pixel Data lies in the file (absent when the instance has none). */
  pixelData?: PixelDataLocation;
  /** Size of the file in bytes when read. */
  fileSize: number;
  /**
   * The Patient and Study module elements (PATIENT_STUDY_TAGS) exactly as received, empty ones and the Specific
   * Character Set included, as a small Part 10 file: what the results copy into every object.
   */
  patientStudy?: Buffer;
}

/**
 * What the results copy from their source (src/results/study-context.ts reads them): the Patient and General Study
 * modules (PS3.3 C.7.1.1, C.7.2.1), the request, the anatomy and series number, and the character set they are in.
 */
export const PATIENT_STUDY_TAGS: readonly Tag[] = [
  T.SpecificCharacterSet,
  T.StudyDate,
  T.StudyTime,
  T.AccessionNumber,
  T.ReferringPhysicianName,
  T.StudyDescription,
  T.PatientName,
  T.PatientID,
  T.IssuerOfPatientID,
  T.PatientBirthDate,
  T.PatientSex,
  T.PatientAge,
  T.BodyPartExamined,
  T.StudyInstanceUID,
  T.StudyID,
  T.SeriesNumber,
  T.RequestAttributesSequence,
];

function vec<N extends number>(dataset: DicomDataset | undefined, tag: number, n: N): number[] | undefined {
  const v = dataset?.numbers(tag);
  if (!v || v.length < n || v.slice(0, n).some((x) => !Number.isFinite(x))) return undefined;
  return v.slice(0, n);
}

/** First item of a functional group macro, per-frame first, then shared (PS3.3 C.7.6.16). */
function group(perFrame: DicomDataset | undefined, shared: DicomDataset | undefined, tag: number): DicomDataset | undefined {
  return perFrame?.items(tag)[0] ?? shared?.items(tag)[0];
}

/** Reads a 16-bit value that may be US or SS (xs in PS3.6) as the pixel representation says. */
function xs(dataset: DicomDataset, tag: number, signed: boolean): number | undefined {
  const v = dataset.uint16(tag);
  if (v === undefined) return undefined;
  return signed && v > 0x7fff ? v - 0x10000 : v;
}

/** Most frames one instance may declare (far beyond any CT series; LT_VOLUME_MAX_SLICES defaults to 1500). */
export const MAX_FRAMES = 65_536;

/** Builds an InstanceHeader from a parsed file. Pure: exported for tests. */
export function headerFromParsed(path: string, parsed: ParsedFile, fileSize: number): InstanceHeader {
  if (parsed.pixelData && parsed.pixelData.tag !== T.PixelData)
    throw LtError.invalid(`unsupported pixel data: ${tagName(parsed.pixelData.tag)} (float pixel data) is not CT image data`);
  const dataset = parsed.dataset;
  const str = (t: number) => dataset.string(t) ?? '';
  const pixelRepresentation = dataset.uint16(T.PixelRepresentation) ?? 0;
  const signed = pixelRepresentation === 1;
  const bitsAllocated = dataset.uint16(T.BitsAllocated) ?? 0;
  const bitsStored = dataset.uint16(T.BitsStored) ?? bitsAllocated;
  const kernel = dataset.strings(T.ConvolutionKernel).filter(Boolean).join('\\') || undefined;
  const shared = dataset.items(T.SharedFunctionalGroupsSequence)[0];
  const perFrameItems = dataset.items(T.PerFrameFunctionalGroupsSequence);
  const nFramesTag = dataset.number(T.NumberOfFrames);
  const numberOfFrames = nFramesTag !== undefined && nFramesTag >= 1 ? Math.floor(nFramesTag) : 1;
  // One FrameInfo is built per declared frame: an absurd Number of Frames (found by fuzzing: 3,000,000 in a 16x16
  // file) would exhaust the heap here, before pixelDataProblem could compare it with the pixel data.
  if (numberOfFrames > MAX_FRAMES) throw LtError.invalid(`Number of Frames ${numberOfFrames} exceeds the supported ${MAX_FRAMES}`);
  const topSlope = dataset.number(T.RescaleSlope) ?? 1;
  const topIntercept = dataset.number(T.RescaleIntercept) ?? 0;
  const frames: FrameInfo[] = [];
  const enhanced = shared !== undefined || perFrameItems.length > 0;
  if (enhanced) {
    for (let f = 0; f < numberOfFrames; f++) {
      const pf = perFrameItems[f];
      const pos = vec(group(pf, shared, T.PlanePositionSequence), T.ImagePositionPatient, 3);
      const ori = vec(group(pf, shared, T.PlaneOrientationSequence), T.ImageOrientationPatient, 6);
      const meas = group(pf, shared, T.PixelMeasuresSequence);
      const pvt = group(pf, shared, T.PixelValueTransformationSequence);
      frames.push({
        frameNumber: f + 1,
        imagePositionPatient: pos as FrameInfo['imagePositionPatient'],
        imageOrientationPatient: ori as FrameInfo['imageOrientationPatient'],
        pixelSpacing: vec(meas, T.PixelSpacing, 2) as FrameInfo['pixelSpacing'],
        sliceThickness: meas?.number(T.SliceThickness),
        rescaleSlope: pvt?.number(T.RescaleSlope) ?? topSlope,
        rescaleIntercept: pvt?.number(T.RescaleIntercept) ?? topIntercept,
      });
    }
  } else {
    for (let f = 0; f < numberOfFrames; f++) {
      frames.push({
        frameNumber: f + 1,
        imagePositionPatient: vec(dataset, T.ImagePositionPatient, 3) as FrameInfo['imagePositionPatient'],
        imageOrientationPatient: vec(dataset, T.ImageOrientationPatient, 6) as FrameInfo['imageOrientationPatient'],
        pixelSpacing: vec(dataset, T.PixelSpacing, 2) as FrameInfo['pixelSpacing'],
        sliceThickness: dataset.number(T.SliceThickness),
        rescaleSlope: topSlope,
        rescaleIntercept: topIntercept,
      });
    }
  }
  let imageType = dataset.strings(T.ImageType).map((s) => s.toUpperCase());
  if (imageType.length === 0 && enhanced) {
    imageType = (group(perFrameItems[0], shared, T.CTImageFrameTypeSequence)?.strings(T.FrameType) ?? []).map((s) => s.toUpperCase());
  }
  const enhancedKernel = enhanced ? group(perFrameItems[0], shared, T.CTReconstructionSequence)?.strings(T.ConvolutionKernel).filter(Boolean).join('\\') : undefined;
  const f0 = frames[0];
  return {
    path,
    sopInstanceUid: str(T.SOPInstanceUID),
    sopClassUid: str(T.SOPClassUID) || (parsed.meta.string(T.MediaStorageSOPClassUID) ?? ''),
    studyUid: str(T.StudyInstanceUID),
    seriesUid: str(T.SeriesInstanceUID),
    frameOfReferenceUid: dataset.string(T.FrameOfReferenceUID),
    modality: dataset.string(T.Modality)?.toUpperCase(),
    imageType,
    transferSyntaxUid: parsed.transferSyntaxUid,
    seriesNumber: dataset.number(T.SeriesNumber),
    seriesDescription: dataset.string(T.SeriesDescription),
    bodyPartExamined: dataset.string(T.BodyPartExamined),
    protocolName: dataset.string(T.ProtocolName),
    studyDescription: dataset.string(T.StudyDescription),
    instanceNumber: dataset.number(T.InstanceNumber),
    convolutionKernel: kernel ?? (enhancedKernel || undefined),
    gantryDetectorTilt: dataset.number(T.GantryDetectorTilt),
    rows: dataset.uint16(T.Rows) ?? 0,
    columns: dataset.uint16(T.Columns) ?? 0,
    samplesPerPixel: dataset.uint16(T.SamplesPerPixel) ?? 1,
    photometricInterpretation: dataset.string(T.PhotometricInterpretation)?.toUpperCase(),
    bitsAllocated,
    bitsStored,
    highBit: dataset.uint16(T.HighBit) ?? bitsStored - 1,
    pixelRepresentation,
    pixelPaddingValue: xs(dataset, T.PixelPaddingValue, signed),
    pixelPaddingRangeLimit: xs(dataset, T.PixelPaddingRangeLimit, signed),
    imagePositionPatient: f0.imagePositionPatient,
    imageOrientationPatient: f0.imageOrientationPatient,
    pixelSpacing: f0.pixelSpacing,
    sliceThickness: f0.sliceThickness,
    rescaleSlope: f0.rescaleSlope,
    rescaleIntercept: f0.rescaleIntercept,
    numberOfFrames,
    frames,
    pixelData: parsed.pixelData,
    fileSize,
    patientStudy: part10Excerpt(parsed, PATIENT_STUDY_TAGS),
  };
}

/**
 * The header selection and the volume stage judge an instance by: a CT image is held to the pixel rules, and a
 * header that cannot be built is an empty one; either way `error` says why. Never throws.
 */
export function checkedHeader(path: string, parsed: ParsedFile, fileSize: number): InstanceHeader {
  try {
    const h = headerFromParsed(path, parsed, fileSize);
    // Only CT images are held to the pixel rules; other objects (SR, SC) are judged by series selection.
    const problem = CT_IMAGE_CLASSES.has(h.sopClassUid) ? pixelDataProblem(h) : undefined;
    if (problem) h.error = problem;
    return h;
  } catch (e) {
    return emptyHeader(path, describe(e));
  }
}

/** Bytes of one uncompressed frame, or undefined when the header cannot say. */
export function nativeFrameBytes(h: Pick<InstanceHeader, 'rows' | 'columns' | 'samplesPerPixel' | 'bitsAllocated'>): number {
  return (h.rows * h.columns * h.samplesPerPixel * h.bitsAllocated) / 8;
}

const UNCOMPRESSED: ReadonlySet<string> = new Set([TransferSyntax.ImplicitLittle, TransferSyntax.ExplicitLittle, TransferSyntax.ExplicitBig, TransferSyntax.DeflatedExplicitLittle]);

/** True for the transfer syntaxes whose pixel data is native (not encapsulated). */
export function isNativeSyntax(ts: string): boolean {
  return UNCOMPRESSED.has(ts);
}

/**
 * Largest Rows or Columns of a volume: the inference contract's bound (the worker refuses more), checked by the volume
 * stage before a frame is decoded, so such a study costs no decoding and fails at once (a CT slice is 512 or 1024).
 */
export const MAX_DIMENSION = 4096;

/** Checks that the pixel data the header declares fits the file; returns a precise problem or undefined. */
export function pixelDataProblem(h: InstanceHeader): string | undefined {
  if (!h.pixelData) return 'no Pixel Data (7FE0,0010)';
  if (h.rows <= 0 || h.columns <= 0) return `invalid image size: Rows ${h.rows}, Columns ${h.columns}`;
  if (h.rows > MAX_DIMENSION || h.columns > MAX_DIMENSION) return `image of ${h.columns} x ${h.rows} pixels: larger than the ${MAX_DIMENSION} x ${MAX_DIMENSION} the analysis takes`;
  if (![8, 16, 32].includes(h.bitsAllocated)) return `unsupported Bits Allocated ${h.bitsAllocated}`;
  if (h.bitsStored < 1 || h.bitsStored > h.bitsAllocated) return `Bits Stored ${h.bitsStored} is outside 1..Bits Allocated (${h.bitsAllocated})`;
  if (h.highBit >= h.bitsAllocated || h.highBit < h.bitsStored - 1) return `High Bit ${h.highBit} is inconsistent with Bits Stored ${h.bitsStored}`;
  if (h.samplesPerPixel !== 1) return `Samples per Pixel ${h.samplesPerPixel}: CT images must be single-sample grey`;
  if (isNativeSyntax(h.transferSyntaxUid)) {
    if (h.pixelData.encapsulated) return 'encapsulated pixel data in an uncompressed transfer syntax';
    const expected = nativeFrameBytes(h) * h.numberOfFrames;
    if (h.pixelData.length < expected) {
      return `pixel data too short: ${h.pixelData.length} bytes for Rows ${h.rows} x Columns ${h.columns} x ${h.bitsAllocated / 8} bytes x ${h.numberOfFrames} frame(s) = ${expected} bytes`;
    }
    if (h.transferSyntaxUid !== TransferSyntax.DeflatedExplicitLittle && h.pixelData.offset + h.pixelData.length > h.fileSize) {
      return `truncated pixel data: Pixel Data declares ${h.pixelData.length} bytes but the file ends ${h.pixelData.offset + h.pixelData.length - h.fileSize} bytes early`;
    }
  } else if (!h.pixelData.encapsulated) {
    return `compressed transfer syntax ${h.transferSyntaxUid} but Pixel Data is not encapsulated`;
  }
  return undefined;
}

const FIRST_READ = 64 * 1024;

/** CT Image Storage and Enhanced CT Image Storage (PS3.4 B.5). */
export const CT_IMAGE_CLASSES: ReadonlySet<string> = new Set([SopClass.CtImage, SopClass.EnhancedCtImage]);

/**
 * Reads and parses the header of one Part 10 file, reading only as much of the file as the header needs
 * (whole file for deflate, inflated with a cap: maxInflatedBytes, default DEFAULT_MAX_INFLATED_BYTES). Throws LtError
 * on a malformed file.
 */
export async function readInstanceHeader(path: string, maxInflatedBytes?: number): Promise<InstanceHeader> {
  const { parsed, size } = await readHeaderOf(path, maxInflatedBytes);
  return headerFromParsed(path, parsed, size);
}

async function readHeaderOf(path: string, maxInflatedBytes?: number): Promise<{ parsed: ParsedFile; size: number }> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    let want = Math.min(size, FIRST_READ);
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      const partial = bytesRead < size;
      try {
        return { parsed: await parsePart10Inflating(buf.subarray(0, bytesRead), { partial, maxInflatedBytes }), size };
      } catch (e) {
        if (e instanceof NeedMoreData && partial) {
          want = Math.min(size, Math.max(want * 4, e.needed + 1024));
          continue;
        }
        throw e;
      }
    }
  } finally {
    await fh.close();
  }
}

function describe(e: unknown): string {
  if (e instanceof LtError) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'file not found';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return `unreadable: ${err?.message ?? String(e)}`;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

/**
 * Reads the headers (no pixel data) of Part 10 files ({@link checkedHeader}). A file that cannot be read or parsed
 * yields a header with `error` set (a precise reason) instead of throwing, so one bad file never hides the rest of
 * the study.
 */
export async function readSeriesHeaders(files: string[]): Promise<InstanceHeader[]> {
  return mapLimit(files, 8, (file) => readCheckedHeader(file));
}

/** {@link checkedHeader} of one file on disk; a file that cannot be read or parsed gives an empty header saying why. */
export async function readCheckedHeader(file: string): Promise<InstanceHeader> {
  try {
    const { parsed, size } = await readHeaderOf(file);
    return checkedHeader(file, parsed, size);
  } catch (e) {
    return emptyHeader(file, describe(e));
  }
}

function emptyHeader(path: string, error: string): InstanceHeader {
  return {
    path,
    error,
    sopInstanceUid: '',
    sopClassUid: '',
    studyUid: '',
    seriesUid: '',
    imageType: [],
    transferSyntaxUid: '',
    rows: 0,
    columns: 0,
    samplesPerPixel: 1,
    bitsAllocated: 0,
    bitsStored: 0,
    highBit: 0,
    pixelRepresentation: 0,
    rescaleSlope: 1,
    rescaleIntercept: 0,
    numberOfFrames: 0,
    frames: [],
    fileSize: 0,
  };
}
