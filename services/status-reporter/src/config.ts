import { commonSchema, replicaIdVariable } from '@splitlet/config';
import { STATUS_SHARDS } from '@splitlet/bus';
import { shardSettingsErrors, type ShardSettings } from '@splitlet/service';
import { z } from 'zod';

const ms = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

export const configSchema = commonSchema.extend({
  /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
  KUBECONFIG: z.string().optional(),
  /** How often every written status is compared with the API server's and repaired (the kubelet's 10 s). */
  SPLITLET_STATUS_RECONCILE_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * This replica's id among the node's status-reporters (its heartbeat in
   * SPLITLET_STATUS_REPORTERS_<node>, the holder its shard keys name). Unset: random.
   */
  SPLITLET_STATUS_REPORTER_REPLICA_ID: replicaIdVariable('status-reporter'),
  /**
   * The replicas' membership, as the prober's: a heartbeat every second; a replica
   * silent for 3 s is dead, and its shards go to the others.
   */
  SPLITLET_STATUS_REPORTER_HEARTBEAT_MS: ms(1_000),
  SPLITLET_STATUS_REPORTER_REPLICA_TTL_MS: ms(3_000),
  /**
   * The shards' lease, whose renewal is the holder's heartbeat (client-go's
   * leaseDuration, renewDeadline, retryPeriod): a replica takes over a shard whose
   * holder's heartbeat stood still for the lease (5 s), at its next look (1 s); a
   * holder whose heartbeats have not landed for the deadline (3 s) stops writing
   * first. A replica that stops lets its shards go at once.
   */
  SPLITLET_STATUS_REPORTER_ELECTION_LEASE_MS: ms(5_000),
  SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS: ms(3_000),
  SPLITLET_STATUS_REPORTER_ELECTION_RETRY_MS: ms(1_000),
}).superRefine((c, ctx) => {
  const errors = shardSettingsErrors(shardSettings(c));
  for (const message of errors) ctx.addIssue({ code: 'custom', message, path: ['SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS'] });
});

export type Config = z.infer<typeof configSchema>;

/** How the replicas share the node's status shards (STATUS_SHARDS, a contract of the bus). */
export function shardSettings(c: Config): ShardSettings {
  return {
    id: c.SPLITLET_STATUS_REPORTER_REPLICA_ID,
    shards: STATUS_SHARDS,
    heartbeatMs: c.SPLITLET_STATUS_REPORTER_HEARTBEAT_MS,
    ttlMs: c.SPLITLET_STATUS_REPORTER_REPLICA_TTL_MS,
    leaseMs: c.SPLITLET_STATUS_REPORTER_ELECTION_LEASE_MS,
    renewDeadlineMs: c.SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS,
    retryMs: c.SPLITLET_STATUS_REPORTER_ELECTION_RETRY_MS,
  };
}
