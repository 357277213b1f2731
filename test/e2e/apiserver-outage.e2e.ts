import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { labEnv, podTestNames, runCommand, startPodTestNode, startTcpProxy, waitFor, type PodTestNode, type TcpProxy } from '@splitlet/testing';

// SLOW (about 3 minutes): the API server "down" for 2 minutes for one node.
//
// Issue #7, Recovery: the API server down for 2 minutes loses no status — the latest
// is written when it returns, with no stale overwrite of a newer one. The shared
// apiserver is not stopped: the node's services reach it through a TCP proxy on
// 127.0.0.1 (the apiserver's certificate holds that IP), and the outage is the proxy's
// listener closed and its connections reset — every write, the informers' watches
// and the Lease fail — while the lab's admin still sees the real apiserver. Meanwhile
// the pods' statuses change several times in Docker, and the node lifecycle
// controller marks the pods not Ready (the node stops renewing its Lease). When the
// proxy returns, the admin must see each pod's status as Docker has it: a status that
// changed meanwhile within a reconcile period (failed writes retry at least that
// often, and all at once when one succeeds); one only another writer changed within
// the pod informer's back-off cap + a reconcile period (status-reporter must first see
// it). Watched by the admin throughout, no status written may step back (restart
// count, container, terminal phase, startTime, a condition's lastTransitionTime).
// It prints what it measured; SPLITLET_E2E_DUMP_DIR=<dir> keeps the services' logs and
// the admin's pod events there.
const OUTAGE_MS = 120_000;
const RECONCILE_MS = 10_000; // status-reporter's default, as in production
const INFORMER_BACKOFF_CAP_MS = 30_000; // the pod informer's restart back-off (client-go's reflector's)
const CHANGED_BOUND_MS = RECONCILE_MS + 5_000;
const OVERWRITTEN_BOUND_MS = INFORMER_BACKOFF_CAP_MS + RECONCILE_MS + 5_000;

const lab = labEnv();
const names = podTestNames('e2e-outage');
const { namespace } = names;
const TERMINAL = new Set(['Succeeded', 'Failed']);
const logTime = (l: Record<string, unknown>) => Date.parse(String(l['time']));

const pod = (name: string, restartPolicy: string, script: string): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName: names.nodeName,
    restartPolicy,
    terminationGracePeriodSeconds: 1,
    volumes: [{ name: 'data', emptyDir: {} }],
    containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', script], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  },
});
// Runs until deleted.
const steady = pod('steady', 'Always', 'exec sleep 3600');
// Runs 30 s, then succeeds: Running → Succeeded while the API server is away.
const finisher = pod('finisher', 'Never', 'sleep 30; exit 0');
// Fails 3 times after 5 s each (attempts 0..2; the crash-loop back-off 10, 20, 40 s
// between them), then runs: restartCount 0 → 3, Running → waiting → Running, about
// 85 s after it starts — all while the API server is away.
const crasher = pod('crasher', 'Always', 'n=$(( $(cat /data/n 2>/dev/null || echo 0) + 1 )); echo $n > /data/n; [ $n -ge 4 ] && exec sleep 3600; sleep 5; exit 1');

/** What a status says, in the terms a stale overwrite would show in. */
interface Summary {
  phase: string;
  ready: string;
  restartCount: number;
  containerID: string;
  state: string;
  exitCode?: number;
}
const summarize = (p: V1Pod): Summary => {
  const c = p.status?.containerStatuses?.find((s) => s.name === 'app');
  const st = c?.state;
  return {
    phase: p.status?.phase ?? '',
    ready: p.status?.conditions?.find((x) => x.type === 'Ready')?.status ?? '',
    restartCount: c?.restartCount ?? -1,
    containerID: c?.containerID ?? '',
    state: st?.running ? 'running' : st?.terminated ? 'terminated' : st?.waiting ? `waiting:${st.waiting.reason ?? ''}` : '',
    exitCode: st?.terminated?.exitCode,
  };
};

/** Who wrote the pod's status last: the manager of its newest managedFields entry for the status subresource. */
const statusWriter = (p: V1Pod) =>
  (p.metadata?.managedFields ?? [])
    .filter((m) => m.subresource === 'status')
    .sort((a, b) => new Date(b.time ?? 0).getTime() - new Date(a.time ?? 0).getTime())[0]?.manager;

