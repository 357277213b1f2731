import type { MessageInitShape } from '@bufbuild/protobuf';
import { create, PodProbeViewSchema, ProbedContainerSchema, ProbeSchema, type PodProbeView, type Probe, type ProbedContainer } from '@splitlet/contracts';

export type ProbeInit = MessageInitShape<typeof ProbeSchema>;
/** A container's fields to override (ports as plain objects). */
export type ContainerInit = Omit<Exclude<MessageInitShape<typeof ProbedContainerSchema>, ProbedContainer>, '$typeName'>;

/** A probe with the API server's defaults, overridden by init. */
export const probe = (init: ProbeInit = {}): Probe =>
  create(ProbeSchema, { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, handler: { case: 'tcpSocket', value: { port: 80 } }, ...init });

export const container = (init: ContainerInit = {}): ProbedContainer =>
  create(ProbedContainerSchema, { name: 'app', containerId: 'c1', running: true, started: true, startedAt: 0n, ...init });

export const podView = (containers: ProbedContainer[], init: Partial<Omit<PodProbeView, '$typeName' | 'containers'>> = {}): PodProbeView =>
  create(PodProbeViewSchema, { podUid: 'uid-1', name: 'web', namespace: 'default', podIp: '127.0.0.1', restartPolicy: 'Always', version: 1n, containers, ...init });
