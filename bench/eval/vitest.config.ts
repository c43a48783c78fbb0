// Runs the bench/eval scripts (TypeScript, importing lib/ and test/helpers/ directly):
//   npx vitest run --config bench/eval/vitest.config.ts [insdel-speed]
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  oxc: { include: /\.(m?ts|cts|[jt]sx)$/ }, // lib/addon/binding.cts, as in the main vitest.config.ts
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['bench/eval/**/*.run.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 3_600_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
