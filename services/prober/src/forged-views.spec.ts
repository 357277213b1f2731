import type { V1Pod, V1Probe } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { kvEntries, kvPut, openBucket, podsViewBucket, probeResultKey, probeResultsBucket, proberReplicasBucket } from '@splitlet/bus';
import { create, PodProbeViewSchema, ProbeResultSchema, ProbeResultValue, type PodProbeView, type Probe } from '@splitlet/contracts';
import { systemClock } from '@splitlet/service';
import { useNatsServer, waitFor } from '@splitlet/testing';
import { ProberMetrics } from './metrics';
import { FakeProber, silentLogger } from './__fixtures__/fakes';
import { container, podView, probe } from './__fixtures__/views';
import { ProbeManager } from './manager';
import type { NodePods } from './node-pods';
import { KvProbeResults } from './results';

// Views put into the pods bucket by someone other than pod-sync (issue 14): the
// prober acts only on a view that agrees with the API server's pod of this node.

/** The API server's pods of the node, as the prober's informer holds them. */
class FakeNodePods implements NodePods {
  synced = true;
  private readonly pods = new Map<string, V1Pod>();
  private readonly listeners: ((uid: string) => void)[] = [];
  byUid = (uid: string) => this.pods.get(uid);
  onChange(listener: (uid: string) => void): void {
    this.listeners.push(listener);
  }
  bind(pod: V1Pod): void {
    this.pods.set(pod.metadata!.uid!, pod);
    this.listeners.forEach((l) => l(pod.metadata!.uid!));
  }
}

