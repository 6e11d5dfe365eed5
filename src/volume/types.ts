/**
 * Largest Rows or Columns of a volume: the inference contract's bound (the worker refuses more), checked by the volume
 * stage before a frame is decoded, so such a study costs no decoding and fails at once (a CT slice is 512 or 1024).
 */
export const MAX_DIMENSION = 4096;

/** Where one slice of the volume came from, so results can reference the source image. */
export interface SourceSlice {
  sopInstanceUid: string;
  sopClassUid: string;
  /** 1-based frame number for multi-frame (Enhanced CT) sources, absent for single-frame. */
  frameNumber?: number;
  /** The source image's Instance Number (0020,0013): how a reader finds the slice in the viewer. */
  instanceNumber?: number;
  /** Position of the slice along the slice normal, in mm. */
  position: number;
  imagePositionPatient: [number, number, number];
}

/**
 * The one CT volume chosen from a study, in Hounsfield units, sorted along the slice normal (ascending position).
 * Voxel (s, r, c) is hu[(s * rows + r) * columns + c].
 */
export interface HuVolume {
  studyUid: string;
  seriesUid: string;
  frameOfReferenceUid?: string;
  rows: number;
  columns: number;
  slices: number;
  /** Row spacing, column spacing in mm (PixelSpacing order). */
  pixelSpacing: [number, number];
  /** Mean spacing between consecutive slice centres in mm. */
  sliceSpacing: number;
  sliceThickness?: number;
  imageOrientationPatient: [number, number, number, number, number, number];
  hu: Int16Array;
  sources: SourceSlice[];
  /** sha256 over geometry and voxels: identifies the input for deterministic result UIDs. */
  contentHash: string;
  /** Non-fatal findings about the geometry (uneven spacing, gantry tilt ...), for the audit trail and report. */
  warnings: string[];
}

/** Why a series was not used. */
export interface SeriesRejection {
  seriesUid: string;
  seriesNumber?: number;
  description?: string;
  modality?: string;
  instances: number;
  reason: string;
}

/** Outcome of series selection: the chosen series (if any) and the reason for every other one. */
export interface SeriesSelection {
  chosen?: { seriesUid: string; reason: string };
  rejected: SeriesRejection[];
}
