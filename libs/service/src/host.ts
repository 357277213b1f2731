import 'reflect-metadata';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { flushCompileCache } from 'node:module';
import { join } from 'node:path';
import { Svcm, type Service } from '@nats-io/services';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { z } from 'zod';
import { connectBus, inboxPrefix, isBusAuthError, isBusCredentialsError, isBusTlsError, settleRequests, type NatsConnection } from '@splitlet/bus';
import { commonSchema, EXIT_CONFIG, isConfigError, loadConfig, type CommonConfig } from '@splitlet/config';
import { createLogger, inServiceScope, shutdownTelemetry, type Logger } from '@splitlet/telemetry';
import { systemClock } from './clock';
import { PAGE_RELEASE_DEFAULTS, PageRelease, processProbe } from './page-release';
import { TOKENS } from './tokens';

/** A long-running part of a service: runs until the signal aborts, then returns. */
export interface Runnable {
  run(signal: AbortSignal): Promise<void>;
}

export interface ServiceSpec<S extends z.ZodType<CommonConfig>> {
  /** The NATS micro service name, e.g. "runtime-executor". */
  name: string;
  version: string;
  description: string;
  /** The configuration schema: commonSchema, extended with the service's own settings. */
  configSchema: S;
  /**
   * Registers the service's own parts in the container (which already holds the
   * common TOKENS) and returns the part to run: its endpoints, loops and watches.
   */
  wire(container: DependencyContainer, config: z.infer<S>): Runnable | Promise<Runnable>;
}

/**
 * Runs a splitlet service: validated configuration (a bad value exits with code 78
 * and says which), JSON logs, NATS with reconnect, a NATS micro service with ping,
 * info and stats, and a clean stop on SIGTERM/SIGINT (the running parts stop, the
 * micro service stops, the connection drains, spans flush; exit 0).
 */
export async function runService<S extends z.ZodType<CommonConfig>>(spec: ServiceSpec<S>): Promise<void> {
  await runServices([spec]);
}

