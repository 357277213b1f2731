import type { DependencyContainer } from 'tsyringe';
import { loadKubeConfig } from '@splitlet/kube';
import { runAll, type Runnable } from '@splitlet/service';
import type { Config } from './config';
import { EventWriter } from './event-writer';
import { kubePodApi } from './pod-api';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  container.registerInstance(SR.PodApi, kubePodApi(loadKubeConfig(config.KUBECONFIG)));
  return runAll(container.resolve(PodStatusManager), container.resolve(EventWriter));
}
