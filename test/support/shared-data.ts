import { existsSync } from 'node:fs';
import path from 'node:path';
import { SHARED_DATA_DIR } from '../../src/paths';

/** Root of the real data shared beside the repo (../shared/data); absent on a user's fresh clone. */
export const SHARED_DATA = SHARED_DATA_DIR;

/** Absolute path of a file or folder under ../shared/data. */
export function sharedData(rel: string): string {
  return path.join(SHARED_DATA, rel);
}

/**
 * `describe` when ../shared/data/<rel> exists, else `describe.skip` with a name that says plainly why,
 * so a run without the data reports the skip instead of failing or passing silently.
 */
export function describeWithSharedData(rel: string, name: string, fn: () => void): void {
  if (existsSync(sharedData(rel))) describe(name, fn);
  else describe.skip(`${name} [SKIPPED: ../shared/data/${rel} is absent; real-data checks need it]`, fn);
}
