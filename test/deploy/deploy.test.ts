/**
 * The deployment (docker/) must not drift from the code: every LT_* variable it sets is a real setting and passes
 * the real config loader, every command is a real `lung-triage` subcommand or file, ports in probes, services and
 * URLs agree with the ports the processes are told to listen on, the Orthanc config and auto-routing script the
 * integration tests use are the ones compose mounts, images run as non-root with a HEALTHCHECK, and the health
 * check commands work against real servers. No Docker engine is needed; `docker compose config` runs when the
 * compose plugin is installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { assertAuthenticatedOffLoopback, Authenticator } from '../../src/api/authenticator';
import { OidcVerifier } from '../../src/api/oidc';
import { ConfigError, isLoopback, loadConfig } from '../../src/config';
import { PACKAGE_ROOT } from '../../src/paths';
import { tempDir } from '../support/temp-dir';

const REPO = PACKAGE_ROOT;
const DOCKER = path.join(REPO, 'docker');
const K8S = path.join(DOCKER, 'k8s');
const read = (p: string) => readFileSync(path.join(REPO, p), 'utf8');

// ---------------------------------------------------------------------------------------------------------------
// What the code defines

/** Keys of the zod schema in src/config/index.ts (the env vars the code reads). */
function schemaKeys(): Set<string> {
  const src = read('src/config/index.ts');
  const body = /const schema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(src)?.[1];
  if (!body) throw new Error('config schema not found in src/config/index.ts');
  return new Set([...body.matchAll(/^\s*(LT_[A-Z0-9_]+):/gm)].map((m) => m[1]));
}

/** Keys that also accept <KEY>_FILE. */
function secretKeys(): Set<string> {
  const src = read('src/config/index.ts');
  const body = /const SECRET_KEYS = \[([\s\S]*?)\]/.exec(src)?.[1];
  if (!body) throw new Error('SECRET_KEYS not found in src/config/index.ts');
  return new Set([...body.matchAll(/'(LT_[A-Z0-9_]+)'/g)].map((m) => m[1]));
}

/** Every LT_* name a deployment may set. */
function allowedEnv(): Set<string> {
  return new Set([...schemaKeys(), ...[...secretKeys()].map((k) => `${k}_FILE`), 'LT_CONFIG_FILE']);
}

/** Subcommands listed in the USAGE text of src/cli.ts, as word lists (['audit', 'verify']). */
function subcommands(): string[][] {
  const usage = /const USAGE = `([\s\S]*?)`;/.exec(read('src/cli.ts'))?.[1] ?? '';
  const block = usage.split('commands:')[1]?.split('\n\n')[0] ?? '';
  return [...block.matchAll(/^ {2}([a-z][a-z-]*)((?: [a-z][a-z-]*)*)/gm)].map((m) => [m[1], ...m[2].split(' ').filter(Boolean)]);
}

function isSubcommand(args: string[]): boolean {
  return subcommands().some((c) => c.every((w, i) => args[i] === w));
}

/** Routes served by the gateway's HTTP app. */
function httpRoutes(): Set<string> {
  return new Set([...read('src/api/http.ts').matchAll(/app\.get\('([^']+)'/g)].map((m) => m[1]));
}

// ---------------------------------------------------------------------------------------------------------------
// Dockerfiles and .dockerignore

interface Instr {
  op: string;
  rest: string;
}
interface Stage {
  name: string;
  base: string;
  instrs: Instr[];
}

/** Parses a Dockerfile into stages (comments dropped, continuations joined, global ARG defaults substituted in FROM). */
function parseDockerfile(file: string): Stage[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l));
  const joined: string[] = [];
  let cur = '';
  for (const l of lines) {
    if (l.endsWith('\\')) cur += l.slice(0, -1) + ' ';
    else {
      cur += l;
      if (cur.trim()) joined.push(cur.trim());
      cur = '';
    }
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const l of joined) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(l);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2];
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args[k] = v ?? '';
    } else if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(rest);
      if (!f) throw new Error(`bad FROM: ${rest}`);
      const base = f[1].replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? '');
      stages.push({ name: f[2] ?? `#${stages.length}`, base, instrs: [] });
    } else {
      if (stages.length === 0) throw new Error(`${op} before FROM in ${file}`);
      stages[stages.length - 1].instrs.push({ op, rest });
    }
  }
  return stages;
}

/** The chain of stages a stage builds on, itself first. */
function chain(stages: Stage[], name: string): Stage[] {
  const out: Stage[] = [];
  let s = stages.find((x) => x.name === name);
  while (s) {
    out.push(s);
    const base = s.base;
    s = stages.find((x) => x.name === base);
  }
  return out;
}

/** The last value of an instruction in a stage, inherited from its base stages. */
function effective(stages: Stage[], name: string, op: string): string | undefined {
  for (const s of chain(stages, name)) {
    const hits = s.instrs.filter((i) => i.op === op);
    if (hits.length) return hits[hits.length - 1].rest;
  }
  return undefined;
}

/** ENV of a stage, with its base stages' values underneath. */
function stageEnv(stages: Stage[], name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of chain(stages, name).reverse())
    for (const i of s.instrs.filter((x) => x.op === 'ENV'))
      for (const m of i.rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  return env;
}

/** COPY/ADD sources taken from the build context (not --from another stage). */
function contextCopies(stage: Stage): string[] {
  const out: string[] = [];
  for (const i of stage.instrs.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
    const words = i.rest.split(/\s+/);
    if (words.some((w) => w.startsWith('--from='))) continue;
    const paths = words.filter((w) => !w.startsWith('--'));
    out.push(...paths.slice(0, -1));
  }
  return out;
}

