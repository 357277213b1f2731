import type { DependencyContainer } from 'tsyringe';
import { loadKubeConfig, OwnNodeInformer } from '@splitlet/kube';
import { runAll, TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { Config } from './config';
import { EventWriter } from './event-writer';
import { GonePods } from './gone-pods';
import { kubePodApi } from './pod-api';
import { InformerPodCache } from './pod-cache';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  const kc = loadKubeConfig(config.KUBECONFIG);
  container.registerInstance(SR.PodApi, kubePodApi(kc));
  const cache = new InformerPodCache(kc, config.SPLITLET_NODE_NAME, container.resolve<Logger>(TOKENS.Logger), container.resolve(GonePods));
  container.registerInstance(SR.PodCache, cache);
  container.registerInstance(SR.ReconcileMs, config.SPLITLET_STATUS_RECONCILE_MS);
  // The node's own Node: its Ready condition Unknown means the node lifecycle controller
  // holds the node unreachable (registrar away). Unknown until it is listed: beating.
  const ownNode = new OwnNodeInformer({ kubeConfig: kc, nodeName: config.SPLITLET_NODE_NAME, logger: container.resolve<Logger>(TOKENS.Logger) });
  container.registerInstance(SR.NodeHeartbeat, { beating: () => ownNode.get(config.SPLITLET_NODE_NAME)?.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'Unknown' });
  const nodeWatch: Runnable = {
    run: async (signal) => {
      void ownNode.start();
      await untilAborted(signal);
      ownNode.stop();
    },
  };
  return runAll(cache, nodeWatch, container.resolve(PodStatusManager), container.resolve(EventWriter));
}
