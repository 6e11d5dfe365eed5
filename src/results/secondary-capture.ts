/** RGB secondary captures in the source study (the heat maps, the summary page), PS3.3 A.8.1. */
import { SopClass, writePart10, type NaturalDataset } from '../dicom/dcmjs';
import { contributingEquipment, equipmentAttributes } from './device';
import type { RgbImage } from './font';
import type { ResultContext, ResultObject } from './result-set';
import { referencedSop, type InstanceRef } from './sr/content';

/** One secondary capture's own attributes. */
export interface CaptureOptions {
  sopInstanceUid: string;
  seriesUid: string;
  seriesNumber: number;
  seriesDescription: string;
  instanceNumber: number;
  patientOrientation: [string, string] | '';
  derivationDescription: string;
  imageComments: string;
  /** The CT image it shows, when it shows one (Source Image Sequence). */
  source?: InstanceRef;
  /** Row and column spacing in mm of the image part, when it shows a CT image at a known scale (measurable in a viewer). */
  pixelSpacingMm?: [number, number];
  image: RgbImage;
}

/** An interleaved, uncompressed RGB secondary capture with burned-in text. */
export function secondaryCapture(ctx: ResultContext, o: CaptureOptions): Omit<ResultObject, 'kind'> {
  const img = o.image;
  const pixels = img.data.length % 2 ? Buffer.concat([Buffer.from(img.data), Buffer.alloc(1)]) : Buffer.from(img.data);
  const dataset: NaturalDataset = {
    ...ctx.header,
    SOPClassUID: SopClass.SecondaryCapture,
    SOPInstanceUID: o.sopInstanceUid,
    Modality: 'OT',
    SeriesInstanceUID: o.seriesUid,
    SeriesNumber: o.seriesNumber,
    // General Series: no Laterality (type 2C, for a single paired body part; an empty value says nothing about a
    // chest); Body Part Examined is the source's, or CHEST.
    BodyPartExamined: ctx.study.BodyPartExamined ?? 'CHEST',
    SeriesDescription: o.seriesDescription,
    SeriesDate: ctx.when.date,
    SeriesTime: ctx.when.time,
    ...equipmentAttributes(ctx.algoVersion),
    ConversionType: 'WSD',
    ContributingEquipmentSequence: contributingEquipment(ctx.models, ctx.when),
    InstanceNumber: o.instanceNumber,
    PatientOrientation: o.patientOrientation,
    ContentDate: ctx.when.date,
    ContentTime: ctx.when.time,
    ImageType: ['DERIVED', 'SECONDARY'],
    DerivationDescription: o.derivationDescription.slice(0, 1024),
    ImageComments: o.imageComments.slice(0, 10240),
    BurnedInAnnotation: 'YES',
    LossyImageCompression: '00',
    ...(o.source ? { SourceImageSequence: [referencedSop(o.source)] } : {}),
    // SC Image module's Basic Pixel Spacing Calibration Macro (PS3.3 C.8.6.2, Table 10-10): the CT's spacing, rescaled.
    ...(o.pixelSpacingMm ? { PixelSpacing: o.pixelSpacingMm.map((v) => Number(v.toPrecision(10))) } : {}),
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
  return { sopClassUid: SopClass.SecondaryCapture, sopInstanceUid: o.sopInstanceUid, seriesInstanceUid: o.seriesUid, bytes: writePart10(dataset) };
}
