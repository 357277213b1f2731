import { ProbeKind, type Probe, type ProbedContainer } from '@splitlet/contracts';
import type { ProbeKindName } from '@splitlet/bus';

export type { ProbeKindName };

export const PROBE_KINDS: readonly ProbeKindName[] = ['startup', 'readiness', 'liveness'];

/** The kubelet's probeType.String(): the first word of its Events. */
export const kindTitle = (kind: ProbeKindName): string => kind[0]!.toUpperCase() + kind.slice(1);

export const kindEnum = (kind: ProbeKindName): ProbeKind =>
  kind === 'liveness' ? ProbeKind.LIVENESS : kind === 'readiness' ? ProbeKind.READINESS : ProbeKind.STARTUP;

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
  return {
    initialDelaySeconds: Math.max(0, p.initialDelaySeconds),
    timeoutSeconds: or(p.timeoutSeconds, 1),
    periodSeconds: or(p.periodSeconds, 10),
    // Validation pins liveness and startup to 1: a success there is settled at once.
    successThreshold: kind === 'readiness' ? or(p.successThreshold, 1) : 1,
    failureThreshold: or(p.failureThreshold, 3),
  };
}
