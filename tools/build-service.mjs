#!/usr/bin/env node
// Bundles one service (src/main.ts, src/instrumentation.ts and the workspace libs
// they import) into services/<name>/dist with esbuild.
//   build-service.mjs <name>          npm packages stay external (run from the repo)
//   build-service.mjs <name> --image  npm packages bundled too: dist needs only node
//                                     (what services/Dockerfile ships)
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

const [name, mode] = process.argv.slice(2);
if (!name || (mode && mode !== '--image')) {
  console.error('usage: build-service.mjs <service> [--image]');
  process.exit(2);
}
const image = mode === '--image';
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
  ...(image
    ? {
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
      }
    : { packages: 'external' }),
});
