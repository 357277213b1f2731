import { KubeConfig } from '@kubernetes/client-node';

/**
 * Loads a kubeconfig: the given path, else $KUBECONFIG, else the in-cluster
 * service account, else ~/.kube/config (client-node's default order).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${path ?? '(default)'} names no current cluster`);
  return kc;
}
