import type { DependencyContainer } from 'tsyringe';
import type { Service } from '@nats-io/services';
import { createRpcClient, openBucket, serveMetrics, podsViewBucket, probeResultsBucket, proberReplicasBucket, type NatsConnection } from '@splitlet/bus';
import { proberv1, RuntimeService } from '@splitlet/contracts';
import { loadKubeConfig } from '@splitlet/kube';
import { TOKENS, runAll, type Clock, type ReplicaSettings, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { Config } from './config';
import { BusProbeEvents, type ProbeEventRecorder } from './events';
import { ProbeManager } from './manager';
import { ProberMetrics } from './metrics';
import { InformerNodePods, type NodePods } from './node-pods';
import { HandlerProber, type Prober } from './prober';
import { ExecProbe } from './probes/exec';
import { GrpcProbe } from './probes/grpc';
import { HttpProbe } from './probes/http';
import { TcpProbe } from './probes/tcp';
import { KvProbeResults } from './results';
import { PROBER } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export async function wire(container: DependencyContainer, config: Config): Promise<Runnable> {
  const replica: ReplicaSettings = {
    id: config.SPLITLET_PROBER_REPLICA_ID,
    heartbeatMs: config.SPLITLET_PROBER_HEARTBEAT_MS,
    ttlMs: config.SPLITLET_PROBER_REPLICA_TTL_MS,
  };
  container.registerInstance(PROBER.Replica, replica);
  if (!container.isRegistered(PROBER.Random)) container.registerInstance(PROBER.Random, Math.random);
  if (!container.isRegistered(PROBER.Metrics)) container.registerInstance(PROBER.Metrics, new ProberMetrics());
  if (!container.isRegistered(PROBER.Events)) container.register(PROBER.Events, { useClass: BusProbeEvents });
  if (!container.isRegistered(PROBER.Prober)) {
    const nc = container.resolve<NatsConnection>(TOKENS.Nats);
    const runtime = createRpcClient(nc, config.SPLITLET_NODE_NAME, RuntimeService);
    const handlers = {
      exec: new ExecProbe(runtime, config.SPLITLET_PROBER_EXEC_GRACE_MS),
      httpGet: new HttpProbe(),
      tcpSocket: new TcpProbe(),
      grpc: new GrpcProbe(),
    };
    container.registerInstance(PROBER.Prober, new HandlerProber(handlers, container.resolve<ProbeEventRecorder>(PROBER.Events)));
  }
  const logger = container.resolve<Logger>(TOKENS.Logger);
  if (!config.KUBECONFIG) {
    logger.warn('KUBECONFIG is not set: probe views are acted on without checking them against the API server');
    return proberRunnable(container, replica, config.SPLITLET_PROBER_RESYNC_MS, undefined);
  }
  const nodePods = new InformerNodePods(loadKubeConfig(config.KUBECONFIG), config.SPLITLET_NODE_NAME, logger);
  return runAll(nodePods, proberRunnable(container, replica, config.SPLITLET_PROBER_RESYNC_MS, nodePods));
}

/** Opens the node's three buckets, loads the results, then runs the manager. */
function proberRunnable(container: DependencyContainer, replica: ReplicaSettings, resyncMs: number, nodePods: NodePods | undefined): Runnable {
  const nc = container.resolve<NatsConnection>(TOKENS.Nats);
  const node = container.resolve<string>(TOKENS.NodeName);
  const clock = container.resolve<Clock>(TOKENS.Clock);
  const logger = container.resolve<Logger>(TOKENS.Logger);
  return {
    run: async (signal) => {
      const [podsKv, resultsKv, replicasKv] = await Promise.all([
        openBucket(nc, podsViewBucket(node)),
        openBucket(nc, probeResultsBucket(node)),
        openBucket(nc, proberReplicasBucket(node), { ttlMs: replica.ttlMs }),
      ]);
      const metrics = container.resolve<ProberMetrics>(PROBER.Metrics);
      // Every replica answers node-api's gather for the pods it probes.
      serveMetrics(container.resolve<Service>(TOKENS.MicroService), node, proberv1.ProberMetricsService, { registry: metrics.registry, replicaId: replica.id }, logger);
      const results = new KvProbeResults(resultsKv, replica.id, clock, logger);
      const { watching } = await results.start(signal);
      const manager = new ProbeManager({
        podsKv,
        replicasKv,
        results,
        replica,
        prober: container.resolve<Prober>(PROBER.Prober),
        clock,
        logger,
        random: container.resolve<() => number>(PROBER.Random),
        resyncMs,
        nodePods,
        metrics,
      });
      logger.info({ replica: replica.id }, 'probing');
      await Promise.all([manager.run(signal), watching]);
    },
  };
}
