import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema
  .extend({
    /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
    KUBECONFIG: z.string().optional(),
    /** The kubelet port this service listens on (--port); registrar reports the same in daemonEndpoints. */
    SPLITLET_KUBELET_PORT: z.coerce.number().int().min(1).max(65535).default(10250),
    /** The address to listen on (--address). */
    SPLITLET_KUBELET_ADDRESS: z.string().default('0.0.0.0'),
    /**
     * The CA bundle client certificates are verified against (--client-ca-file); unset:
     * the CA of the kubeconfig's cluster, which is the cluster's client CA in most set-ups.
     */
    SPLITLET_CLIENT_CA_FILE: z.string().optional(),
    /**
     * A serving certificate and key (--tls-cert-file, --tls-private-key-file); unset: one
     * is asked of the cluster by a CSR with signer kubernetes.io/kubelet-serving, as the
     * kubelet's serverTLSBootstrap does, and renewed before it expires.
     */
    SPLITLET_TLS_CERT_FILE: z.string().optional(),
    SPLITLET_TLS_PRIVATE_KEY_FILE: z.string().optional(),
    /**
     * How long opening a log, an exec or a port-forward may take runtime-executor (the
     * kubelet's --runtime-request-timeout for the CRI's GetExec and the rest; pod-sync's
     * default): a Docker exec's create and start take seconds on a loaded node.
     */
    SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
    /**
     * Where the CSR-issued serving certificate is kept (--cert-dir: kubelet-server-current.pem,
     * 0600), so a restart serves it while valid instead of filing a CSR someone must approve
     * again; unset: kept in memory only.
     */
    SPLITLET_CERT_DIR: z.string().optional(),
    /**
     * How long a scrape of /metrics or /metrics/probes waits for the first replica of the
     * owning service (pod-sync, the prober) to answer, and then after each answer for
     * another: every replica holds a share of the figures, and one that does not answer
     * within the stall is left out of that scrape (splitlet_metrics_replicas says so)
     * rather than holding it up.
     */
    SPLITLET_METRICS_FIRST_REPLY_MS: z.coerce.number().int().min(10).default(2_000),
    SPLITLET_METRICS_STALL_MS: z.coerce.number().int().min(10).default(250),
  })
  .refine((c) => Boolean(c.SPLITLET_TLS_CERT_FILE) === Boolean(c.SPLITLET_TLS_PRIVATE_KEY_FILE), {
    message: 'SPLITLET_TLS_CERT_FILE and SPLITLET_TLS_PRIVATE_KEY_FILE go together',
    path: ['SPLITLET_TLS_CERT_FILE'],
  });

export type Config = z.infer<typeof configSchema>;
