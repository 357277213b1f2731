import { SERVICE_NAMES, type BusServiceName } from '@splitlet/bus-auth';

/**
 * The node's services registrar can require: every one but itself and
 * runtime-executor (whose absence has its own check and message: "container runtime
 * is down"). Each must answer a micro PING for this node, or the node is NotReady.
 */
export type RequiredService = Exclude<BusServiceName, 'registrar' | 'runtime-executor'>;

export const DEFAULT_REQUIRED_SERVICES = 'pod-sync,prober,status-reporter,node-api';

const NOT_REQUIRABLE: Partial<Record<BusServiceName, string>> = {
  registrar: 'registrar is the one asking',
  'runtime-executor': 'runtime-executor always counts, by its own check (container runtime is down)',
};

/** "pod-sync,prober": the services, in the list's order, each once; an unknown name is an error. */
export function parseRequiredServices(text: string): RequiredService[] {
  const out: RequiredService[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (!name) continue;
    if (!(SERVICE_NAMES as readonly string[]).includes(name)) throw new Error(`unknown service "${name}": one of ${SERVICE_NAMES.filter((s) => !NOT_REQUIRABLE[s]).join(', ')}`);
    const why = NOT_REQUIRABLE[name as BusServiceName];
    if (why) throw new Error(`"${name}" cannot be listed: ${why}`);
    if (!out.includes(name as RequiredService)) out.push(name as RequiredService);
  }
  return out;
}

/** The Ready condition's reason for a required service that does not answer, in the kubelet's style. */
export const notRunningMessage = (service: RequiredService): string => `${service} is not running: no ${service} service answers for this node`;
