import { readFileSync } from 'node:fs';
import type { DependencyContainer } from 'tsyringe';
import type { KubeConfig } from '@kubernetes/client-node';
import { createRpcClient, type NatsConnection } from '@splitlet/bus';
import { ConfigError } from '@splitlet/config';
import { ContainerLogService, ExecStreamService, RuntimeService } from '@splitlet/contracts';
import { loadKubeConfig, PodInformer } from '@splitlet/kube';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { RequestAuthenticator } from './auth/authenticator';
import { RequestAuthorizer } from './auth/authorizer';
import { kubeReviews } from './auth/reviews';
import type { Config } from './config';
import { KubeletApi } from './kubelet-api';
import { busMetricsGatherer, type MetricsGatherer } from './metrics/metrics';
import type { PodSource } from './logs/container-logs';
import { keptServingCert } from './tls/cert-store';
import { requestServingCert, type ServingCert } from './tls/serving-cert';
import { NODE_API } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  const kc = loadKubeConfig(config.KUBECONFIG);
  const logger = container.resolve<Logger>(TOKENS.Logger);
  const clock = container.resolve<Clock>(TOKENS.Clock);
  const nodeName = config.SPLITLET_NODE_NAME;
  const clientCA = readClientCA(config, kc);
  // Tests may register their own reviews, pods or certificate source in a child container.
  if (!container.isRegistered(NODE_API.Reviews)) container.registerInstance(NODE_API.Reviews, kubeReviews(kc));
  const informer = container.isRegistered(NODE_API.Pods) ? undefined : new PodInformer({ kubeConfig: kc, nodeName, logger }, { onUpsert: () => undefined, onDelete: () => undefined });
  if (informer) container.registerInstance<PodSource>(NODE_API.Pods, { get: (ns, name) => informer.get(ns, name), list: () => informer.list() });
  if (!container.isRegistered(NODE_API.ServingCert)) {
    const request = (signal: AbortSignal): Promise<ServingCert> => requestServingCert(kc, nodeName, clock, logger, signal);
    const servingCert = config.SPLITLET_TLS_CERT_FILE
      ? (): Promise<ServingCert> => Promise.resolve(certFromFiles(config.SPLITLET_TLS_CERT_FILE!, config.SPLITLET_TLS_PRIVATE_KEY_FILE!))
      : config.SPLITLET_CERT_DIR
        ? keptServingCert({ dir: config.SPLITLET_CERT_DIR, nodeName, now: () => clock.now(), logger }, request)
        : request;
    container.registerInstance(NODE_API.ServingCert, servingCert);
  }
  if (!container.isRegistered(NODE_API.Metrics)) {
    const timing = { firstReplyMs: config.SPLITLET_METRICS_FIRST_REPLY_MS, stallMs: config.SPLITLET_METRICS_STALL_MS };
    container.registerInstance<MetricsGatherer>(NODE_API.Metrics, busMetricsGatherer(container.resolve<NatsConnection>(TOKENS.Nats), nodeName, timing));
  }
  const reviews = container.resolve<ReturnType<typeof kubeReviews>>(NODE_API.Reviews);
  const pods = container.resolve<PodSource>(NODE_API.Pods);
  const api = new KubeletApi({
    nodeName,
    port: config.SPLITLET_KUBELET_PORT,
    address: config.SPLITLET_KUBELET_ADDRESS,
    clientCA,
    servingCert: container.resolve<(signal: AbortSignal) => Promise<ServingCert>>(NODE_API.ServingCert),
    authenticator: new RequestAuthenticator(reviews.reviewToken, clock),
    authorizer: new RequestAuthorizer(reviews.reviewAccess, clock),
    pods,
    logs: createRpcClient(container.resolve<NatsConnection>(TOKENS.Nats), nodeName, ContainerLogService, { timeoutMs: config.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS }),
    exec: createRpcClient(container.resolve<NatsConnection>(TOKENS.Nats), nodeName, ExecStreamService, { timeoutMs: config.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS }),
    runtime: createRpcClient(container.resolve<NatsConnection>(TOKENS.Nats), nodeName, RuntimeService, { timeoutMs: config.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS }),
    metrics: container.resolve<MetricsGatherer>(NODE_API.Metrics),
    nc: container.resolve<NatsConnection>(TOKENS.Nats),
    clock,
    logger,
  });
  return {
    run: async (signal) => {
      // The first list may wait for the API server as long as it is away; a stop must not.
      await Promise.race([informer?.start(), untilAborted(signal)]);
      if (signal.aborted) return informer?.stop();
      try {
        await api.run(signal);
      } finally {
        informer?.stop();
      }
    },
  };
}

/** --client-ca-file, else the kubeconfig cluster's CA. */
function readClientCA(config: Config, kc: KubeConfig): string {
  try {
    if (config.SPLITLET_CLIENT_CA_FILE) return readFileSync(config.SPLITLET_CLIENT_CA_FILE, 'utf8');
    const cluster = kc.getCurrentCluster();
    if (cluster?.caData) return Buffer.from(cluster.caData, 'base64').toString();
    if (cluster?.caFile) return readFileSync(cluster.caFile, 'utf8');
  } catch (err) {
    throw new ConfigError([`SPLITLET_CLIENT_CA_FILE: cannot read the client CA: ${(err as Error).message}`]);
  }
  throw new ConfigError(['SPLITLET_CLIENT_CA_FILE: unset, and the kubeconfig names no CA to verify client certificates with']);
}

function certFromFiles(certFile: string, keyFile: string): ServingCert {
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), notBefore: 0, notAfter: Infinity };
}