const tcp80: V1Probe = { tcpSocket: { port: 80 }, periodSeconds: 1 };
/** A pod bound to the node with one container "app" and its readiness probe. */
const apiPod = (uid: string, readinessProbe: V1Probe = tcp80, podIP = '172.17.0.5'): V1Pod => ({
  metadata: { uid, name: uid, namespace: 'default' },
  spec: { nodeName: 'node', containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', readinessProbe }] },
  status: { podIP, podIPs: [{ ip: podIP }] },
});
const viewOf = (uid: string, readiness: Probe = probe({ periodSeconds: 1 }), podIp = '172.17.0.5'): PodProbeView =>
  podView([container({ readiness })], { podUid: uid, name: uid, podIp, version: 1n });

describe('prober manager - forged views', () => {
  const nats = useNatsServer();
  let node = 0;
  let stop: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  /** One replica on a node of its own, checking views against `nodePods`. */
  async function start(nodePods: NodePods, views: PodProbeView[]) {
    const name = `forged-${++node}`;
    const pods = await openBucket(nats.nc, podsViewBucket(name));
    const resultsKv = await openBucket(nats.nc, probeResultsBucket(name));
    for (const v of views) await kvPut(pods, v.podUid, PodProbeViewSchema, v);
    const abort = new AbortController();
    const results = new KvProbeResults(resultsKv, 'only', systemClock, silentLogger);
    const { watching } = await results.start(abort.signal);
    const prober = new FakeProber(systemClock);
    const manager = new ProbeManager({
      podsKv: pods,
      replicasKv: await openBucket(nats.nc, proberReplicasBucket(name), { ttlMs: 500 }),
      results,
      replica: { id: 'only', heartbeatMs: 100, ttlMs: 500 },
      prober,
      clock: systemClock,
      logger: silentLogger,
      random: () => 0,
      metrics: new ProberMetrics(),
      resyncMs: 30_000,
      nodePods,
    });
    const done = Promise.all([manager.run(abort.signal), watching]);
    stop = async () => {
      abort.abort();
      await done;
    };
    const probed = (uid: string) => prober.calls.filter((c) => c.pod === uid).length;
    /** Waits until the genuine pod `uid` was probed twice: the forged ones had as long. */
    const afterProbesOf = (uid: string) => waitFor(`${uid} probed twice`, async () => (probed(uid) >= 2 ? true : undefined), 5_000, 50);
    return { pods, resultsKv, manager, prober, probed, afterProbesOf };
  }

  it('manager - a view of a pod the API server does not bind to this node is never probed, and its results are removed', async () => {
    const api = new FakeNodePods();
    api.bind(apiPod('web'));
    const ghostResult = create(ProbeResultSchema, { podUid: 'ghost', containerName: 'app', containerId: 'c1', result: ProbeResultValue.FAILURE });
    const n = await start(api, [viewOf('ghost', probe({ periodSeconds: 1, handler: { case: 'exec', value: { command: ['id'] } } })), viewOf('web')]);
    await kvPut(n.resultsKv, probeResultKey('ghost', 'app', 'liveness'), ProbeResultSchema, ghostResult);
    await n.afterProbesOf('web');
    expect(n.probed('ghost')).toBe(0);
    await waitFor('the ghost\'s results removed', async () => ([...(await kvEntries(n.resultsKv, ProbeResultSchema)).keys()].some((k) => k.startsWith('ghost.')) ? undefined : true), 5_000, 50);
    expect(n.manager.refused['not-bound']).toBe(1);
  });

  it('manager - a view whose exec command is not the one in the pod\'s spec is not probed', async () => {
    const api = new FakeNodePods();
    api.bind(apiPod('web'));
    api.bind(apiPod('db', { exec: { command: ['cat', '/ready'] }, periodSeconds: 1 }));
    const forged = viewOf('db', probe({ periodSeconds: 1, handler: { case: 'exec', value: { command: ['sh', '-c', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token'] } } }));
    const n = await start(api, [forged, viewOf('web')]);
    await n.afterProbesOf('web');
    expect(n.probed('db')).toBe(0);
    expect(n.manager.refused['probe-mismatch']).toBe(1);
  });

  it('manager - a view that points a probe at the host (pod IP 127.0.0.1, or a host the spec does not set) is not probed', async () => {
    const api = new FakeNodePods();
    api.bind(apiPod('web'));
    api.bind(apiPod('loop'));
    api.bind(apiPod('elsewhere'));
    const n = await start(api, [
      viewOf('web'),
      viewOf('loop', probe({ periodSeconds: 1 }), '127.0.0.1'),
      viewOf('elsewhere', probe({ periodSeconds: 1, handler: { case: 'tcpSocket', value: { host: '127.0.0.1', port: 80 } } })),
    ]);
    await n.afterProbesOf('web');
    expect([n.probed('loop'), n.probed('elsewhere')]).toEqual([0, 0]);
    expect(n.manager.refused).toMatchObject({ 'pod-ip-mismatch': 1, 'probe-mismatch': 1 });
  });

  it('manager - an httpGet host the pod\'s spec sets is probed, as the kubelet does', async () => {
    const api = new FakeNodePods();
    api.bind(apiPod('web', { httpGet: { host: '10.0.0.9', port: 8080, path: '/' }, periodSeconds: 1 }));
    const n = await start(api, [viewOf('web', probe({ periodSeconds: 1, handler: { case: 'httpGet', value: { host: '10.0.0.9', port: 8080, path: '/' } } }))]);
    await n.afterProbesOf('web');
  });

  it('manager - a view whose version is far ahead of the clock is dropped, and does not hide pod-sync\'s next view (found by the fuzz test)', async () => {
    const api = new FakeNodePods();
    api.bind(apiPod('web'));
    const now = () => BigInt(Date.now()) * 1000n;
    const n = await start(api, [{ ...viewOf('web'), version: now() }]);
    await n.afterProbesOf('web');
    await kvPut(n.pods, 'web', PodProbeViewSchema, { ...viewOf('web'), containers: [], version: 2n ** 63n - 1n });
    // pod-sync's next view: a new instance of the container, probed at once.
    await kvPut(n.pods, 'web', PodProbeViewSchema, podView([container({ readiness: probe({ periodSeconds: 1 }), containerId: 'c2' })], { podUid: 'web', name: 'web', podIp: '172.17.0.5', version: now() }));
    await waitFor('the new instance probed', async () => (n.prober.calls.some((c) => c.pod === 'web' && c.containerId === 'c2') ? true : undefined), 5_000, 50);
    expect(n.manager.versionsAhead).toBe(1);
  });

  it('manager - a view that comes before the API server\'s pod is probed once the pod shows', async () => {
    const api = new FakeNodePods();
    api.bind(apiPod('db'));
    const n = await start(api, [viewOf('web'), viewOf('db')]);
    await n.afterProbesOf('db');
    expect(n.probed('web')).toBe(0);
    api.bind(apiPod('web'));
    await n.afterProbesOf('web');
  });
});
