import type { PodProbeView, Probe, ProbedContainer } from '@splitlet/contracts';

/**
 * What one probe run concluded (pkg/probe's Result): warning is a success the
 * kubelet reports with a ProbeWarning Event (a redirect it did not follow).
 */
export interface ProbeOutcome {
  result: 'success' | 'warning' | 'failure';
  /** The probe's output: the failure's cause in the kubelet's words, or the body / command output. */
  output: string;
}

/**
 * The probe could not be run at all (runtime-executor not answering, a port name
 * that is not there): the kubelet throws the result away and only records an Event.
 */
export class ProbeError extends Error {
  override readonly name = 'ProbeError';
}

export const isProbeError = (err: unknown): err is ProbeError => err instanceof ProbeError;

/** Everything one run needs: the pod (its IP), the container (its ports, its id) and the probe. */
export interface ProbeTarget {
  pod: PodProbeView;
  container: ProbedContainer;
  probe: Probe;
}

/**
 * Runs one kind of probe action once. Must settle within the probe's timeout (a
 * timeout is a failure, never a hang) and must never throw anything but ProbeError.
 */
export interface ProbeHandler {
  run(target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome>;
}

/** The kubelet's maxRespBodyLength / exec output limit: 10 KiB of output is kept. */
export const MAX_OUTPUT = 10 * 1024;
