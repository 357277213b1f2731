#!/usr/bin/env node
// Bundles one service's code (src/main.ts, src/instrumentation.ts and the workspace
// libs it imports) into services/<name>/dist with esbuild. npm packages stay
// external: they are installed beside the bundle (node_modules, or the image's).
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

const name = process.argv[2];
if (!name) {
  console.error('usage: build-service.mjs <service>');
  process.exit(2);
}
const root = join(import.meta.dirname, '..');
const dir = join(root, 'services', name);
await rm(join(dir, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(dir, 'src/main.ts'), join(dir, 'src/instrumentation.ts')],
  outdir: join(dir, 'dist'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: true,
  packages: 'external',
  tsconfig: join(root, 'tsconfig.base.json'),
  logLevel: 'warning',
});