/** The pod's app container as Docker has it: its newest attempt. */
async function dockerTruth(uid: string): Promise<{ restartCount: number; containerID: string; running: boolean; exitCode: number }> {
  const ids = (await runCommand('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=io.kubernetes.pod.uid=${uid}`, '--filter', 'label=io.kubernetes.container.name=app'])).stdout.split('\n').filter(Boolean);
  const all = JSON.parse((await runCommand('docker', ['inspect', ...ids])).stdout) as { Id: string; Name: string; State: { Running: boolean; ExitCode: number } }[];
  const attempt = (n: string) => Number(n.split('_').at(-1));
  const newest = all.sort((a, b) => attempt(b.Name) - attempt(a.Name))[0]!;
  return { restartCount: attempt(newest.Name), containerID: `docker://${newest.Id}`, running: newest.State.Running, exitCode: newest.State.ExitCode };
}

/** Every pod event of the namespace as the admin sees it, stamped on receipt; re-watches from the last resourceVersion. */
function recordPodEvents(kc: KubeConfig) {
  const events: { at: number; type: string; name: string; rv: string; summary: Summary; pod: V1Pod }[] = [];
  let rv = '';
  let stopped = false;
  let controller: AbortController | undefined;
  const watch = new Watch(kc);
  const start = async (): Promise<void> => {
    if (stopped) return;
    controller = await watch.watch(
      `/api/v1/namespaces/${namespace}/pods`,
      rv ? { resourceVersion: rv } : {},
      (type, obj: V1Pod) => {
        if (type === 'BOOKMARK' || type === 'ERROR') return;
        rv = obj.metadata?.resourceVersion ?? rv;
        events.push({ at: Date.now(), type, name: obj.metadata!.name!, rv, summary: summarize(obj), pod: obj });
      },
      () => void setTimeout(() => void start(), 100),
    );
  };
  return {
    events,
    start,
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}

describe('recovery (apiserver outage, SLOW ~3 min)', () => {
  let proxy: TcpProxy;
  let t: PodTestNode;
  let recorder: ReturnType<typeof recordPodEvents>;

  beforeAll(async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(lab.adminKubeconfig);
    const server = new URL(admin.getCurrentCluster()!.server);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 443) });
    t = await startPodTestNode(names, {
      server: `https://127.0.0.1:${proxy.port}`,
      env: { SPLITLET_STATUS_RECONCILE_MS: String(RECONCILE_MS), LOG_LEVEL: 'debug' },
    });
    recorder = recordPodEvents(admin);
  });
  afterAll(async () => {
    recorder?.stop();
    // For a look afterwards: every service's log and every pod event the admin saw.
    const dumpDir = process.env['SPLITLET_E2E_DUMP_DIR'];
    if (dumpDir && t) {
      await mkdir(dumpDir, { recursive: true });
      for (const [name, p] of Object.entries(t.node.procs)) await writeFile(join(dumpDir, `${name}.log`), p!.logs.map((l) => JSON.stringify(l)).join('\n') + `\n${p!.stderr()}`);
      await writeFile(join(dumpDir, 'events.json'), JSON.stringify(recorder?.events ?? [], null, 1));
    }
    await proxy?.up(); // the node must reach the API server to clean up
    await t?.stop();
    await proxy?.close();
  });

  it('recovery - API server away for 2 minutes while pods change: each pod\'s latest status (as Docker has it) within a reconcile period of the return (one only another writer changed: + the informer back-off), nothing older written over it', async () => {
    const { core, node } = t;
    const read = (name: string) => core.readNamespacedPod({ namespace, name });
    const until = (name: string, what: string, ok: (p: V1Pod) => boolean, ms = 60_000) =>
      waitFor(`${name}: ${what}`, async () => {
        const p = await read(name);
        return ok(p) ? p : undefined;
      }, ms);

    // The node works through the proxy.
    await waitFor('the Node Ready', async () => ((await core.readNode({ name: names.nodeName })).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined), 60_000);
    await recorder.start();
    for (const p of [steady, finisher]) await core.createNamespacedPod({ namespace, body: p });
    const steadyBefore = await until('steady', 'Running and Ready', (p) => summarize(p).ready === 'True');
    await until('finisher', 'Running', (p) => summarize(p).state === 'running');
    await core.createNamespacedPod({ namespace, body: crasher });
    const crasherBefore = await until('crasher', 'Running, attempt 0', (p) => summarize(p).state === 'running');
    expect(summarize(crasherBefore).restartCount).toBe(0);
    const uids = Object.fromEntries(await Promise.all(['steady', 'finisher', 'crasher'].map(async (n) => [n, (await read(n)).metadata!.uid!] as const)));

    // Down.
    const before = Object.fromEntries(await Promise.all(['steady', 'finisher', 'crasher'].map(async (n) => [n, summarize(await read(n))] as const)));
    const downAt = Date.now();
    await proxy.down();
    // Docker goes on: by the end the finisher has succeeded and the crasher has
    // restarted 3 times and runs. Check half way that things do change meanwhile.
    await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
    const midway = await dockerTruth(uids['crasher']!);
    expect(midway.restartCount).toBeGreaterThanOrEqual(1);
    expect((await dockerTruth(uids['finisher']!)).running).toBe(false);
    await new Promise((r) => setTimeout(r, downAt + OUTAGE_MS - Date.now()));
    const truthAtReturn = {
      steady: await dockerTruth(uids['steady']!),
      finisher: await dockerTruth(uids['finisher']!),
      crasher: await dockerTruth(uids['crasher']!),
    };
    // What the API server held when the proxy returned: only what others wrote meanwhile (the node lifecycle controller).
    const heldAtReturn = Object.fromEntries(await Promise.all(['steady', 'finisher', 'crasher'].map(async (n) => [n, summarize(await read(n))] as const)));
    expect(heldAtReturn['finisher']!.phase).toBe('Running');
    expect(heldAtReturn['crasher']!.restartCount).toBe(before['crasher']!.restartCount);
    expect(truthAtReturn.crasher).toMatchObject({ restartCount: 3, running: true });
    expect(truthAtReturn.finisher).toMatchObject({ running: false, exitCode: 0 });
    expect(truthAtReturn.steady).toMatchObject({ restartCount: 0, running: true, containerID: steadyBefore.status!.containerStatuses![0]!.containerID });

    // Up.
    const upAt = Date.now();
    await proxy.up();
    const expected: Record<string, Summary> = {
      steady: { phase: 'Running', ready: 'True', restartCount: 0, containerID: truthAtReturn.steady.containerID, state: 'running', exitCode: undefined },
      finisher: { phase: 'Succeeded', ready: 'False', restartCount: 0, containerID: truthAtReturn.finisher.containerID, state: 'terminated', exitCode: 0 },
      crasher: { phase: 'Running', ready: 'True', restartCount: 3, containerID: truthAtReturn.crasher.containerID, state: 'running', exitCode: undefined },
    };
    const repairedAfterMs: Record<string, number> = {};
    await Promise.all(
      Object.entries(expected).map(async ([name, want]) => {
        await until(name, `status as Docker has it (${JSON.stringify(want)})`, (p) => JSON.stringify(summarize(p)) === JSON.stringify(want), OVERWRITTEN_BOUND_MS + 15_000).catch((err: unknown) => {
          throw new Error(`${String(err)}\nAPI status: ${JSON.stringify(heldAtReturn[name])} at the return`);
        });
        repairedAfterMs[name] = Date.now() - upAt;
      }),
    );
    // Watch a further reconcile period for a late, older write.
    await new Promise((r) => setTimeout(r, RECONCILE_MS + 2_000));
    recorder.stop();

    // Every status written after the return, per pod, in the order the API server took them.
    const after = (name: string) => recorder.events.filter((e) => e.name === name && e.at >= upAt && e.type === 'MODIFIED');
    const patchLogs = node.procs['status-reporter']!.logs.filter((l) => l['msg'] === 'pod status patched' && logTime(l) >= upAt);
    const report = {
      outageMs: upAt - downAt,
      repairedAfterMs,
      patchesAfterReturn: Object.fromEntries(['steady', 'finisher', 'crasher'].map((n) => [n, patchLogs.filter((l) => l['pod'] === `${namespace}/${n}`).length])),
      forcedAfterReturn: patchLogs.filter((l) => l['forced'] === true).length,
      apiEventsAfterReturn: Object.fromEntries(['steady', 'finisher', 'crasher'].map((n) => [n, after(n).map((e) => e.summary)])),
      heldAtReturn,
      duringOutage: recorder.events.filter((e) => e.at >= downAt && e.at < upAt).map((e) => ({ name: e.name, ...e.summary, by: statusWriter(e.pod) })),
    };
    console.log(`apiserver outage: ${JSON.stringify(report, null, 1)}`);

    // steady's status did not change in Docker: only the node lifecycle controller's
    // Ready=False (if it came) is to be repaired, by the reconcile.
    const bounds: Record<string, number> = { finisher: CHANGED_BOUND_MS, crasher: CHANGED_BOUND_MS, steady: OVERWRITTEN_BOUND_MS };
    for (const [name, want] of Object.entries(expected)) {
      // Within the bound, and every write after the return moves forward only.
      expect(repairedAfterMs[name], `${name} repaired after the return`).toBeLessThanOrEqual(bounds[name]!);
      const seq = [heldAtReturn[name]!, ...after(name).map((e) => e.summary)];
      for (let i = 1; i < seq.length; i++) {
        const [prev, cur] = [seq[i - 1]!, seq[i]!];
        expect(cur.restartCount, `${name}: restartCount went back in ${JSON.stringify(seq)}`).toBeGreaterThanOrEqual(prev.restartCount);
        if (TERMINAL.has(prev.phase)) expect(cur.phase, `${name}: left a terminal phase in ${JSON.stringify(seq)}`).toBe(prev.phase);
        if (cur.containerID !== prev.containerID) expect(cur.restartCount, `${name}: another container without a restart in ${JSON.stringify(seq)}`).toBeGreaterThan(prev.restartCount);
      }
      // Once the latest was there, nothing else was written over it.
      const firstLatest = seq.findIndex((s) => JSON.stringify(s) === JSON.stringify(want));
      expect(firstLatest, name).toBeGreaterThanOrEqual(0);
      expect(seq.slice(firstLatest).filter((s) => JSON.stringify(s) !== JSON.stringify(want)), `${name}: written over the latest`).toEqual([]);
    }
    // Over the whole test (from the pods' creation), in the statuses the node wrote,
    // startTime never moves once set and a condition's lastTransitionTime never goes
    // back. (It may move on with the same status: transitions between two writes were
    // never written, as the crasher's while the API server was away. The node lifecycle
    // controller's Ready=False is left out: the node puts back its own Ready=True, dated
    // when it became so.)
    for (const name of Object.keys(expected)) {
      const pods = recorder.events.filter((e) => e.name === name && e.type === 'MODIFIED' && statusWriter(e.pod) !== 'kube-controller-manager').map((e) => e.pod.status ?? {});
      const starts = [...new Set(pods.map((st) => st.startTime && new Date(st.startTime).toISOString()).filter(Boolean))];
      expect(starts, `${name}: startTime`).toHaveLength(1);
      for (let i = 1; i < pods.length; i++) {
        for (const c of pods[i]!.conditions ?? []) {
          const was = pods[i - 1]!.conditions?.find((o) => o.type === c.type);
          if (!was?.lastTransitionTime || !c.lastTransitionTime) continue;
          const [t0, t1] = [new Date(was.lastTransitionTime).getTime(), new Date(c.lastTransitionTime).getTime()];
          const where = `${name} ${c.type}: ${was.status}@${new Date(t0).toISOString()} -> ${c.status}@${new Date(t1).toISOString()}`;
          expect(t1, where).toBeGreaterThanOrEqual(t0);
        }
      }
    }
    // The return is one write per pod that was out of date, not a storm.
    for (const n of Object.keys(expected)) expect(report.patchesAfterReturn[n], `${n}: PATCHes after the return`).toBeLessThanOrEqual(2);

    // Nothing crashed: every service still runs, the writes and watches were retried, no unhandled errors.
    for (const [name, p] of Object.entries(node.procs)) {
      expect(p!.child.exitCode, `${name} exited`).toBeNull();
      expect(p!.stderr(), `${name} stderr`).not.toMatch(/unhandled|uncaught|TypeError|RangeError/i);
      expect(p!.logs.filter((l) => l['level'] === 'fatal'), `${name} fatal logs`).toEqual([]);
    }
    const sr = node.procs['status-reporter']!.logs.filter((l) => logTime(l) >= downAt && logTime(l) < upAt);
    expect(sr.some((l) => l['msg'] === 'failed to write pod status; will retry')).toBe(true);
    expect(sr.some((l) => l['msg'] === 'pod watch failed; restarting')).toBe(true);
    const ps = node.procs['pod-sync']!.logs.filter((l) => logTime(l) >= downAt && logTime(l) < upAt);
    expect(ps.some((l) => l['msg'] === 'pod watch failed; restarting')).toBe(true);
  }, OUTAGE_MS + 150_000);

  // The node lifecycle controller set the Node's Ready to Unknown during the outage
  // (and tainted it unreachable:NoExecute, evicting pods 300 s later): registrar sees
  // that through its watch of the Node, as the kubelet through its node lister, and
  // writes Ready True at its next update once the watch is back (≤ 30 s back-off + 10 s).
  it('registrar - the Node is Ready again soon after the return, not at the 5-minute report', async () => {
    const ready = await waitFor('the Node Ready True', async () => {
      const c = (await t.core.readNode({ name: names.nodeName })).status?.conditions?.find((x) => x.type === 'Ready');
      return c?.status === 'True' ? c : undefined;
    }, 60_000, 1000);
    expect(ready.reason).toBe('KubeletReady');
  }, 90_000);
});
