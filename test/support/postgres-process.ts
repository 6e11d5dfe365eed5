import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/db/database';
import { tempDir } from './temp-dir';

/** A PostgreSQL server of its own (not the shared test server) that a test may stop and start again. */
export class PostgresProcess {
  private proc?: ChildProcess;
  private output = '';
  readonly dir = tempDir('pgproc');
  port = 0;

  get url(): string {
    return `postgres://postgres:test@127.0.0.1:${this.port}/postgres`;
  }

  /** Starts the server (again, on the same port and data directory) and waits until it accepts connections. */
  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const proc = spawn(process.execPath, [path.join(__dirname, 'postgres-server.js'), this.dir, String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (this.output.includes('ready')) done(resolve);
        else if (proc.exitCode !== null) done(() => reject(new Error(`postgres exited ${proc.exitCode}: ${this.output.slice(-2000)}`)));
      }, 50);
      const done = (f: () => void) => {
        clearInterval(timer);
        f();
      };
    });
    this.output = '';
    return this;
  }

  /** A clean, fast shutdown (connections are terminated, as on a database restart). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
