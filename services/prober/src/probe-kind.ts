import type { Probe, ProbedContainer } from '@splitlet/contracts';
import { MAX_TIMER_MS, probeKindOf, type ProbeKindName } from '@splitlet/bus';

export type { ProbeKindName };

/** The longest period or timeout a timer can wait, in whole seconds. */
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

export const PROBE_KINDS: readonly ProbeKindName[] = ['startup', 'readiness', 'liveness'];

/** The kubelet's probeType.String(): the first word of its Events. */
export const kindTitle = (kind: ProbeKindName): string => kind[0]!.toUpperCase() + kind.slice(1);

export const kindEnum = probeKindOf;

export const probeOf = (c: ProbedContainer, kind: ProbeKindName): Probe | undefined => c[kind];

/**
 * The probe's timing with the API server's defaults (pod-sync sends them defaulted;
 * a 0 still means the default here, never "probe continuously").
 */
export interface ProbeTiming {
  initialDelaySeconds: number;
  timeoutSeconds: number;
  periodSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export function probeTiming(p: Probe, kind: ProbeKindName): ProbeTiming {
  const or = (v: number, d: number) => (v > 0 ? v : d);
  // A period or timeout as a timer can wait (validation allows int32 seconds, 68 years;
  // a timer past ~24.8 days fires at once): such a probe runs every ~24.8 days.
  const timer = (s: number) => Math.min(s, MAX_TIMER_SECONDS);
  return {
    initialDelaySeconds: Math.max(0, p.initialDelaySeconds),
    timeoutSeconds: timer(or(p.timeoutSeconds, 1)),
    periodSeconds: timer(or(p.periodSeconds, 10)),
    // Validation pins liveness and startup to 1: a success there is settled at once.
    successThreshold: kind === 'readiness' ? or(p.successThreshold, 1) : 1,
    failureThreshold: or(p.failureThreshold, 3),
  };
}
