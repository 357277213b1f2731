import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import type { V1Pod } from '@kubernetes/client-node';
import { ContainerState, ContainerStatusSchema, PodSandboxState, PodSandboxStatusSchema, type ContainerStatus, type PodSandboxStatus } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { ContainerGC, DEFAULT_CONTAINER_GC_POLICY, type ContainerGCPolicy, type GcRuntime, type PodSource } from './container-gc';

// Cases after the kubelet's kuberuntime_gc_test.go (TestContainerGC, TestSandboxGC),
// against a fake runtime behind the same RPC interface, plus splitlet's own.

const logger = createLogger('pod-sync-test', { level: 'silent' });
const HOUR_MS = 3_600_000;
const { RUNNING, EXITED, CREATED, UNKNOWN_UNSPECIFIED: UNKNOWN } = ContainerState;

/** The runtime as runtime-executor answers it: what is listed is what was not removed. */
class FakeRuntime {
  containers: ContainerStatus[] = [];
  sandboxes: PodSandboxStatus[] = [];
  readonly calls: string[] = [];
  readonly failRemove = new Set<string>();

  listContainers = async () => ({ containers: [...this.containers] });
  listPodSandbox = async () => ({ items: [...this.sandboxes] });
  stopContainer = async ({ containerId }: { containerId?: string }) => {
    this.calls.push(`stop ${containerId}`);
  };
  removeContainer = async ({ containerId }: { containerId?: string }) => {
    this.calls.push(`remove ${containerId}`);
    if (this.failRemove.has(containerId!)) throw new Error(`cannot remove ${containerId}`);
    this.containers = this.containers.filter((c) => c.id !== containerId);
  };
  stopPodSandbox = async ({ podSandboxId }: { podSandboxId?: string }) => {
    this.calls.push(`stop sandbox ${podSandboxId}`);
  };
  // As the executor's: the sandbox's containers go with it.
  removePodSandbox = async ({ podSandboxId }: { podSandboxId?: string }) => {
    this.calls.push(`remove sandbox ${podSandboxId}`);
    this.containers = this.containers.filter((c) => c.podSandboxId !== podSandboxId);
    this.sandboxes = this.sandboxes.filter((s) => s.id !== podSandboxId);
  };
}

/** A container of pod `pod` (its UID is its name), created `createdAt` seconds after the epoch. */
const ctr = (pod: string, name: string, attempt: number, createdAt: number | bigint, state: ContainerState, sandbox = `${pod}-sb0`): ContainerStatus =>
  create(ContainerStatusSchema, {
    id: `${pod}-${name}-${attempt}`,
    metadata: { name, attempt },
    state,
    createdAt: typeof createdAt === 'bigint' ? createdAt : BigInt(createdAt) * 1_000_000_000n,
    labels: { 'io.kubernetes.pod.uid': pod, 'io.kubernetes.container.name': name },
    podSandboxId: sandbox,
  });
const sbx = (pod: string, attempt: number, state: PodSandboxState, createdAt: number): PodSandboxStatus =>
  create(PodSandboxStatusSchema, { id: `${pod}-sb${attempt}`, metadata: { name: pod, uid: pod, namespace: 'ns', attempt }, state, createdAt: BigInt(createdAt) * 1_000_000_000n });

const podsNamed = (names: string[], extra: Partial<V1Pod> = {}): PodSource => ({
  synced: Promise.resolve(),
  list: () => names.map((n) => ({ metadata: { uid: n, name: n, namespace: 'ns' }, ...extra })),
});

function setup(containers: ContainerStatus[], opts: { policy?: ContainerGCPolicy; pods?: PodSource; sandboxes?: PodSandboxStatus[]; finishedHere?: (pod: V1Pod) => boolean } = {}) {
  const rt = new FakeRuntime();
  rt.containers = containers;
  rt.sandboxes = opts.sandboxes ?? [];
  const clock = new FakeClock();
  // Every pod a container names exists, except "deleted".
  const uids = [...new Set([...containers.map((c) => c.labels['io.kubernetes.pod.uid']!), ...rt.sandboxes.map((s) => s.metadata!.uid)])];
  const pods = opts.pods ?? podsNamed(uids.filter((u) => u && u !== 'deleted'));
  const gc = new ContainerGC(rt as unknown as GcRuntime, pods, clock, logger, 'node-a', opts.policy ?? DEFAULT_CONTAINER_GC_POLICY, opts.finishedHere);
  const remaining = () => rt.containers.map((c) => containers.indexOf(c));
  return { rt, gc, clock, remaining };
}

