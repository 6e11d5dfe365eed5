import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MIN_AUDIT_KEY_CHARS } from '../audit/audit-log';
import { DEFAULT_MAX_INFLATED_BYTES } from '../dicom/inflate';

/**
 * All settings, read once from env vars (LT_*) and an optional JSON file (LT_CONFIG_FILE, same keys).
 * Env wins over the file. Any secret may instead be given as <NAME>_FILE, a path whose content is the value.
 */
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
const port = (def: number) => int(def, 0, 65535);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const optionalUrl = z.string().url().optional();

const hostPort = /^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/;
/** An AE title (PS3.5 6.2, VR AE): 1-16 characters of the default repertoire, no backslash or control characters. */
const aeTitle = /^[\x20-\x5b\x5d-\x7e]{1,16}$/;
const ae = z.string().regex(aeTitle, 'must be 1-16 printable characters without backslash').refine((v) => v.trim() !== '', 'must not be blank');
/** A DIMSE peer, AE@host:port. */
const aeAddress = /^([\x20-\x3f\x41-\x5b\x5d-\x7e]{1,16})@([A-Za-z0-9.\-_[\]:]+):(\d{1,5})$/;

/**
 * What a caller may do: `sender` stores instances (STOW-RS), `reader` retrieves them (WADO-RS) and reads
 * TriageService, `operator` makes the gateway pull a study (SubmitStudy), `auditor` reads and verifies the audit trail.
 */
export const ROLES = ['sender', 'reader', 'operator', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** True for an address only this machine can reach (where listening without authentication is acceptable). */
export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/.test(host);
}

/** A static secret (a bearer token, or "user:password") and the roles it grants. */
export interface StaticCredential {
  secret: string;
  roles: Role[];
}

/** Roles of a static credential without a "[role+role]" prefix. */
export const DEFAULT_ROLES = { dicomWeb: ['sender'] as Role[], grpc: ['reader', 'operator', 'auditor'] as Role[] };

/** Entries "secret" or "[role+role]secret"; the prefix names the roles (else the surface's defaults). */
const credentials = (defaults: Role[]) =>
  list.transform((entries, ctx) =>
    entries.map((entry): StaticCredential => {
      const m = /^\[([a-z+]*)\](.+)$/.exec(entry);
      if (!m) return { secret: entry, roles: defaults };
      const roles = m[1].split('+').filter(Boolean);
      for (const r of roles) if (!(ROLES as readonly string[]).includes(r)) ctx.addIssue({ code: 'custom', message: `unknown role "${r}" (roles: ${ROLES.join(', ')})` });
      return { secret: m[2], roles: roles as Role[] };
    }),
  );

