import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '@splitlet/config';

/**
 * Loads a kubeconfig: the given path, else $KUBECONFIG, else the in-cluster
 * service account, else ~/.kube/config (client-node's default order). One that
 * cannot be read or names no cluster is a ConfigError (the service exits 78).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new ConfigError([`KUBECONFIG: cannot load ${path ?? 'the default kubeconfig'}: ${(err as Error).message}`]);
  }
  if (!kc.getCurrentCluster()) throw new ConfigError([`KUBECONFIG: ${path ?? 'the default kubeconfig'} names no current cluster`]);
  return kc;
}
