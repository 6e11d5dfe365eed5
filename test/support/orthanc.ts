import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/db/database';
import { PACKAGE_ROOT } from '../../src/paths';
import { tempDir } from './temp-dir';

const ORTHANC_BIN = '/usr/sbin/Orthanc';
const REPO = PACKAGE_ROOT;

/** Orthanc is a required test peer: the README's test command installs it. Fail loudly if missing. */
export function assertOrthancInstalled(): void {
  if (!existsSync(ORTHANC_BIN)) throw new Error(`${ORTHANC_BIN} not found: run the README's test command (it apt-installs orthanc)`);
}

/** Options for a test Orthanc. */
export interface OrthancOptions {
  /** DICOMweb root of our gateway, for Orthanc's "ai" server entry. */
  aiUrl?: string;
  aiUsername?: string;
  aiPassword?: string;
  /** Load docker/orthanc/autoroute.lua (the same file the compose deployment uses). */
  autoroute?: boolean;
  stableAge?: number;
  users?: Record<string, string>;
  storageDir?: string;
  httpPort?: number;
  /** DIMSE peers Orthanc may send to (DicomModalities): name -> [AE title, host, port]. */
  modalities?: Record<string, [string, string, number]>;
  dicomPort?: number;
  /** PEM file of the CAs Orthanc's HTTP client trusts (HttpsCACertificates), for an https aiUrl. */
  httpsCaCertificates?: string;
}

/** A real Orthanc on free loopback ports with a fresh storage dir, configured from docker/orthanc/orthanc.json. */
export class TestOrthanc {
  private proc?: ChildProcess;
  readonly storageDir: string;
  httpPort = 0;
  dicomPort = 0;
  logs = '';

  constructor(private readonly opts: OrthancOptions = {}) {
    assertOrthancInstalled();
    this.storageDir = opts.storageDir ?? tempDir('orthanc');
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }
  get dicomWebUrl(): string {
    return `${this.url}/dicom-web`;
  }

  /** Starts Orthanc (again, after stop(), on the same ports and storage) and waits until GET /system answers. */
  async start(): Promise<this> {
    if (!this.httpPort) this.httpPort = this.opts.httpPort ?? (await freePort());
    if (!this.dicomPort) this.dicomPort = this.opts.dicomPort ?? (await freePort());
    const base = JSON.parse(readFileSync(path.join(REPO, 'docker/orthanc/orthanc.json'), 'utf8')) as Record<string, unknown>;
    const server: Record<string, unknown> = { Url: this.opts.aiUrl ?? 'http://127.0.0.1:9/dicom-web/', ChunkedTransfers: false };
    if (this.opts.aiUsername) Object.assign(server, { Username: this.opts.aiUsername, Password: this.opts.aiPassword });
    const config = {
      ...base,
      StorageDirectory: path.join(this.storageDir, 'db'),
      IndexDirectory: path.join(this.storageDir, 'db'),
      HttpPort: this.httpPort,
      DicomPort: this.dicomPort,
      RemoteAccessAllowed: false,
      StableAge: this.opts.stableAge ?? 2,
      LuaScripts: this.opts.autoroute ? [path.join(REPO, 'docker/orthanc/autoroute.lua')] : [],
      AuthenticationEnabled: Boolean(this.opts.users),
      RegisteredUsers: this.opts.users ?? {},
      DicomWeb: { ...(base.DicomWeb as object), Servers: { ai: server } },
      DicomModalities: this.opts.modalities ?? {},
      ...(this.opts.httpsCaCertificates ? { HttpsCACertificates: this.opts.httpsCaCertificates } : {}),
    };
    const file = path.join(this.storageDir, 'orthanc.json');
    writeFileSync(file, JSON.stringify(config, null, 2));
    this.proc = spawn(ORTHANC_BIN, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (d: Buffer) => (this.logs += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.logs += d.toString()));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`Orthanc exited with ${this.proc.exitCode}:\n${this.logs.slice(-2000)}`);
      try {
        const res = await fetch(`${this.url}/system`, { headers: this.authHeader() });
        if (res.ok) return this;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Orthanc did not start:\n${this.logs.slice(-2000)}`);
  }

  /** Stops Orthanc (SIGTERM, then SIGKILL after 10 s); storage is kept for a restart. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => p.kill('SIGKILL'), 10000);
      p.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      p.kill('SIGTERM');
    });
  }

  /** Stops and removes the storage dir. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.storageDir, { recursive: true, force: true });
  }

  authHeader(): Record<string, string> {
    const users = this.opts.users;
    if (!users) return {};
    const [u, p] = Object.entries(users)[0];
    return { Authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') };
  }

  /** GET/POST JSON against Orthanc's REST API. */
  async rest<T = unknown>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${route}`, {
      method,
      headers: { ...this.authHeader(), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Orthanc ${method} ${route}: ${res.status} ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Uploads Part 10 files through Orthanc's REST API (as a modality would send them). */
  async upload(files: Buffer[]): Promise<void> {
    for (const f of files) {
      const res = await fetch(`${this.url}/instances`, { method: 'POST', headers: this.authHeader(), body: f });
      if (!res.ok) throw new Error(`Orthanc upload failed: ${res.status} ${await res.text()}`);
    }
  }

  /** Orthanc's id for a Study Instance UID. */
  async studyId(studyUid: string): Promise<string> {
    const hits = await this.rest<{ ID: string; Type: string }[]>('POST', '/tools/lookup', studyUid);
    const hit = hits.find((h) => h.Type === 'Study');
    if (!hit) throw new Error(`study not in Orthanc`);
    return hit.ID;
  }
}
