import { commonSchema, replicaIdVariable } from '@splitlet/config';
import { leaderSettingsErrors } from '@splitlet/service';
import { z } from 'zod';

const ms = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

export const configSchema = commonSchema.extend({
  /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
  KUBECONFIG: z.string().optional(),
  /** How often every written status is compared with the API server's and repaired (the kubelet's 10 s). */
  SPLITLET_STATUS_RECONCILE_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * This replica's id in the election (SPLITLET_STATUS_REPORTER_<node>): one replica
   * writes, the others stand by. Unset: random.
   */
  SPLITLET_STATUS_REPORTER_REPLICA_ID: replicaIdVariable('status-reporter'),
  /**
   * The election's timing, as registrar's (client-go's leaseDuration, renewDeadline,
   * retryPeriod): a standby takes over a leader that vanished after the lease (5 s) and
   * its next look (1 s); a leader that cannot renew for the deadline (3 s) stops
   * writing first. A leader that stops lets go at once.
   */
  SPLITLET_STATUS_REPORTER_ELECTION_LEASE_MS: ms(5_000),
  SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS: ms(3_000),
  SPLITLET_STATUS_REPORTER_ELECTION_RETRY_MS: ms(1_000),
}).superRefine((c, ctx) => {
  const errors = leaderSettingsErrors({ leaseMs: c.SPLITLET_STATUS_REPORTER_ELECTION_LEASE_MS, renewDeadlineMs: c.SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS, retryMs: c.SPLITLET_STATUS_REPORTER_ELECTION_RETRY_MS });
  for (const message of errors) ctx.addIssue({ code: 'custom', message, path: ['SPLITLET_STATUS_REPORTER_ELECTION_RENEW_DEADLINE_MS'] });
});

export type Config = z.infer<typeof configSchema>;