/**
 * Runs several services in one process (the all-in-one node) exactly as each runs
 * alone: each its own configuration (`envFor(name)`: its own SPLITLET_NATS_CREDS),
 * logger, NATS connection and identity, micro service, container and spans (its code
 * runs inside inServiceScope). Only the process is shared: one SIGTERM stops them all,
 * a configuration error in any stops the start, and a service that fails stops the
 * others too (exit 1), so a supervisor restarts the whole process.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each spec has its own schema
export async function runServices(specs: readonly ServiceSpec<any>[], envFor: (name: string) => NodeJS.ProcessEnv = () => process.env): Promise<void> {
  if (process.env['SPLITLET_WARM_COMPILE_CACHE'] === '1') warmCompileCacheAndExit();
  const configs: CommonConfig[] = [];
  for (const spec of specs) {
    try {
      configs.push(loadConfig(spec.configSchema, envFor(spec.name)));
    } catch (err) {
      if (!isConfigError(err)) throw err;
      process.stderr.write(`${spec.name}: ${err.message}\n`);
      await shutdownTelemetry();
      process.exit(EXIT_CONFIG);
    }
  }
  const loggers = specs.map((spec, i) => createLogger(spec.name, { level: configs[i]!.LOG_LEVEL }));
  const abort = new AbortController();
  let stopping = false;
  let running = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    loggers.forEach((l) => l.info({ signal }, 'stopping'));
    // Nothing runs yet (e.g. still waiting for NATS): there is nothing to wind down.
    if (!running) process.exit(0);
    abort.abort(new Error(`stopped by ${signal}`));
    const timeoutMs = Math.max(...configs.map((c) => c.SPLITLET_SHUTDOWN_TIMEOUT_MS));
    setTimeout(() => {
      loggers.forEach((l) => l.error({ timeoutMs }, 'shutdown timed out'));
      process.exit(1);
    }, timeoutMs).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  // One after another, in the order given: what a service needs answers before it asks
  // (registrar, last, finds the runtime and the services it requires already there).
  const started: Awaited<ReturnType<typeof startOne>>[] = [];
  for (const [i, spec] of specs.entries()) started.push(await inServiceScope(spec.name, () => startOne(spec, configs[i]!, loggers[i]!)));
  // The bundle's compiled code (enableCompileCache in the instrumentation module) is on
  // disk now, not only at a clean exit: a service that is killed still starts faster next time.
  flushCompileCache();
  if (configs[0]!.SPLITLET_PAGE_RELEASE) {
    new PageRelease(PAGE_RELEASE_DEFAULTS, processProbe()).start(
      abort.signal,
      (r) => loggers[0]!.info({ beforeMiB: Math.round(r.beforeBytes / 1048576), afterMiB: Math.round(r.afterBytes / 1048576), tookMs: Math.round(r.tookMs) }, "V8's freed pages given back"),
      (err) => loggers[0]!.warn({ err }, "V8's freed pages could not be given back"),
    );
  }
  const healthFile = configs[0]?.SPLITLET_HEALTH_FILE;
  if (healthFile) trackHealth(started.map((s) => s.nc), healthFile);
  running = true;
  await Promise.all(
    started.map(({ part }, i) =>
      inServiceScope(specs[i]!.name, async () => {
        try {
          await part.run(abort.signal);
        } catch (err) {
          if (!abort.signal.aborted) {
            loggers[i]!.fatal({ err }, 'service failed');
            process.exitCode = 1;
            // The process's other services stop with it: one exit for a supervisor to see.
            abort.abort(new Error(`${specs[i]!.name} failed`));
          }
        }
      }),
    ),
  );
  const shutdownMs = Math.max(...configs.map((c) => c.SPLITLET_SHUTDOWN_TIMEOUT_MS));
  await Promise.all(
    started.map(async ({ micro, nc }, i) => {
      await micro.stop().catch(() => undefined);
      // The requests taken before the stop are answered before the connection goes
      // (a reply after the drain is lost: its caller would wait out its timeout).
      const unanswered = await settleRequests(micro, Math.max(0, shutdownMs - 1_000));
      if (unanswered) loggers[i]!.warn({ unanswered }, 'stopping with requests unanswered');
      await nc.drain().catch(() => undefined);
    }),
  );
  await shutdownTelemetry();
  for (const l of loggers) {
    l.info('stopped');
    l.flush();
  }
}

/** Connects one service (its own identity), adds its micro service and wires its parts. */
async function startOne<S extends z.ZodType<CommonConfig>>(
  spec: ServiceSpec<S>,
  config: z.infer<S>,
  logger: Logger,
): Promise<{ nc: NatsConnection; micro: Service; part: Runnable }> {
  logger.info({ servers: config.NATS_URL, credentials: config.SPLITLET_NATS_CREDS ?? 'none' }, 'connecting to NATS');
  let nc: NatsConnection;
  try {
    nc = await connectBus({
      servers: config.NATS_URL,
      name: `${spec.name}@${config.SPLITLET_NODE_NAME}`,
      logger,
      inboxPrefix: inboxPrefix(config.SPLITLET_NODE_NAME, spec.name),
      ...(config.SPLITLET_NATS_CREDS ? { creds: readFileSync(config.SPLITLET_NATS_CREDS) } : {}),
      ...(config.SPLITLET_NATS_CA ? { caFile: config.SPLITLET_NATS_CA } : {}),
    });
  } catch (err) {
    if (isBusTlsError(err)) {
      const hint = config.SPLITLET_NATS_CA ? 'SPLITLET_NATS_CA must be the CA that signed the NATS server\'s certificate (and the server must serve TLS)' : 'SPLITLET_NATS_CA is not set: give the CA that signed the NATS server\'s certificate';
      process.stderr.write(`${spec.name}: ${err.message}\n${spec.name}: ${hint}\n`);
      await shutdownTelemetry();
      process.exit(EXIT_CONFIG);
    }
    if (isBusCredentialsError(err)) {
      process.stderr.write(`${spec.name}: ${err.message}\n${spec.name}: SPLITLET_NATS_CREDS (${config.SPLITLET_NATS_CREDS}) must be this service's credentials file (bus-creds mint writes one)\n`);
      await shutdownTelemetry();
      process.exit(EXIT_CONFIG);
    }
    if (!isBusAuthError(err)) throw err;
    // A refused identity is a configuration error, not an outage: retrying cannot help.
    const hint = err.hadCredentials
      ? `SPLITLET_NATS_CREDS (${config.SPLITLET_NATS_CREDS}) is not an identity this server accepts: mint this service's credentials again for node ${config.SPLITLET_NODE_NAME}`
      : "SPLITLET_NATS_CREDS is not set: give the service its own credentials file (bus-creds mint)";
    process.stderr.write(`${spec.name}: ${err.message}\n${spec.name}: ${hint}\n`);
    await shutdownTelemetry();
    process.exit(EXIT_CONFIG);
  }
  const micro = await new Svcm(nc).add({
    name: spec.name,
    version: spec.version,
    description: spec.description,
    metadata: { node: config.SPLITLET_NODE_NAME },
  });
  const container = rootContainer.createChildContainer();
  registerCommon(container, config, logger, nc, micro);
  let part: Runnable;
  try {
    part = await spec.wire(container, config);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${spec.name}: ${err.message}\n`);
    await micro.stop().catch(() => undefined);
    await nc.close().catch(() => undefined);
    process.exit(EXIT_CONFIG);
  }
  logger.info({ node: config.SPLITLET_NODE_NAME, id: micro.info().id }, 'started');
  return { nc, micro, part };
}

/** Keeps a file present while every connection is up, absent while any is not (a container health check tests it). */
function trackHealth(ncs: NatsConnection[], file: string): void {
  const down = new Set<number>();
  const mark = () => (down.size === 0 ? writeFileSync(file, `${process.pid}\n`) : rmSync(file, { force: true }));
  mark();
  process.once('exit', () => rmSync(file, { force: true }));
  ncs.forEach((nc, i) => {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') down.add(i);
        if (s.type === 'reconnect') down.delete(i);
        if (s.type === 'disconnect' || s.type === 'reconnect') mark();
      }
    })();
  });
}

/** Puts the common TOKENS into a container (also used by tests with their own values). */
export function registerCommon(
  container: DependencyContainer,
  config: CommonConfig,
  logger: Logger,
  nc: NatsConnection,
  micro: Service,
): void {
  container.registerInstance(TOKENS.Config, config);
  container.registerInstance(TOKENS.NodeName, config.SPLITLET_NODE_NAME);
  container.registerInstance(TOKENS.Logger, logger);
  container.registerInstance(TOKENS.Nats, nc);
  container.registerInstance(TOKENS.MicroService, micro);
  container.registerInstance(TOKENS.Clock, systemClock);
}

export { commonSchema };

/** Resolves when the signal aborts (at once if it already has). */
export async function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Runs several parts side by side until the signal aborts. */
export const runAll = (...parts: Runnable[]): Runnable => ({
  run: async (signal) => {
    await Promise.all(parts.map((p) => p.run(signal)));
  },
});

/**
 * The image's build (services/Dockerfile) runs each bundle once with this set: the
 * bundle is evaluated, its compiled code written to NODE_COMPILE_CACHE, and the
 * process ends before it reads any configuration or connects. A container's first
 * start then finds the bundle compiled instead of parsing it (README, "Footprint").
 */
function warmCompileCacheAndExit(): never {
  flushCompileCache();
  process.exit(0);
}

/**
 * The all-in-one node (SPLITLET_NODE_MODE=single): the services named by
 * SPLITLET_SERVICES (a comma-separated list; all of them when unset) in this process.
 * Each connects with its own credentials, `<SPLITLET_NATS_CREDS_DIR>/<name>.creds`,
 * so the bus holds it to the same permissions as when it runs alone.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each spec has its own schema
export async function runAllInOne(specs: readonly ServiceSpec<any>[]): Promise<void> {
  const wanted = process.env['SPLITLET_SERVICES']?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted?.filter((w) => !specs.some((s) => s.name === w)) ?? [];
  if (unknown.length || wanted?.length === 0) {
    process.stderr.write(`splitlet: SPLITLET_SERVICES names ${unknown.length ? `no service ${unknown.join(', ')}` : 'no service'} (it hosts ${specs.map((s) => s.name).join(', ')})\n`);
    await shutdownTelemetry();
    process.exit(EXIT_CONFIG);
  }
  const credsDir = process.env['SPLITLET_NATS_CREDS_DIR'];
  await runServices(
    specs.filter((s) => !wanted || wanted.includes(s.name)),
    (name) => (credsDir ? { ...process.env, SPLITLET_NATS_CREDS: join(credsDir, `${name}.creds`) } : process.env),
  );
}
