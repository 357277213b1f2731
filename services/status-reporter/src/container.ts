import type { DependencyContainer } from 'tsyringe';
import type { NatsConnection } from '@nats-io/transport-node';
import { openBucket, statusReporterLeasesBucket, statusReporterReplicasBucket } from '@splitlet/bus';
import { loadKubeConfig, OwnNodeInformer } from '@splitlet/kube';
import { runAll, shardMembersTtlMs, ShardOwnership, TOKENS, untilAborted, type Clock, type Runnable, type ShardSettings } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { shardSettings, type Config } from './config';
import { EventWriter, removeUnshardedConsumer } from './event-writer';
import { GonePods } from './gone-pods';
import { kubePodApi } from './pod-api';
import { InformerPodCache } from './pod-cache';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  const kc = loadKubeConfig(config.KUBECONFIG);
  container.registerInstance(SR.PodApi, kubePodApi(kc));
  // One memory of the pods gone, shared by the pod cache and every shard's writers.
  const gone = container.resolve(GonePods);
  container.registerInstance(GonePods, gone);
  const cache = new InformerPodCache(kc, config.SPLITLET_NODE_NAME, container.resolve<Logger>(TOKENS.Logger), gone);
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
  return runAll(cache, nodeWatch, shardWriters(container, config.SPLITLET_NODE_NAME, shardSettings(config)));
}

/**
 * The writers of pod status and Events, one pair per status shard this replica holds
 * (ShardOwnership: the node's status-reporters share the shards by rendezvous hashing
 * over their heartbeats, each shard's key naming its holder, whose heartbeat is the
 * lease; handed over only once its previous holder stopped). The pod cache and Node watch run in every replica.
 * Each holding begins as a restarted status-reporter: the latest status of each of
 * the shard's pods from the status stream (what the API server already holds is not
 * written again), the shard's Events from its durable consumer where the last holder
 * left them (an Event it took and did not acknowledge is handed out again after the
 * ack wait).
 */
function shardWriters(container: DependencyContainer, nodeName: string, settings: ShardSettings): Runnable {
  const logger = container.resolve<Logger>(TOKENS.Logger);
  return {
    run: async (signal) => {
      const nc = container.resolve<NatsConnection>(TOKENS.Nats);
      const members = await openBucket(nc, statusReporterReplicasBucket(nodeName), { ttlMs: shardMembersTtlMs(settings) });
      const leases = await openBucket(nc, statusReporterLeasesBucket(nodeName));
      await removeUnshardedConsumer(nc, nodeName).catch((err: unknown) => logger.warn({ err }, 'cannot remove the unsharded Events consumer'));
      const hold = async (shard: number, term: AbortSignal): Promise<void> => {
        const scope = container.createChildContainer();
        scope.registerInstance(SR.Shard, shard);
        logger.info({ shard }, 'writing the statuses and Events of a shard');
        try {
          await runAll(scope.resolve(PodStatusManager), scope.resolve(EventWriter)).run(term);
        } finally {
          logger.info({ shard }, 'stopped writing the statuses and Events of a shard');
        }
      };
      logger.info({ replica: settings.id, shards: settings.shards }, "sharing the node's status shards");
      await new ShardOwnership(members, leases, settings, container.resolve<Clock>(TOKENS.Clock), logger, hold).run(signal);
    },
  };
}
