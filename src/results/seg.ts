/**
 * DICOM Segmentation (PS3.3 A.51, C.8.20) of the infection: one binary segment, one frame per CT slice with infected
 * pixels, in the CT's Frame of Reference and matrix, each frame derived from (and referencing) its source image.
 */
import type { Analysis, SliceResult } from '../inference/types';
import { mapCell } from '../inference/infection';
import type { HuVolume } from '../volume/types';
import { SopClass, writePart10, type NaturalDataset } from '../dicom/dcmjs';
import { derivedUid } from '../dicom/uid';
import { Tags } from '../dicom/tags';
import { DCM, SCT } from './codes';
import { contributingEquipment, equipmentAttributes } from './device';
import { resultSeriesNumbers, type ResultContext, type ResultObject } from './result-set';
import { CodedConcept } from './sr/content';

/** The one segment's number (Referenced Segment in the SR points at it). */
export const INFECTION_SEGMENT = 1;

/** Segment label and colour (CIELab of a saturated orange-red, PS3.3 C.10.7.1.1 scaling) the viewer shows. */
const SEGMENT_LABEL = 'Lung infection (AI)';
const ORANGE_RED_CIELAB = [35000, 50000, 48000];

/**
 * The pixels of one slice the engine counted as infected (1), at the CT's matrix: the lesion-map cells at or above
 * the pixel threshold, each tiling its part of the crop box as in src/inference/infection.ts (mapCell). The engine
 * restricted the map to the lung before quantising it, and rounds to uint8: a cell at or above threshold t holds at
 * least round(255 t), so counting these pixels reproduces the slice's infected area.
 */
export function infectionMask(s: SliceResult, rows: number, columns: number, pixelThreshold: number): { mask: Uint8Array; pixels: number } {
  const mask = new Uint8Array(rows * columns);
  const level = Math.round(pixelThreshold * 255);
  const { cropBox: b, mapWidth: mw, mapHeight: mh } = s;
  let pixels = 0;
  if (mw === 0 || mh === 0 || b.width === 0 || b.height === 0) return { mask, pixels };
  for (let y = Math.max(0, b.y); y < Math.min(rows, b.y + b.height); y++) {
    const row = mapCell(y - b.y, b.height, mh) * mw;
    for (let x = Math.max(0, b.x); x < Math.min(columns, b.x + b.width); x++) {
      if (s.lesionMap[row + mapCell(x - b.x, b.width, mw)] >= level) {
        mask[y * columns + x] = 1;
        pixels++;
      }
    }
  }
  return { mask, pixels };
}

/** Packs 0/1 pixels of consecutive frames into bits, first pixel in the lowest bit (PS3.5 8.1.1), padded to even. */
function packBits(frames: Uint8Array[], pixelsPerFrame: number): Buffer {
  const out = Buffer.alloc(Math.ceil((frames.length * pixelsPerFrame) / 8 / 2) * 2);
  frames.forEach((f, i) => {
    const base = i * pixelsPerFrame;
    for (let p = 0; p < pixelsPerFrame; p++) if (f[p]) out[(base + p) >> 3] |= 1 << ((base + p) & 7);
  });
  return out;
}

/**
 * The infection SEG of a positive or indeterminate study, or undefined for a negative one, for a model without a
 * pixel threshold, when no slice has an infected pixel, or when the CT has no Frame of Reference (the SEG must share
 * it). Frames in volume order (ascending along the slice normal, like the CT), per-frame Plane Position and
 * Derivation Image (Source Image Sequence with the CT SOP Instance, and frame for an Enhanced CT), shared Plane
 * Orientation and Pixel Measures of the CT, and the CT series in the Referenced Series Sequence.
 */
