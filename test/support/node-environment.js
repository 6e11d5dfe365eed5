// The Jest environment of every test (jest.config.js). onnxruntime-node's native binding checks `data instanceof Float32Array`
// against the host realm, while jest's sandbox has its own typed-array constructors. Sharing the host's
// typed arrays with the sandbox makes tensors cross the boundary intact.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
    // Jest's CommonJS sandbox cannot load an ES-module-only package (puppeteer-core) on Node 20: hostImport loads it
    // with Node's own loader, outside the sandbox (test/support/ohif.ts).
    this.global.hostImport = (specifier) => import(specifier);
  }
}

module.exports = OrtEnvironment;
