import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths';

const CLI = path.join(PACKAGE_ROOT, 'dist/src/cli.js');

/** A `lung-triage` subcommand running as its own OS process (the compiled CLI), for crash and restart tests. */
export class CliProcess {
  proc?: ChildProcess;
  output = '';
  constructor(
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {
    if (!existsSync(CLI)) throw new Error(`${CLI} not found: run 'npm run build' first (scripts/test.sh does)`);
  }

  /** True once the process has ended, by exit or by signal (a SIGKILLed child has exitCode null). */
  get ended(): boolean {
    return !this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  start(): this {
    this.output = '';
    this.proc = spawn(process.execPath, [CLI, ...this.args], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    return this;
  }

  /** Waits until an HTTP URL answers 200 (or the process dies). */
  async waitForHttp(url: string, timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.ended) throw new Error(`process exited ${this.proc?.exitCode ?? this.proc?.signalCode}:\n${this.output.slice(-3000)}`);
      try {
        if ((await fetch(url)).ok) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${url} did not come up:\n${this.output.slice(-3000)}`);
  }

  /** Waits until the process has printed a line matching re (or dies). */
  async waitForOutput(re: RegExp, timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.output)) {
      if (this.ended) throw new Error(`process exited ${this.proc?.exitCode ?? this.proc?.signalCode}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`no output matching ${re} in time:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** kill -9: no cleanup, no flushing, like a power cut of the process. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || this.ended) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  /** Graceful stop (SIGTERM), waiting for exit. */
  async stop(): Promise<number | null> {
    const p = this.proc;
    if (!p || this.ended) return p?.exitCode ?? null;
    return new Promise((resolve) => {
      p.once('exit', (code) => resolve(code));
      p.kill('SIGTERM');
    });
  }
}
