import { loadConfig, type Config } from '../../src/config/index.js';

/** A validated Config for tests: embedded in-memory database, no vendors unless given. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: 'memory://', ...env } as NodeJS.ProcessEnv);
}
