import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Analysis } from '../inference/types';
import { writeFileDurable } from '../egress/folder-target';

/**
 * Keeps a job's inference result on disk between the 'inferred' and 'encoded' states, so a gateway that dies
 * after inference resumes with encoding instead of running the models again.
 */
export class AnalysisStore {
  constructor(private readonly dir: string) {}

  private file(jobId: number): string {
    return path.join(this.dir, `job-${jobId}.analysis.json`);
  }

  save(jobId: number, a: Analysis): void {
    const json = JSON.stringify({ ...a, slices: a.slices.map((s) => ({ ...s, lesionMap: Buffer.from(s.lesionMap).toString('base64') })) });
    writeFileDurable(this.file(jobId), Buffer.from(json));
  }

  async load(jobId: number): Promise<Analysis | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.file(jobId), 'utf8');
    } catch {
      return undefined;
    }
    const raw = JSON.parse(text) as Omit<Analysis, 'slices'> & { slices: (Omit<Analysis['slices'][number], 'lesionMap'> & { lesionMap: string })[] };
    return { ...raw, slices: raw.slices.map((s) => ({ ...s, lesionMap: Uint8Array.from(Buffer.from(s.lesionMap, 'base64')) })) };
  }

  async remove(jobId: number): Promise<void> {
    await fs.rm(this.file(jobId), { force: true });
  }
}
