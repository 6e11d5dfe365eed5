/**
 * models/manifest.json: what the trainer wrote about the models (labels, files with sha256, preprocessing,
 * operating threshold). Validated with zod; every problem is reported at once.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { LabelInfo } from './types';

const code = z.object({ value: z.string().min(1), scheme: z.string().min(1), meaning: z.string().min(1) });
const label = z.object({ label: z.string().min(1), display: z.string().min(1), code: code.nullable().default(null) });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/i, 'must be 64 hex digits');
const modelFile = z.object({
  file: z.string().min(1),
  sha256,
  name: z.string().min(1),
  version: z.string().min(1),
});

const window = z.object({ center: z.number().finite(), width: z.number().finite().positive() });

const crop = z.object({
  thresholdHu: z.number().finite(),
  openingIterations: z.number().int().min(0).max(10),
  structuringElement: z.literal('3x3-square'),
  connectivity: z.literal(8),
  minComponentFraction: z.number().min(0).max(1),
  dropBorderComponents: z.boolean(),
  /** Components whose mean HU is below this are pure air (trachea, bowel gas, air beside the neck), not lung. */
  minMeanHu: z.number().finite().default(-Infinity),
  marginFraction: z.number().min(0).max(1),
  minBoxFraction: z.number().min(0).max(1),
});

/** The preprocessing parameters the TypeScript implementation understands (models/PREPROCESSING.md). */
export const preprocessingSchema = z.object({
  size: z.number().int().min(8).max(1024),
  windows: z.array(window).min(1),
  channels: z.unknown().optional(),
  normalisation: z.object({ scale: z.number().finite(), offset: z.number().finite() }),
  crop,
  resize: z.literal('bilinear-half-pixel'),
  /** Only for 8-bit figure images (training data); CT volumes arrive in HU. */
  figureGreyToHu: z.object({ slope: z.number().finite(), intercept: z.number().finite() }).optional(),
  averageOverWindows: z.boolean().default(true),
});

/** Parameters of preprocessing, as read from the manifest. */
export type Preprocessing = z.output<typeof preprocessingSchema>;

const manifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    name: z.string().min(1),
    version: z.string().min(1),
    classes: z.array(label).min(2),
    positiveClass: z.string().min(1),
    lesionTypes: z.array(label).min(1),
    slice: modelFile.extend({
      inputName: z.string().min(1).default('input'),
      batchSize: z.number().int().min(1).max(1024).default(16),
    }),
    patient: modelFile.extend({
      kind: z.string().min(1).default('patient'),
      /** Other patient models shipped alongside (e.g. the non-parametric rule); not used by the worker. */
      alternatives: z.array(modelFile.extend({ kind: z.string().min(1) })).default([]),
    }),
    preprocessing: preprocessingSchema,
    threshold: z.object({ value: z.number().min(0).max(1) }),
    /**
     * The patient-level rule over the volume evidence (models 2.0): infection present when the infected share of the
     * lung reaches `present`, indeterminate from `indeterminate`; given infection, COVID-19 pattern when the
     * infected-area-weighted p(COVID-19) reaches `threshold.value`; URGENT from `urgentFraction` of the lung.
     */
    infection: z
      .object({
        /** A map position counts as infected from this probability (the binary segmentation). */
        pixelThreshold: z.number().min(0).max(1),
        present: z.number().min(0).max(1),
        indeterminate: z.number().min(0).max(1),
        urgentFraction: z.number().min(0).max(1),
        /** A slice counts as infected (lesion slice, key slice candidate) from this infected area. */
        minSliceAreaMm2: z.number().min(0),
      })
      .optional(),
    sliceLesionThreshold: z.number().min(0).max(1).default(0.5),
  })
  .superRefine((m, ctx) => {
    if (!m.classes.some((c) => c.label === m.positiveClass))
      ctx.addIssue({ code: 'custom', path: ['positiveClass'], message: `"${m.positiveClass}" is not one of the classes` });
  });

/** The validated manifest. */
export type Manifest = z.output<typeof manifestSchema>;

/** Why the models cannot be used: the worker refuses to start with this message. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Reads and validates <modelsDir>/manifest.json. */
export function readManifest(modelsDir: string): Manifest {
  const file = path.join(modelsDir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ManifestError(`cannot read model manifest ${file}: ${(e as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ManifestError(`invalid model manifest ${file}:\n  - ${problems.join('\n  - ')}`);
  }
  return parsed.data;
}

/** sha256 (hex) of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * Checks that each model file exists and matches the manifest's sha256; throws one ManifestError listing every
 * mismatch. Returns the absolute paths.
 */
export async function verifyModelFiles(modelsDir: string, m: Manifest): Promise<{ slice: string; patient: string }> {
  const problems: string[] = [];
  const out = { slice: path.resolve(modelsDir, m.slice.file), patient: path.resolve(modelsDir, m.patient.file) };
  for (const role of ['slice', 'patient'] as const) {
    const file = out[role];
    let actual: string;
    try {
      actual = await sha256File(file);
    } catch (e) {
      problems.push(`${role} model ${file}: cannot read (${(e as Error).message})`);
      continue;
    }
    const expected = m[role].sha256.toLowerCase();
    if (actual !== expected) problems.push(`${role} model ${file}: sha256 ${actual} does not match the manifest's ${expected}`);
  }
  if (problems.length > 0) throw new ManifestError(`refusing to load models:\n  - ${problems.join('\n  - ')}`);
  return out;
}

/** The manifest's label lists in the contract's shape. */
export function labelsOf(m: Manifest): { classes: LabelInfo[]; lesionTypes: LabelInfo[] } {
  const map = (l: z.output<typeof label>): LabelInfo => ({ label: l.label, display: l.display, code: l.code ? { ...l.code } : null });
  return { classes: m.classes.map(map), lesionTypes: m.lesionTypes.map(map) };
}