describe('pod-sync container GC: containers (the kubelet TestContainerGC cases)', () => {
  // The kubelet test's default policy.
  const policy: ContainerGCPolicy = { minAgeMs: HOUR_MS, maxPerPodContainer: 2, maxContainers: 6 };
  const now = BigInt(new FakeClock().now()) * 1_000_000n;
  const cases: { description: string; containers: ContainerStatus[]; policy?: ContainerGCPolicy; remain: number[] }[] = [
    {
      description: 'all containers should be removed when max container limit is 0',
      containers: [ctr('foo', 'bar', 0, 0, EXITED)],
      policy: { minAgeMs: 60_000, maxPerPodContainer: 1, maxContainers: 0 },
      remain: [],
    },
    {
      description: 'max containers should be complied when no max per pod container limit is set',
      containers: [4, 3, 2, 1, 0].map((i) => ctr('foo', 'bar', i, i, EXITED)),
      policy: { minAgeMs: 60_000, maxPerPodContainer: -1, maxContainers: 4 },
      remain: [0, 1, 2, 3],
    },
    {
      description: 'no containers should be removed if both max container and per pod container limits are not set',
      containers: [2, 1, 0].map((i) => ctr('foo', 'bar', i, i, EXITED)),
      policy: { minAgeMs: 60_000, maxPerPodContainer: -1, maxContainers: -1 },
      remain: [0, 1, 2],
    },
    {
      description: 'recently started containers should not be removed',
      containers: [2, 1, 0].map((i) => ctr('foo', 'bar', i, now, EXITED)),
      remain: [0, 1, 2],
    },
    {
      description: 'oldest containers should be removed when per pod container limit exceeded',
      containers: [2, 1, 0].map((i) => ctr('foo', 'bar', i, i, EXITED)),
      remain: [0, 1],
    },
    {
      description: 'running containers should not be removed',
      containers: [ctr('foo', 'bar', 2, 2, EXITED), ctr('foo', 'bar', 1, 1, EXITED), ctr('foo', 'bar', 0, 0, RUNNING)],
      remain: [0, 1, 2],
    },
    {
      description: 'no containers should be removed when limits are not exceeded',
      containers: [1, 0].map((i) => ctr('foo', 'bar', i, i, EXITED)),
      remain: [0, 1],
    },
    {
      description: 'max container count should apply per (UID, container) pair',
      containers: [
        ...[2, 1, 0].map((i) => ctr('foo', 'bar', i, i, EXITED)),
        ...[2, 1, 0].map((i) => ctr('foo1', 'baz', i, i, EXITED)),
        ...[2, 1, 0].map((i) => ctr('foo2', 'bar', i, i, EXITED)),
      ],
      remain: [0, 1, 3, 4, 6, 7],
    },
    {
      description: 'max limit should apply and try to keep from every pod',
      containers: [0, 1, 2, 3, 4].flatMap((p) => [1, 0].map((i) => ctr(`foo${p || ''}`, `bar${p || ''}`, i, i, EXITED))),
      remain: [0, 2, 4, 6, 8],
    },
    {
      description: 'oldest pods should be removed if limit exceeded',
      containers: [
        ctr('foo', 'bar', 2, 2, EXITED),
        ctr('foo', 'bar', 1, 1, EXITED),
        ctr('foo1', 'bar1', 2, 2, EXITED),
        ctr('foo1', 'bar1', 1, 1, EXITED),
        ctr('foo2', 'bar2', 1, 1, EXITED),
        ctr('foo3', 'bar3', 0, 0, EXITED),
        ctr('foo4', 'bar4', 1, 1, EXITED),
        ctr('foo5', 'bar5', 0, 0, EXITED),
        ctr('foo6', 'bar6', 2, 2, EXITED),
        ctr('foo7', 'bar7', 1, 1, EXITED),
      ],
      remain: [0, 2, 4, 6, 8, 9],
    },
    {
      description: 'containers for deleted pods should be removed (deleted pods still respect MinAge)',
      containers: [ctr('foo', 'bar', 1, 1, EXITED), ctr('foo', 'bar', 0, 0, EXITED), ctr('deleted', 'bar1', 2, now, EXITED), ctr('deleted', 'bar1', 1, 1, EXITED), ctr('deleted', 'bar1', 0, 0, EXITED)],
      remain: [0, 1, 2],
    },
  ];
  for (const c of cases) {
    it(c.description, async () => {
      const { gc, remaining } = setup(c.containers, { policy: c.policy ?? policy });
      await gc.garbageCollect();
      expect(remaining().sort((a, b) => a - b)).toEqual(c.remain);
    });
  }
});

