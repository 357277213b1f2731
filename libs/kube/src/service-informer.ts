import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeInformer, type InformerBackoff } from './pod-informer';

/**
 * Every Service of the cluster, as the kubelet's service lister (a node may list and
 * watch services): what the pods' service environment variables are made from.
 */
export class ServiceInformer extends KubeInformer<V1Service> {
  constructor(opts: { kubeConfig: KubeConfig; logger: Logger } & InformerBackoff) {
    const api = opts.kubeConfig.makeApiClient(CoreV1Api);
    super({ ...opts, what: 'service', path: '/api/v1/services', list: () => api.listServiceForAllNamespaces() });
  }
}
