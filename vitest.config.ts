import { defineConfig } from 'vitest/config';

export default defineConfig({
  // lib/addon/binding.cts is CommonJS TypeScript (see the file for why); vite strips types only from
  // .ts/.mts/.tsx by default. vitest supplies require/__dirname to the transformed module.
  oxc: { include: /\.(m?ts|cts|[jt]sx)$/ },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The native addon is loaded once per worker; forks keep a crash (should one ever happen)
    // from taking the runner down with it.
    pool: 'forks',
  },
});