describe('pod-sync container GC: the default policy (MinAge 0, MaxPerPodContainer 1, MaxContainers -1)', () => {
  it('a crash-looping container keeps its running instance and its newest dead one; the older go oldest first', async () => {
    const containers = [5, 4, 3, 2, 1, 0].map((i) => ctr('web', 'app', i, 100 + i * 10, i === 5 ? RUNNING : EXITED));
    const { rt, gc, remaining } = setup(containers);
    expect(await gc.garbageCollect()).toEqual({ containers: 4, sandboxes: 0 });
    expect(remaining()).toEqual([0, 1]);
    expect(rt.calls).toEqual(['remove web-app-0', 'remove web-app-1', 'remove web-app-2', 'remove web-app-3']);
    // Nothing more to do the next time.
    expect(await gc.garbageCollect()).toEqual({ containers: 0, sandboxes: 0 });
  });

  it('a container waiting in back-off (no instance running) keeps its newest exit', async () => {
    const { gc, remaining } = setup([2, 1, 0].map((i) => ctr('web', 'app', i, 100 + i, EXITED)));
    await gc.garbageCollect();
    expect(remaining()).toEqual([0]);
  });

  it('the newest instance is by creation time, then attempt', async () => {
    const { gc, remaining } = setup([ctr('web', 'app', 0, 300, EXITED), ctr('web', 'app', 7, 200, EXITED)]);
    await gc.garbageCollect();
    expect(remaining()).toEqual([0]);
  });

  it('init containers are units of their own: a completed init container keeps its newest (exit 0) instance', async () => {
    const containers = [ctr('web', 'init', 1, 20, EXITED), ctr('web', 'init', 0, 10, EXITED), ctr('web', 'app', 0, 30, RUNNING)];
    const { gc, remaining } = setup(containers);
    await gc.garbageCollect();
    expect(remaining()).toEqual([0, 2]);
  });

  it("a finished pod (restartPolicy Never, Succeeded) keeps its one exited container while it exists", async () => {
    const containers = [ctr('once', 'app', 0, 10, EXITED)];
    const { gc, remaining } = setup(containers, { pods: podsNamed(['once'], { status: { phase: 'Succeeded' } }) });
    await gc.garbageCollect();
    expect(remaining()).toEqual([0]);
  });

  it('a pod being deleted (deletionTimestamp) but still known is not yet a deleted pod: the policy applies', async () => {
    const containers = [ctr('bye', 'app', 1, 20, EXITED), ctr('bye', 'app', 0, 10, EXITED)];
    const { gc, remaining } = setup(containers, { pods: podsNamed(['bye'], { metadata: { uid: 'bye', name: 'bye', namespace: 'ns', deletionTimestamp: new Date() } }) });
    await gc.garbageCollect();
    expect(remaining()).toEqual([0]);
  });

  it('a pod no longer known loses every dead container, the newest too; running ones stay', async () => {
    const containers = [ctr('deleted', 'app', 1, 20, EXITED), ctr('deleted', 'app', 0, 10, EXITED), ctr('deleted', 'side', 0, 10, RUNNING)];
    const { gc, remaining } = setup(containers);
    await gc.garbageCollect();
    expect(remaining()).toEqual([2]);
  });

  it("the newest instance of a live pod's container, when CREATED (between create and start), is not evictable", async () => {
    const containers = [ctr('web', 'app', 2, 30, CREATED), ctr('web', 'app', 1, 20, EXITED), ctr('web', 'app', 0, 10, EXITED)];
    const { gc, remaining } = setup(containers);
    await gc.garbageCollect();
    // The exit the next status shows as lastState stays.
    expect(remaining()).toEqual([0, 1]);
  });

  it('an older CREATED instance (never started) is evictable, and a deleted pod loses its CREATED one too', async () => {
    const containers = [ctr('web', 'app', 1, 20, EXITED), ctr('web', 'app', 0, 10, CREATED), ctr('deleted', 'app', 0, 10, CREATED)];
    const { gc, remaining } = setup(containers);
    await gc.garbageCollect();
    expect(remaining()).toEqual([0]);
  });

  it('a container in an unknown state is stopped before it is removed', async () => {
    const containers = [ctr('web', 'app', 1, 20, EXITED), ctr('web', 'app', 0, 10, UNKNOWN)];
    const { rt, gc, remaining } = setup(containers);
    await gc.garbageCollect();
    expect(remaining()).toEqual([0]);
    expect(rt.calls).toEqual(['stop web-app-0', 'remove web-app-0']);
  });

  it('a removal that fails is logged, the others go on, and the next collection tries again', async () => {
    const containers = [2, 1, 0].map((i) => ctr('web', 'app', i, 100 + i, EXITED));
    const { rt, gc, remaining } = setup(containers);
    rt.failRemove.add('web-app-0');
    expect(await gc.garbageCollect()).toEqual({ containers: 1, sandboxes: 0 });
    expect(remaining()).toEqual([0, 2]);
    rt.failRemove.clear();
    expect(await gc.garbageCollect()).toEqual({ containers: 1, sandboxes: 0 });
    expect(remaining()).toEqual([0]);
  });

  it('a container without a pod UID label is not a pod container: left alone', async () => {
    const stray = create(ContainerStatusSchema, { id: 'stray', metadata: { name: 'x' }, state: EXITED, createdAt: 1n, labels: {} });
    const { gc, rt } = setup([stray]);
    await gc.garbageCollect();
    expect(rt.containers).toEqual([stray]);
  });
});

