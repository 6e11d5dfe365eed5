// A worker in its own process (so a test can SIGKILL it mid-call). Compiles the TypeScript sources on the fly
// with @swc/core (already a dev dependency via @swc/jest) and reports its port over IPC.
const fs = require('node:fs');
const swc = require('@swc/core');

require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true } },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const { configureLogger } = require('../../../src/logger.ts');
const { startWorker } = require('../../../src/inference/worker.ts');

configureLogger({ level: 'error' });
startWorker({ modelsDir: process.env.LT_MODELS_DIR, port: 0, maxConcurrent: 2 }).then(
  (w) => process.send({ port: w.port }),
  (e) => {
    process.send({ error: String(e && e.message) });
    process.exit(1);
  },
);