/** A matcher with .dockerignore semantics (patterns match a path or any of its parent folders; last match wins). */
function dockerignore(file: string): (p: string) => boolean {
  const rules = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  const compiled = rules.map((r) => {
    const neg = r.startsWith('!');
    const pat = path.posix.normalize((neg ? r.slice(1) : r).replace(/^\/+/, '')).replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < pat.length; i++) {
      const c = pat[i];
      if (c === '*' && pat[i + 1] === '*') {
        re += '.*';
        i++;
        if (pat[i + 1] === '/') i++;
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return { neg, re: new RegExp(`^${re}$`) };
  });
  return (p: string) => {
    const parts = path.posix.normalize(p).replace(/^\.\//, '').replace(/\/+$/, '').split('/');
    let ignored = false;
    for (const { neg, re } of compiled) {
      for (let n = 1; n <= parts.length; n++) if (re.test(parts.slice(0, n).join('/'))) ignored = !neg;
    }
    return ignored;
  };
}

const APP_DOCKERFILE = path.join(DOCKER, 'Dockerfile');
const ORTHANC_DOCKERFILE = path.join(DOCKER, 'orthanc', 'Dockerfile');
const APP_TARGETS = ['gateway', 'worker', 'worker-cuda'];

function execForm(rest: string): string[] {
  const json = rest.replace(/^CMD\s+/, '');
  const v = JSON.parse(json) as unknown;
  if (!Array.isArray(v)) throw new Error(`not exec form: ${rest}`);
  return v as string[];
}

/** HEALTHCHECK command of a stage (exec form, options stripped). */
function healthcheck(stages: Stage[], name: string): string[] {
  const hc = effective(stages, name, 'HEALTHCHECK');
  if (!hc) throw new Error(`${name}: no HEALTHCHECK`);
  return execForm(hc.replace(/^(--\S+\s+)*/, ''));
}

/** A path inside an app image (/app/...) as the repository file it is copied from. */
function imagePathToRepo(p: string): string {
  return p.startsWith('/app/') ? path.join(REPO, p.slice('/app/'.length)) : p;
}

describe('Dockerfiles', () => {
  const stages = parseDockerfile(APP_DOCKERFILE);
  const ignored = dockerignore(path.join(REPO, '.dockerignore'));

  it('has the gateway, worker and worker-cuda targets', () => {
    for (const t of APP_TARGETS) expect(stages.map((s) => s.name)).toContain(t);
  });

  it('builds on node:20-bookworm-slim: npm ci, npm run build, npm prune --omit=dev', () => {
    const build = stages.find((s) => s.name === 'build');
    expect(build?.base).toBe('node:20-bookworm-slim');
    const runs = build?.instrs.filter((i) => i.op === 'RUN').map((i) => i.rest).join('\n') ?? '';
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build\b/);
    expect(runs).toMatch(/npm prune --omit=dev\b/);
    expect(stages.find((s) => s.name === 'runtime')?.base).toBe('node:20-bookworm-slim');
  });

  it('copies only sources that exist and that .dockerignore lets through', () => {
    const problems: string[] = [];
    for (const s of stages)
      for (const src of contextCopies(s)) {
        if (!existsSync(path.join(REPO, src))) problems.push(`${s.name}: COPY ${src}: no such file in the repository`);
        else if (ignored(src)) problems.push(`${s.name}: COPY ${src}: excluded by .dockerignore`);
      }
    for (const s of parseDockerfile(ORTHANC_DOCKERFILE))
      for (const src of contextCopies(s)) if (!existsSync(path.join(DOCKER, 'orthanc', src))) problems.push(`orthanc: COPY ${src} missing`);
    expect(problems).toEqual([]);
  });

  it('puts what the runtime needs in every app image: dist, node_modules, models, proto, package.json', () => {
    for (const t of ['runtime', 'worker-cuda']) {
      const dests = chain(stages, t)
        .flatMap((s) => s.instrs.filter((i) => i.op === 'COPY'))
        .map((i) => i.rest.split(/\s+/).pop() ?? '');
      for (const want of ['./dist/', './node_modules/', './models/', './proto/', './package.json']) expect({ t, dests }).toEqual({ t, dests: expect.arrayContaining([want]) });
    }
  });

  it('keeps the model files the manifest lists in the build context', () => {
    expect(ignored('models/manifest.json')).toBe(false);
    const manifest = path.join(REPO, 'models', 'manifest.json');
    if (!existsSync(manifest)) return; // models are being produced; checked once the manifest exists
    const files: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
          if (k === 'file' && typeof x === 'string') files.push(x);
          else walk(x);
        }
    };
    walk(JSON.parse(readFileSync(manifest, 'utf8')));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect({ f, ignored: ignored(path.posix.join('models', f)) }).toEqual({ f, ignored: false });
  });

  it('keeps secrets, local state and dependencies out of the build context', () => {
    for (const p of ['node_modules', '.git', 'docker/.env', 'docker/secrets/database_url', 'dist/src/cli.js', 'models/training/train_slice.py'])
      expect({ p, ignored: ignored(p) }).toEqual({ p, ignored: true });
    for (const p of ['src/cli.ts', 'package-lock.json', '.npmrc', 'proto/lungtriage/inference/v1/inference.proto', 'docker/healthcheck-grpc.js'])
      expect({ p, ignored: ignored(p) }).toEqual({ p, ignored: false });
  });

  it.each([...APP_TARGETS.map((t) => [APP_DOCKERFILE, t]), [ORTHANC_DOCKERFILE, '#0']])('%s %s runs as non-root with a HEALTHCHECK', (file, target) => {
    const st = parseDockerfile(file);
    const user = effective(st, target, 'USER');
    expect(user).toBeDefined();
    expect(user?.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(healthcheck(st, target).length).toBeGreaterThan(0);
  });

  it('runs the package bin with a real subcommand, with health checks on real files', () => {
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin['lung-triage'];
    for (const t of APP_TARGETS) {
      expect(execForm(effective(stages, t, 'ENTRYPOINT') ?? 'null')).toEqual(['node', `/app/${bin}`]);
      expect(isSubcommand(execForm(effective(stages, t, 'CMD') ?? '[]'))).toBe(true);
      for (const a of healthcheck(stages, t).filter((x) => x.startsWith('/'))) expect(existsSync(imagePathToRepo(a))).toBe(true);
    }
  });

  it('sets only LT_* variables the config reads, which the config loader accepts, and EXPOSEs the ports it sets', () => {
    const allowed = allowedEnv();
    for (const t of APP_TARGETS) {
      const env = stageEnv(stages, t);
      for (const k of Object.keys(env).filter((x) => x.startsWith('LT_'))) expect({ t, k, known: allowed.has(k) }).toEqual({ t, k, known: true });
      expect(() => loadConfig(env)).not.toThrow();
      const exposed = chain(stages, t)
        .flatMap((s) => s.instrs.filter((i) => i.op === 'EXPOSE'))
        .flatMap((i) => i.rest.split(/\s+/));
      for (const k of ['LT_HTTP_PORT', 'LT_GRPC_PORT', 'LT_WORKER_PORT']) if (env[k]) expect({ t, k, exposed }).toEqual({ t, k, exposed: expect.arrayContaining([env[k]]) });
    }
  });

  it('installs onnxruntime-node CUDA execution provider in the CUDA image', () => {
    const cuda = chain(stages, 'worker-cuda');
    expect(stages.find((s) => s.name === 'worker-cuda')?.base).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/);
    const copiesEp = cuda.flatMap((s) => s.instrs).some((i) => i.op === 'COPY' && /--from=cuda-ep\b.*node_modules/.test(i.rest));
    expect(copiesEp).toBe(true);
    const ep = stages.find((s) => s.name === 'cuda-ep');
    expect(ep?.instrs.map((i) => i.rest).join('\n')).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node script\/install\.js/);
    expect(existsSync(path.join(REPO, 'node_modules/onnxruntime-node/script/install.js'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Config validation of a deployed process's environment

/** Plausible content of a secret file, by the setting it holds. */
function secretValue(key: string): string {
  if (key === 'LT_DATABASE_URL') return 'postgres://u:p@db.invalid:5432/lungtriage';
  if (key === 'LT_AUTH_BASIC_USERS') return 'user:password';
  if (key === 'LT_AUDIT_KEY') return 'a'.repeat(64);
  return 'secret-value';
}

/** Runs the real config loader on a process's env, with *_FILE secrets replaced by temp files. Returns its problems. */
function configProblems(env: Record<string, string>): string[] {
  const dir = tempDir('deploy');
  try {
    const e: Record<string, string> = { ...env };
    for (const k of Object.keys(e).filter((x) => x.startsWith('LT_') && x.endsWith('_FILE'))) {
      const f = path.join(dir, k);
      writeFileSync(f, secretValue(k.slice(0, -'_FILE'.length)));
      e[k] = f;
    }
    loadConfig(e);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the gateway (or the worker) would refuse at start for listening off loopback without authentication, from the
 * real config loader and the real check (src/api/authenticator.ts, the worker's rule: a token or client certificates).
 */
function authenticationProblems(env: Record<string, string>, role: 'gateway' | 'worker' = 'gateway'): string[] {
  const dir = tempDir('deploy');
  try {
    const e: Record<string, string> = { ...env };
    for (const k of Object.keys(e).filter((x) => x.startsWith('LT_') && x.endsWith('_FILE'))) {
      const f = path.join(dir, k);
      writeFileSync(f, secretValue(k.slice(0, -'_FILE'.length)));
      e[k] = f;
    }
    const c = loadConfig(e);
    const oidc = c.auth.oidc ? new OidcVerifier(c.auth.oidc) : undefined;
    if (role === 'worker')
      return isLoopback(c.worker.host) || c.worker.authToken || c.tls.requireClientCert || c.auth.allowUnauthenticated ? [] : [`worker on ${c.worker.host} without a token`];
    assertAuthenticatedOffLoopback(
      [
        { name: 'DICOMweb', host: c.http.host, auth: new Authenticator({ bearer: c.auth.bearerTokens, basic: c.auth.basicUsers, oidc }) },
        { name: 'TriageService', host: c.grpc.host, auth: new Authenticator({ bearer: c.grpc.authTokens, oidc }) },
      ],
      c.auth.allowUnauthenticated,
    );
    return [];
  } catch (err) {
    return [(err as Error).message];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function unknownLtKeys(env: Record<string, unknown>): string[] {
  const allowed = allowedEnv();
  return Object.keys(env).filter((k) => k.startsWith('LT_') && !allowed.has(k));
}

// ---------------------------------------------------------------------------------------------------------------
// compose

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file: string }>;
}

function loadCompose(name: string): ComposeFile {
  return parseYaml(readFileSync(path.join(DOCKER, name), 'utf8'), { merge: true }) as ComposeFile;
}

/** Default ${VAR:-default} interpolation, as compose does with no .env. */
function interpolate(s: string): string {
  return s.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_, _k: string, d?: string) => d ?? '');
}

function hostPortOf(url: string): { host: string; port: string; path: string } {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || (u.protocol === 'https:' ? '443' : '80'), path: u.pathname };
}

describe('compose.yml', () => {
  const compose = loadCompose('compose.yml');
  const svc = compose.services;
  const stages = parseDockerfile(APP_DOCKERFILE);
  const orthancJson = JSON.parse(read('docker/orthanc/orthanc.json')) as {
    HttpPort: number;
    LuaScripts: string[];
    Plugins: string[];
    DicomWeb: { Root: string; Servers: Record<string, { Url: string }> };
  };
  const appServices = Object.entries(svc).filter(([, s]) => s.build?.dockerfile === 'docker/Dockerfile');
  const gwPort = svc.gateway?.environment?.LT_HTTP_PORT ?? '8080';

  it('has postgres, orthanc, gateway, worker and a one-shot migrate', () => {
    expect(Object.keys(svc).sort()).toEqual(['gateway', 'migrate', 'orthanc', 'postgres', 'worker']);
    expect(svc.postgres.image).toMatch(/^postgres:16/);
    expect(svc.migrate.command).toEqual(['migrate']);
    expect(svc.gateway.depends_on?.migrate?.condition).toBe('service_completed_successfully');
  });

  it('sets only LT_* variables the config reads, with values the config loader accepts', () => {
    for (const [name, s] of appServices) {
      const env = s.environment ?? {};
      expect({ name, unknown: unknownLtKeys(env) }).toEqual({ name, unknown: [] });
      const image = stageEnv(stages, s.build?.target ?? '');
      expect({ name, problems: configProblems({ ...image, ...env }) }).toEqual({ name, problems: [] });
    }
  });

  it('builds real Dockerfile targets and runs real subcommands', () => {
    for (const [name, s] of appServices) {
      expect({ name, target: stages.some((x) => x.name === s.build?.target) }).toEqual({ name, target: true });
      const cmd = s.command ?? execForm(effective(stages, s.build?.target ?? '', 'CMD') ?? '[]');
      expect({ name, cmd, ok: isSubcommand(cmd) }).toEqual({ name, cmd, ok: true });
    }
  });

  it('mounts docker/orthanc/orthanc.json as the config Orthanc runs, and autoroute.lua where the config loads it', () => {
    const o = svc.orthanc;
    const mounts = Object.fromEntries((o.volumes ?? []).map((v) => v.split(':')).map(([src, dst]) => [dst, src]));
    // sh -c "... exec Orthanc <config>": the wrapper only puts the STOW password into the environment.
    const cfgPath = /exec Orthanc (\S+)$/.exec(o.command?.[2] ?? '')?.[1] ?? '';
    expect(o.command?.slice(0, 2)).toEqual(['sh', '-c']);
    expect(path.resolve(DOCKER, mounts[cfgPath] ?? '')).toBe(path.join(DOCKER, 'orthanc', 'orthanc.json'));
    expect(orthancJson.LuaScripts).toEqual(['/etc/orthanc/autoroute.lua']);
    expect(path.resolve(DOCKER, mounts['/etc/orthanc/autoroute.lua'] ?? '')).toBe(path.join(DOCKER, 'orthanc', 'autoroute.lua'));
    expect(o.build?.context).toBe('./orthanc');
    // The image installs the Debian packages whose plugin paths orthanc.json lists (as the tests' Orthanc does).
    const dockerfile = readFileSync(ORTHANC_DOCKERFILE, 'utf8');
    for (const pkg of ['orthanc', 'orthanc-dicomweb', 'orthanc-webviewer']) expect(dockerfile).toMatch(new RegExp(`\\s${pkg}\\s`));
    expect(parseDockerfile(ORTHANC_DOCKERFILE)[0].base).toMatch(/^debian:bookworm/);
    for (const p of orthancJson.Plugins) expect(p.startsWith('/usr/share/orthanc/plugins/')).toBe(true);
    if (existsSync('/usr/share/orthanc/plugins')) for (const p of orthancJson.Plugins) expect({ p, exists: existsSync(p) }).toEqual({ p, exists: true });
  });

  it("points Orthanc's \"ai\" DICOMweb server at the gateway service and port", () => {
    const ai = hostPortOf(orthancJson.DicomWeb.Servers.ai.Url);
    expect(ai).toEqual({ host: 'gateway', port: gwPort, path: '/dicom-web/' });
    expect(httpRoutes().size).toBeGreaterThan(0);
    expect(read('src/api/http.ts')).toMatch(/app\.use\('\/dicom-web'/);
  });

  it('points the gateway at Orthanc (LT_PACS_URL) and at the worker service (LT_WORKERS) on the ports they listen on', () => {
    const env = svc.gateway.environment ?? {};
    const pacs = hostPortOf(env.LT_PACS_URL);
    expect(pacs).toEqual({ host: 'orthanc', port: String(orthancJson.HttpPort), path: orthancJson.DicomWeb.Root.replace(/\/$/, '') });
    const workers = (env.LT_WORKERS ?? '').split(',').filter(Boolean);
    expect(workers.length).toBeGreaterThan(0);
    for (const w of workers) {
      const [host, port] = w.split(':');
      const target = svc[host];
      expect({ w, service: Boolean(target) }).toEqual({ w, service: true });
      expect(target.build?.target).toMatch(/^worker/);
      const listen = target.environment?.LT_WORKER_PORT ?? stageEnv(stages, target.build?.target ?? '').LT_WORKER_PORT ?? '50051';
      expect(port).toBe(listen);
    }
    const published = (svc.gateway.ports ?? []).map((p) => interpolate(p).split(':').pop());
    expect(published).toEqual(expect.arrayContaining([gwPort, env.LT_GRPC_PORT]));
  });

  it('reads secrets from files (docker secrets) that init-secrets.sh creates, never from the compose file', () => {
    const init = readFileSync(path.join(DOCKER, 'init-secrets.sh'), 'utf8');
    for (const [name, s] of Object.entries(svc)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        expect({ name, k, secretInline: /(PASSWORD|TOKENS?|SECRET|DATABASE_URL|KEY)$/.test(k) }).toEqual({ name, k, secretInline: false });
        if (!k.endsWith('_FILE')) continue;
        const secret = /^\/run\/secrets\/([\w.-]+)$/.exec(v)?.[1];
        expect({ name, k, secret, granted: s.secrets?.includes(secret ?? '') }).toEqual({ name, k, secret, granted: true });
      }
    }
    for (const [name, def] of Object.entries(compose.secrets ?? {})) {
      const rel = path.posix.relative('./secrets', def.file);
      expect({ name, created: new RegExp(`^make ${rel} `, 'm').test(init) }).toEqual({ name, created: true });
    }
    // The database URL init-secrets.sh writes names the compose Postgres service, user and database.
    const url = /printf '(postgres:\/\/[^']+)'/.exec(init)?.[1] ?? '';
    const u = new URL(url.replace('%s', 'x'));
    expect([u.hostname, u.port, u.username, u.pathname.slice(1)]).toEqual([
      'postgres',
      '5432',
      svc.postgres.environment?.POSTGRES_USER,
      svc.postgres.environment?.POSTGRES_DB,
    ]);
    expect(read('docker/.gitignore')).toMatch(/^\/secrets\/$/m);
    expect(read('docker/.gitignore')).toMatch(/^\/\.env$/m);
  });

  it('runs the gateway as the least-privilege login and the migrations as the owner, in the one-shot migrate service', () => {
    const init = readFileSync(path.join(DOCKER, 'init-secrets.sh'), 'utf8');
    const urlUser = (secret: string) => new URL((new RegExp(`make ${secret} "\\$\\(printf '(postgres://[^']+)'`).exec(init)?.[1] ?? '').replace('%s', 'x')).username;
    const secretOf = (name: string) => /^\/run\/secrets\/(.+)$/.exec(svc[name].environment?.LT_DATABASE_URL_FILE ?? '')?.[1] ?? '';
    expect(urlUser(secretOf('migrate'))).toBe(svc.postgres.environment?.POSTGRES_USER);
    const gatewayUser = urlUser(secretOf('gateway'));
    expect(gatewayUser).not.toBe(svc.postgres.environment?.POSTGRES_USER);
    // Postgres creates that login at initialisation, as a member of the role the migrations grant (and limit).
    const initdb = (svc.postgres.volumes ?? []).map((v) => v.split(':')).find(([, dst]) => dst.startsWith('/docker-entrypoint-initdb.d/'));
    const script = readFileSync(path.resolve(DOCKER, initdb?.[0] ?? 'missing'), 'utf8');
    expect(script).toMatch(new RegExp(`CREATE ROLE ${gatewayUser} LOGIN PASSWORD :'app_password' IN ROLE lung_triage_app`));
    expect(read('migrations/1732400000000-AppRole.ts')).toMatch(/GRANT SELECT, INSERT ON audit_log TO lung_triage_app/);
    expect(svc.postgres.secrets).toContain('app_db_password');
    expect(svc.gateway.environment?.LT_AUDIT_KEY_FILE).toBe('/run/secrets/audit_key');
  });

  it('authenticates every listener off loopback: DICOMweb (Orthanc as a sender), TriageService and the worker', () => {
    const gwEnv = { ...stageEnv(stages, 'gateway'), ...svc.gateway.environment };
    expect(authenticationProblems(gwEnv)).toEqual([]);
    expect(gwEnv.LT_ALLOW_UNAUTHENTICATED).toBeUndefined();
    const wkEnv = { ...stageEnv(stages, 'worker'), ...svc.worker.environment };
    expect(authenticationProblems(wkEnv, 'worker')).toEqual([]);
    // The gateway sends the very token the worker requires.
    expect(svc.gateway.environment?.LT_WORKER_AUTH_TOKEN_FILE).toBe(svc.worker.environment?.LT_WORKER_AUTH_TOKEN_FILE);
    // Orthanc sends the user:password the gateway accepts: its password from the same secret init-secrets.sh pairs.
    const ai = orthancJson.DicomWeb.Servers.ai as { Username?: string; Password?: string };
    expect(ai.Password).toBe('${ORTHANC_AI_PASSWORD}');
    expect(svc.orthanc.command?.[2]).toMatch(/ORTHANC_AI_PASSWORD="\$\$\(cat \/run\/secrets\/stow_password\)"/);
    expect(readFileSync(path.join(DOCKER, 'init-secrets.sh'), 'utf8')).toContain(`make stow_users "${ai.Username}:$(cat secrets/stow_password)"`);
    expect(svc.gateway.environment?.LT_AUTH_BASIC_USERS_FILE).toBe('/run/secrets/stow_users');
  });

  it('documents every variable it interpolates in .env.example, which sets no LT_* variable', () => {
    const example = read('docker/.env.example');
    const vars = new Set<string>();
    for (const f of ['compose.yml', 'compose.gpu.yml'])
      for (const m of readFileSync(path.join(DOCKER, f), 'utf8').matchAll(/\$\{([A-Z0-9_]+)/g)) vars.add(m[1]);
    for (const v of vars) expect({ v, documented: new RegExp(`^${v}=`, 'm').test(example) }).toEqual({ v, documented: true });
    expect(example).not.toMatch(/^LT_/m);
  });

  it('compose.gpu.yml turns the worker into the CUDA image with a GPU', () => {
    const gpu = loadCompose('compose.gpu.yml');
    expect(Object.keys(gpu.services)).toEqual(['worker']);
    const w = gpu.services.worker as ComposeService & { deploy: { resources: { reservations: { devices: { driver: string }[] } } } };
    expect(w.build?.target).toBe('worker-cuda');
    expect(w.deploy.resources.reservations.devices[0].driver).toBe('nvidia');
    const env = { ...stageEnv(stages, 'worker-cuda'), ...svc.worker.environment, ...w.environment };
    expect(unknownLtKeys(env)).toEqual([]);
    expect(configProblems(env)).toEqual([]);
    expect(env.LT_EXECUTION_PROVIDER).toBe('cuda');
  });

  const haveCompose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;
  (haveCompose ? it : it.skip)(
    haveCompose ? '`docker compose config` accepts compose.yml + compose.gpu.yml' : '`docker compose config` (SKIPPED: the docker compose plugin is not installed here)',
    () => {
      const r = spawnSync('docker', ['compose', '-f', path.join(DOCKER, 'compose.yml'), '-f', path.join(DOCKER, 'compose.gpu.yml'), 'config', '--quiet'], {
        encoding: 'utf8',
      });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

interface K8sObj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
  grpc?: { port: number; service?: string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
  volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string }[];
}
interface Workload extends K8sObj {
  spec: { replicas?: number; selector?: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Service extends K8sObj {
  spec: { clusterIP?: string; selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string }[] };
}

function loadK8s(): { file: string; obj: K8sObj }[] {
  const out: { file: string; obj: K8sObj }[] = [];
  for (const f of readdirSync(K8S).filter((x) => /\.ya?ml$/.test(x)).sort()) {
    for (const d of parseAllDocuments(readFileSync(path.join(K8S, f), 'utf8'))) {
      if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      const obj = d.toJS() as K8sObj | null;
      if (obj) out.push({ file: f, obj });
    }
  }
  return out;
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('Kubernetes manifests (docker/k8s)', () => {
  const docs = loadK8s();
  const objs = docs.map((d) => d.obj);
  const byKind = <T extends K8sObj>(kind: string) => objs.filter((o) => o.kind === kind) as T[];
  const workloads = [...byKind<Workload>('Deployment'), ...byKind<Workload>('Job')];
  const services = byKind<Service>('Service');
  const stages = parseDockerfile(APP_DOCKERFILE);
  const configMaps = Object.fromEntries(byKind<K8sObj & { data: Record<string, string> }>('ConfigMap').map((c) => [c.metadata.name, c.data]));
  const secrets = Object.fromEntries(byKind<K8sObj & { stringData?: Record<string, string>; data?: Record<string, string> }>('Secret').map((s) => [s.metadata.name, { ...s.data, ...s.stringData }]));
  const get = (kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);

  /** Image name -> Dockerfile target (lung-triage-<target>). */
  const targetOf = (image: string) => /^(?:.*\/)?lung-triage-([a-z-]+)(?::|$)/.exec(image)?.[1] ?? '';

  /** A container's environment as the kubelet builds it (envFrom, then env with $(VAR) expansion). */
  function containerEnv(c: Container): Record<string, string> {
    const env: Record<string, string> = {};
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef) Object.assign(env, configMaps[f.configMapRef.name] ?? {});
      if (f.secretRef) Object.assign(env, secrets[f.secretRef.name] ?? {});
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, k: string) => env[k] ?? m);
      else if (e.valueFrom?.fieldRef) env[e.name] = 'pod-name-0';
      else if (e.valueFrom?.secretKeyRef) env[e.name] = secrets[e.valueFrom.secretKeyRef.name]?.[e.valueFrom.secretKeyRef.key] ?? '';
    }
    return env;
  }

  function containerPort(c: Container, port: number | string | undefined): number | undefined {
    if (typeof port === 'number') return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
    return c.ports?.find((p) => p.name === port)?.containerPort;
  }

  it('parses, every file is in kustomization.yaml or marked optional, and all live in one namespace', () => {
    const kust = parseYaml(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[]; namespace: string };
    for (const r of kust.resources) expect(existsSync(path.join(K8S, r))).toBe(true);
    for (const f of readdirSync(K8S).filter((x) => /\.ya?ml$/.test(x) && x !== 'kustomization.yaml'))
      expect({ f, listedOrOptional: kust.resources.includes(f) || /^# Optional/.test(readFileSync(path.join(K8S, f), 'utf8')) }).toEqual({ f, listedOrOptional: true });
    for (const o of objs.filter((x) => x.kind !== 'Kustomization' && x.kind !== 'Namespace')) expect({ o: o.metadata.name, ns: o.metadata.namespace }).toEqual({ o: o.metadata.name, ns: kust.namespace });
    expect(workloads.length).toBeGreaterThanOrEqual(3);
  });

  it('sets only LT_* variables the config reads, with values the config loader accepts (ConfigMap and image defaults included)', () => {
    for (const w of workloads)
      for (const c of w.spec.template.spec.containers) {
        const env = containerEnv(c);
        const where = `${w.kind}/${w.metadata.name}/${c.name}`;
        expect({ where, unknown: unknownLtKeys(env) }).toEqual({ where, unknown: [] });
        expect({ where, problems: configProblems({ ...stageEnv(stages, targetOf(c.image)), ...env }) }).toEqual({ where, problems: [] });
      }
    for (const [name, data] of Object.entries(configMaps)) expect({ name, unknown: unknownLtKeys(data) }).toEqual({ name, unknown: [] });
  });

  it('reads every *_FILE secret from a mounted Secret key that exists, readable by the non-root user', () => {
    for (const w of workloads) {
      const pod = w.spec.template.spec;
      for (const c of pod.containers)
        for (const [k, v] of Object.entries(containerEnv(c)).filter(([x]) => x.startsWith('LT_') && x.endsWith('_FILE'))) {
          const mount = c.volumeMounts?.find((m) => v.startsWith(m.mountPath + '/'));
          const vol = pod.volumes?.find((x) => x.name === mount?.name);
          const where = `${w.metadata.name}/${c.name} ${k}`;
          expect({ where, secret: Boolean(vol?.secret) }).toEqual({ where, secret: true });
          const key = v.slice((mount?.mountPath.length ?? 0) + 1);
          expect({ where, key, exists: key in (secrets[vol?.secret?.secretName ?? ''] ?? {}) }).toEqual({ where, key, exists: true });
          const mode = vol?.secret?.defaultMode ?? 0o644;
          if ((mode & 0o004) === 0) expect({ where, fsGroup: pod.securityContext?.fsGroup }).toEqual({ where, fsGroup: expect.any(Number) });
        }
    }
  });

  it('runs real subcommands of images built by the Dockerfile, as non-root', () => {
    for (const w of workloads)
      for (const c of w.spec.template.spec.containers) {
        const target = targetOf(c.image);
        expect({ image: c.image, target: stages.some((s) => s.name === target) }).toEqual({ image: c.image, target: true });
        expect(c.command).toBeUndefined(); // the image's ENTRYPOINT is the lung-triage CLI
        const args = c.args ?? execForm(effective(stages, target, 'CMD') ?? '[]');
        expect({ w: w.metadata.name, args, ok: isSubcommand(args) }).toEqual({ w: w.metadata.name, args, ok: true });
        expect(w.spec.template.spec.securityContext?.runAsNonRoot).toBe(true);
      }
    const job = get('Job', 'lung-triage-migrate') as Workload | undefined;
    expect(job?.spec.template.spec.containers[0].args).toEqual(['migrate']);
  });

  it('probes the gateway on /readyz (readiness) and /healthz (liveness) at the port LT_HTTP_PORT sets', () => {
    const gw = get('Deployment', 'lung-triage-gateway') as Workload;
    const c = gw.spec.template.spec.containers[0];
    const env = { ...stageEnv(stages, targetOf(c.image)), ...containerEnv(c) };
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    const routes = httpRoutes();
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      if (!p) continue;
      expect(routes.has(p.httpGet?.path ?? '')).toBe(true);
      expect(containerPort(c, p.httpGet?.port)).toBe(Number(env.LT_HTTP_PORT));
    }
    expect(containerPort(c, 'grpc')).toBe(Number(env.LT_GRPC_PORT));
    expect(gw.spec.replicas).toBeGreaterThan(1);
  });

  it('probes the worker with gRPC health at the port LT_WORKER_PORT sets, on GPU nodes', () => {
    const wk = get('Deployment', 'lung-triage-worker') as Workload;
    const pod = wk.spec.template.spec;
    const c = pod.containers[0];
    const env = { ...stageEnv(stages, targetOf(c.image)), ...containerEnv(c) };
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) expect(p?.grpc?.port).toBe(Number(env.LT_WORKER_PORT));
    expect(containerPort(c, Number(env.LT_WORKER_PORT))).toBe(Number(env.LT_WORKER_PORT));
    expect(read('src/inference/worker.ts')).toMatch(/HealthImplementation\(\{ '': 'SERVING'/); // the probe asks for service ''
    expect(c.resources?.limits?.['nvidia.com/gpu']).toBe(1);
    expect(pod.tolerations?.some((t) => t.key === 'nvidia.com/gpu')).toBe(true);
    expect(Object.keys(pod.nodeSelector ?? {}).length).toBeGreaterThan(0);
    expect(targetOf(c.image)).toBe('worker-cuda');
    expect(env.LT_EXECUTION_PROVIDER).toBe('cuda');
  });

  it('Services select real pods and target their declared ports', () => {
    for (const s of services) {
      const pods = workloads.filter((w) => w.kind === 'Deployment' && matches(s.spec.selector, w.spec.template.metadata.labels));
      expect({ s: s.metadata.name, pods: pods.length }).toEqual({ s: s.metadata.name, pods: 1 });
      for (const p of s.spec.ports)
        expect({ s: s.metadata.name, p: p.name, ok: containerPort(pods[0].spec.template.spec.containers[0], p.targetPort ?? p.port) !== undefined }).toEqual({
          s: s.metadata.name,
          p: p.name,
          ok: true,
        });
    }
    for (const d of byKind<Workload>('Deployment')) expect(matches(d.spec.selector?.matchLabels ?? {}, d.spec.template.metadata.labels)).toBe(true);
  });

  it('LT_WORKERS names the headless worker Service on the port the workers listen on', () => {
    const gw = get('Deployment', 'lung-triage-gateway') as Workload;
    const workers = (containerEnv(gw.spec.template.spec.containers[0]).LT_WORKERS ?? '').split(',').filter(Boolean);
    expect(workers.length).toBeGreaterThan(0);
    for (const w of workers) {
      const [host, port] = w.split(':');
      const svc = get('Service', host.split('.')[0]) as Service | undefined;
      expect({ w, svc: svc?.metadata.name }).toEqual({ w, svc: host.split('.')[0] });
      expect(svc?.spec.clusterIP).toBe('None');
      expect(svc?.spec.ports.map((p) => p.port)).toContain(Number(port));
      const wk = workloads.find((x) => x.kind === 'Deployment' && matches(svc?.spec.selector ?? {}, x.spec.template.metadata.labels)) as Workload;
      const c = wk.spec.template.spec.containers[0];
      expect(Number({ ...stageEnv(stages, targetOf(c.image)), ...containerEnv(c) }.LT_WORKER_PORT)).toBe(Number(port));
    }
  });

  it('has PodDisruptionBudgets for gateway and worker, and an HPA on the worker Deployment', () => {
    const pdbs = byKind<K8sObj & { spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget');
    for (const name of ['lung-triage-gateway', 'lung-triage-worker']) {
      const d = get('Deployment', name) as Workload;
      expect({ name, pdb: pdbs.some((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels)) }).toEqual({ name, pdb: true });
    }
    const hpa = byKind<K8sObj & { spec: { scaleTargetRef: { kind: string; name: string }; maxReplicas: number } }>('HorizontalPodAutoscaler');
    expect(hpa.map((h) => [h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name])).toEqual([['Deployment', 'lung-triage-worker']]);
  });

  it('runs the gateway as the least-privilege login and the migration Job as the owner', () => {
    const gw = get('Deployment', 'lung-triage-gateway') as Workload;
    const job = get('Job', 'lung-triage-migrate') as Workload;
    const urlOf = (w: Workload) => {
      const file = containerEnv(w.spec.template.spec.containers[0]).LT_DATABASE_URL_FILE ?? '';
      return new URL(secrets['lung-triage-secrets'][file.split('/').pop() ?? '']);
    };
    expect(urlOf(gw).username).not.toBe(urlOf(job).username);
    expect(urlOf(gw).pathname).toBe(urlOf(job).pathname);
    expect(containerEnv(gw.spec.template.spec.containers[0]).LT_AUDIT_KEY_FILE).toBeDefined();
  });

  it('authenticates every listener off loopback: DICOMweb, TriageService and the worker (same worker token)', () => {
    const gwC = (get('Deployment', 'lung-triage-gateway') as Workload).spec.template.spec.containers[0];
    const wkC = (get('Deployment', 'lung-triage-worker') as Workload).spec.template.spec.containers[0];
    const gwEnv = { ...stageEnv(stages, targetOf(gwC.image)), ...containerEnv(gwC) };
    const wkEnv = { ...stageEnv(stages, targetOf(wkC.image)), ...containerEnv(wkC) };
    expect(authenticationProblems(gwEnv)).toEqual([]);
    expect(authenticationProblems(wkEnv, 'worker')).toEqual([]);
    expect(gwEnv.LT_ALLOW_UNAUTHENTICATED).toBeUndefined();
    expect(wkEnv.LT_ALLOW_UNAUTHENTICATED).toBeUndefined();
    expect(gwEnv.LT_WORKER_AUTH_TOKEN_FILE?.split('/').pop()).toBe(wkEnv.LT_WORKER_AUTH_TOKEN_FILE?.split('/').pop());
  });

  it('keeps only placeholders in the Secret', () => {
    for (const [name, data] of Object.entries(secrets)) for (const [k, v] of Object.entries(data)) expect({ name, k, placeholder: String(v).includes('CHANGE-ME') }).toEqual({ name, k, placeholder: true });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The health check commands, run for real

function run(cmd: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(cmd[0], cmd.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore' });
    p.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('health check commands', () => {
  const stages = parseDockerfile(APP_DOCKERFILE);

  it('the worker HEALTHCHECK (docker/healthcheck-grpc.js) exits 0 only while grpc.health.v1 says SERVING', async () => {
    const cmd = healthcheck(stages, 'worker').map(imagePathToRepo);
    const server = new grpc.Server();
    const health = new HealthImplementation({ '': 'SERVING' });
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    try {
      expect(await run(cmd, { LT_WORKER_PORT: String(port) })).toBe(0);
      health.setStatus('', 'NOT_SERVING');
      expect(await run(cmd, { LT_WORKER_PORT: String(port) })).toBe(1);
    } finally {
      server.forceShutdown();
    }
    expect(await run(cmd, { LT_WORKER_PORT: String(port), HEALTHCHECK_TIMEOUT_MS: '1000' })).toBe(1);
  });

  it('the gateway HEALTHCHECK fetches /healthz on LT_HTTP_PORT and fails on an error status or no answer', async () => {
    const cmd = healthcheck(stages, 'gateway');
    let status = 200;
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      res.statusCode = status;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await run(cmd, { LT_HTTP_PORT: String(port) })).toBe(0);
      status = 503;
      expect(await run(cmd, { LT_HTTP_PORT: String(port) })).toBe(1);
      expect(seen).toEqual(['/healthz', '/healthz']);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await run(cmd, { LT_HTTP_PORT: String(port) })).toBe(1);
  });

  it('init-secrets.sh writes a Postgres URL the config loader accepts, readable by the containers', () => {
    const dir = tempDir('secrets');
    try {
      writeFileSync(path.join(dir, 'init-secrets.sh'), readFileSync(path.join(DOCKER, 'init-secrets.sh')));
      const r = spawnSync('bash', [path.join(dir, 'init-secrets.sh')], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const file = path.join(dir, 'secrets', 'database_url');
      expect(statSync(file).mode & 0o004).toBe(0o004);
      expect(loadConfig({ LT_DATABASE_URL_FILE: file }).databaseUrl).toMatch(/^postgres:\/\/lungtriage:[A-Za-z0-9]{20,}@postgres:5432\/lungtriage$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
