import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // PGlite takes seconds to boot: each file shares one instance, files run on the 2 cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Network is locked to loopback by test/setup.ts.
    setupFiles: ['test/setup.ts'],
  },
});
