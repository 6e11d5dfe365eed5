/**
 * The embedded default database (no LT_DATABASE_URL) after kill -9 of the gateway (issue 17, item 11), and the
 * command line's exit codes (newcomer papercuts): the restarted gateway stops the PostgreSQL its predecessor left
 * running on the data directory and serves what was acknowledged; a command whose embedded database cannot start
 * exits non-zero with the server's own reason; --help and --version print and exit without running the command.
 * The compiled CLI as its own processes, a real embedded PostgreSQL.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/db/database';
import { readPart10 } from '../../src/dicom/dcmjs';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../src/paths';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { CliProcess } from '../support/process';
import { multipartBody, postStow } from '../support/stow';
import { tempDir } from '../support/temp-dir';

const CLI = path.join(PACKAGE_ROOT, 'dist/src/cli.js');
/** No external database: every command below uses the embedded default. */
const EMBEDDED = { LT_DATABASE_URL: '', LT_LOG_LEVEL: 'info' };

/** The pid in a data directory's postmaster.pid, if any. */
function serverPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'pg', 'postmaster.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined;
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('kill -9 of a gateway on the embedded database', () => {
  const dataDir = tempDir('embedded-crash');
  const gateways: CliProcess[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.stop();
    // Whatever happened above, no server is left behind.
    const pid = serverPid(dataDir);
    if (pid && running(pid)) process.kill(pid, 'SIGINT');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the restarted gateway stops the orphaned server, starts its own and serves what was acknowledged', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // An unreachable worker: this test is about the database, no models need loading.
    const env = { ...EMBEDDED, LT_DATA_DIR: dataDir, LT_HTTP_PORT: String(port), LT_GRPC_PORT: '0', LT_WORKERS: '127.0.0.1:9', LT_STABLE_SECONDS: '3600' };
    const first = new CliProcess(['gateway'], env).start();
    gateways.push(first);
    await first.waitForHttp(`${base}/healthz`, 180_000);
    const [slice] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'embedded-crash' });
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody([slice.bytes]))).status).toBe(200);

    await first.kill9();
    const orphan = serverPid(dataDir);
    expect(orphan).toBeDefined();
    expect(running(orphan!)).toBe(true);

    const second = new CliProcess(['gateway'], env).start();
    gateways.push(second);
    await second.waitForHttp(`${base}/healthz`, 180_000);
    expect(running(orphan!)).toBe(false);
    expect(serverPid(dataDir)).not.toBe(orphan);
    expect(second.output).toMatch(/stopping the embedded PostgreSQL a previous run left running/);
    const studyUid = readPart10(slice.bytes).dataset.StudyInstanceUID as string;
    const wado = await fetch(`${base}/dicom-web/studies/${studyUid}`);
    expect(wado.status).toBe(200);
    expect((await wado.arrayBuffer()).byteLength).toBeGreaterThan(slice.bytes.length);
  });
});

describe('command line exit codes', () => {
  const dir = tempDir('cli');
  chmodSync(dir, 0o755); // the embedded server's own user may pass through (see the private-folder case below)
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[], env: Record<string, string>, timeout = 120_000) =>
    spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...EMBEDDED, ...env }, encoding: 'utf8', timeout });

  test('a command whose embedded database cannot start exits non-zero and logs the server\'s own reason', () => {
    // Data files of a version no server here reads: PostgreSQL refuses them.
    const dataDir = path.join(dir, 'broken');
    mkdirSync(path.join(dataDir, 'pg'), { recursive: true });
    writeFileSync(path.join(dataDir, 'pg', 'PG_VERSION'), '99\n');
    for (const args of [['migrate'], ['audit', 'verify']]) {
      const r = cli(args, { LT_DATA_DIR: dataDir });
      expect({ args, status: r.status }).toEqual({ args, status: 1 });
      expect(r.stdout + r.stderr).toMatch(/embedded PostgreSQL under .* did not start: postgres: .+/);
    }
  });

  // Only root hands the server to the user 'postgres'.
  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('as root, an LT_DATA_DIR inside a private (0700) folder: exit 1 saying which folder to open or where else to go', () => {
    const privateDir = path.join(dir, 'private');
    mkdirSync(privateDir, { mode: 0o700 });
    const r = cli(['migrate'], { LT_DATA_DIR: path.join(privateDir, 'data') });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toContain(`cannot enter ${privateDir} (mode 700): let it pass through (chmod o+x ${privateDir})`);
  });

  test.each([['gateway'], ['worker'], ['migrate'], ['demo'], ['audit', 'verify'], ['analyze', 'in', '--out', 'out']])('%s --help and --version print and exit 0 without running', (...args: string[]) => {
    const dataDir = path.join(dir, `never-${args[0]}`);
    // A command that ran instead would be stopped after 20 s (and have made its data directory).
    const help = cli([...args, '--help'], { LT_DATA_DIR: dataDir }, 20_000);
    expect({ status: help.status, out: help.stdout }).toEqual({ status: 0, out: expect.stringContaining('usage: lung-triage <command>') });
    const version = cli([...args, '--version'], { LT_DATA_DIR: dataDir }, 20_000);
    expect({ status: version.status, out: version.stdout }).toEqual({ status: 0, out: `lung-triage ${PACKAGE_VERSION}\n` });
    // Nothing ran: no data directory, no database.
    expect(existsSync(dataDir)).toBe(false);
  });
});
