/**
 * The volume stage: from the spooled instances of a study to one CT volume in Hounsfield units.
 * readSeriesHeaders -> (study/series-selection's selectSeries) -> buildVolume (headers of the chosen series).
 */
export type { HuVolume, SeriesSelection, SeriesRejection, SourceSlice } from './types';
export { readSeriesHeaders, readInstanceHeader, CT_IMAGE_CLASSES, type InstanceHeader, type FrameInfo } from '../dicom/instance-header';
export { buildVolume, DEFAULT_BUILD_OPTIONS, type BuildOptions } from './build-volume';
export {
  decodeFrame,
  initDecoders,
  isSupportedTransferSyntax,
  isLosslessSyntax,
  SUPPORTED_TRANSFER_SYNTAXES,
  type PixelFormat,
  type StoredSamples,
} from './decode';
export { analyzeStack, DEFAULT_STACK_TOLERANCES, type StackTolerances, type StackGeometry } from './geometry';
