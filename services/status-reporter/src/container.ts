import type { DependencyContainer } from 'tsyringe';
import type { NatsConnection } from '@nats-io/transport-node';
import { LEADER_KEY, openBucket, statusReporterLeaderBucket } from '@splitlet/bus';
import { loadKubeConfig, OwnNodeInformer } from '@splitlet/kube';
import { LeaderElection, runAll, TOKENS, untilAborted, type Clock, type LeaderSettings, type Runnable } from '@splitlet/service';
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
  const election: LeaderSettings = {
    id: config.SPLITLET_STATUS_REPORTER_REPLICA_ID,
    leaseMs: config.SPLITLET_STATUS_REPORTER_ELECTION_LEASE_MS,
    renewDeadlineMs: config.SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS,
    retryMs: config.SPLITLET_STATUS_REPORTER_ELECTION_RETRY_MS,
  };
  return runAll(cache, nodeWatch, leaderOnly(container, config.SPLITLET_NODE_NAME, election));
}

/**
 * The writers of pod status and Events, run only while this replica leads the node's
 * status-reporters; a hot standby keeps its pod cache and Node watch warm and writes
 * nothing. Each term begins as a restarted status-reporter: the latest status of every
 * pod from the status stream (what the API server already holds is not written again),
 * the Events from the durable consumer where the last leader left them (an Event it
 * took and did not acknowledge is handed out again after the ack wait).
 */
function leaderOnly(container: DependencyContainer, nodeName: string, settings: LeaderSettings): Runnable {
  const logger = container.resolve<Logger>(TOKENS.Logger);
  return {
    run: async (signal) => {
      const kv = await openBucket(container.resolve<NatsConnection>(TOKENS.Nats), statusReporterLeaderBucket(nodeName));
      const election = new LeaderElection(kv, LEADER_KEY, settings, container.resolve<Clock>(TOKENS.Clock), logger);
      logger.info({ replica: settings.id }, "standing for election as the node's status-reporter");
      await election.run(signal, (term) => runAll(container.resolve(PodStatusManager), container.resolve(EventWriter)).run(term));
    },
  };
}
