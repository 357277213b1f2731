import { labEnv } from './lab';
import { labBusEnv, removeLabNodeCreds } from './lab-bus';
import { cleanupNodeVolumes } from './node-volumes';
import { startServiceProcess, type ServiceProcess } from './service-process';

export type ServiceName = 'registrar' | 'pod-sync' | 'runtime-executor' | 'prober' | 'status-reporter' | 'node-api';

export interface TestNode {
  nodeName: string;
  env: Record<string, string>;
  procs: Partial<Record<ServiceName, ServiceProcess>>;
  /** Starts one service (its bundle) for this node and waits until it has started. */
  start(name: ServiceName): Promise<ServiceProcess>;
  /** Stops one service with SIGTERM (or the given signal) and waits for it to exit. */
  stop(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  /** Stops every service and removes what the node left: its volumes, its bus credentials (minted again by a later start). */
  stopAll(): Promise<void>;
}

/**
 * A splitlet node for an end-to-end test: its services run as processes against
 * the lab's NATS and API server, under the node identity of `kubeconfig`; on a bus
 * with auth on, each with its own credentials, minted for this node.
 */
export function testNode(nodeName: string, kubeconfig: string, extraEnv: Record<string, string> = {}): TestNode {
  const lab = labEnv();
  const env = {
    SPLITLET_NODE_NAME: nodeName,
    KUBECONFIG: kubeconfig,
    NATS_URL: lab.natsUrl,
    OTEL_SDK_DISABLED: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: lab.otlpEndpoint,
    ...extraEnv,
  };
  const procs: TestNode['procs'] = {};
  const node: TestNode = {
    nodeName,
    env,
    procs,
    async start(name) {
      const p = startServiceProcess(name, { ...(await labBusEnv(nodeName, name)), ...env });
      procs[name] = p;
      await p.waitForLog((l) => l['msg'] === 'started', 30_000);
      return p;
    },
    async stop(name, signal = 'SIGTERM') {
      const p = procs[name];
      if (!p) return;
      delete procs[name];
      p.kill(signal);
      await p.exited;
    },
    async stopAll() {
      await Promise.all((Object.keys(procs) as ServiceName[]).map((n) => node.stop(n)));
      await cleanupNodeVolumes(nodeName, (env as Record<string, string>)['SPLITLET_DATA_DIR']);
      await removeLabNodeCreds(nodeName);
    },
  };
  return node;
}
