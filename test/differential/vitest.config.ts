import { defineConfig } from 'vitest/config';

// `npm run test:differential` (issue 18): not part of `npm test` (it needs the
// reference node, `npm run lab:up -- --reference`, and minutes).
export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    root: 'test/differential',
    include: ['**/*.diff.ts'],
    setupFiles: ['reflect-metadata'],
    env: { OTEL_SDK_DISABLED: 'false' },
    testTimeout: 180_000,
    hookTimeout: 300_000,
    maxConcurrency: 6,
  },
});
