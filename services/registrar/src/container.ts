import { hostname, platform } from 'node:os';
import type { DependencyContainer } from 'tsyringe';
import type { NatsConnection } from '@nats-io/transport-node';
import { LEADER_KEY, openBucket, recordNodeEvent, registrarLeaderBucket } from '@splitlet/bus';
import { thresholdsOf } from '@splitlet/config';
import { loadKubeConfig } from '@splitlet/kube';
import { LeaderElection, runAll, TOKENS, type Clock, type LeaderSettings, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { Config } from './config';
import { goArch } from './host-facts';
import { BusNodeInputs } from './inputs';
import { kubeNodeApi } from './kube-api';
import { NodeLeaseController as LeaseController } from './lease-controller';
import { defaultNodeLabels } from './node-labels';
import { NodeShutdownWatch } from './node-shutdown';
import { NodeStatusManager, type NodeIdentity, type RegistrarTiming } from './node-status-manager';
import type { NodeEventSink, StatusSettings } from './node-status';
import { REG } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  container.registerInstance(REG.NodeApi, kubeNodeApi(loadKubeConfig(config.KUBECONFIG), config.SPLITLET_NODE_NAME, container.resolve<Logger>(TOKENS.Logger)));
  container.register(REG.Inputs, { useClass: BusNodeInputs });
  const settings: StatusSettings = {
    nodeName: config.SPLITLET_NODE_NAME,
    kubeletVersion: config.SPLITLET_VERSION,
    kubeletPort: config.SPLITLET_KUBELET_PORT,
    maxPods: config.SPLITLET_MAX_PODS,
    systemReserved: config.SPLITLET_SYSTEM_RESERVED,
    kubeReserved: config.SPLITLET_KUBE_RESERVED,
    evictionHard: config.SPLITLET_EVICTION_HARD,
    evictionThresholds: thresholdsOf(config),
    pressureTransitionPeriodMs: config.SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD,
  };
  container.registerInstance(REG.StatusSettings, settings);
  const nc = container.resolve<NatsConnection>(TOKENS.Nats);
  container.registerInstance(REG.NodeEvents, ((type, reason, message) => recordNodeEvent(nc, config.SPLITLET_NODE_NAME, type, reason, message)) satisfies NodeEventSink);
  const timing: RegistrarTiming = {
    updateFrequencyMs: config.SPLITLET_NODE_STATUS_UPDATE_FREQUENCY_MS,
    reportFrequencyMs: config.SPLITLET_NODE_STATUS_REPORT_FREQUENCY_MS,
    leaseDurationSeconds: config.SPLITLET_NODE_LEASE_DURATION_SECONDS,
  };
  container.registerInstance(REG.Timing, timing);
  const identity: NodeIdentity = {
    labels: { ...defaultNodeLabels(hostname().toLowerCase(), platform(), goArch()), ...config.SPLITLET_NODE_LABELS },
    taints: config.SPLITLET_REGISTER_WITH_TAINTS,
  };
  container.registerInstance(REG.Identity, identity);
  // Whether the node shuts down (pod-sync's state): a change writes the status at once.
  // A standby follows it too, so it is current the moment the standby leads.
  let manager: NodeStatusManager | undefined;
  const logger = container.resolve<Logger>(TOKENS.Logger);
  const clock = container.resolve<Clock>(TOKENS.Clock);
  const shutdown = new NodeShutdownWatch(nc, config.SPLITLET_NODE_NAME, logger, clock, () => manager?.syncSoon());
  container.registerInstance(REG.Shutdown, shutdown);
  const election: LeaderSettings = {
    id: config.SPLITLET_REGISTRAR_REPLICA_ID,
    leaseMs: config.SPLITLET_REGISTRAR_ELECTION_LEASE_MS,
    renewDeadlineMs: config.SPLITLET_REGISTRAR_ELECTION_RENEW_DEADLINE_MS,
    retryMs: config.SPLITLET_REGISTRAR_ELECTION_RETRY_MS,
  };
  return runAll(shutdown, leaderOnly(container, nc, config.SPLITLET_NODE_NAME, election, (m) => (manager = m)));
}

/**
 * The Node's and its Lease's writers, run only while this replica leads its
 * registrars (a hot standby runs none). Each term gets its own status manager and
 * lease controller, which begin as a restarted kubelet's: they read the Node and the
 * Lease and write at once.
 */
function leaderOnly(container: DependencyContainer, nc: NatsConnection, nodeName: string, settings: LeaderSettings, current: (m: NodeStatusManager | undefined) => void): Runnable {
  const logger = container.resolve<Logger>(TOKENS.Logger);
  return {
    run: async (signal) => {
      const kv = await openBucket(nc, registrarLeaderBucket(nodeName));
      const election = new LeaderElection(kv, LEADER_KEY, settings, container.resolve<Clock>(TOKENS.Clock), logger);
      logger.info({ replica: settings.id }, 'standing for election as the node\'s registrar');
      await election.run(signal, async (term) => {
        const manager = container.resolve(NodeStatusManager);
        current(manager);
        try {
          await runAll(manager, container.resolve(LeaseController)).run(term);
        } finally {
          current(undefined);
        }
      });
    },
  };
}
