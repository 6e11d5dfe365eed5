/** What the benches share: their command-line numbers, their output, and the thorax series they push. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPart10, writePart10 } from '../src/dicom/dcmjs';
import { newUid } from '../src/dicom/uid';
import { SHARED_DATA_DIR } from '../src/paths';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';

/** `--name N` from the command line, else def. */
export const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};

export const out = (s: string): void => void process.stdout.write(s + '\n');

/** The real thorax series when ../shared/data has it, else a phantom of the same size. */
export function loadSeries(): { name: string; files: Buffer[] } {
  const dir = path.join(SHARED_DATA_DIR, 'thorax-ct-dicom/series');
  if (existsSync(dir)) return { name: 'real thorax series (141 x 512x512)', files: readdirSync(dir).sort().map((f) => readFileSync(path.join(dir, f))) };
  return { name: 'synthetic phantom (141 x 512x512)', files: phantomSeries(chestPhantom({ size: 512, slices: 141 })).map((s) => s.bytes) };
}

/** The same series under fresh study/series/instance UIDs, so each repetition stores new instances. */
export function relabel(files: Buffer[]): Buffer[] {
  const study = newUid();
  const series = newUid();
  return files.map((f) => {
    const { dataset } = readPart10(f);
    Object.assign(dataset, { StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: newUid() });
    return writePart10(dataset, '1.2.840.10008.1.2.1');
  });
}
