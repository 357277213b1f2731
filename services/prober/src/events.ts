import { inject, injectable } from 'tsyringe';
import { containerFieldPath, recordPodEvent, type NatsConnection } from '@splitlet/bus';
import type { PodProbeView, ProbedContainer } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';

/** Records a Warning Event about a container of a pod. Must not block; best effort. */
export interface ProbeEventRecorder {
  warn(pod: PodProbeView, container: ProbedContainer, reason: 'Unhealthy' | 'ProbeWarning', message: string): void;
}

/** Hands Events to status-reporter over the bus (the one writer of Events). */
@injectable()
export class BusProbeEvents implements ProbeEventRecorder {
  constructor(
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
  ) {}

  warn(pod: PodProbeView, container: ProbedContainer, reason: 'Unhealthy' | 'ProbeWarning', message: string): void {
    recordPodEvent(
      this.nc,
      this.nodeName,
      { namespace: pod.namespace, name: pod.name, uid: pod.podUid, fieldPath: containerFieldPath(container.name, container.sidecar) },
      'Warning',
      reason,
      message,
    );
  }
}
