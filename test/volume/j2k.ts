/** JPEG 2000 test material: encoded with dcmjs-codecs (OpenJPEG), decoded independently by pydicom + Pillow. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { NativeCodecs, Transcoder } from 'dcmjs-codecs';

/** Transcodes Part 10 files to a JPEG 2000 syntax; returns the new files. */
export async function toJpeg2000(files: string[], outDir: string, ts: string, rate?: number): Promise<string[]> {
  // The encoder runs here, on the test's own thread (the service decodes on a thread of its own).
  if (!NativeCodecs.isInitialized()) {
    const wasm = path.join(path.dirname(require.resolve('dcmjs-codecs')), 'dcmjs-native-codecs.wasm');
    await NativeCodecs.initializeAsync({ webAssemblyModulePathOrUrl: wasm, logCodecsInfo: false, logCodecsTrace: false });
  }
  mkdirSync(outDir, { recursive: true });
  return files.map((f) => {
    const b = readFileSync(f);
    const t = new Transcoder(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    t.transcode(ts, rate !== undefined ? { rate } : {});
    const out = path.join(outDir, path.basename(f));
    writeFileSync(out, Buffer.from(t.getDicomPart10()));
    return out;
  });
}

const PY = `
import sys, numpy as np, pydicom
for f in sys.argv[2:]:
    ds = pydicom.dcmread(f)
    a = ds.pixel_array.astype(np.float64) * float(getattr(ds, 'RescaleSlope', 1)) + float(getattr(ds, 'RescaleIntercept', 0))
    sys.stdout.buffer.write(np.clip(np.floor(a + 0.5), -32768, 32767).astype('<i2').tobytes())
`;

/** HU of each file (in the order given) as pydicom + numpy decode it; null when pydicom cannot decode. */
export function pydicomHu(files: string[]): Int16Array | null {
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', PY, 'x', ...files], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    return new Int16Array(out.buffer, out.byteOffset, out.byteLength / 2);
  } catch {
    return null;
  }
}
