import type { DependencyContainer } from 'tsyringe';
import { loadKubeConfig, PodInformer } from '@splitlet/kube';
import { TOKENS, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { Config } from './config';
import { PodWatch } from './pod-watch';
import { SYNC } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  const logger = container.resolve<Logger>(TOKENS.Logger);
  const informer = new PodInformer(
    { kubeConfig: loadKubeConfig(config.KUBECONFIG), nodeName: config.SPLITLET_NODE_NAME, logger },
    {
      onUpsert: (pod) => logger.debug({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` }, 'pod changed'),
      onDelete: (pod) => logger.debug({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` }, 'pod gone'),
    },
  );
  container.registerInstance(SYNC.PodInformer, informer);
  return container.resolve(PodWatch);
}
