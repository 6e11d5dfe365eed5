import { loadConfig, type Config } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import { testDatabase } from './db';
import { TEST_MODELS_DIR } from './models';

/** A real gateway on an ephemeral port with its own real database and data dir. */
export async function testGateway(env: Record<string, string> = {}): Promise<{ gw: Gateway; url: string; config: Config; cleanup: () => Promise<void> }> {
  const { url: dbUrl, dataDir, cleanup: dropDb, db } = await testDatabase();
  await db.close();
  const config = loadConfig({ LT_DATABASE_URL: dbUrl, LT_DATA_DIR: dataDir, LT_HTTP_PORT: '0', LT_GRPC_PORT: '0', LT_STABLE_SECONDS: '1', LT_MODELS_DIR: TEST_MODELS_DIR, ...env });
  const gw = await startGateway(config);
  return {
    gw,
    config,
    url: `http://127.0.0.1:${gw.httpPort}`,
    cleanup: async () => {
      await gw.close();
      await dropDb().catch(() => undefined);
    },
  };
}