describe('pod-sync container GC: sandboxes (the kubelet TestSandboxGC cases)', () => {
  const remainingSandboxes = (rt: FakeRuntime, all: PodSandboxStatus[]) => rt.sandboxes.map((s) => all.indexOf(s)).sort((a, b) => a - b);
  const { READY, NOTREADY_UNSPECIFIED: NOTREADY } = PodSandboxState;

  it('not-ready sandboxes without containers of deleted pods are removed (stopped first)', async () => {
    const sandboxes = [sbx('deleted', 0, NOTREADY, 0)];
    const { rt, gc } = setup([], { sandboxes });
    expect(await gc.garbageCollect()).toEqual({ containers: 0, sandboxes: 1 });
    expect(remainingSandboxes(rt, sandboxes)).toEqual([]);
    expect(rt.calls).toEqual(['stop sandbox deleted-sb0', 'remove sandbox deleted-sb0']);
  });

  it('a ready sandbox of a deleted pod is not removed', async () => {
    const sandboxes = [sbx('deleted', 0, READY, 0)];
    const { rt, gc } = setup([], { sandboxes });
    await gc.garbageCollect();
    expect(remainingSandboxes(rt, sandboxes)).toEqual([0]);
  });

  it("existing pods' sandboxes are not removed (ready, or their only one)", async () => {
    const sandboxes = [sbx('foo1', 0, READY, 0), sbx('foo2', 0, NOTREADY, 0)];
    const { rt, gc } = setup([], { sandboxes });
    await gc.garbageCollect();
    expect(remainingSandboxes(rt, sandboxes)).toEqual([0, 1]);
  });

  it('a sandbox a container still refers to is not removed', async () => {
    const sandboxes = [sbx('foo1', 1, READY, 10), sbx('foo1', 0, NOTREADY, 0)];
    const containers = [ctr('foo1', 'bar', 1, 10, RUNNING, 'foo1-sb1'), ctr('foo1', 'bar', 0, 0, EXITED, 'foo1-sb0')];
    const { rt, gc, remaining } = setup(containers, { sandboxes });
    await gc.garbageCollect();
    expect(remaining()).toEqual([0, 1]);
    expect(remainingSandboxes(rt, sandboxes)).toEqual([0, 1]);
  });

  it('multiple sandboxes are handled properly', async () => {
    const sandboxes = [
      sbx('foo1', 1, READY, 1), // running
      sbx('foo1', 0, NOTREADY, 0), // exited, no containers
      sbx('foo2', 1, NOTREADY, 1), // exited, with a container
      sbx('foo2', 0, NOTREADY, 0), // exited, no containers
      sbx('deleted', 0, NOTREADY, 0), // a deleted pod's, no containers
    ];
    const containers = [ctr('foo2', 'bar3', 0, 1, EXITED, 'foo2-sb1')];
    const { rt, gc } = setup(containers, { sandboxes });
    expect(await gc.garbageCollect()).toEqual({ containers: 0, sandboxes: 3 });
    expect(remainingSandboxes(rt, sandboxes)).toEqual([0, 2]);
  });

  it("a deleted pod's dead containers go first, then in the same collection its sandbox", async () => {
    const sandboxes = [sbx('deleted', 0, NOTREADY, 0)];
    const containers = [ctr('deleted', 'app', 1, 2, EXITED), ctr('deleted', 'app', 0, 1, EXITED)];
    const { rt, gc } = setup(containers, { sandboxes });
    expect(await gc.garbageCollect()).toEqual({ containers: 2, sandboxes: 1 });
    expect(rt.containers).toEqual([]);
    expect(rt.sandboxes).toEqual([]);
  });

  it('an existing pod keeps its newest sandbox even when it is not ready and empty', async () => {
    const sandboxes = [sbx('foo1', 2, NOTREADY, 20), sbx('foo1', 1, NOTREADY, 10), sbx('foo1', 0, NOTREADY, 0)];
    const { rt, gc } = setup([], { sandboxes });
    await gc.garbageCollect();
    expect(remainingSandboxes(rt, sandboxes)).toEqual([0]);
    // Oldest first.
    expect(rt.calls.filter((c) => c.startsWith('remove'))).toEqual(['remove sandbox foo1-sb0', 'remove sandbox foo1-sb1']);
  });
});

