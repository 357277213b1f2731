import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One Vitest project per lib and service (`vitest run --project <name>`, which is
// what `nx test <name>` runs), plus the end-to-end suite against the lab.
const unitProjects = ['libs', 'services'].flatMap((group) =>
  readdirSync(group, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => ({
      extends: true as const,
      test: { name: d.name, root: `${group}/${d.name}`, include: ['src/**/*.spec.ts'] },
    })),
);

export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    setupFiles: ['reflect-metadata'],
    testTimeout: 20_000,
    env: { OTEL_SDK_DISABLED: 'true' },
    passWithNoTests: false,
    projects: [
      ...unitProjects,
      // The bench harness's own helpers (the benchmarks themselves run with `npm run bench`).
      { extends: true, test: { name: 'bench', root: 'bench', include: ['src/**/*.spec.ts'] } },
      // The conformance runner's own helpers (the quick subset's list and its check).
      { extends: true, test: { name: 'conformance', root: 'conformance', include: ['*.spec.ts'] } },
      {
        extends: true,
        test: {
          name: 'e2e',
          root: 'test/e2e',
          include: ['**/*.e2e.ts'],
          setupFiles: ['reflect-metadata', './setup/failure-logs.ts'],
          globalSetup: ['./setup/global.ts'],
          env: { OTEL_SDK_DISABLED: 'false', DOCKER_BUILDKIT: '0' },
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // e2e files run in parallel: each owns its namespace and pod names.
          fileParallelism: true,
          maxWorkers: 4,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          // Upstream's quick NodeConformance subset (conformance/quick.e2e.ts: its own
          // node, ginkgo in four processes), after the e2e files, alone on the machine.
          name: 'e2e-conformance',
          root: 'conformance',
          include: ['quick.e2e.ts'],
          env: { OTEL_SDK_DISABLED: 'false' },
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
