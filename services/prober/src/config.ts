import { commonSchema, replicaIdVariable } from '@splitlet/config';
import { z } from 'zod';

const ms = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

export const configSchema = commonSchema
  .extend({
    /**
     * The node's kubeconfig (identity system:node:<name>): the node's pods, against
     * which every probe view is checked before it is acted on. Unset: views are not
     * checked (a warning at start).
     */
    KUBECONFIG: z.string().optional(),
    /**
     * This replica's id in SPLITLET_PROBERS_<node> (the rendezvous hashing input). A
     * stable id (e.g. the pod or host name) keeps a restarted replica's pods; unset: random.
     */
    SPLITLET_PROBER_REPLICA_ID: replicaIdVariable('prober'),
    /** How often the replica renews its entry in the replicas bucket. */
    SPLITLET_PROBER_HEARTBEAT_MS: ms(1_000),
    /** A replica not heard of for this long is dead: its pods move to the others. */
    SPLITLET_PROBER_REPLICA_TTL_MS: ms(3_000),
    /** How often the whole pods view is read again (level-triggered, beside the watch). */
    SPLITLET_PROBER_RESYNC_MS: ms(30_000),
    /** Extra time an exec probe's request to runtime-executor may take beyond timeoutSeconds. */
    SPLITLET_PROBER_EXEC_GRACE_MS: ms(2_000),
  })
  .refine((c) => c.SPLITLET_PROBER_REPLICA_TTL_MS > c.SPLITLET_PROBER_HEARTBEAT_MS, {
    message: 'must be longer than SPLITLET_PROBER_HEARTBEAT_MS',
    path: ['SPLITLET_PROBER_REPLICA_TTL_MS'],
  });

export type Config = z.infer<typeof configSchema>;
