import type { DependencyContainer } from 'tsyringe';
import { loadKubeConfig } from '@splitlet/kube';
import type { Runnable } from '@splitlet/service';
import type { Config } from './config';
import { kubePodApi } from './pod-api';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  container.registerInstance(SR.PodApi, kubePodApi(loadKubeConfig(config.KUBECONFIG)));
  return container.resolve(PodStatusManager);
}