const schema = z.object({
  LT_HTTP_HOST: z.string().default('127.0.0.1'),
  LT_HTTP_PORT: port(8080),
  LT_HTTP_MAX_CONNECTIONS: int(1024, 1, 1_000_000),
  LT_HTTP_TLS_CERT: z.string().optional(),
  LT_HTTP_TLS_KEY: z.string().optional(),
  LT_HTTP_TLS_CA: z.string().optional(),
  LT_HTTP_TLS_REQUIRE_CLIENT_CERT: bool(false),
  LT_GRPC_HOST: z.string().default('127.0.0.1'),
  LT_GRPC_PORT: port(50052),
  LT_WORKER_HOST: z.string().default('127.0.0.1'),
  LT_WORKER_PORT: port(50051),
  LT_WORKERS: list.refine((l) => l.every((w) => hostPort.test(w)), 'must be comma-separated host:port entries'),
  LT_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  LT_DATA_DIR: z.string().default('.lt-data'),
  LT_PACS_URL: optionalUrl,
  LT_PUBLIC_URL: optionalUrl,
  LT_STABLE_SECONDS: z.coerce.number().min(0).max(86400).default(10),
  LT_MAX_BODY_BYTES: int(8 * 1024 ** 3, 1),
  LT_MAX_INSTANCE_BYTES: int(1024 ** 3, 1),
  /** Unset: 256 MiB, or LT_MAX_INSTANCE_BYTES when that is smaller. */
  LT_MAX_INFLATED_BYTES: z.coerce.number().int().min(1).optional(),
  LT_MAX_CONCURRENT_STOW: int(8, 1, 1000),
  LT_STOW_IDLE_SECONDS: int(30, 1, 3600),
  LT_MAX_PARTS_PER_REQUEST: int(5000, 1, 1_000_000),
  LT_MAX_INSTANCES_PER_STUDY: int(20_000, 1),
  /** Per caller and surface; 0 = off. A PACS's normal traffic (tens of requests a second) stays far below. */
  LT_RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(1000),
  LT_RATE_LIMIT_BURST: int(2000, 1, 10_000_000),
  LT_AUTH_BEARER_TOKENS: credentials(DEFAULT_ROLES.dicomWeb),
  LT_AUTH_BASIC_USERS: credentials(DEFAULT_ROLES.dicomWeb).refine((l) => l.every((u) => u.secret.includes(':')), 'entries must be user:password'),
  LT_OIDC_ISSUER: optionalUrl,
  LT_OIDC_AUDIENCE: z.string().optional(),
  LT_OIDC_JWKS_URL: optionalUrl,
  LT_ALLOW_UNAUTHENTICATED: bool(false),
  LT_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  LT_MODELS_DIR: z.string().default('models'),
  LT_EXECUTION_PROVIDER: z.enum(['auto', 'cuda', 'cpu']).default('auto'),
  LT_WORKER_MAX_CONCURRENT: int(2, 1, 64),
  LT_WORKER_MAX_SLICES: int(2000, 1),
  LT_WORKER_SLICE_CACHE: int(1024, 0, 100_000),
  LT_WORKER_THREADS: int(0, 0, 256),
  LT_INFERENCE_DEADLINE_SECONDS: int(600, 1),
  LT_POLL_MS: int(500, 10, 60000),
  LT_JOB_LEASE_SECONDS: int(120, 5),
  LT_TRANSIENT_RETRY_SECONDS: int(6 * 3600, 1),
  LT_EARLY_INFERENCE: bool(true),
  LT_PACS_COMPLETENESS: bool(true),
  LT_KEY_SLICES: int(4, 1, 50),
  LT_GRPC_AUTH_TOKENS: credentials(DEFAULT_ROLES.grpc),
  LT_WORKER_AUTH_TOKEN: z.string().optional(),
  LT_TLS_CERT: z.string().optional(),
  LT_TLS_KEY: z.string().optional(),
  LT_TLS_CA: z.string().optional(),
  LT_TLS_REQUIRE_CLIENT_CERT: bool(false),
  LT_PACS_AUTH: z.enum(['none', 'basic', 'bearer', 'oauth2']).default('none'),
  LT_PACS_USERNAME: z.string().optional(),
  LT_PACS_PASSWORD: z.string().optional(),
  LT_PACS_TOKEN: z.string().optional(),
  LT_PACS_OAUTH_TOKEN_URL: optionalUrl,
  LT_PACS_OAUTH_CLIENT_ID: z.string().optional(),
  LT_PACS_OAUTH_CLIENT_SECRET: z.string().optional(),
  LT_PACS_OAUTH_SCOPE: z.string().optional(),
  LT_PACS_CA: z.string().optional(),
  LT_OUTPUT_DIR: z.string().optional(),
  LT_DIMSE_HOST: z.string().default('127.0.0.1'),
  /** Unset: no DIMSE listener. */
  LT_DIMSE_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  LT_DIMSE_AE_TITLE: ae.default('LUNG_TRIAGE'),
  LT_DIMSE_ALLOWED_AES: list.refine((l) => l.every((a) => aeTitle.test(a)), 'entries must be AE titles'),
  LT_DIMSE_ALLOWED_HOSTS: list,
  /** AE@host:port: results go there by C-STORE instead of STOW-RS. */
  LT_RESULTS_DIMSE: z.string().regex(aeAddress, 'must be AE@host:port').optional(),
  LT_SELECT_MIN_SLICES: int(20, 2),
  LT_VOLUME_MAX_SLICES: int(1500, 2, 100000),
  LT_SPOOL_RETAIN_SECONDS: int(3600, 0),
  LT_SPOOL_MAX_AGE_HOURS: int(72, 1),
  LT_AUDIT_KEY: z.string().min(MIN_AUDIT_KEY_CHARS, `must have at least ${MIN_AUDIT_KEY_CHARS} characters (e.g. openssl rand -hex 32)`).optional(),
  LT_AUDIT_CHECKPOINT_FILE: z.string().optional(),
  LT_AUDIT_CHECKPOINT_SECONDS: int(60, 1, 86400),
  LT_RESULTS_ONLY_TO_HELD_STUDIES: bool(true),
  LT_REPORT_NOT_APPLICABLE: bool(false),
  LT_RECONCILE_SECONDS: int(300, 0, 86400),
  LT_RECONCILE_LOOKBACK_HOURS: int(24, 1, 24 * 31),
  LT_RECONCILE_MODALITY: z.string().regex(/^[A-Z]{2,16}$/, 'must be a DICOM modality code such as CT').default('CT'),
  LT_RECONCILE_BODY_PART: z.string().max(16).optional(),
});

