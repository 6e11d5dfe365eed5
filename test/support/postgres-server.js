// A PostgreSQL server of its own, as a child process a test can stop and start again (restart faults): usage
// `node postgres-server.js <dir> <port>`; prints "ready" once it accepts connections, stops cleanly on SIGTERM.
// The data directory persists across restarts.
const { startEmbeddedPostgres } = require('./embedded-postgres');

async function main() {
  const [dir, port] = process.argv.slice(2);
  const { server } = await startEmbeddedPostgres({ dir, port: Number(port), persistent: true });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    server.stop().then(() => process.exit(0), () => process.exit(1));
  });
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
