import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The native addon is loaded once per worker; forks keep a crash (should one ever happen)
    // from taking the runner down with it.
    pool: 'forks',
  },
});
