import { create, ProbeResultSchema, ProbeResultValue, type PodProbeView, type Probe, type ProbedContainer, type ProbeResult } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import type { FakeClock } from '@splitlet/testing';
import type { ProbeKindName } from '../probe-kind';
import { kindEnum } from '../probe-kind';
import type { Prober, ProbeVerdict } from '../prober';
import { ProbeError } from '../probes/types';
import { changesHeld, type ProbeResults, type SettledValue } from '../results';

export const silentLogger = createLogger('prober-test', { level: 'silent' });

export type Scripted = ProbeVerdict | 'error' | 'hang' | (() => Promise<ProbeVerdict>);

/** A Prober answering from a script (the last entry repeats), counting calls with their (fake) times. */
export class FakeProber implements Prober {
  readonly calls: { kind: ProbeKindName; pod: string; container: string; containerId: string; at: number }[] = [];
  private readonly scripts = new Map<string, Scripted[]>();

  constructor(private readonly clock: Pick<FakeClock, 'now'>) {}

  /** What the next probes of kind (on container, default any) answer. */
  script(kind: ProbeKindName, ...answers: Scripted[]): this {
    this.scripts.set(kind, answers);
    return this;
  }

  async probe(kind: ProbeKindName, pod: PodProbeView, container: ProbedContainer, _probe: Probe): Promise<ProbeVerdict> {
    this.calls.push({ kind, pod: pod.podUid, container: container.name, containerId: container.containerId, at: this.clock.now() });
    const script = this.scripts.get(kind) ?? [];
    const next = script.length > 1 ? script.shift() : script[0];
    if (next === undefined) return { result: 'success', output: '' };
    if (next === 'error') throw new ProbeError('runtime-executor did not answer');
    if (next === 'hang') return new Promise(() => undefined);
    if (typeof next === 'function') return next();
    return next;
  }

  count(kind: ProbeKindName): number {
    return this.calls.filter((c) => c.kind === kind).length;
  }
}

export const ok: ProbeVerdict = { result: 'success', output: '' };
export const fail = (output = 'HTTP probe failed with statuscode: 500'): ProbeVerdict => ({ result: 'failure', output });

/** In-memory results with the bucket's publish-on-change rule; `published` lists what would be put. */
export class MemoryResults implements ProbeResults {
  readonly held = new Map<string, ProbeResult>();
  readonly published: { key: string; containerId: string; result: 'success' | 'failure'; message: string }[] = [];

  get(podUid: string, container: string, kind: ProbeKindName): ProbeResult | undefined {
    return this.held.get(`${podUid}.${container}.${kind}`);
  }

  set(podUid: string, container: string, kind: ProbeKindName, containerId: string, value: SettledValue, message: string): void {
    const key = `${podUid}.${container}.${kind}`;
    if (!changesHeld(this.held.get(key), containerId, value)) return;
    this.held.set(key, create(ProbeResultSchema, { podUid, containerName: container, kind: kindEnum(kind), containerId, result: value === 'success' ? ProbeResultValue.SUCCESS : ProbeResultValue.FAILURE, message }));
    this.published.push({ key, containerId, result: value, message });
  }

  /** Seeds a value as if the bucket held it already. */
  hold(podUid: string, container: string, kind: ProbeKindName, containerId: string, value: 'success' | 'failure'): void {
    this.held.set(`${podUid}.${container}.${kind}`, create(ProbeResultSchema, { podUid, containerName: container, kind: kindEnum(kind), containerId, result: value === 'success' ? ProbeResultValue.SUCCESS : ProbeResultValue.FAILURE }));
  }

  async deletePod(podUid: string): Promise<void> {
    for (const k of [...this.held.keys()]) if (k.startsWith(`${podUid}.`)) this.held.delete(k);
  }

  podUids(): Set<string> {
    return new Set([...this.held.values()].map((r) => r.podUid));
  }

  /** The published values for one key, in order. */
  seq(key: string): string[] {
    return this.published.filter((p) => p.key === key).map((p) => `${p.containerId}:${p.result}`);
  }
}
