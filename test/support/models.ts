import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths';

/** The models the tests run: the committed ones (LT_TEST_MODELS_DIR only for local experiments). */
export const TEST_MODELS_DIR = path.resolve(process.env.LT_TEST_MODELS_DIR ?? path.join(PACKAGE_ROOT, 'models'));

/** Fails with a plain message when the trained models are missing (they are committed with the repo). */
export function requireModels(): string {
  if (!existsSync(path.join(TEST_MODELS_DIR, 'manifest.json')))
    throw new Error(`no model manifest at ${TEST_MODELS_DIR}/manifest.json: the trained models (models/) are needed by these tests`);
  return TEST_MODELS_DIR;
}
