import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DicomMessage, DicomMetaDictionary, readPart10, type NaturalDataset } from '../../../src/dicom/dcmjs';

/**
 * Header via dcmjs (stopping before Pixel Data); the pixels straight from the file's tail when it ends with an
 * uncompressed Implicit VR Pixel Data element of the expected length (fast path), else dcmjs reads the whole file.
 */
function readSlice(buf: Buffer): { dataset: NaturalDataset; pixels: ArrayBuffer } {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const dataset = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false }).dict);
  const n = (dataset.Rows as number) * (dataset.Columns as number) * 2;
  const at = buf.length - n - 8;
  if (at > 0 && buf.readUInt16LE(at) === 0x7fe0 && buf.readUInt16LE(at + 2) === 0x0010 && buf.readUInt32LE(at + 4) === n)
    return { dataset, pixels: ab.slice(at + 8) };
  const full = readPart10(buf).dataset;
  return { dataset: full, pixels: (full.PixelData as ArrayBuffer[])[0] };
}
import type { HuVolume } from '../../../src/volume/types';

/**
 * Reads the real thorax series (../shared/data/thorax-ct-dicom/series: uncompressed, Implicit VR LE, single-frame
 * axial CT) into an HuVolume, sorted along z. A small reader for tests only: the production volume builder lives
 * in src/volume.
 */
export function readThoraxSeries(dir: string): HuVolume {
  const slices = readdirSync(dir)
    .filter((f) => f.endsWith('.dcm'))
    .map((f) => {
      const { dataset, pixels: pixelData } = readSlice(readFileSync(path.join(dir, f)));
      const rows = dataset.Rows as number;
      const columns = dataset.Columns as number;
      const signed = dataset.PixelRepresentation === 1;
      const raw = signed ? new Int16Array(pixelData, 0, rows * columns) : new Uint16Array(pixelData, 0, rows * columns);
      const slope = Number(dataset.RescaleSlope ?? 1);
      const intercept = Number(dataset.RescaleIntercept ?? 0);
      const hu = new Int16Array(rows * columns);
      // (No Math.* in the loop: calls into Math are slow inside jest's sandbox.)
      for (let i = 0; i < hu.length; i++) {
        const v = raw[i] * slope + intercept;
        hu[i] = v <= -32768 ? -32768 : v >= 32767 ? 32767 : v >= 0 ? (v + 0.5) | 0 : -((-v + 0.5) | 0);
      }
      const ipp = (dataset.ImagePositionPatient as number[]).map(Number) as [number, number, number];
      return { dataset, rows, columns, hu, ipp, z: ipp[2] };
    })
    .sort((a, b) => a.z - b.z);
  const first = slices[0];
  const { rows, columns } = first;
  const plane = rows * columns;
  const hu = new Int16Array(plane * slices.length);
  slices.forEach((s, i) => hu.set(s.hu, i * plane));
  const ps = (first.dataset.PixelSpacing as number[]).map(Number) as [number, number];
  return {
    studyUid: String(first.dataset.StudyInstanceUID),
    seriesUid: String(first.dataset.SeriesInstanceUID),
    rows,
    columns,
    slices: slices.length,
    pixelSpacing: ps,
    sliceSpacing: (slices[slices.length - 1].z - first.z) / Math.max(1, slices.length - 1),
    imageOrientationPatient: (first.dataset.ImageOrientationPatient as number[]).map(Number) as HuVolume['imageOrientationPatient'],
    hu,
    sources: slices.map((s) => ({
      sopInstanceUid: String(s.dataset.SOPInstanceUID),
      sopClassUid: String(s.dataset.SOPClassUID),
      position: s.z,
      imagePositionPatient: s.ipp,
    })),
    contentHash: 'thorax-test',
    warnings: [],
  };
}
