/**
 * `npm run test:unit`: the pure unit tests, in seconds, with no PostgreSQL, Orthanc, worker or model started (no
 * global setup). Integration (*.int.test.ts), fuzzing (*.fuzz.test.ts), the inference tests (real models, a real
 * worker, the Python reference; the pure infection.test.ts, patient-decision.test.ts and wire.test.ts run here) and the real thorax series (../shared/data, a minute) run with the whole suite
 * (`npm test`, jest.config.js).
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  globalSetup: undefined,
  globalTeardown: undefined,
  testPathIgnorePatterns: ['/node_modules/', '\\.int\\.test\\.ts$', '\\.fuzz\\.test\\.ts$', '<rootDir>/test/inference/(?!infection\\.test|patient-decision\\.test|wire\\.test)', '<rootDir>/test/volume/thorax.test.ts'],
};
