import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Which kinds of project may depend on which (Nx tags). No service depends on
// another service; contracts depend on nothing; test support stays out of
// production code (only spec files may import type:testing).
const typeRules = (testing) => [
  { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', ...(testing ? ['type:testing'] : [])] },
  { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:infra', ...(testing ? ['type:testing'] : [])] },
  { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:infra', 'type:testing'] },
  {
    sourceTag: 'type:service',
    onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:infra', ...(testing ? ['type:testing'] : [])],
  },
  { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:infra', 'type:testing'] },
  // bench/ starts a node as the e2e tests do (libs/testing) and is never imported.
  { sourceTag: 'type:bench', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:infra', 'type:testing'] },
];
const services = ['registrar', 'pod-sync', 'runtime-executor', 'prober', 'status-reporter'];
const scopeRules = [
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  ...services.map((s) => ({ sourceTag: `scope:${s}`, onlyDependOnLibsWithTags: [`scope:${s}`, 'scope:shared'] })),
  { sourceTag: 'scope:e2e', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:bench', onlyDependOnLibsWithTags: ['scope:shared'] },
];
// Nx infers the project graph from every import, spec files' too: a lib's tests that
// use libs/testing (which uses the lib) close a cycle no production import makes (the
// type rules above keep type:testing out of production code). Those pairs only.
const testCycles = [
  ['bus', 'testing'],
  ['bus-auth', 'testing'],
  ['bus-auth', 'bus'],
  ['service', 'bus'],
  ['service', 'testing'],
];
const boundaries = (testing) => [
  'error',
  { enforceBuildableLibDependency: false, allow: [], ignoredCircularDependencies: testCycles, depConstraints: [...typeRules(testing), ...scopeRules] },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.lab/**', '.nx/**', 'libs/contracts/src/gen/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-imports': ['error', { patterns: [{ group: ['@splitlet/*/*'], message: 'import a lib from its one public entry' }] }],
    },
  },
  {
    // Test fixtures are test code too.
    files: ['**/*.spec.ts', '**/*.e2e.ts', '**/__fixtures__/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
);
