#!/usr/bin/env node
// Bundles one service (src/main.ts, src/instrumentation.ts, the workspace libs and the
// npm packages they import) into services/<name>/dist with esbuild: dist needs only
// node. One file loads far faster than thousands from node_modules (registrar, from
// start to its first NATS attempt on this 2-core machine: 1.73 CPU-s and 184 MB
// unbundled with source maps on, 0.57 CPU-s and 122 MB bundled with them off).
// Source maps are written beside it; a service reads them only when started with
// NODE_OPTIONS=--enable-source-maps (readable stack traces, ~100 MB and ~0.4 s more).
//
// `all-in-one` bundles every service into one process (services/all-in-one/dist,
// SPLITLET_NODE_MODE=single): an entry made here that runs each service's `spec`
// (services/<name>/src/service.ts) with runServices, and an instrumentation that
// gives each its own service.name. It is made here, not kept as a project's source,
// because no project may import a service (eslint.config.mjs).
//
// Two things keep a bundle small in memory (issue 17, measured in README "Footprint"):
// - Only ASCII: V8 keeps a script's source as one byte per character only when every
//   character is Latin-1; one "—" in a bundled comment made pod-sync's 8 MB bundle 16 MB
//   of two-byte source. Every other character is written as a \u escape (all of them
//   are in comments, strings and a regular expression, where the escape means the same).
// - No ssh2: dockerode's docker-modem loads it for ssh:// Docker hosts, and its WebAssembly
//   takes 18 MB at load. splitlet talks to Docker over unix:// or tcp:// only
//   (runtime-executor's DOCKER_HOST); an ssh:// host gets a clear error instead.
//   build-service.mjs <name> [--image]   (--image: the same; kept for services/Dockerfile)
import { build } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const SERVICES = ['runtime-executor', 'status-reporter', 'pod-sync', 'prober', 'node-api', 'registrar'];
const [name, mode] = process.argv.slice(2);
if (!name || (mode && mode !== '--image')) {
  console.error('usage: build-service.mjs <service>|all-in-one [--image]');
  process.exit(2);
}
const root = join(import.meta.dirname, '..');
const dir = join(root, 'services', name);
const outdir = join(dir, 'dist');
await rm(outdir, { recursive: true, force: true });

const allInOne = {
  main: [
    "import 'reflect-metadata';",
    "import { runAllInOne } from '@splitlet/service';",
    ...SERVICES.map((s, i) => `import { spec as s${i} } from './services/${s}/src/service';`),
    `void runAllInOne([${SERVICES.map((_, i) => `s${i}`).join(', ')}]);`,
  ].join('\n'),
  instrumentation: [
    "import { enableCompileCache } from 'node:module';",
    "import { startTelemetry } from '@splitlet/telemetry';",
    'enableCompileCache();',
    `startTelemetry({ serviceName: 'splitlet', services: ${JSON.stringify(SERVICES)} });`,
  ].join('\n'),
};

