// The worker refuses to start when the models do not match the manifest, with a message that says why.
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { InferenceClient } from '../../src/inference/client';
import { ManifestError, readManifest, verifyModelFiles } from '../../src/inference/manifest';
import { startWorker, workerOptionsFrom } from '../../src/inference/worker';
import { requireModels } from '../support/models';
import { tempDir } from '../support/temp-dir';

describe('model checks at start', () => {
  let dir: string;
  const real = requireModels();
  const manifest = JSON.parse(readFileSync(path.join(real, 'manifest.json'), 'utf8')) as Record<string, Record<string, string>>;

  beforeEach(() => {
    dir = tempDir('models');
    for (const role of ['slice', 'patient']) symlinkSync(path.join(real, manifest[role].file), path.join(dir, path.basename(manifest[role].file)));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (m: unknown) => writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  const withFiles = (over: (m: typeof manifest) => void) => {
    const m = JSON.parse(JSON.stringify(manifest)) as typeof manifest;
    m.slice.file = path.basename(m.slice.file);
    m.patient.file = path.basename(m.patient.file);
    over(m);
    return m;
  };

  test('the real manifest is valid and its files match their sha256', async () => {
    const m = readManifest(real);
    await expect(verifyModelFiles(real, m)).resolves.toEqual({
      slice: path.join(real, m.slice.file),
      patient: path.join(real, m.patient.file),
    });
  });

  test('a sha256 mismatch refuses to start, naming the file and both hashes', async () => {
    write(withFiles((m) => (m.slice.sha256 = '0'.repeat(64))));
    const e = (await startWorker({ modelsDir: dir, port: 0 }).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(ManifestError);
    expect(e.message).toMatch(/refusing to load models/);
    expect(e.message).toMatch(new RegExp(`slice model .*sha256 ${manifest.slice.sha256.toLowerCase()} does not match the manifest's 0{64}`));
  });

  test('a missing model file refuses to start', async () => {
    write(withFiles((m) => (m.patient.file = 'nope.onnx')));
    const e = (await startWorker({ modelsDir: dir, port: 0 }).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(ManifestError);
    expect(e.message).toMatch(/patient model .*nope\.onnx: cannot read/);
  });

  test('an invalid manifest lists its problems', async () => {
    write(withFiles((m) => ((m as Record<string, unknown>).positiveClass = 'unicorn')));
    const e = (await startWorker({ modelsDir: dir, port: 0 }).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(ManifestError);
    expect(e.message).toMatch(/positiveClass: "unicorn" is not one of the classes/);
  });

  test('workerOptionsFrom maps the validated Config (LT_* settings) onto the worker, as the CLI starts it', async () => {
    const config = loadConfig({ LT_MODELS_DIR: real, LT_WORKER_PORT: '0', LT_WORKER_MAX_CONCURRENT: '3', LT_WORKER_MAX_SLICES: '77', LT_EXECUTION_PROVIDER: 'cpu' });
    const w = await startWorker(workerOptionsFrom(config));
    try {
      const client = new InferenceClient([`127.0.0.1:${w.port}`], { deadlineMs: 10_000 });
      const [info] = await client.listModels();
      client.close();
      expect(info).toMatchObject({ maxConcurrent: 3, maxSlices: 77, executionProvider: 'cpu' });
    } finally {
      await w.close();
    }
  });

  test('no manifest at all', async () => {
    const e = (await startWorker({ modelsDir: path.join(dir, 'missing'), port: 0 }).catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(/cannot read model manifest/);
  });
});
