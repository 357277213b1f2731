import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { kubectl, kubeletGet, labBusEnv, labEnv, podTestNames, startPodTestNode, startServiceProcess, waitFor, type PodTestNode, type ServiceProcess } from '@splitlet/testing';

// node-api's /metrics and /metrics/probes end to end: pods with readiness probes run
// on a node with two prober replicas, and a scrape of the kubelet port shows the
// kubelet's figures gathered from every replica over NATS, as a Prometheus that
// scrapes kubelets (with nodes/metrics) sees them.
const lab = labEnv();
const { nodeName, namespace } = podTestNames('e2e-metrics');
const admin = new KubeConfig();
admin.loadFromFile(lab.adminKubeconfig);
const metricsRole = `${namespace}-metrics-reader`;

const k = (...args: string[]) => kubectl(lab.adminKubeconfig, ['-n', namespace, ...args]);
const probed = (name: string): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 1,
    containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'sleep 3600'], readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }],
  },
});
const PODS = ['ready-a', 'ready-b', 'ready-c', 'ready-d'];

/** The value of one sample line, `name{labels} value`, or undefined when the text has no such line. */
const sample = (text: string, line: string): number | undefined => {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
};

describe('node-api metrics: /metrics and /metrics/probes of a splitlet node', () => {
  let t: PodTestNode;
  let second: ServiceProcess | undefined;
  const uids = new Map<string, string>();

  beforeAll(async () => {
    t = await startPodTestNode({ nodeName, namespace }, { nodeApi: true, prober: true, env: { SPLITLET_PROBER_REPLICA_ID: 'prober-one' } });
    // A second prober replica: the pods are shared between the two by rendezvous hashing.
    second = startServiceProcess('prober', { ...(await labBusEnv(nodeName, 'prober')), ...t.node.env, SPLITLET_PROBER_REPLICA_ID: 'prober-two' });
    await second.waitForLog((l) => l['msg'] === 'probing', 30_000);
    for (const name of PODS) await t.core.createNamespacedPod({ namespace, body: probed(name) });
    for (const name of PODS) {
      const pod = await waitFor(`${name} ready`, async () => {
        const p = await t.core.readNamespacedPod({ namespace, name });
        return p.status?.containerStatuses?.[0]?.ready ? p : undefined;
      }, 90_000);
      uids.set(name, pod.metadata!.uid!);
    }
  });
  afterAll(async () => {
    second?.kill('SIGKILL');
    await second?.exited;
    await kubectl(lab.adminKubeconfig, ['delete', 'clusterrolebinding', metricsRole, '--ignore-not-found']);
    await kubectl(lab.adminKubeconfig, ['delete', 'clusterrole', metricsRole, '--ignore-not-found']);
    await t?.stop();
  });

  it('node-api metrics - /metrics/probes: every pod\'s successful readiness probes, gathered from both prober replicas, with the kubelet\'s labels and durations', async () => {
    const res = await kubeletGet(t.kubeletPort!, '/metrics/probes', { cert: true });
    expect(res.status).toBe(200);
    expect(res.body).toContain('# TYPE prober_probe_total counter');
    expect(res.body).toContain('# TYPE prober_probe_duration_seconds histogram');
    expect(sample(res.body, 'splitlet_metrics_replicas{service="prober"}')).toBe(2);
    for (const name of PODS) {
      // The kubelet's labels in its client's order (by name; a histogram's le last).
      const labels = `container="app",namespace="${namespace}",pod="${name}",probe_type="Readiness"`;
      expect(sample(res.body, `prober_probe_total{container="app",namespace="${namespace}",pod="${name}",pod_uid="${uids.get(name)}",probe_type="Readiness",result="successful"}`), name).toBeGreaterThan(0);
      expect(sample(res.body, `prober_probe_duration_seconds_count{${labels}}`), name).toBeGreaterThan(0);
      expect(sample(res.body, `prober_probe_duration_seconds_bucket{${labels},le="+Inf"}`), name).toBe(sample(res.body, `prober_probe_duration_seconds_count{${labels}}`));
    }
    expect(res.body).not.toContain('kubelet_running_pods');
  });

  it('node-api metrics - /metrics: the node\'s name, its running pods and containers, pods and containers started, pod start durations and the startup SLI', async () => {
    const res = await kubeletGet(t.kubeletPort!, '/metrics', { cert: true });
    expect(res.status).toBe(200);
    expect(sample(res.body, `kubelet_node_name{node="${nodeName}"}`)).toBe(1);
    expect(sample(res.body, 'kubelet_running_pods')).toBe(PODS.length);
    expect(sample(res.body, 'kubelet_running_containers{container_state="running"}')).toBe(PODS.length);
    expect(sample(res.body, 'kubelet_started_pods_total')).toBeGreaterThanOrEqual(PODS.length);
    expect(sample(res.body, 'kubelet_started_containers_total{container_type="container"}')).toBeGreaterThanOrEqual(PODS.length);
    expect(sample(res.body, 'kubelet_pod_start_duration_seconds_count')).toBeGreaterThanOrEqual(PODS.length);
    // The startup SLI of each pod started since pod-sync watched it (its image was there: no pull to take off).
    expect(sample(res.body, 'kubelet_pod_start_sli_duration_seconds_count')).toBe(PODS.length);
    expect(sample(res.body, 'kubelet_pod_start_total_duration_seconds_count')).toBe(PODS.length);
    expect(sample(res.body, 'kubelet_pod_start_sli_duration_seconds_sum')).toBeGreaterThan(0);
    expect(sample(res.body, 'splitlet_metrics_replicas{service="pod-sync"}')).toBe(1);
    expect(res.body).not.toContain('prober_probe_total');
  });

  it('node-api metrics - a prober replica that does not answer (stopped) leaves the scrape to the other, without holding it up', async () => {
    second!.kill('SIGSTOP');
    try {
      const started = Date.now();
      const res = await kubeletGet(t.kubeletPort!, '/metrics/probes', { cert: true });
      const took = Date.now() - started;
      expect(res.status).toBe(200);
      expect(sample(res.body, 'splitlet_metrics_replicas{service="prober"}')).toBe(1);
      // The live replica answers at once; the stopped one is given SPLITLET_METRICS_STALL_MS (250 ms) more, not a request timeout.
      expect(took).toBeLessThan(2_000);
    } finally {
      second!.kill('SIGCONT');
    }
  });

  it('node-api metrics - a service account without nodes/metrics is refused 403, one with it reads both', async () => {
    expect((await k('create', 'serviceaccount', 'nobody')).code).toBe(0);
    const nobody = (await k('create', 'token', 'nobody')).stdout.trim();
    for (const path of ['/metrics', '/metrics/probes']) {
      expect(await kubeletGet(t.kubeletPort!, path, { token: nobody })).toEqual({
        status: 403,
        body: `Forbidden (user=system:serviceaccount:${namespace}:nobody, verb=get, resource=nodes, subresource(s)=[metrics])\n`,
      });
    }
    expect((await k('create', 'serviceaccount', 'scraper')).code).toBe(0);
    expect((await kubectl(lab.adminKubeconfig, ['create', 'clusterrole', metricsRole, '--verb=get', '--resource=nodes/metrics'])).code).toBe(0);
    expect((await kubectl(lab.adminKubeconfig, ['create', 'clusterrolebinding', metricsRole, `--clusterrole=${metricsRole}`, `--serviceaccount=${namespace}:scraper`])).code).toBe(0);
    const scraper = (await k('create', 'token', 'scraper')).stdout.trim();
    const probes = await kubeletGet(t.kubeletPort!, '/metrics/probes', { token: scraper });
    expect(probes.status).toBe(200);
    expect(probes.body).toContain(`prober_probe_total{container="app",namespace="${namespace}",pod="ready-a",pod_uid="${uids.get('ready-a')}",probe_type="Readiness",result="successful"}`);
    expect((await kubeletGet(t.kubeletPort!, '/metrics', { token: scraper })).status).toBe(200);
    // Metrics are all it may read: the pods' logs stay nodes/proxy.
    expect((await kubeletGet(t.kubeletPort!, `/containerLogs/${namespace}/ready-a/app`, { token: scraper })).status).toBe(403);
  });
});
