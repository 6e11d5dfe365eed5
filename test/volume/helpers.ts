/** Test helpers for the volume stage: dcmtk conversions, synthetic series on disk. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** True when a dcmtk tool is on PATH. */
export function hasTool(tool: string): boolean {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a dcmtk command (`tool ...args in out`) over every file of a folder into another folder, two at a time,
 * in one shell (cheap on a loaded machine). Returns the output files, sorted.
 */
export function dcmtkAll(tool: string, args: string[], inDir: string, outDir: string, only?: string[]): string[] {
  mkdirSync(outDir, { recursive: true });
  const names = only ?? readdirSync(inDir).sort();
  const script = `cd "$1" && shift && printf '%s\\n' "$@" | xargs -P2 -I{} ${tool} ${args.join(' ')} "{}" "${outDir}/{}"`;
  execFileSync('bash', ['-c', script, 'bash', inDir, ...names], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  return names.map((n) => path.join(outDir, n));
}

/** Files of a folder, sorted by name. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((n) => path.join(dir, n));
}

/** Index of the first differing element and the count of differences, for readable failures. */
export function diff(a: Int16Array, b: Int16Array): { count: number; first: number; maxAbs: number } {
  let count = 0;
  let first = -1;
  let maxAbs = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      count++;
      maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    }
  }
  return { count: count + Math.abs(a.length - b.length), first, maxAbs };
}