/** Keys that may hold secrets; each also accepts <KEY>_FILE. */
const SECRET_KEYS = [
  'LT_DATABASE_URL',
  'LT_AUTH_BEARER_TOKENS',
  'LT_AUTH_BASIC_USERS',
  'LT_GRPC_AUTH_TOKENS',
  'LT_PACS_PASSWORD',
  'LT_PACS_TOKEN',
  'LT_PACS_OAUTH_CLIENT_SECRET',
  'LT_AUDIT_KEY',
  'LT_WORKER_AUTH_TOKEN',
] as const;

type Raw = z.output<typeof schema>;

/** The validated configuration, with derived paths. */
export interface Config {
  /**
   * maxConnections: open HTTP connections at most; beyond, new ones are closed at once (descriptors stay bounded).
   * tls: the DICOMweb listener serves HTTPS (LT_HTTP_TLS_*, file paths); with requireClientCert only clients the CA signed connect.
   */
  http: { host: string; port: number; publicUrl?: string; maxConnections: number; tls?: HttpTls };
  grpc: { host: string; port: number; authTokens: StaticCredential[] };
  /** threads: onnxruntime intra-op threads, 0 = onnxruntime's choice. */
  /** authToken: the bearer token the worker requires and the gateway sends (LT_WORKER_AUTH_TOKEN). */
  worker: {
    host: string;
    port: number;
    maxConcurrent: number;
    maxSlices: number;
    /** Slices whose results the engine keeps for a volume analysed again (LT_WORKER_SLICE_CACHE; 0: none). */
    sliceCacheSlices: number;
    executionProvider: 'auto' | 'cuda' | 'cpu';
    threads: number;
    authToken?: string;
  };
  workers: string[];
  databaseUrl?: string;
  dataDir: string;
  spoolDir: string;
  outputDir: string;
  modelsDir: string;
  pacs?: {
    url: string;
    auth: 'none' | 'basic' | 'bearer' | 'oauth2';
    username?: string;
    password?: string;
    token?: string;
    oauth?: { tokenUrl: string; clientId: string; clientSecret: string; scope?: string };
    caFile?: string;
  };
  /** The C-STORE / C-ECHO listener (LT_DIMSE_PORT set); empty allow-lists admit any peer. */
  dimse?: { host: string; port: number; aeTitle: string; allowedAes: string[]; allowedHosts: string[] };
  /** Where results go by C-STORE (LT_RESULTS_DIMSE), called from our AE title (LT_DIMSE_AE_TITLE). */
  resultsDimse?: DimsePeer;
  stableSeconds: number;
  /** With LT_PACS_URL: a study is complete as soon as the PACS holds what we received (LT_PACS_COMPLETENESS), else after stableSeconds. */
  pacsCompleteness: boolean;
  /**
   * maxInflatedBytes: most bytes a Deflated Explicit VR Little Endian data set may inflate to (0xA700 beyond).
   * stowIdleSeconds: longest a STOW body may go without a byte before the request is ended and its slot freed.
   * maxPartsPerRequest: parts one STOW request may carry; the rest are refused (0xA700), to be sent in another.
   * maxInstancesPerStudy: instances one study may hold; each one beyond is refused (0xA700), what is held stays.
   */
  limits: {
    maxBodyBytes: number;
    maxInstanceBytes: number;
    maxInflatedBytes: number;
    maxConcurrentStow: number;
    stowIdleSeconds: number;
    maxPartsPerRequest: number;
    maxInstancesPerStudy: number;
  };
  /** Requests per second per caller (authenticated identity, else address) on DICOMweb, TriageService and DIMSE C-STORE. */
  rateLimit: { perSecond: number; burst: number };
  /** DICOMweb credentials; oidc: bearer JWTs from that issuer, on DICOMweb and gRPC alike. */
  auth: { bearerTokens: StaticCredential[]; basicUsers: StaticCredential[]; oidc?: OidcSettings; allowUnauthenticated: boolean };
  tls: { cert?: string; key?: string; ca?: string; requireClientCert: boolean };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /**
   * transientRetrySeconds: how long after a job opens disk-full, busy-worker and similar faults are retried.
   * onlyHeldStudies: results go only into studies the PACS holds (never an AI-only study).
   * reportNotApplicable: a short SR for a study that is not a chest CT.
   */
  pipeline: {
    pollMs: number;
    leaseSeconds: number;
    inferenceDeadlineSeconds: number;
    keySlices: number;
    earlyInference: boolean;
    transientRetrySeconds: number;
    onlyHeldStudies: boolean;
    reportNotApplicable: boolean;
  };
  volume: { minSlices: number; maxSlices: number };
  /** Retention: a study's files go retainSeconds after its job ended; nothing stays past maxAgeHours unless a job still needs it. */
  spool: { retainSeconds: number; maxAgeHours: number };
  /** key: the audit HMAC key (unset: the per-install `<dataDir>/audit.key`); checkpoints of the head every checkpointSeconds. */
  audit: { key?: string; checkpointFile?: string; checkpointSeconds: number };
  /** Reconciliation with the PACS (only with LT_PACS_URL): every periodSeconds, 0 = off. */
  reconcile: { periodSeconds: number; lookbackHours: number; modality: string; bodyPart?: string };
}

