import { dirname } from 'node:path';
import { labEnv } from './lab';
import { labBusEnv, removeLabNodeCreds } from './lab-bus';
import { cleanupNodeVolumes } from './node-volumes';
import { serviceView, startServiceProcess, type ServiceProcess } from './service-process';

export type ServiceName = 'registrar' | 'pod-sync' | 'runtime-executor' | 'prober' | 'status-reporter' | 'node-api';

export interface TestNode {
  nodeName: string;
  env: Record<string, string>;
  procs: Partial<Record<ServiceName, ServiceProcess>>;
  /** Starts one service (its bundle) for this node and waits until it has started. */
  start(name: ServiceName): Promise<ServiceProcess>;
  /**
   * Starts the services, in this order, in ONE all-in-one process (SPLITLET_NODE_MODE=single,
   * services/all-in-one) and waits until each has started. procs[name] is then that
   * service's view of the process: its own log lines; stopping any one stops them all.
   */
  startTogether(names: ServiceName[]): Promise<void>;
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
    async startTogether(names) {
      const busEnvs = await Promise.all(names.map((n) => labBusEnv(nodeName, n)));
      const creds = busEnvs[0]?.['SPLITLET_NATS_CREDS'];
      const { SPLITLET_NATS_CREDS: _, ...busEnv } = busEnvs[0] ?? {};
      const shared = startServiceProcess('all-in-one', {
        ...busEnv,
        ...(creds ? { SPLITLET_NATS_CREDS_DIR: dirname(creds) } : {}),
        SPLITLET_SERVICES: names.join(','),
        ...env,
      });
      for (const n of names) procs[n] = serviceView(shared, n);
      await Promise.all(names.map((n) => procs[n]!.waitForLog((l) => l['msg'] === 'started', 30_000)));
    },
    async stop(name, signal = 'SIGTERM') {
      const p = procs[name];
      if (!p) return;
      delete procs[name];
      // A service of the all-in-one process: the process, and so all it hosts, stops.
      for (const [other, q] of Object.entries(procs)) if (q?.child === p.child) delete procs[other as ServiceName];
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
