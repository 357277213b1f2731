import type { DependencyContainer } from 'tsyringe';
import type { NatsConnection } from '@nats-io/transport-node';
import { createRpcClient } from '@splitlet/bus';
import { RuntimeService } from '@splitlet/contracts';
import { TOKENS, type Runnable } from '@splitlet/service';
import type { Config } from './config';
import { RuntimeMonitor } from './runtime-monitor';
import { REG } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  const nc = container.resolve<NatsConnection>(TOKENS.Nats);
  container.registerInstance(REG.Runtime, createRpcClient(nc, config.SPLITLET_NODE_NAME, RuntimeService));
  container.registerInstance(REG.RuntimeCheckIntervalMs, config.SPLITLET_RUNTIME_CHECK_INTERVAL_MS);
  return container.resolve(RuntimeMonitor);
}
