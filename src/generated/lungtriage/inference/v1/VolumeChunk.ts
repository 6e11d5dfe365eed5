// Original file: proto/lungtriage/inference/v1/inference.proto


/**
 * A run of voxels: int16 little-endian HU values, starting at voxel index first_voxel of the volume.
 */
export interface VolumeChunk {
  'firstVoxel'?: (number);
  'hu'?: (Buffer | Uint8Array | string);
}

/**
 * A run of voxels: int16 little-endian HU values, starting at voxel index first_voxel of the volume.
 */
export interface VolumeChunk__Output {
  'firstVoxel': (number);
  'hu': (Buffer);
}
