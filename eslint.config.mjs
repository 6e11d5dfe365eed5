import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Imports point one way: the pipeline stages, in order, may use earlier stages and the neutral homes (config, db,
 * dicom, grpc, audit, errors, logger, metrics, triage-priority, ...), never a later stage nor the composition root
 * (gateway.ts, demo.ts, cli.ts). `later(...)` lists what a folder may not import.
 */
const LATER_STAGES = ['results', 'egress', 'pipeline', 'api'];
const ROOT = ['gateway', 'demo', 'cli'];
const later = (folders, why) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: [...folders.flatMap((f) => [`**/${f}`, `**/${f}/**`]), ...ROOT.flatMap((f) => [`../${f}`, `../../${f}`, `./${f}`])],
          message: `${why} (eslint.config.mjs: imports point from later stages to earlier ones, never back)`,
        },
      ],
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.lt-cache/**', 'models/**', 'src/generated/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'smart'],
      'no-console': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  { files: ['src/{ingest,study,volume,inference}/**/*.ts'], rules: later(LATER_STAGES, 'an early stage (ingest, study, volume, inference) imports a later one') },
  { files: ['src/results/**/*.ts'], rules: later(['egress', 'pipeline', 'api'], 'results imports a later stage') },
  { files: ['src/egress/**/*.ts'], rules: later(['pipeline', 'api'], 'egress imports a later stage') },
  { files: ['src/pipeline/**/*.ts', 'src/api/**/*.ts'], rules: later([], 'a stage imports the composition root') },
  {
    files: ['src/{config,db,dicom,grpc,audit}/**/*.ts', 'src/*.ts'],
    ignores: ['src/gateway.ts', 'src/demo.ts', 'src/cli.ts'],
    rules: later(['ingest', 'study', 'volume', 'inference', ...LATER_STAGES], 'a neutral home imports a stage'),
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', process: 'readonly', __dirname: 'readonly', console: 'readonly', Buffer: 'readonly', performance: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
