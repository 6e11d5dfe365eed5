/**
 * The one tag vocabulary: tags as numbers (group << 16 | element, PS3.6), named once here and written either as
 * DICOM texts do, (0020,0032), or as DICOM JSON keys do, "00200032" (PS3.18 F.2). dcmjs keywords stay in dcmjs.
 */

/** A tag as (group << 16 | element), e.g. 0x00200032 for Image Position (Patient). */
export type Tag = number;

/** The tags the service reads or writes by number. */
export const Tags = {
  TransferSyntaxUID: 0x00020010,
  MediaStorageSOPClassUID: 0x00020002,
  MediaStorageSOPInstanceUID: 0x00020003,
  SpecificCharacterSet: 0x00080005,
  ImageType: 0x00080008,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  Modality: 0x00080060,
  Manufacturer: 0x00080070,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  ReferencedSOPClassUID: 0x00081150,
  ReferencedSOPInstanceUID: 0x00081155,
  RetrieveURL: 0x00081190,
  WarningReason: 0x00081196,
  FailureReason: 0x00081197,
  FailedSOPSequence: 0x00081198,
  ReferencedSOPSequence: 0x00081199,
  FrameType: 0x00089007,
  BodyPartExamined: 0x00180015,
  SliceThickness: 0x00180050,
  ProtocolName: 0x00181030,
  GantryDetectorTilt: 0x00181120,
  ConvolutionKernel: 0x00181210,
  CTReconstructionSequence: 0x00189314,
  CTImageFrameTypeSequence: 0x00189329,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  ImagePositionPatient: 0x00200032,
  ImageOrientationPatient: 0x00200037,
  FrameOfReferenceUID: 0x00200052,
  NumberOfStudyRelatedInstances: 0x00201208,
  FrameContentSequence: 0x00209111,
  PlanePositionSequence: 0x00209113,
  PlaneOrientationSequence: 0x00209116,
  SamplesPerPixel: 0x00280002,
  PhotometricInterpretation: 0x00280004,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  PixelSpacing: 0x00280030,
  BitsAllocated: 0x00280100,
  BitsStored: 0x00280101,
  HighBit: 0x00280102,
  PixelRepresentation: 0x00280103,
  PixelPaddingValue: 0x00280120,
  PixelPaddingRangeLimit: 0x00280121,
  RescaleIntercept: 0x00281052,
  RescaleSlope: 0x00281053,
  PixelMeasuresSequence: 0x00289110,
  PixelValueTransformationSequence: 0x00289145,
  SegmentIdentificationSequence: 0x0062000a,
  ReferencedSegmentNumber: 0x0062000b,
  RequestAttributesSequence: 0x00400275,
  RequestedProcedurePriority: 0x00401003,
  SharedFunctionalGroupsSequence: 0x52009229,
  PerFrameFunctionalGroupsSequence: 0x52009230,
  FloatPixelData: 0x7fe00008,
  DoubleFloatPixelData: 0x7fe00009,
  PixelData: 0x7fe00010,
  Item: 0xfffee000,
  ItemDelimitationItem: 0xfffee00d,
  SequenceDelimitationItem: 0xfffee0dd,
} as const satisfies Record<string, Tag>;

/** Formats a tag the way DICOM texts write it: (0020,0032). */
export function tagName(tag: Tag): string {
  const h = tagKey(tag);
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}

/** The tag as a DICOM JSON attribute key: "00200032" (upper-case hex, PS3.18 F.2.1.1). */
export function tagKey(tag: Tag): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
}
