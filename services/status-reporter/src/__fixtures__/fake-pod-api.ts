import { ApiException, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import type { PodApi } from '../pod-api';

/** Records patches and deletes; fails on demand; each call may be held open. */
export class FakePodApi implements PodApi {
  patches: { ns: string; name: string; patch: { metadata: { uid: string }; status: { phase?: string } } }[] = [];
  deletes: { ns: string; name: string; uid: string }[] = [];
  failures: number[] = [];
  /** While true, every call fails as a request to an API server that is not there does. */
  unreachable = false;
  /** The pod name of every patch attempted, failed or not. */
  attempts: string[] = [];
  gate: Promise<void> | undefined;
  /** What a patch is answered with (the pod as the API server then holds it); default {}. */
  answer: ((patch: FakePodApi['patches'][number]['patch']) => V1Pod) | undefined;
  async patchPodStatus(ns: string, name: string, patch: object): Promise<V1Pod> {
    await this.gate;
    this.attempts.push(name);
    if (this.unreachable) throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:6443') });
    const code = this.failures.shift();
    if (code) throw new ApiException(code, 'injected', JSON.stringify({ message: `injected ${code}` }), {});
    this.patches.push({ ns, name, patch: patch as FakePodApi['patches'][number]['patch'] });
    return this.answer?.(patch as FakePodApi['patches'][number]['patch']) ?? {};
  }
  async deletePod(ns: string, name: string, uid: string): Promise<void> {
    this.deletes.push({ ns, name, uid });
  }
  events: CoreV1Event[] = [];
  eventPatches: { ns: string; name: string; patch: object }[] = [];
  async createEvent(_ns: string, event: CoreV1Event): Promise<void> {
    await this.gate;
    // As the API server: a name already taken is refused.
    if (this.events.some((e) => e.metadata.name === event.metadata.name)) throw new ApiException(409, 'AlreadyExists', JSON.stringify({ message: `events "${event.metadata.name}" already exists` }), {});
    this.events.push(event);
  }
  /** As the API server: an Event that is not there is 404; the patch's fields replace the Event's. */
  async patchEvent(ns: string, name: string, patch: object): Promise<void> {
    const event = this.events.find((e) => e.metadata.namespace === ns && e.metadata.name === name);
    if (!event) throw new ApiException(404, 'NotFound', JSON.stringify({ message: `events "${name}" not found` }), {});
    this.eventPatches.push({ ns, name, patch });
    Object.assign(event, patch);
  }
}
