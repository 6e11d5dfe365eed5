// Stops the PostgreSQL started by global-setup.js.
module.exports = async function globalTeardown() {
  if (globalThis.__LT_PG__) await globalThis.__LT_PG__.stop();
};
