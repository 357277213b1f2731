import 'reflect-metadata';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Svcm, type Service } from '@nats-io/services';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { z } from 'zod';
import { connectBus, inboxPrefix, isBusAuthError, isBusTlsError, type NatsConnection } from '@splitlet/bus';
import { commonSchema, EXIT_CONFIG, isConfigError, loadConfig, type CommonConfig } from '@splitlet/config';
import { createLogger, shutdownTelemetry, type Logger } from '@splitlet/telemetry';
import { systemClock } from './clock';
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
  let config: z.infer<S>;
  try {
    config = loadConfig(spec.configSchema);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${spec.name}: ${err.message}\n`);
    await shutdownTelemetry();
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger(spec.name, { level: config.LOG_LEVEL });
  const abort = new AbortController();
  let stopping = false;
  let running = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    // Nothing runs yet (e.g. still waiting for NATS): there is nothing to wind down.
    if (!running) process.exit(0);
    abort.abort(new Error(`stopped by ${signal}`));
    setTimeout(() => {
      logger.error({ timeoutMs: config.SPLITLET_SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out');
      process.exit(1);
    }, config.SPLITLET_SHUTDOWN_TIMEOUT_MS).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

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
  if (config.SPLITLET_HEALTH_FILE) trackHealth(nc, config.SPLITLET_HEALTH_FILE);
  running = true;
  try {
    await part.run(abort.signal);
  } catch (err) {
    if (!abort.signal.aborted) {
      logger.fatal({ err }, 'service failed');
      process.exitCode = 1;
    }
  }
  await micro.stop().catch(() => undefined);
  await nc.drain().catch(() => undefined);
  await shutdownTelemetry();
  logger.info('stopped');
  logger.flush();
}

/** Keeps a file present while connected to NATS, absent while not (a container health check tests it). */
function trackHealth(nc: NatsConnection, file: string): void {
  const mark = (healthy: boolean) => (healthy ? writeFileSync(file, `${process.pid}\n`) : rmSync(file, { force: true }));
  mark(true);
  process.once('exit', () => mark(false));
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') mark(false);
      if (s.type === 'reconnect') mark(true);
    }
  })();
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