export function infectionSegmentation(ctx: ResultContext, v: HuVolume, analysis: Analysis): ResultObject | undefined {
  const threshold = analysis.infectionPixelThreshold;
  if (analysis.patient.decision === 'negative' || threshold === undefined || !v.frameOfReferenceUid) return undefined;
  const { uids, when } = ctx;
  const masks: { index: number; mask: Uint8Array }[] = [];
  for (const s of analysis.slices) {
    const m = infectionMask(s, v.rows, v.columns, threshold);
    if (m.pixels === 0) continue;
    masks.push({ index: s.index, mask: m.mask });
  }
  if (masks.length === 0) return undefined;
  const dimensionOrganizationUid = derivedUid(uids.seg, 'dimension-organization');
  const perFrame = masks.map(({ index }, k) => {
    const src = v.sources[index];
    return {
      DerivationImageSequence: [
        {
          DerivationCodeSequence: [new CodedConcept(DCM.Segmentation).toItem()],
          SourceImageSequence: [
            {
              ReferencedSOPClassUID: src.sopClassUid,
              ReferencedSOPInstanceUID: src.sopInstanceUid,
              ...(src.frameNumber ? { ReferencedFrameNumber: src.frameNumber } : {}),
              PurposeOfReferenceCodeSequence: [new CodedConcept(DCM.SourceImageForProcessing).toItem()],
            },
          ],
        },
      ],
      FrameContentSequence: [{ DimensionIndexValues: [INFECTION_SEGMENT, k + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: [...src.imagePositionPatient] }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: INFECTION_SEGMENT }],
    };
  });
  const referenced = new Map<string, string>();
  for (const { index } of masks) referenced.set(v.sources[index].sopInstanceUid, v.sources[index].sopClassUid);
  const pixels = packBits(
    masks.map((m) => m.mask),
    v.rows * v.columns,
  );
  const dataset: NaturalDataset = {
    ...ctx.header,
    SOPClassUID: SopClass.Segmentation,
    SOPInstanceUID: uids.seg,
    Modality: 'SEG',
    SeriesInstanceUID: uids.segSeries,
    SeriesNumber: resultSeriesNumbers(ctx.study).seg,
    SeriesDescription: 'AI lung infection segmentation (not for diagnostic use)',
    SeriesDate: when.date,
    SeriesTime: when.time,
    BodyPartExamined: ctx.study.BodyPartExamined ?? 'CHEST',
    FrameOfReferenceUID: v.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    ...equipmentAttributes(ctx.algoVersion),
    ContributingEquipmentSequence: contributingEquipment(ctx.models, ctx.when),
    InstanceNumber: 1,
    ContentDate: when.date,
    ContentTime: when.time,
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: 'LUNG_INFECTION',
    ContentDescription: 'AI lung infection map at the operating pixel threshold, not reviewed'.slice(0, 64),
    ContentCreatorName: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: v.rows,
    Columns: v.columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentSequence: [
      {
        SegmentNumber: INFECTION_SEGMENT,
        SegmentLabel: SEGMENT_LABEL,
        SegmentDescription: `Infection probability at least ${threshold} (AI, not reviewed)`,
        SegmentedPropertyCategoryCodeSequence: [new CodedConcept(SCT.MorphologicallyAbnormalStructure).toItem()],
        SegmentedPropertyTypeCodeSequence: [new CodedConcept(SCT.Inflammation).toItem()],
        AnatomicRegionSequence: [new CodedConcept(SCT.Lung).toItem()],
        SegmentAlgorithmType: 'AUTOMATIC',
        SegmentAlgorithmName: ctx.algorithm.name.slice(0, 64),
        RecommendedDisplayCIELabValue: ORANGE_RED_CIELAB,
      },
    ],
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUid }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: Tags.ReferencedSegmentNumber,
        FunctionalGroupPointer: Tags.SegmentIdentificationSequence,
        DimensionDescriptionLabel: 'Segment Number',
      },
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: Tags.ImagePositionPatient,
        FunctionalGroupPointer: Tags.PlanePositionSequence,
        DimensionDescriptionLabel: 'Image Position (Patient)',
      },
    ],
    NumberOfFrames: masks.length,
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: [...v.imageOrientationPatient] }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: [...v.pixelSpacing],
            SliceThickness: v.sliceThickness ?? v.sliceSpacing,
            SpacingBetweenSlices: v.sliceSpacing,
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: v.seriesUid,
        ReferencedInstanceSequence: [...referenced].map(([uid, cls]) => ({ ReferencedSOPClassUID: cls, ReferencedSOPInstanceUID: uid })),
      },
    ],
    PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength)],
    _vrMap: { PixelData: 'OB' },
  };
  return { kind: 'seg', sopClassUid: SopClass.Segmentation, sopInstanceUid: uids.seg, seriesInstanceUid: uids.segSeries, bytes: writePart10(dataset) };
}