describe('pod-sync container GC: deleteAllUnusedContainers (the eviction manager\'s disk reclaim, evictNonDeletedPods)', () => {
  const phased = (phases: Record<string, string>): PodSource => ({
    synced: Promise.resolve(),
    list: () => Object.entries(phases).map(([uid, phase]) => ({ metadata: { uid, name: uid, namespace: 'ns' }, status: { phase } })),
  });

  it("a finished pod loses every dead container, its newest too; a running pod keeps its newest dead instance (and a completed init container)", async () => {
    const containers = [
      ctr('web', 'app', 2, 120, RUNNING),
      ctr('web', 'app', 1, 110, EXITED),
      ctr('web', 'app', 0, 100, EXITED),
      ctr('web', 'init', 0, 90, EXITED),
      ctr('done', 'app', 1, 110, EXITED),
      ctr('done', 'app', 0, 100, EXITED),
    ];
    const { gc, remaining } = setup(containers, { pods: phased({ web: 'Running', done: 'Succeeded' }) });
    await Promise.resolve();
    expect(await gc.deleteAllUnusedContainers()).toEqual({ containers: 3, sandboxes: 0 });
    expect(remaining()).toEqual([0, 1, 3]);
  });

  it("a pod pod-sync already finished (an eviction's Failed) counts as finished before the informer's copy shows it", async () => {
    const containers = [ctr('evicted', 'app', 0, 100, EXITED), ctr('web', 'app', 0, 100, EXITED)];
    const { gc, remaining } = setup(containers, { pods: phased({ evicted: 'Running', web: 'Running' }), finishedHere: (p) => p.metadata?.uid === 'evicted' });
    await Promise.resolve();
    expect(await gc.deleteAllUnusedContainers()).toEqual({ containers: 1, sandboxes: 0 });
    expect(remaining()).toEqual([1]);
  });

  it('before the pods are known nothing counts as deleted: the reclaim keeps every pod\'s newest instance and sandbox', async () => {
    const NOTREADY = PodSandboxState.NOTREADY_UNSPECIFIED;
    const containers = [ctr('web', 'app', 1, 110, EXITED, 'web-sb1'), ctr('web', 'app', 0, 100, EXITED, 'web-sb1')];
    const never: PodSource = { synced: new Promise(() => undefined), list: () => [] };
    const { gc, remaining, rt } = setup(containers, { pods: never, sandboxes: [sbx('web', 1, NOTREADY, 10), sbx('web', 0, NOTREADY, 0)] });
    await gc.deleteAllUnusedContainers();
    expect(remaining()).toEqual([0]);
    expect(rt.sandboxes.map((x) => x.id)).toEqual(['web-sb1']);
  });

  it("a finished pod loses its newest sandbox too; a running pod keeps its newest", async () => {
    const NOTREADY = PodSandboxState.NOTREADY_UNSPECIFIED;
    const sandboxes = [sbx('done', 1, NOTREADY, 10), sbx('done', 0, NOTREADY, 0), sbx('live', 1, NOTREADY, 10), sbx('live', 0, NOTREADY, 0)];
    const pods: PodSource = {
      synced: Promise.resolve(),
      list: () => [
        { metadata: { uid: 'done', name: 'done', namespace: 'ns' }, status: { phase: 'Succeeded' } },
        { metadata: { uid: 'live', name: 'live', namespace: 'ns' }, status: { phase: 'Running' } },
      ],
    };
    const { rt, gc } = setup([], { sandboxes, pods });
    expect(await gc.deleteAllUnusedContainers()).toEqual({ containers: 0, sandboxes: 3 });
    expect(rt.sandboxes.map((x) => x.id)).toEqual(['live-sb1']);
  });
});

