import type { V1Pod } from '@kubernetes/client-node';
import { ErrorCode, isRemoteError, type ServiceClient } from '@splitlet/bus';
import type { ContainerStatus, RuntimeService } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';
import { runHook } from './lifecycle-hooks';
import { TerminationOrdering } from './termination-order';

type Runtime = ServiceClient<typeof RuntimeService>;

/** The kubelet's minimumGracePeriodInSeconds: a container always gets this long between its stop signal and SIGKILL. */
export const MINIMUM_GRACE_SECONDS = 2;

/** Records an Event about one of the pod's containers (init: it is an init container). */
export type ContainerEventSink = (pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, container: string, init: boolean) => void;

/**
 * Stops a pod's containers as the kubelet's killContainer and
 * killContainersWithSyncResult (kuberuntime_container.go): a Killing Event, the
 * preStop hook within the grace period, for a sidecar its turn (termination-order.ts),
 * then the stop signal with what is left of the grace (at least 2 s), then SIGKILL.
 */
export class ContainerKiller {
  constructor(
    private readonly runtime: Runtime,
    private readonly clock: Clock,
    private readonly record: ContainerEventSink,
    /** The pod's IP as its containers see it, for httpGet hooks. */
    private readonly podIP: (pod: V1Pod) => Promise<string>,
  ) {}

  /**
   * Stops all the given running containers of the pod at once, a pod with sidecars
   * in the kubelet's termination order; resolves when every stop has ended, and
   * rejects then with the first failure.
   */
  async killContainers(pod: V1Pod, running: readonly ContainerStatus[], graceSeconds: number): Promise<void> {
    const sidecars = (pod.spec?.initContainers ?? []).some((c) => c.restartPolicy === 'Always');
    const ordering = sidecars ? new TerminationOrdering(pod, running.map((c) => c.metadata?.name ?? ''), this.clock) : undefined;
    const results = await Promise.allSettled(running.map((c) => this.killContainer(pod, c, graceSeconds, undefined, ordering)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Stops one container (message: the Killing Event's, when not "Stopping container <name>"). */
  async killContainer(pod: V1Pod, running: ContainerStatus, graceSeconds: number, message?: string, ordering?: TerminationOrdering): Promise<void> {
    const name = running.metadata?.name ?? '';
    const init = (pod.spec?.initContainers ?? []).some((x) => x.name === name);
    const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((x) => x.name === name);
    this.record(pod, 'Normal', 'Killing', message ?? `Stopping container ${name}`, name, init);
    let grace = graceSeconds;
    const preStop = spec?.lifecycle?.preStop;
    if (spec && preStop && grace > 0) {
      const started = this.clock.now();
      const failure = await runHook(this.runtime, pod, spec, preStop, { containerId: running.id, podIP: await this.podIP(pod) }, grace);
      // As the kubelet's executePreStopHook: the hook's output stays out of the Event (a secret could be in it).
      if (failure) this.record(pod, 'Warning', 'FailedPreStopHook', 'PreStopHook failed', name, init);
      // Whole seconds taken, truncated (executePreStopHook's int64 of the seconds).
      grace -= Math.trunc((this.clock.now() - started) / 1000);
    }
    if (ordering && grace > 0) grace -= Math.trunc(await ordering.waitForTurn(name, grace));
    grace = Math.max(MINIMUM_GRACE_SECONDS, grace);
    await this.runtime.stopContainer({ containerId: running.id, timeout: BigInt(grace) }, { timeoutMs: (grace + 30) * 1000 }).catch((err: unknown) => {
      // A container already gone has stopped (crierror.IsNotFound).
      if (!(isRemoteError(err) && err.code === ErrorCode.NotFound)) throw err;
    });
    // Only a stop that worked lets the sidecars waiting on it go (as the kubelet's).
    ordering?.containerTerminated(name);
  }
}
