import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh folder under the OS temp dir, named lt-<name>-XXXXXX so leftovers are easy to spot and clean. */
export function tempDir(name: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `lt-${name}-`));
}
