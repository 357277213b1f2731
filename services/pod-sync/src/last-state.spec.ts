import { describe, expect, it } from 'vitest';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { toWirePodStatus } from '@splitlet/pod-status';
import { keepCollectedLastState, keepStatusOfRemoved, shownContainerStatuses } from './last-state';

const t = (id: string, exitCode: number) => ({
  terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: new Date('2026-01-01T00:00:00Z'), finishedAt: new Date('2026-01-01T00:00:01Z'), containerID: `docker://${id}` },
});
const st = (id: string, state: V1ContainerStatus['state'], lastState: V1ContainerStatus['lastState'] = {}): V1ContainerStatus => ({
  name: 'app',
  image: 'x',
  imageID: '',
  ready: false,
  restartCount: 1,
  containerID: `docker://${id}`,
  state,
  lastState,
});

describe('pod-sync keepCollectedLastState', () => {
  it('the instance before the latest was collected: the lastState shown for the same latest instance stands', () => {
    const shown = st('b', t('b', 0), t('a', 1));
    const computed = st('b', t('b', 0));
    expect(keepCollectedLastState(computed, shown).lastState).toEqual(t('a', 1));
  });

  it('a status shown for another instance does not carry over', () => {
    const shown = st('a', { running: { startedAt: new Date() } }, t('z', 1));
    const computed = st('b', t('b', 0));
    expect(keepCollectedLastState(computed, shown)).toBe(computed);
  });

  it('a lastState the runtime still gives wins', () => {
    const computed = st('c', { running: { startedAt: new Date() } }, t('b', 1));
    expect(keepCollectedLastState(computed, st('c', { running: {} }, t('a', 1)))).toBe(computed);
  });

  it('a lastState that was the latest instance itself (CrashLoopBackOff) does not become its lastState', () => {
    const shown = st('b', { waiting: { reason: 'CrashLoopBackOff' } }, t('b', 1));
    const computed = st('b', t('b', 1));
    expect(keepCollectedLastState(computed, shown)).toBe(computed);
  });

  it('a container with no instance yet, or nothing shown, is left as computed', () => {
    const waiting: V1ContainerStatus = { name: 'app', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } }, lastState: {} };
    expect(keepCollectedLastState(waiting, st('a', t('a', 1), t('z', 1)))).toBe(waiting);
    const computed = st('b', t('b', 0));
    expect(keepCollectedLastState(computed, undefined)).toBe(computed);
  });
});

describe('pod-sync keepStatusOfRemoved (convertToAPIContainerStatuses with no runtime instance)', () => {
  const waiting = (reason = 'ContainerCreating'): V1ContainerStatus => ({ name: 'app', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason } }, lastState: {} });
  const opts = { defaultWaitingReason: 'ContainerCreating', deleting: false };

  it('a finished container whose instance was removed keeps the terminated status shown, as it was', () => {
    const shown = st('a', t('a', 0));
    expect(keepStatusOfRemoved(waiting(), shown, opts)).toBe(shown);
  });

  it('a terminated container whose start is failing now shows waiting with that reason, the termination as its last state', () => {
    const shown = st('a', t('a', 1));
    expect(keepStatusOfRemoved(waiting('ErrImagePull'), shown, opts)).toEqual({ ...shown, state: { waiting: { reason: 'ErrImagePull' } }, lastState: t('a', 1) });
  });

  it('a container shown waiting (back-off) keeps its restart count and last termination', () => {
    const shown = { ...st('a', { waiting: { reason: 'CrashLoopBackOff' } }, t('a', 1)), restartCount: 3 };
    expect(keepStatusOfRemoved(waiting(), shown, opts)).toEqual({ ...waiting(), restartCount: 3, lastState: t('a', 1) });
  });

  it('a container shown running that vanished: ContainerStatusUnknown (137) as its last state and one more restart; none while the pod is deleted', () => {
    const shown = { ...st('a', { running: { startedAt: new Date('2026-01-01T00:00:00Z') } }), restartCount: 2 };
    const unknown = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was deleted.  The container used to be Running' } };
    expect(keepStatusOfRemoved(waiting(), shown, opts)).toEqual({ ...waiting(), restartCount: 3, lastState: unknown });
    expect(keepStatusOfRemoved(waiting(), shown, { ...opts, deleting: true })).toEqual({ ...waiting(), restartCount: 2, lastState: unknown });
  });

  it('a container the runtime has an instance of, or with nothing shown, is left as computed', () => {
    const computed = st('b', t('b', 0));
    expect(keepStatusOfRemoved(computed, st('a', t('a', 1)), opts)).toBe(computed);
    const w = waiting();
    expect(keepStatusOfRemoved(w, undefined, opts)).toBe(w);
  });
});

describe('pod-sync shownContainerStatuses', () => {
  const pod: V1Pod = {
    metadata: { uid: 'u' },
    status: { initContainerStatuses: [{ ...st('i', t('i', 0)), name: 'init' }], containerStatuses: [st('api', t('api', 0), t('api0', 1))] },
  };

  it("is the API's status when pod-sync handed over none yet (after a restart)", () => {
    const shown = shownContainerStatuses(pod, undefined);
    expect([...shown.keys()]).toEqual(['init', 'app']);
    expect(shown.get('app')?.containerID).toBe('docker://api');
  });

  it('is what pod-sync last handed over when it did (the informer may lag), read back from the wire shape', () => {
    const handed = toWirePodStatus({ containerStatuses: [st('b', t('b', 0), t('a', 1))] });
    const shown = shownContainerStatuses(pod, handed).get('app')!;
    expect(shown.containerID).toBe('docker://b');
    expect(shown.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error', containerID: 'docker://a' });
    // And it goes out again as it came.
    const again = keepCollectedLastState(st('b', t('b', 0)), shown);
    expect(toWirePodStatus({ containerStatuses: [again] }).containerStatuses).toEqual(handed.containerStatuses);
  });
});
