import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { apiStatus } from '@splitlet/kube';
import { kubectl, labEnv, mintNodeKubeconfig, runCommand, testNode, type TestNode } from '@splitlet/testing';

// Proves every part of the lab is real: the API server answers, the Node
// authorizer and NodeRestriction hold the node identity to a node's rights, Docker
// runs the lab's images, and a request between two services is one trace in Jaeger.
const lab = labEnv();
const suffix = randomBytes(3).toString('hex');
const namespace = `e2e-smoke-${suffix}`;

describe('lab smoke', () => {
  beforeAll(async () => {
    const r = await kubectl(lab.adminKubeconfig, ['create', 'namespace', namespace]);
    expect(r.stderr).toBe('');
  });
  afterAll(async () => {
    await kubectl(lab.adminKubeconfig, ['delete', 'namespace', namespace, '--wait=false']);
  });

  it('lab - the API server is ready', async () => {
    const r = await kubectl(lab.adminKubeconfig, ['get', '--raw', '/readyz']);
    expect(r).toMatchObject({ code: 0, stdout: 'ok' });
  });

  it('lab - the API server reports the pinned Kubernetes version', async () => {
    const r = await kubectl(lab.adminKubeconfig, ['version', '-o', 'json']);
    const v = JSON.parse(r.stdout) as { serverVersion: { gitVersion: string; major: string; minor: string } };
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.(3[5-9]|[4-9]\d)\.\d+$/);
    expect(Number(v.serverVersion.minor)).toBeGreaterThanOrEqual(35);
  });

  // Since Kubernetes 1.35 the Node authorizer lets a node read only its own Node
  // object: it lists nodes as the kubelet does, with a metadata.name field selector.
  it('lab - the node identity is system:node:<name> in system:nodes and may get its own node', async () => {
    const who = await kubectl(lab.nodeKubeconfig, ['auth', 'whoami', '-o', 'json']);
    const status = (JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[] } } }).status;
    expect(status.userInfo.username).toBe(`system:node:${lab.nodeName}`);
    expect(status.userInfo.groups).toContain('system:nodes');
    const own = await kubectl(lab.nodeKubeconfig, ['get', 'nodes', '--field-selector', `metadata.name=${lab.nodeName}`]);
    expect(own.stderr).not.toMatch(/Forbidden/);
    expect(own.code).toBe(0);
    const all = await kubectl(lab.nodeKubeconfig, ['get', 'nodes']);
    expect(all.stderr).toMatch(/Forbidden.*only its own Node object/);
  });

  it('lab - the node may not patch the status of a pod bound to another node (403)', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'elsewhere', namespace },
      spec: { nodeName: 'some-other-node', containers: [{ name: 'c', image: 'splitlet-lab/testbox:1' }] },
    };
    const created = await kubectl(lab.adminKubeconfig, ['create', '-f', '-'], JSON.stringify(pod));
    expect(created.code).toBe(0);

    const kc = new KubeConfig();
    kc.loadFromFile(lab.nodeKubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    const err = await api
      .patchNamespacedPodStatus({ name: 'elsewhere', namespace, body: [{ op: 'add', path: '/status/message', value: 'mine' }] })
      .catch((e: unknown) => e);
    expect(apiStatus(err)).toBe(403);
    // ...and reading it as the node is refused too: the pod is not bound to this node.
    expect(apiStatus(await api.readNamespacedPod({ name: 'elsewhere', namespace }).catch((e: unknown) => e))).toBe(403);
  });

  it('lab - Docker runs a container from splitlet-lab/testbox:1', async () => {
    const r = await runCommand('docker', ['run', '--rm', '--label', 'splitlet.dev/lab=true', 'splitlet-lab/testbox:1', 'sh', '-c', 'echo "hello from $(uname -s)"; exit 7']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('hello from Linux\n');
  });
});

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  processID: string;
  references: { refType: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

describe('lab tracing', () => {
  const nodeName = `e2e-trace-${suffix}`;
  let node: TestNode | undefined;
  afterAll(async () => {
    await node?.stopAll();
    await kubectl(lab.adminKubeconfig, ['delete', 'node', nodeName, '--wait=false']);
  });

  it('lab - requests from registrar to runtime-executor over NATS are one trace in Jaeger', async () => {
    node = testNode(nodeName, await mintNodeKubeconfig(nodeName));
    await node.start('runtime-executor');
    const registrar = await node.start('registrar');
    // registrar asks the runtime's Status every 10 s (+4%): a first answer slower than its 2 s
    // (a just-started executor's first Docker call on a loaded machine) is only asked again a period later.
    await registrar.waitForLog((l) => l['msg'] === 'container runtime is ready', 25_000);

    const trace = await pollForTrace(nodeName, 30_000);
    const service = (s: JaegerSpan) => trace.processes[s.processID]?.serviceName;
    const kind = (s: JaegerSpan) => s.tags.find((t) => t.key === 'span.kind')?.value;
    const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
    const parent = (s: JaegerSpan) => byId.get(s.references.find((r) => r.refType === 'CHILD_OF')?.spanID ?? '');

    const consumers = trace.spans.filter((s) => kind(s) === 'consumer');
    expect(consumers.length).toBeGreaterThan(0);
    for (const consumer of consumers) {
      expect(service(consumer)).toBe('runtime-executor');
      const producer = parent(consumer);
      expect(producer && kind(producer)).toBe('producer');
      expect(producer && service(producer)).toBe('registrar');
      expect(producer?.operationName).toMatch(new RegExp(`^send splitlet\\.${nodeName.replaceAll('.', '_')}\\.runtime\\.v1\\.\\w+$`));
    }
    expect(new Set(trace.spans.map(service))).toEqual(new Set(['registrar', 'runtime-executor']));
    // no broken links: every parent a span names is in the trace
    for (const s of trace.spans) for (const r of s.references) expect(byId.has(r.spanID)).toBe(true);
  });

  async function pollForTrace(node: string, timeoutMs: number): Promise<JaegerTrace> {
    const url = new URL('/api/traces', lab.jaegerUrl);
    url.searchParams.set('service', 'registrar');
    url.searchParams.set('operation', 'registrar register node');
    url.searchParams.set('tags', JSON.stringify({ 'k8s.node.name': node }));
    url.searchParams.set('lookback', '1h');
    url.searchParams.set('limit', '20');
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const res = await fetch(url);
      last = `${res.status}`;
      if (res.ok) {
        const body = (await res.json()) as { data: JaegerTrace[] | null };
        // A trace is complete once the executor's spans have arrived too.
        const done = body.data?.find((t) => Object.values(t.processes).some((p) => p.serviceName === 'runtime-executor'));
        if (done) return done;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`no trace with spans from both services in Jaeger within ${timeoutMs} ms (last answer ${last})`);
  }
});
