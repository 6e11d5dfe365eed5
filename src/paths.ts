import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The package root (where package.json is), found from this file whether it runs from src/ (tests) or dist/src/
 * (the built CLI), so bundled files (models/, docker/) resolve the same either way.
 */
export const PACKAGE_ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
})();

/** The real data shared beside the repo (../shared/data), absent on a user's fresh clone. */
export const SHARED_DATA_DIR = path.resolve(PACKAGE_ROOT, '../shared/data');

/** This package's version (package.json), for `--version` and the results' Software Versions. */
export const PACKAGE_VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
