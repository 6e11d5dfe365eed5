// Original file: proto/lungtriage/inference/v1/inference.proto


/**
 * Geometry and identity of the volume. Identifiers are opaque to the worker (used in logs as hashes only).
 */
export interface VolumeHeader {
  'studyId'?: (string);
  'seriesId'?: (string);
  'rows'?: (number);
  'columns'?: (number);
  'slices'?: (number);
  /**
   * PixelSpacing order: row spacing (between rows), column spacing (between columns), mm.
   */
  'rowSpacingMm'?: (number | string);
  'columnSpacingMm'?: (number | string);
  /**
   * Position of each slice along the slice normal, mm, ascending (volume order).
   */
  'slicePositionsMm'?: (number | string)[];
  /**
   * sha256 (hex) over geometry and voxels, as computed by the volume builder; echoed in the response.
   */
  'contentHash'?: (string);
}

/**
 * Geometry and identity of the volume. Identifiers are opaque to the worker (used in logs as hashes only).
 */
export interface VolumeHeader__Output {
  'studyId': (string);
  'seriesId': (string);
  'rows': (number);
  'columns': (number);
  'slices': (number);
  /**
   * PixelSpacing order: row spacing (between rows), column spacing (between columns), mm.
   */
  'rowSpacingMm': (number);
  'columnSpacingMm': (number);
  /**
   * Position of each slice along the slice normal, mm, ascending (volume order).
   */
  'slicePositionsMm': (number)[];
  /**
   * sha256 (hex) over geometry and voxels, as computed by the volume builder; echoed in the response.
   */
  'contentHash': (string);
}
