#!/usr/bin/env node
// Bundles one service (src/main.ts, src/instrumentation.ts, the workspace libs and the
// npm packages they import) into services/<name>/dist with esbuild: dist needs only
// node. One file loads far faster than thousands from node_modules (registrar, from
// start to its first NATS attempt on this 2-core machine: 1.73 CPU-s and 184 MB
// unbundled with source maps on, 0.57 CPU-s and 122 MB bundled with them off).
// Source maps are written beside it; a service reads them only when started with
// NODE_OPTIONS=--enable-source-maps (readable stack traces, ~100 MB and ~0.4 s more).
//   build-service.mjs <name> [--image]   (--image: the same; kept for services/Dockerfile)
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

const [name, mode] = process.argv.slice(2);
if (!name || (mode && mode !== '--image')) {
  console.error('usage: build-service.mjs <service> [--image]');
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
  tsconfig: join(root, 'tsconfig.base.json'),
  logLevel: 'warning',
  // Native add-ons are optional for the packages that load them (ssh2, cpu-features).
  external: ['*.node', 'cpu-features'],
  // Bundled CommonJS packages call require() and read __dirname/__filename (ssh2,
  // under dockerode): give the ESM bundle them, or node stops at the first use.
  banner: {
    js: [
      "import { createRequire as __splitletRequire } from 'node:module';",
      "import { fileURLToPath as __splitletFileURLToPath } from 'node:url';",
      "import { dirname as __splitletDirname } from 'node:path';",
      'const require = __splitletRequire(import.meta.url);',
      'const __filename = __splitletFileURLToPath(import.meta.url);',
      'const __dirname = __splitletDirname(__filename);',
    ].join(' '),
  },
});