describe('pod-sync container GC: the loop', () => {
  it('collects nothing before the pods are known, then every period, until aborted', async () => {
    let markSynced!: () => void;
    const pods: PodSource = { synced: new Promise((r) => (markSynced = r)), list: () => [] };
    const { rt, gc, clock } = setup([ctr('deleted', 'app', 0, 0, EXITED)], { pods });
    const ac = new AbortController();
    const done = gc.run(ac.signal, 1000);
    await clock.advance(5000);
    expect(rt.calls).toEqual([]);
    markSynced();
    await clock.settle();
    expect(rt.calls).toEqual([]); // the first collection a period after
    await clock.advance(1000);
    expect(rt.calls).toEqual(['remove deleted-app-0']);
    rt.containers.push(ctr('deleted', 'app', 1, 0, EXITED));
    await clock.advance(1000);
    expect(rt.calls).toEqual(['remove deleted-app-0', 'remove deleted-app-1']);
    ac.abort();
    await done;
  });

  it('a collection that fails (the runtime does not answer) is retried the next period', async () => {
    const { rt, gc, clock } = setup([ctr('deleted', 'app', 0, 0, EXITED)]);
    let fail = true;
    const list = rt.listContainers;
    rt.listContainers = async () => {
      if (fail) throw new Error('no responders');
      return list();
    };
    const ac = new AbortController();
    const done = gc.run(ac.signal, 1000);
    await clock.settle();
    await clock.advance(1000);
    expect(rt.containers).toHaveLength(1);
    fail = false;
    await clock.advance(1000);
    expect(rt.containers).toHaveLength(0);
    ac.abort();
    await done;
  });
});