const noSsh = {
  name: 'no-ssh',
  setup(b) {
    b.onResolve({ filter: /^\.\/ssh$/ }, (args) => (args.importer.includes('/docker-modem/') ? { path: 'docker-modem-ssh', namespace: 'no-ssh' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'no-ssh' }, () => ({
      contents: "module.exports = function () { throw new Error('ssh:// Docker hosts are not supported: use DOCKER_HOST=unix:// or tcp://'); };",
      loader: 'js',
    }));
  },
};

// node:http imported as an ES module makes node build its ES module facade, which reads
// every export, and so loads node's own bundled undici (its WebSocket, MessageEvent
// getters): 14 ms of a start, and ~7.5 MiB of RSS for the process's life (4.6 MiB of the
// node binary's pages, 2.9 anonymous). The bundles are CommonJS, so their static imports
// are require()s; OpenTelemetry's OTLP exporter still imports node:http (or node:https)
// dynamically, at its first export, and an import() would also start node's ES module
// loader. Required instead, as every other import is.
const httpRequired = {
  name: 'http-required',
  setup(b) {
    b.onResolve({ filter: /^(node:)?https?$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: `node:${args.path.replace(/^node:/, '')}`, namespace: 'http-required' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'http-required' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

// client-node imports fetch, Agent and ProxyAgent from undici; undici's index also
// loads its mock agents, caches, WebSocket, EventSource, cookies and interceptors (~60
// modules more: ~20 ms of every start of a service that talks to the API server, and
// their objects for the process's life). client-node's imports get those three from
// undici's own modules instead: the same classes and the same fetch. An ES module, so a
// name client-node imports and this does not export fails the build.
const undiciForClientNode = {
  name: 'undici-for-client-node',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (args) =>
      /[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer) ? { path: 'undici', namespace: 'undici-for-client-node' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'undici-for-client-node' }, () => ({
      contents: [
        "import Dispatcher from './lib/dispatcher/dispatcher.js';",
        "import api from './lib/api/index.js';",
        "import Agent from './lib/dispatcher/agent.js';",
        "import ProxyAgent from './lib/dispatcher/proxy-agent.js';",
        "import { fetch as fetchImpl } from './lib/web/fetch/index.js';",
        // As index.js does: a dispatcher's request, stream, pipeline, upgrade and connect
        // (ProxyAgent opens its tunnel with connect).
        'Object.assign(Dispatcher.prototype, api);',
        // index.js's fetch, as it runs bundled (its stack-trace addition finds the
        // bundle's own file in the error's stack already, and leaves it).
        'const fetch = (input, init = undefined) => fetchImpl(input, init);',
        'export { Agent, ProxyAgent, fetch };',
      ].join('\n'),
      resolveDir: join(root, 'node_modules', 'undici'),
      loader: 'js',
    }));
  },
};

// Lines of bundled packages changed at build, each for a cost the services never need
// to pay. Each line must be found exactly once, so a package's update that changes it
// fails the build here and is looked at again.
const SOURCE_PATCHES = [
  // docker-modem formats every request it sends for its debug log, whether that log is
  // on or not: util.inspect of the request's options with showHidden and no depth limit.
  // With 100 pods that was 14 of runtime-executor's 116 MiB allocated a minute (the
  // inspector's sampling heap profile), and churn keeps V8's memory reducer from giving
  // pages back. The bundled modem.js formats only when DEBUG=modem turned its log on.
  {
    file: /[\\/]docker-modem[\\/]lib[\\/]modem\.js$/,
    edits: [["debug('Sending: %s', util.inspect(options, {", "debug.enabled && debug('Sending: %s', util.inspect(options, {"]],
  },
  // dockerode requires its BuildKit session (@grpc/grpc-js, protobufjs and node:http2)
  // when it loads; runtime-executor never builds an image. Required on first use instead:
  // the same module, the same exports, only later.
  {
    file: /[\\/]dockerode[\\/]lib[\\/]docker\.js$/,
    edits: [["withSession = require('./session'),", "withSession = function () { return require('./session').apply(this, arguments); },"]],
  },
  // client-node loads its SOCKS proxy support (socks, socks-proxy-agent, ip-address)
  // when it loads: 12 ms of every start of a service that talks to the API server, for a
  // kubeconfig whose cluster has a socks:// proxy-url. Required on first use instead.
  {
    file: /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/,
    edits: [
      [
        "import { SocksProxyAgent } from 'socks-proxy-agent';",
        "const SocksProxyAgent = function (...args) { return new (require('socks-proxy-agent').SocksProxyAgent)(...args); };",
      ],
      ["import { SocksClient } from 'socks';", "const SocksClient = { createConnection: (...args) => require('socks').SocksClient.createConnection(...args) };"],
    ],
  },
  // ... and its WebSocket client (ws), for exec, attach and port-forward, which no
  // service calls as a client (node-api serves them, and loads ws for that itself).
  {
    file: /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]web-socket-handler\.js$/,
    edits: [
      ["import WebSocket from 'isomorphic-ws';", "const WebSocket = { get OPEN() { return require('isomorphic-ws').OPEN; } };"],
      [": new WebSocket(uri, protocols, opts);", ": new (require('isomorphic-ws'))(uri, protocols, opts);"],
    ],
  },
];
const sourcePatches = {
  name: 'source-patches',
  setup(b) {
    for (const { file, edits } of SOURCE_PATCHES) {
      b.onLoad({ filter: file }, async (args) => {
        let text = await readFile(args.path, 'utf8');
        for (const [line, patched] of edits) {
          if (text.split(line).length !== 2) throw new Error(`${args.path}: "${line}" changed; see SOURCE_PATCHES in tools/build-service.mjs`);
          text = text.replace(line, patched);
        }
        return { contents: text, loader: 'js' };
      });
    }
  },
};

const entry = (file, contents) => ({ contents, resolveDir: root, sourcefile: file, loader: 'ts' });
const options = {
  bundle: true,
  platform: 'node',
  // CommonJS, not an ES module: node loads a script without its ES module loader (the
  // module job, linking, and a facade for each node: module imported, which reads every
  // export of it). Measured on registrar, from exec to its first NATS attempt: ~15 ms
  // less (issue 17, cold start). dist/package.json says so to node.
  format: 'cjs',
  target: 'node24',
  sourcemap: true,
  // Whitespace and syntax minified, names kept: V8 holds the bundle's source in memory
  // for as long as the process runs (registrar's 7.9 MB became 4.2 MB: about 5 MB less
  // RSS a process, issue 17). A stack trace still names every function; its line and
  // column are the bundle's, which the source maps beside it turn into the TypeScript
  // sources' (NODE_OPTIONS=--enable-source-maps).
  minifyWhitespace: true,
  minifySyntax: true,
  tsconfig: join(root, 'tsconfig.base.json'),
  logLevel: 'warning',
  // Native add-ons are optional for the packages that load them (ssh2, cpu-features).
  external: ['*.node', 'cpu-features'],
  plugins: [noSsh, httpRequired, undiciForClientNode, sourcePatches],
};
// The instrumentation module takes the packages' ES module builds where they have one
// (OpenTelemetry's): esbuild drops what is not used from those (868 → 3xx KiB: the
// metrics SDK the OTLP transformer would load, the semantic conventions' thousands of
// constants), and it is what every start evaluates first. The main bundle keeps
// node's own resolution (its packages' CommonJS builds): it would shrink by 0.3 %.
// pino, which libs/telemetry's logger imports and the instrumentation never calls, is
// marked free of side effects there, so it is left out of it.
const pinoUnused = {
  name: 'pino-unused',
  setup(b) {
    b.onResolve({ filter: /^pino$/ }, async (args) => {
      if (args.pluginData === 'pino-unused') return undefined;
      const r = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: 'pino-unused' });
      return { ...r, sideEffects: false };
    });
  },
};
const instrumentationOptions = { ...options, mainFields: ['module', 'main'], plugins: [...options.plugins, pinoUnused] };
if (name === 'all-in-one') {
  await build({ ...options, stdin: entry('main.ts', allInOne.main), outfile: join(outdir, 'main.js') });
  await build({ ...instrumentationOptions, stdin: entry('instrumentation.ts', allInOne.instrumentation), outfile: join(outdir, 'instrumentation.js') });
} else {
  await build({ ...options, entryPoints: [join(dir, 'src/main.ts')], outdir });
  await build({ ...instrumentationOptions, entryPoints: [join(dir, 'src/instrumentation.ts')], outdir });
}

await writeFile(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
for (const file of ['main.js', 'instrumentation.js']) {
  const path = join(outdir, file);
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
