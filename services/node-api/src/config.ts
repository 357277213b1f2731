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
  })
  .refine((c) => Boolean(c.SPLITLET_TLS_CERT_FILE) === Boolean(c.SPLITLET_TLS_PRIVATE_KEY_FILE), {
    message: 'SPLITLET_TLS_CERT_FILE and SPLITLET_TLS_PRIVATE_KEY_FILE go together',
    path: ['SPLITLET_TLS_CERT_FILE'],
  });

export type Config = z.infer<typeof configSchema>;
