import { commonSchema, evictionVariables, parsedVariable, refineEviction, replicaIdVariable } from '@splitlet/config';
import { leaderSettingsErrors } from '@splitlet/service';
import { z } from 'zod';
import { parseGoDuration } from '@splitlet/eviction';
import { parseNodeLabels, parseTaints } from './node-labels';
import { DEFAULT_REQUIRED_SERVICES, parseRequiredServices } from './required-services';
import { PLEG_RELIST_THRESHOLD_MS } from './pleg';

const parsed = parsedVariable;

const ms = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

export const configSchema = commonSchema.extend({
  /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
  KUBECONFIG: z.string().optional(),
  /** Extra node labels, "k=v,k2=v2" (--node-labels); keys NodeRestriction refuses are refused here. */
  SPLITLET_NODE_LABELS: parsed(parseNodeLabels, ''),
  /** Taints set when the Node is first created (--register-with-taints), "key=value:Effect,...". */
  SPLITLET_REGISTER_WITH_TAINTS: parsed(parseTaints, ''),
  /** The node's InternalIP; unset: the host name's address, else the default route's interface. */
  SPLITLET_NODE_IP: z.ipv4().optional(),
  /** The port reported as daemonEndpoints.kubeletEndpoint. */
  SPLITLET_KUBELET_PORT: z.coerce.number().int().min(1).max(65535).default(10250),
  SPLITLET_MAX_PODS: z.coerce.number().int().min(1).default(110),
  /**
   * --eviction-hard, --eviction-soft, --eviction-soft-grace-period, --eviction-minimum-reclaim,
   * --enforce-node-allocatable (the pressure conditions); --system-reserved and --kube-reserved.
   */
  ...evictionVariables,
  /** --eviction-pressure-transition-period: a pressure condition holds this long after its threshold was last met (Go duration). */
  SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD: parsed(parseGoDuration, '5m'),
  /** How often the status is computed (nodeStatusUpdateFrequency) and at least how often it is written (nodeStatusReportFrequency). */
  SPLITLET_NODE_STATUS_UPDATE_FREQUENCY_MS: ms(10_000),
  SPLITLET_NODE_STATUS_REPORT_FREQUENCY_MS: ms(300_000),
  SPLITLET_NODE_LEASE_DURATION_SECONDS: z.coerce.number().int().min(1).default(40),
  /** How long to wait for runtime-executor, or a required service's PING, to answer. */
  SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: ms(2_000),
  /**
   * How long ago the last successful relist (every pod sandbox and container, with its
   * status) may have started before the node is not ready, "PLEG is not healthy". The
   * kubelet's is fixed at 3 minutes: change it only for a test.
   */
  SPLITLET_PLEG_RELIST_THRESHOLD_MS: ms(PLEG_RELIST_THRESHOLD_MS),
  /** The services that must answer for this node (a PING within 30 s), or the node is NotReady naming them; runtime-executor always counts. */
  SPLITLET_NODE_REQUIRED_SERVICES: parsed(parseRequiredServices, DEFAULT_REQUIRED_SERVICES),
  /** Where the host's / is (a container mounts it, e.g. /host); host facts are read under it. */
  SPLITLET_HOST_ROOT: z.string().default('/'),
  /** The version reported as nodeInfo.kubeletVersion. */
  SPLITLET_VERSION: z.string().default('v0.1.0-splitlet'),
  /**
   * This replica's id in the election (SPLITLET_REGISTRAR_<node>), as the record and
   * the logs name the leader. Unset: random.
   */
  SPLITLET_REGISTRAR_REPLICA_ID: replicaIdVariable('registrar'),
  /**
   * The election's timing (client-go's leaseDuration, renewDeadline, retryPeriod): a
   * standby takes over a leader that vanished after the lease (5 s) and its next look
   * (1 s), within the Node Lease's 10 s renew interval; a leader that cannot renew for
   * the deadline (3 s) stops writing first.
   */
  SPLITLET_REGISTRAR_ELECTION_LEASE_MS: ms(5_000),
  SPLITLET_REGISTRAR_ELECTION_RENEW_DEADLINE_MS: ms(3_000),
  SPLITLET_REGISTRAR_ELECTION_RETRY_MS: ms(1_000),
})
  .superRefine(refineEviction)
  .superRefine((c, ctx) => {
    const errors = leaderSettingsErrors({ leaseMs: c.SPLITLET_REGISTRAR_ELECTION_LEASE_MS, renewDeadlineMs: c.SPLITLET_REGISTRAR_ELECTION_RENEW_DEADLINE_MS, retryMs: c.SPLITLET_REGISTRAR_ELECTION_RETRY_MS });
    for (const message of errors) ctx.addIssue({ code: 'custom', message, path: ['SPLITLET_REGISTRAR_ELECTION_RENEW_DEADLINE_MS'] });
  });

export type Config = z.infer<typeof configSchema>;
