import { defineConfig } from 'vitest/config';

// Integration tests start real processes and a real S3 server, so they get generous
// timeouts; forks keep each file's servers and children apart.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