/** TLS of the DICOMweb listener, as file paths: certificate chain and key, and the CA that client certificates must chain to. */
export interface HttpTls {
  cert: string;
  key: string;
  ca?: string;
  requireClientCert: boolean;
}

/** An OpenID Connect issuer whose access tokens (JWTs) are accepted; jwksUrl unset: discovered from the issuer. */
export interface OidcSettings {
  issuer: string;
  audience: string;
  jwksUrl?: string;
}

/** A DIMSE peer to call: its AE title and address, and the AE title we call it from. */
export interface DimsePeer {
  aeTitle: string;
  host: string;
  port: number;
  callingAeTitle: string;
}

/** Thrown when the configuration is invalid; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads, merges and validates the configuration. Pure apart from reading LT_CONFIG_FILE and *_FILE secrets. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const merged: Record<string, string | undefined> = {};
  if (env.LT_CONFIG_FILE) {
    try {
      const file = JSON.parse(readFileSync(env.LT_CONFIG_FILE, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(file)) {
        if (!k.startsWith('LT_')) problems.push(`${env.LT_CONFIG_FILE}: unknown key ${k} (keys are the LT_* env names)`);
        else merged[k] = Array.isArray(v) ? v.join(',') : String(v);
      }
    } catch (e) {
      problems.push(`LT_CONFIG_FILE: cannot read ${env.LT_CONFIG_FILE}: ${(e as Error).message}`);
    }
  }
  for (const [k, v] of Object.entries(env)) if (k.startsWith('LT_') && v !== undefined && v !== '') merged[k] = v;
  for (const key of SECRET_KEYS) {
    const file = merged[`${key}_FILE`];
    if (!file) continue;
    try {
      merged[key] = readFileSync(file, 'utf8').trim();
    } catch (e) {
      problems.push(`${key}_FILE: cannot read ${file}: ${(e as Error).message}`);
    }
  }
  // A misspelt setting must not be ignored silently (LT_TEST_* belong to the test harness).
  const known = new Set([...Object.keys(schema.shape), 'LT_CONFIG_FILE', ...SECRET_KEYS.map((k) => `${k}_FILE`)]);
  for (const k of Object.keys(merged)) if (!known.has(k) && !k.startsWith('LT_TEST_')) problems.push(`${k}: unknown setting (see README "Configuration")`);
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const c: Raw = parsed.data;
  crossCheck(c, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const dataDir = path.resolve(c.LT_DATA_DIR);
  return {
    http: {
      host: c.LT_HTTP_HOST,
      port: c.LT_HTTP_PORT,
      publicUrl: c.LT_PUBLIC_URL,
      maxConnections: c.LT_HTTP_MAX_CONNECTIONS,
      tls:
        c.LT_HTTP_TLS_CERT && c.LT_HTTP_TLS_KEY
          ? { cert: c.LT_HTTP_TLS_CERT, key: c.LT_HTTP_TLS_KEY, ca: c.LT_HTTP_TLS_CA, requireClientCert: c.LT_HTTP_TLS_REQUIRE_CLIENT_CERT }
          : undefined,
    },
    grpc: { host: c.LT_GRPC_HOST, port: c.LT_GRPC_PORT, authTokens: c.LT_GRPC_AUTH_TOKENS },
    worker: {
      host: c.LT_WORKER_HOST,
      port: c.LT_WORKER_PORT,
      maxConcurrent: c.LT_WORKER_MAX_CONCURRENT,
      maxSlices: c.LT_WORKER_MAX_SLICES,
      sliceCacheSlices: c.LT_WORKER_SLICE_CACHE,
      executionProvider: c.LT_EXECUTION_PROVIDER,
      threads: c.LT_WORKER_THREADS,
      authToken: c.LT_WORKER_AUTH_TOKEN,
    },
    workers: c.LT_WORKERS,
    databaseUrl: c.LT_DATABASE_URL,
    dataDir,
    spoolDir: path.join(dataDir, 'spool'),
    outputDir: path.resolve(c.LT_OUTPUT_DIR ?? path.join(dataDir, 'results')),
    modelsDir: path.resolve(c.LT_MODELS_DIR),
    pacs: c.LT_PACS_URL
      ? {
          url: c.LT_PACS_URL.replace(/\/+$/, ''),
          auth: c.LT_PACS_AUTH,
          username: c.LT_PACS_USERNAME,
          password: c.LT_PACS_PASSWORD,
          token: c.LT_PACS_TOKEN,
          oauth:
            c.LT_PACS_AUTH === 'oauth2'
              ? {
                  tokenUrl: c.LT_PACS_OAUTH_TOKEN_URL ?? '',
                  clientId: c.LT_PACS_OAUTH_CLIENT_ID ?? '',
                  clientSecret: c.LT_PACS_OAUTH_CLIENT_SECRET ?? '',
                  scope: c.LT_PACS_OAUTH_SCOPE,
                }
              : undefined,
          caFile: c.LT_PACS_CA,
        }
      : undefined,
    dimse:
      c.LT_DIMSE_PORT !== undefined
        ? { host: c.LT_DIMSE_HOST, port: c.LT_DIMSE_PORT, aeTitle: c.LT_DIMSE_AE_TITLE.trim(), allowedAes: c.LT_DIMSE_ALLOWED_AES, allowedHosts: c.LT_DIMSE_ALLOWED_HOSTS }
        : undefined,
    resultsDimse: c.LT_RESULTS_DIMSE ? dimsePeer(c.LT_RESULTS_DIMSE, c.LT_DIMSE_AE_TITLE.trim()) : undefined,
    stableSeconds: c.LT_STABLE_SECONDS,
    pacsCompleteness: Boolean(c.LT_PACS_URL) && c.LT_PACS_COMPLETENESS,
    limits: {
      maxBodyBytes: c.LT_MAX_BODY_BYTES,
      maxInstanceBytes: c.LT_MAX_INSTANCE_BYTES,
      maxInflatedBytes: c.LT_MAX_INFLATED_BYTES ?? Math.min(DEFAULT_MAX_INFLATED_BYTES, c.LT_MAX_INSTANCE_BYTES),
      maxConcurrentStow: c.LT_MAX_CONCURRENT_STOW,
      stowIdleSeconds: c.LT_STOW_IDLE_SECONDS,
      maxPartsPerRequest: c.LT_MAX_PARTS_PER_REQUEST,
      maxInstancesPerStudy: c.LT_MAX_INSTANCES_PER_STUDY,
    },
    rateLimit: { perSecond: c.LT_RATE_LIMIT_PER_SECOND, burst: c.LT_RATE_LIMIT_BURST },
    auth: {
      bearerTokens: c.LT_AUTH_BEARER_TOKENS,
      basicUsers: c.LT_AUTH_BASIC_USERS,
      oidc: c.LT_OIDC_ISSUER ? { issuer: c.LT_OIDC_ISSUER, audience: c.LT_OIDC_AUDIENCE ?? '', jwksUrl: c.LT_OIDC_JWKS_URL } : undefined,
      allowUnauthenticated: c.LT_ALLOW_UNAUTHENTICATED,
    },
    tls: { cert: c.LT_TLS_CERT, key: c.LT_TLS_KEY, ca: c.LT_TLS_CA, requireClientCert: c.LT_TLS_REQUIRE_CLIENT_CERT },
    logLevel: c.LT_LOG_LEVEL,
    pipeline: {
      pollMs: c.LT_POLL_MS,
      leaseSeconds: c.LT_JOB_LEASE_SECONDS,
      inferenceDeadlineSeconds: c.LT_INFERENCE_DEADLINE_SECONDS,
      keySlices: c.LT_KEY_SLICES,
      earlyInference: c.LT_EARLY_INFERENCE,
      transientRetrySeconds: c.LT_TRANSIENT_RETRY_SECONDS,
      onlyHeldStudies: c.LT_RESULTS_ONLY_TO_HELD_STUDIES,
      reportNotApplicable: c.LT_REPORT_NOT_APPLICABLE,
    },
    volume: { minSlices: c.LT_SELECT_MIN_SLICES, maxSlices: c.LT_VOLUME_MAX_SLICES },
    spool: { retainSeconds: c.LT_SPOOL_RETAIN_SECONDS, maxAgeHours: c.LT_SPOOL_MAX_AGE_HOURS },
    audit: { key: c.LT_AUDIT_KEY, checkpointFile: c.LT_AUDIT_CHECKPOINT_FILE, checkpointSeconds: c.LT_AUDIT_CHECKPOINT_SECONDS },
    reconcile: {
      periodSeconds: c.LT_PACS_URL ? c.LT_RECONCILE_SECONDS : 0,
      lookbackHours: c.LT_RECONCILE_LOOKBACK_HOURS,
      modality: c.LT_RECONCILE_MODALITY,
      bodyPart: c.LT_RECONCILE_BODY_PART,
    },
  };
}

function dimsePeer(address: string, callingAeTitle: string): DimsePeer {
  const [, aeTitle, host, portText] = aeAddress.exec(address)!;
  return { aeTitle: aeTitle.trim(), host: host.replace(/^\[|\]$/g, ''), port: Number(portText), callingAeTitle };
}

/** Rules that involve more than one key. */
function crossCheck(c: Raw, problems: string[]): void {
  if (c.LT_PACS_AUTH !== 'none' && !c.LT_PACS_URL) problems.push('LT_PACS_AUTH is set but LT_PACS_URL is not');
  if (c.LT_PACS_AUTH === 'basic' && (!c.LT_PACS_USERNAME || !c.LT_PACS_PASSWORD))
    problems.push('LT_PACS_AUTH=basic needs LT_PACS_USERNAME and LT_PACS_PASSWORD');
  if (c.LT_PACS_AUTH === 'bearer' && !c.LT_PACS_TOKEN) problems.push('LT_PACS_AUTH=bearer needs LT_PACS_TOKEN');
  if (c.LT_PACS_AUTH === 'oauth2' && (!c.LT_PACS_OAUTH_TOKEN_URL || !c.LT_PACS_OAUTH_CLIENT_ID || !c.LT_PACS_OAUTH_CLIENT_SECRET))
    problems.push('LT_PACS_AUTH=oauth2 needs LT_PACS_OAUTH_TOKEN_URL, LT_PACS_OAUTH_CLIENT_ID and LT_PACS_OAUTH_CLIENT_SECRET');
  if (Boolean(c.LT_TLS_CERT) !== Boolean(c.LT_TLS_KEY)) problems.push('LT_TLS_CERT and LT_TLS_KEY must be given together');
  if (c.LT_TLS_REQUIRE_CLIENT_CERT && !c.LT_TLS_CA) problems.push('LT_TLS_REQUIRE_CLIENT_CERT needs LT_TLS_CA');
  if (Boolean(c.LT_HTTP_TLS_CERT) !== Boolean(c.LT_HTTP_TLS_KEY)) problems.push('LT_HTTP_TLS_CERT and LT_HTTP_TLS_KEY must be given together');
  if ((c.LT_HTTP_TLS_CA || c.LT_HTTP_TLS_REQUIRE_CLIENT_CERT) && !c.LT_HTTP_TLS_CERT) problems.push('LT_HTTP_TLS_CA and LT_HTTP_TLS_REQUIRE_CLIENT_CERT need LT_HTTP_TLS_CERT and LT_HTTP_TLS_KEY');
  if (c.LT_HTTP_TLS_REQUIRE_CLIENT_CERT && !c.LT_HTTP_TLS_CA) problems.push('LT_HTTP_TLS_REQUIRE_CLIENT_CERT needs LT_HTTP_TLS_CA');
  if (c.LT_OIDC_ISSUER && !c.LT_OIDC_AUDIENCE) problems.push('LT_OIDC_ISSUER needs LT_OIDC_AUDIENCE (the audience our tokens are issued for)');
  if ((c.LT_OIDC_AUDIENCE || c.LT_OIDC_JWKS_URL) && !c.LT_OIDC_ISSUER) problems.push('LT_OIDC_AUDIENCE and LT_OIDC_JWKS_URL need LT_OIDC_ISSUER');
  if (c.LT_RESULTS_DIMSE && Number(aeAddress.exec(c.LT_RESULTS_DIMSE)?.[3]) > 65535) problems.push('LT_RESULTS_DIMSE: port must be at most 65535');
  if (c.LT_MAX_INSTANCE_BYTES > c.LT_MAX_BODY_BYTES) problems.push('LT_MAX_INSTANCE_BYTES must not exceed LT_MAX_BODY_BYTES');
  // An inflated data set is what the instance would be uncompressed: it is held to the same bound.
  if (c.LT_MAX_INFLATED_BYTES !== undefined && c.LT_MAX_INFLATED_BYTES > c.LT_MAX_INSTANCE_BYTES)
    problems.push('LT_MAX_INFLATED_BYTES must not exceed LT_MAX_INSTANCE_BYTES');
}
