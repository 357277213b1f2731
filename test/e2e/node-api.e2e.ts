import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { kubectl, kubeletGet, labBinary, labEnv, podTestNames, runCommand, startPodTestNode, waitFor, type PodTestNode } from '@splitlet/testing';

// node-api end to end: the lab's API server reaches the node's kubelet port (the
// address and port registrar reports) for `kubectl logs`, as it would a kubelet's.
const lab = labEnv();
const { nodeName, namespace } = podTestNames('e2e-nodeapi');
const admin = new KubeConfig();
admin.loadFromFile(lab.adminKubeconfig);
const clusterCA = Buffer.from(admin.getCurrentCluster()!.caData!, 'base64').toString();

const k = (...args: string[]) => kubectl(lab.adminKubeconfig, ['-n', namespace, ...args]);
const pod = (name: string, containers: { name: string; script: string }[], extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 1,
    containers: containers.map((c) => ({ name: c.name, image: 'splitlet-lab/testbox:1', command: ['sh', '-c', c.script] })),
    ...extra,
  },
});

/** A kubeconfig for the lab's API server with a bearer token: a user other than the admin. */
function tokenKubeconfig(token: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'e2e-nodeapi-kc-')), 'kubeconfig');
  const cluster = admin.getCurrentCluster()!;
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'lab', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'lab', user: 'sa', namespace } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return file;
}

/** A request to the kubelet port as the API server makes it for exec: an upgrade to SPDY/3.1. */
function kubeletUpgrade(port: number, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      ca: clusterCA,
      checkServerIdentity: () => undefined,
      headers: { authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket session on Kubernetes' channel protocols as a client sees it: each message's channel and bytes, and the close. */
interface ChannelSession {
  status: number;
  /** The protocol the 101 named ('' for none). */
  protocol: string;
  /** The refusal's body. */
  body: string;
  ws?: WebSocket;
  messages: { channel: number; data: Buffer }[];
  /** Every non-empty message as it came (a protocol without channels: binary.k8s.io). */
  raw: Buffer[];
  closed: Promise<number>;
  /** Sends bytes on a channel, framed for the protocol. */
  send(channel: number, data: string): void;
  /** Everything read on a channel, concatenated. */
  received(channel: number): Buffer;
}

/** Dials a WebSocket with these subprotocols; base64 ones are decoded. */
function dialChannels(url: string, protocols: string[], options: WebSocket.ClientOptions): Promise<ChannelSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
    const messages: ChannelSession['messages'] = [];
    const raw: Buffer[] = [];
    const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
    const session = (status: number, body = ''): ChannelSession => {
      const base64 = ws.protocol.includes('base64');
      return {
        status,
        protocol: ws.protocol,
        body,
        ws,
        messages,
        raw,
        closed,
        send: (channel, data) => ws.send(base64 ? String.fromCharCode(48 + channel) + Buffer.from(data).toString('base64') : Buffer.concat([Buffer.of(channel), Buffer.from(data)])),
        received: (channel) => Buffer.concat(messages.filter((m) => m.channel === channel).map((m) => m.data)),
      };
    };
    ws.on('message', (data: Buffer) => {
      if (!data.length) return;
      raw.push(data);
      const base64 = ws.protocol.includes('base64');
      messages.push(base64 ? { channel: data[0]! - 48, data: Buffer.from(data.subarray(1).toString(), 'base64') } : { channel: data[0]!, data: data.subarray(1) });
    });
    ws.once('open', () => resolve(session(101)));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(session(res.statusCode ?? 0, body)));
    });
    ws.once('error', reject);
  });
}

/** The processes of a container, as Docker lists them from the host (`docker top`). */
async function containerProcesses(containerId: string): Promise<string> {
  return (await runCommand('docker', ['top', containerId])).stdout;
}

/** A process's resident memory now, in MiB (Linux /proc). */
const procMiB = (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('node-api: the kubelet API of a splitlet node', () => {
  let t: PodTestNode;
  beforeAll(async () => {
    t = await startPodTestNode({ nodeName, namespace }, { nodeApi: true });
    await t.core.createNamespacedPod({
      namespace,
      body: pod('web', [
        { name: 'app', script: 'echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 3600' },
        { name: 'side', script: 'echo from-side; sleep 3600' },
      ]),
    });
    const running = await waitFor('web running', async () => {
      const p = await t.core.readNamespacedPod({ namespace, name: 'web' });
      return p.status?.containerStatuses?.every((c) => c.state?.running) && p.status.containerStatuses.length === 2 ? p : undefined;
    }, 60_000);
    // Running is reported before the lines are written, and a BestEffort container (cpu
    // shares 2) beside busy ones on a loaded machine may take seconds to write its first:
    // the tests below read what Docker has, so they start once Docker has every line.
    const idOf = (name: string) => running.status!.containerStatuses!.find((c) => c.name === name)!.containerID!.replace('docker://', '');
    const dockerLog = async (name: string) => (await runCommand('docker', ['logs', idOf(name)])).stdout;
    await waitFor('web wrote its lines', async () => ((await dockerLog('app')).includes('three') && (await dockerLog('side')).includes('from-side') ? true : undefined), 30_000);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('node-api - registrar reports the port node-api listens on; the node, which requires node-api, is Ready', async () => {
    const node = await t.core.readNode({ name: nodeName });
    expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(t.kubeletPort);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
  });

  it('node-api - kubectl logs: stdout and stderr in the order written', async () => {
    expect(await k('logs', 'web', '-c', 'app')).toMatchObject({ code: 0, stdout: 'one\ntwo\nthree\n' });
  });

  it('node-api - kubectl logs --tail, --limit-bytes, --timestamps, -c', async () => {
    expect((await k('logs', 'web', '-c', 'app', '--tail=1')).stdout).toBe('three\n');
    expect((await k('logs', 'web', '-c', 'app', '--limit-bytes=6')).stdout).toBe('one\ntw');
    const stamped = (await k('logs', 'web', '-c', 'app', '--timestamps')).stdout.split('\n').filter(Boolean);
    expect(stamped).toHaveLength(3);
    for (const [i, line] of stamped.entries()) expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d*[1-9])?Z ${['one', 'two', 'three'][i]}$`));
    expect(await k('logs', 'web', '-c', 'side')).toEqual({ code: 0, stdout: 'from-side\n', stderr: '' });
  });

  it('node-api - kubectl logs --since keeps only the recent lines', async () => {
    expect((await k('logs', 'web', '-c', 'side', '--since=1h')).stdout).toBe('from-side\n');
    const future = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    expect((await k('logs', 'web', '-c', 'side', `--since-time=${future}`)).stdout).toBe('');
  });

  it('node-api - the kubelet\'s refusals: no previous instance, a container waiting to start, an unknown container', async () => {
    const prev = await k('logs', 'web', '-c', 'app', '--previous');
    expect(prev.code).not.toBe(0);
    expect(prev.stderr).toContain('previous terminated container "app" in pod "web" not found');
    await t.core.createNamespacedPod({
      namespace,
      body: pod('held', [{ name: 'app', script: 'echo never' }], { initContainers: [{ name: 'wait', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] }),
    });
    await waitFor('held initializing', async () => {
      const p = await t.core.readNamespacedPod({ namespace, name: 'held' });
      return p.status?.initContainerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000);
    const waiting = await k('logs', 'held', '-c', 'app');
    expect(waiting.code).not.toBe(0);
    expect(waiting.stderr).toContain('container "app" in pod "held" is waiting to start: PodInitializing');
    // kubectl checks the name itself; the kubelet's own 404, asked directly (the API server's
    // nodes/proxy refuses the lab's node address: its host name resolves to 127.0.0.1).
    expect(await kubeletGet(t.kubeletPort!, `/containerLogs/${namespace}/web/nope`, { cert: true })).toEqual({ status: 404, body: 'container "nope" not found in pod "web"' });
  });

  it('node-api - kubectl logs -f sees a new line, and a client that goes away frees the Docker stream within a second', async () => {
    await t.core.createNamespacedPod({ namespace, body: pod('ticker', [{ name: 'app', script: 'i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done' }]) });
    await waitFor('ticker running', async () => ((await t.core.readNamespacedPod({ namespace, name: 'ticker' })).status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000);
    const follower = spawn(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'logs', '-f', 'ticker', '--tail=1']);
    let out = '';
    follower.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const first = await waitFor('a first line', async () => /tick-(\d+)/.exec(out)?.[1], 20_000);
    await waitFor('a line written after -f started', async () => ([...out.matchAll(/tick-(\d+)/g)].some((m) => Number(m[1]) > Number(first)) ? true : undefined), 10_000);
    const executor = t.node.procs['runtime-executor']!;
    const opened = executor.logs.filter((l) => l['msg'] === 'container log opened' && l['follow'] === true).at(-1)!;
    const stoppedAt = Date.now();
    follower.kill('SIGINT');
    const closed = await executor.waitForLog((l) => l['msg'] === 'container log closed' && l['stream'] === opened['stream'], 5_000);
    expect(Date.parse(String(closed['time'])) - stoppedAt).toBeLessThan(1_000);
  });

  it('node-api - kubectl logs --previous after a restart shows the last instance', async () => {
    // It fails once (a mark in an emptyDir, which outlives the instance), then runs on:
    // a crash loop could restart it between the status read and the kubectl call, and
    // --previous would rightly show another instance than the one read.
    const body = pod('crasher', [{ name: 'app', script: '[ -f /state/ran ] && exec sleep 3600; touch /state/ran; echo run-$(cat /proc/sys/kernel/random/uuid); sleep 1; exit 3' }], { volumes: [{ name: 'state', emptyDir: {} }] });
    body.spec!.containers[0]!.volumeMounts = [{ name: 'state', mountPath: '/state' }];
    await t.core.createNamespacedPod({ namespace, body });
    const p = await waitFor('crasher restarted', async () => {
      const got = await t.core.readNamespacedPod({ namespace, name: 'crasher' });
      return got.status?.containerStatuses?.[0]?.lastState?.terminated?.containerID ? got : undefined;
    }, 90_000);
    const lastId = p.status!.containerStatuses![0]!.lastState!.terminated!.containerID!.replace('docker://', '');
    const expected = (await runCommand('docker', ['logs', lastId])).stdout;
    expect(expected).toMatch(/^run-[0-9a-f-]{36}\n$/);
    expect(await k('logs', 'crasher', '--previous')).toMatchObject({ code: 0, stdout: expected });
  });

  it('node-api - 401 without credentials, 403 for a service account that may not nodes/proxy, the PodList for the admin', async () => {
    expect(await kubeletGet(t.kubeletPort!, '/pods')).toEqual({ status: 401, body: 'Unauthorized' });
    expect((await k('create', 'serviceaccount', 'nobody')).code).toBe(0);
    const token = (await k('create', 'token', 'nobody')).stdout.trim();
    expect(await kubeletGet(t.kubeletPort!, `/containerLogs/${namespace}/web/app`, { token })).toEqual({
      status: 403,
      body: `Forbidden (user=system:serviceaccount:${namespace}:nobody, verb=get, resource=nodes, subresource(s)=[proxy])\n`,
    });
    const pods = await kubeletGet(t.kubeletPort!, '/pods', { cert: true });
    expect(pods.status).toBe(200);
    const list = JSON.parse(pods.body) as { kind: string; items: V1Pod[] };
    expect(list.kind).toBe('PodList');
    expect(list.items.map((i) => i.metadata?.name)).toContain('web');
    expect(await kubeletGet(t.kubeletPort!, '/healthz', { cert: true })).toEqual({ status: 200, body: 'ok' });
  });

  it('node-api - 40 MiB through kubectl logs byte-exact; a reader that stops reading makes no process hold the log', async () => {
    // 400 000 numbered lines of 105 bytes: order and completeness are checkable.
    const pad = 'x'.repeat(96);
    await t.core.createNamespacedPod({ namespace, body: pod('bulk', [{ name: 'app', script: `seq 100000001 100400000 | sed 's/$/ ${pad}/'; echo done; sleep 3600` }]) });
    const expected = Array.from({ length: 400_000 }, (_, i) => `${100_000_001 + i} ${pad}\n`).join('') + 'done\n';
    await waitFor('bulk wrote everything', async () => ((await k('logs', 'bulk', '--tail=1')).stdout === 'done\n' ? true : undefined), 120_000, 1_000);

    const started = Date.now();
    const all = await new Promise<Buffer>((resolve, reject) => {
      const p = spawn(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'logs', 'bulk']);
      const parts: Buffer[] = [];
      p.stdout.on('data', (d: Buffer) => parts.push(d));
      p.on('error', reject);
      p.on('close', () => resolve(Buffer.concat(parts)));
    });
    const seconds = (Date.now() - started) / 1000;
    expect(all.length).toBe(expected.length);
    expect(createHash('sha256').update(all).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
    // The same log straight from Docker, for scale: what the machine gives at all.
    const bulkId = (await t.core.readNamespacedPod({ namespace, name: 'bulk' })).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    const dockerStarted = Date.now();
    const direct = await runCommand('docker', ['logs', bulkId]);
    const dockerSeconds = (Date.now() - dockerStarted) / 1000;
    expect(direct.stdout.length).toBe(expected.length);
    // And straight from node-api, without the API server in between.
    const directStarted = Date.now();
    const fromNodeApi = await kubeletGet(t.kubeletPort!, `/containerLogs/${namespace}/bulk/app`, { cert: true });
    const nodeApiSeconds = (Date.now() - directStarted) / 1000;
    expect(fromNodeApi.body.length).toBe(expected.length);
    const mib = all.length / 1048576;
    console.log(`[node-api] GET /containerLogs on the kubelet port: ${(mib / nodeApiSeconds).toFixed(1)} MiB/s`);
    console.log(`[node-api] kubectl logs: ${mib.toFixed(1)} MiB in ${seconds.toFixed(2)} s = ${(mib / seconds).toFixed(1)} MiB/s (docker logs: ${dockerSeconds.toFixed(2)} s = ${(mib / dockerSeconds).toFixed(1)} MiB/s)`);

    // A reader that does not read: kubectl blocks on its full stdout pipe, the API server on kubectl.
    const executorPid = t.node.procs['runtime-executor']!.child.pid!;
    const apiPid = t.node.procs['node-api']!.child.pid!;
    // RSS at one moment is no measure of what a process holds: after the reads above V8
    // may have just compacted its heap (a runtime-executor went from 186 MiB to 150),
    // and any work afterwards grows it back to its working size (150 -> 183 in a run
    // that held nothing). The peak (VmHWM) is: the reads above took each process to its
    // working size, and holding the 40 MiB log would have to go beyond it.
    const before = { executor: procMiB(executorPid, 'VmHWM'), api: procMiB(apiPid, 'VmHWM') };
    const stalled = spawn(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'logs', '-f', 'bulk'], { stdio: ['ignore', 'pipe', 'ignore'] });
    stalled.stdout.pause();
    await new Promise((r) => setTimeout(r, 5_000));
    const during = { executor: procMiB(executorPid, 'VmHWM'), api: procMiB(apiPid, 'VmHWM') };
    console.log(
      `[node-api] peak RSS (MiB) before / with a stalled reader of a 40 MiB log: runtime-executor ${before.executor.toFixed(0)} / ${during.executor.toFixed(0)} (now ${procMiB(executorPid, 'VmRSS').toFixed(0)}), node-api ${before.api.toFixed(0)} / ${during.api.toFixed(0)} (now ${procMiB(apiPid, 'VmRSS').toFixed(0)})`,
    );
    // Holding the log takes at least its size: with the executor's window removed the
    // peak rose by 218 MiB. With the 512 KiB window it rose by up to 20 MiB here, the
    // heap growing to its working size (V8's, not what the process holds).
    expect(during.executor - before.executor).toBeLessThan(mib);
    expect(during.api - before.api).toBeLessThan(mib);
    let received = 0;
    stalled.stdout.on('data', (d: Buffer) => (received += d.length));
    stalled.stdout.resume();
    await waitFor('the stalled reader gets it all once it reads', async () => (received >= expected.length ? true : undefined), 60_000);
    stalled.kill('SIGINT');
  });

  describe('kubectl exec', () => {
    it('node-api - kubectl exec: stdout and stderr apart, and the exit code', async () => {
      const r = await k('exec', 'web', '-c', 'app', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3');
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('out\n');
      expect(r.stderr).toContain('err\n');
      expect(r.stderr).toContain('command terminated with exit code 3');
      expect(await k('exec', 'web', '-c', 'side', '--', 'sh', '-c', 'echo fine')).toMatchObject({ code: 0, stdout: 'fine\n' });
    });

    it('node-api - kubectl exec -i: stdin piped through, its end seen by the process; 50 MiB byte-exact through cat', async () => {
      expect(await kubectl(lab.adminKubeconfig, ['-n', namespace, 'exec', '-i', 'web', '-c', 'app', '--', 'sh', '-c', 'tr a-z A-Z; echo end'], 'hello\nworld\n'))
        .toMatchObject({ code: 0, stdout: 'HELLO\nWORLD\nend\n' });
      // A process that exits without reading its stdin: its exit code stands, whatever was still being sent.
      const unread = await kubectl(lab.adminKubeconfig, ['-n', namespace, 'exec', '-i', 'web', '-c', 'app', '--', 'sh', '-c', 'exit 5'], 'z'.repeat(4 << 20));
      expect(unread.code).toBe(5);
      expect(unread.stderr).not.toContain('Internal error');
      const input = Array.from({ length: 504_000 }, (_, i) => `${String(i).padStart(8, '0')} ${'y'.repeat(95)}\n`).join(''); // 50 MiB
      const started = Date.now();
      const r = await runCommand(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'exec', '-i', 'web', '-c', 'app', '--', 'cat'], input);
      const seconds = (Date.now() - started) / 1000;
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBe(input.length);
      expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
      console.log(`[node-api] kubectl exec -i cat: ${(input.length / 1048576).toFixed(1)} MiB each way in ${seconds.toFixed(2)} s`);
    });

    it('node-api - kubectl exec -it: a terminal of the client\'s size', async () => {
      // kubectl needs a terminal on its stdin: script(1) gives it one, 100 columns by 30 rows.
      const kc = `${labBinary('kubectl')} --kubeconfig ${lab.adminKubeconfig} -n ${namespace}`;
      // Docker 20.10 (API 1.41) cannot start an exec's terminal at a size (ConsoleSize came
      // with API 1.42): it is resized once started, as `docker exec -it` and dockershim do,
      // so the process sees no size until the resize has gone kubectl → API server →
      // node-api → NATS → runtime-executor → Docker. It waits for one: under two CPU hogs
      // that took over a second (seen twice), so up to 10 s. busybox's `stty size` exits 0
      // even when the terminal has no size (it prints a stale errno, e.g. "No child
      // processes"): the wait is for its output, not its exit code.
      const r = await runCommand('script', ['-qec', `stty cols 100 rows 30; ${kc} exec -it web -c app -- sh -c 'i=0; until [ -n "$(stty size 2>/dev/null)" ] || [ $i -ge 1000 ]; do i=$((i+1)); sleep 0.01; done; stty size; tty; exit 4'`, '/dev/null']);
      expect(r.stdout).toMatch(/^30 100\r?$/m);
      expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
      expect(r.code).toBe(4);
    });

    it('node-api - kubectl cp: a file into the container and back, byte-exact (tar over exec)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'e2e-nodeapi-cp-'));
      const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
      writeFileSync(join(dir, 'in.bin'), content);
      const into = await kubectl(lab.adminKubeconfig, ['-n', namespace, 'cp', '-c', 'app', join(dir, 'in.bin'), 'web:/tmp/copied.bin']);
      expect(into.code, into.stderr).toBe(0);
      expect((await k('exec', 'web', '-c', 'app', '--', 'sha256sum', '/tmp/copied.bin')).stdout).toContain(createHash('sha256').update(content).digest('hex'));
      const back = await kubectl(lab.adminKubeconfig, ['-n', namespace, 'cp', '-c', 'app', 'web:/tmp/copied.bin', join(dir, 'out.bin')]);
      expect(back.code, back.stderr).toBe(0);
      expect(readFileSync(join(dir, 'out.bin')).equals(content)).toBe(true);
    });

    it('node-api - kubectl exec round trip (kubectl exec web -- true)', async () => {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        expect((await k('exec', 'web', '-c', 'app', '--', 'true')).code).toBe(0);
        times.push(Date.now() - started);
      }
      times.sort((a, b) => a - b);
      console.log(`[node-api] kubectl exec -- true: p50 ${times[4]} ms, max ${times[9]} ms (10 runs)`);
    });

    it('node-api - a kubectl exec that goes away closes the process\'s stdin within a second', async () => {
      const id = (await t.core.readNamespacedPod({ namespace, name: 'web' })).status!.containerStatuses!.find((c) => c.name === 'app')!.containerID!.replace('docker://', '');
      const marker = `held-${Date.now()}`;
      const held = spawn(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'exec', '-i', 'web', '-c', 'app', '--', 'sh', '-c', `cat >/dev/null; : ${marker}`], { stdio: ['pipe', 'ignore', 'ignore'] });
      await waitFor('the exec runs in the container', async () => ((await containerProcesses(id)).includes(marker) ? true : undefined), 20_000, 100);
      const stoppedAt = Date.now();
      held.kill('SIGKILL');
      await waitFor('the exec is gone', async () => ((await containerProcesses(id)).includes(marker) ? undefined : true), 5_000, 50);
      expect(Date.now() - stoppedAt).toBeLessThan(1_000);
    });

    it('node-api - exec refused: by the API server without pods/exec, by node-api without nodes/proxy', async () => {
      expect((await k('create', 'serviceaccount', 'viewer')).code).toBe(0);
      expect((await k('create', 'role', 'pod-reader', '--verb=get,list', '--resource=pods')).code).toBe(0);
      expect((await k('create', 'rolebinding', 'viewer-reads', '--role=pod-reader', `--serviceaccount=${namespace}:viewer`)).code).toBe(0);
      const token = (await k('create', 'token', 'viewer')).stdout.trim();
      const r = await kubectl(tokenKubeconfig(token), ['exec', 'web', '-c', 'app', '--', 'true']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`User "system:serviceaccount:${namespace}:viewer" cannot create resource "pods/exec"`);
      // The same identity straight at the kubelet port, as the API server would call it.
      expect(await kubeletUpgrade(t.kubeletPort!, `/exec/${namespace}/web/app?command=true&output=1`, token)).toEqual({
        status: 403,
        body: `Forbidden (user=system:serviceaccount:${namespace}:viewer, verb=create, resource=nodes, subresource(s)=[proxy])\n`,
      });
    });
  });

  describe('stats', () => {
    it('node-api - /metrics/resource and /stats/summary: a busy container\'s CPU time grows, never ahead of Docker\'s; its pod\'s and the node\'s figures; a rate from the second summary on; kubectl top pod and node through metrics-server; no nodes/stats, 403', async () => {
      // A CPU request, so the burner runs in every window the test measures: a BestEffort
      // container has the lowest CPU weight (shares 2), and on a loaded node it gets no CPU
      // at all in most 30 ms windows (measured: 88 of 100 with six busy loops beside it).
      const burnerPod = pod('burner', [{ name: 'burn', script: 'while :; do :; done' }]);
      burnerPod.spec!.containers[0]!.resources = { requests: { cpu: '250m' } };
      await t.core.createNamespacedPod({ namespace, body: burnerPod });
      await waitFor('burner running', async () => ((await t.core.readNamespacedPod({ namespace, name: 'burner' })).status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000);
      const id = (await t.core.readNamespacedPod({ namespace, name: 'burner' })).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
      const cpuOf = (text: string) => Number(new RegExp(`^container_cpu_usage_seconds_total\\{container="burn",namespace="${namespace}",pod="burner"\\} (\\S+) \\d+$`, 'm').exec(text)?.[1]);
      const first = await kubeletGet(t.kubeletPort!, '/metrics/resource', { cert: true });
      expect(first.status).toBe(200);
      expect(first.body).toMatch(/^node_cpu_usage_seconds_total \S+ \d+$/m);
      expect(first.body).toMatch(/^node_memory_working_set_bytes [1-9]\d* \d+$/m);
      expect(first.body).toMatch(new RegExp(`^pod_memory_working_set_bytes\\{namespace="${namespace}",pod="burner"\\} \\d+ \\d+$`, 'm'));
      expect(first.body).toContain('resource_scrape_error 0');
      await new Promise((r) => setTimeout(r, 2_000));
      const second = await kubeletGet(t.kubeletPort!, '/metrics/resource', { cert: true });
      expect(cpuOf(second.body)).toBeGreaterThan(cpuOf(first.body));
      // What Docker says of the container, read after: at least what was reported.
      const docker = JSON.parse((await runCommand('curl', ['-s', '--unix-socket', '/var/run/docker.sock', `http://docker/containers/${id}/stats?stream=false&one-shot=true`])).stdout) as { cpu_stats: { cpu_usage: { total_usage: number } } };
      expect(docker.cpu_stats.cpu_usage.total_usage / 1e9).toBeGreaterThanOrEqual(cpuOf(second.body));

      // The rate is between two summaries: a second apart, so that it spans many of the
      // scheduler's slices (back to back, a few tens of ms, a loaded node may give the burner none).
      await kubeletGet(t.kubeletPort!, '/stats/summary', { cert: true });
      await new Promise((r) => setTimeout(r, 1_000));
      const summary = await kubeletGet(t.kubeletPort!, '/stats/summary', { cert: true });
      expect(summary.status).toBe(200);
      const body = JSON.parse(summary.body) as { node: { nodeName: string; cpu: { usageNanoCores?: number }; memory: { workingSetBytes: number } }; pods: { podRef: { name: string; namespace: string }; containers: { name: string; cpu: { usageNanoCores?: number; usageCoreNanoSeconds: number }; memory: { workingSetBytes: number } }[] }[] };
      expect(body.node.nodeName).toBe(nodeName);
      expect(body.node.memory.workingSetBytes).toBeGreaterThan(0);
      const burner = body.pods.find((p) => p.podRef.name === 'burner' && p.podRef.namespace === namespace)!;
      expect(burner.containers.map((c) => c.name)).toEqual(['burn']);
      expect(burner.containers[0]!.cpu.usageNanoCores).toBeGreaterThan(0);
      // One shell loop uses one core at most (a little over for the skew of Docker's read time and the cgroup's count).
      expect(burner.containers[0]!.cpu.usageNanoCores).toBeLessThan(1.1e9);
      expect(burner.containers[0]!.memory.workingSetBytes).toBeGreaterThan(0);
      // The same summary through the API server's node proxy (to the node's InternalIP, verified by the cluster CA).
      const proxied = await k('get', '--raw', `/api/v1/nodes/${nodeName}/proxy/stats/summary`);
      expect(proxied.stderr).toBe('');
      expect((JSON.parse(proxied.stdout) as typeof body).pods.some((p) => p.podRef.name === 'burner' && p.podRef.namespace === namespace)).toBe(true);

      // kubectl top: the lab's metrics-server scrapes /metrics/resource every 15 s and needs two samples for a rate.
      const top = await waitFor('kubectl top pod burner', async () => {
        const r = await k('top', 'pod', 'burner', '--no-headers');
        return r.code === 0 ? r.stdout : undefined;
      }, 120_000, 2_000);
      expect(Number(/^burner\s+(\d+)m\s+\d+Mi\s*$/m.exec(top)?.[1])).toBeGreaterThan(0);
      // The node's figures need two scrapes of the node too (a pod's first may take its start
      // time as the earlier sample, a node's never), so they may come a scrape after the pod's.
      const node = await waitFor('kubectl top node', async () => {
        const r = await kubectl(lab.adminKubeconfig, ['top', 'node', nodeName, '--no-headers']);
        if (r.code !== 0) throw new Error(r.stderr.trim()); // kubectl's reason, should the node's figures never come
        return r;
      }, 60_000, 2_000);
      expect(node.stderr).toBe('');
      expect(node.stdout).toMatch(new RegExp(`^${nodeName}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm'));
      await k('delete', 'pod', 'burner', '--wait=false');

      // A service account without nodes/stats is refused by node-api's SubjectAccessReview.
      expect((await k('create', 'serviceaccount', 'stats-viewer')).code).toBe(0);
      const token = (await k('create', 'token', 'stats-viewer')).stdout.trim();
      expect(await kubeletGet(t.kubeletPort!, '/stats/summary', { token })).toEqual({
        status: 403,
        body: `Forbidden (user=system:serviceaccount:${namespace}:stats-viewer, verb=get, resource=nodes, subresource(s)=[stats])\n`,
      });
    });
  });

  describe('kubectl attach', () => {
    it('node-api - kubectl attach -i: typed lines reach the container\'s stdin and its answers come back; its exit ends the attach with 0; without -i the output from now on', async () => {
      // stdinOnce: the container's stdin closes when the attached client's does (Docker's StdinOnce), so the loop ends.
      const talker = pod('talker', [{ name: 'app', script: 'while read line; do echo "got $line"; done; echo bye' }], { restartPolicy: 'Never' });
      Object.assign(talker.spec!.containers[0]!, { stdin: true, stdinOnce: true });
      await t.core.createNamespacedPod({ namespace, body: talker });
      const ticker = pod('attached-ticker', [{ name: 'app', script: 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done' }]);
      await t.core.createNamespacedPod({ namespace, body: ticker });
      for (const name of ['talker', 'attached-ticker']) {
        await waitFor(`${name} running`, async () => ((await t.core.readNamespacedPod({ namespace, name })).status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000);
      }

      const r = await runCommand(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'attach', '-i', 'talker', '-c', 'app'], 'hello\nworld\n');
      expect(r.stdout).toBe('got hello\ngot world\nbye\n');
      expect(r.code).toBe(0);
      const done = await waitFor('talker Succeeded', async () => {
        const p = await t.core.readNamespacedPod({ namespace, name: 'talker' });
        return p.status?.phase === 'Succeeded' ? p : undefined;
      }, 30_000);
      expect(done.status!.containerStatuses![0]!.state!.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });

      // Without -i: what the container writes from now on (no earlier output), until the client goes.
      const attached = spawn(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'attach', 'attached-ticker', '-c', 'app'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      attached.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const ticks = await waitFor('three ticks', async () => {
        const n = [...out.matchAll(/^tick-(\d+)$/gm)].map((m) => Number(m[1]));
        return n.length >= 3 ? n : undefined;
      }, 20_000);
      attached.kill('SIGINT');
      // Consecutive, and not from the start: the ticker had been running a while before the attach.
      expect(ticks.slice(1).every((n, i) => n === ticks[i]! + 1)).toBe(true);
      expect(ticks[0]).toBeGreaterThan(1);
      // Detaching leaves the container running.
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await t.core.readNamespacedPod({ namespace, name: 'attached-ticker' })).status!.containerStatuses![0]!.state!.running).toBeDefined();
    });
  });

  // What the conformance spec "Pods should support remote command execution over
  // websockets" does: a WebSocket to the API server with an older subprotocol, which the
  // API server passes through to the kubelet port (only v5 is turned into SPDY there).
  describe('WebSocket streaming through the API server', () => {
    const overApi = async (path: string, protocols: string[]) => {
      const options: WebSocket.ClientOptions = {};
      await admin.applyToHTTPSOptions(options);
      return dialChannels(`${admin.getCurrentCluster()!.server.replace(/^https:/, 'wss:')}${path}`, protocols, options);
    };
    const execPath = (command: string[], streams: string) => `/api/v1/namespaces/${namespace}/pods/web/exec?container=app&${command.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&${streams}`;

    it('node-api - pods/log over a WebSocket (binary.k8s.io, as the conformance spec reads it): the whole log, then a normal close', async () => {
      // The API server copies node-api's answer into the WebSocket; a short log once came
      // as nothing (its bytes and the body's end in one HTTP/1.1 read, which that copy drops).
      for (const container of ['side', 'app']) {
        const log = await overApi(`/api/v1/namespaces/${namespace}/pods/web/log?container=${container}`, ['binary.k8s.io']);
        expect([log.status, log.protocol]).toEqual([101, 'binary.k8s.io']);
        expect(await log.closed).toBe(1000);
        expect(Buffer.concat(log.raw).toString()).toBe(container === 'side' ? 'from-side\n' : 'one\ntwo\nthree\n');
      }
    });

    it('node-api - exec over a WebSocket (v4.channel.k8s.io): echo\'s bytes on stdout and Success; a non-zero exit is Failure NonZeroExitCode with its ExitCode cause', async () => {
      const ok = await overApi(execPath(['echo', 'hello over websockets'], 'stdout=1&stderr=1'), ['v4.channel.k8s.io']);
      expect([ok.status, ok.protocol]).toEqual([101, 'v4.channel.k8s.io']);
      expect(await ok.closed).toBe(1000);
      expect(ok.received(1).toString()).toBe('hello over websockets\n');
      expect(ok.received(2).toString()).toBe('');
      expect(JSON.parse(ok.received(3).toString())).toMatchObject({ status: 'Success' });

      const failed = await overApi(execPath(['sh', '-c', 'echo out; echo err >&2; exit 7'], 'stdout=1&stderr=1'), ['v4.channel.k8s.io']);
      await failed.closed;
      expect([failed.received(1).toString(), failed.received(2).toString()]).toEqual(['out\n', 'err\n']);
      expect(JSON.parse(failed.received(3).toString())).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    });

    it('node-api - exec over a WebSocket with the older channel.k8s.io (stdin through, the failure\'s text) and base64.channel.k8s.io (base64 text messages)', async () => {
      const raw = await overApi(execPath(['sh', '-c', 'head -c 5; exit 3'], 'stdin=1&stdout=1'), ['channel.k8s.io']);
      expect([raw.status, raw.protocol]).toEqual([101, 'channel.k8s.io']);
      raw.send(0, 'hello, and more');
      await raw.closed;
      expect(raw.received(1).toString()).toBe('hello');
      expect(raw.received(3).toString()).toMatch(/exit code 3$/);

      const b64 = await overApi(execPath(['printf', '\\000\\377 binary'], 'stdout=1'), ['v5.channel.k8s.io.unknown', 'base64.channel.k8s.io']);
      expect(b64.protocol).toBe('base64.channel.k8s.io');
      await b64.closed;
      expect([...b64.received(1)]).toEqual([0, 255, ...Buffer.from(' binary')]);
      // Before v4 a success writes nothing on the error channel.
      expect(b64.received(3).length).toBe(0);
    });

    it('node-api - port-forward over a WebSocket (v4.channel.k8s.io): the port on both channels, an HTTP request to the pod\'s 127.0.0.1 and its answer', async () => {
      await t.core.createNamespacedPod({
        namespace,
        body: pod('wsserved', [{ name: 'httpd', script: 'mkdir -p /www && echo hello-from-pod > /www/index.html && httpd -f -p 127.0.0.1:8080 -h /www' }]),
      });
      await waitFor('wsserved running', async () => ((await t.core.readNamespacedPod({ namespace, name: 'wsserved' })).status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000);
      const id = (await t.core.readNamespacedPod({ namespace, name: 'wsserved' })).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
      await waitFor('httpd listening', async () => ((await runCommand('docker', ['exec', id, 'sh', '-c', 'netstat -ltn | grep -q 127.0.0.1:8080'])).code === 0 ? true : undefined), 20_000, 200);

      const f = await overApi(`/api/v1/namespaces/${namespace}/pods/wsserved/portforward?ports=8080`, ['v4.channel.k8s.io']);
      expect([f.status, f.protocol]).toEqual([101, 'v4.channel.k8s.io']);
      f.send(0, 'GET /index.html HTTP/1.0\r\n\r\n');
      const code = await Promise.race([f.closed, new Promise<string>((r) => setTimeout(() => r('not closed in 20 s'), 20_000))]);
      if (code !== 1000) throw new Error(`${code}; read: ${JSON.stringify(f.messages.map((m) => [m.channel, m.data.toString()]))}`);
      const port = Buffer.from([8080 & 0xff, 8080 >> 8]);
      expect(f.received(0).subarray(0, 2)).toEqual(port);
      expect(f.received(1)).toEqual(port);
      const answer = f.received(0).subarray(2).toString();
      expect(answer).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
      expect(answer.endsWith('\r\n\r\nhello-from-pod\n')).toBe(true);
    });

    it('node-api - a WebSocket straight at the kubelet port: 401 without credentials, 403 for a user without nodes/proxy, as for SPDY', async () => {
      expect((await k('create', 'serviceaccount', 'ws-nobody')).code).toBe(0);
      const token = (await k('create', 'token', 'ws-nobody')).stdout.trim();
      const url = `wss://${hostname()}:${t.kubeletPort}/exec/${namespace}/web/app?command=true&output=1`;
      expect(await dialChannels(url, ['v4.channel.k8s.io'], { ca: clusterCA })).toMatchObject({ status: 401, body: 'Unauthorized' });
      expect(await dialChannels(url, ['v4.channel.k8s.io'], { ca: clusterCA, headers: { authorization: `Bearer ${token}` } })).toMatchObject({
        status: 403,
        body: `Forbidden (user=system:serviceaccount:${namespace}:ws-nobody, verb=get, resource=nodes, subresource(s)=[proxy])\n`,
      });
    });
  });

  describe('kubectl port-forward', () => {
    /** GET through the forwarded port: status and body. */
    const fetchLocal = (port: number, path: string) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        }).on('error', reject);
      });

    // Ten connections at once are twenty SPDY streams replied to at once: this found the
    // replies' header blocks compressed concurrently (kubectl: "error creating forwarding
    // stream …: EOF", "lost connection to pod"; spdy-connection.spec has it alone).
    it('node-api - kubectl port-forward reaches a server on the pod\'s 127.0.0.1: one request, 10 at once, 4 MiB byte-exact; a closed port is an error, not a hang', async () => {
      // httpd listens on the pod's loopback only: reachable from inside its network namespace, not by the pod IP.
      await t.core.createNamespacedPod({
        namespace,
        body: pod('served', [{ name: 'httpd', script: 'mkdir -p /www && echo hello-from-pod > /www/index.html && head -c 4194304 /dev/urandom > /www/big && httpd -f -p 127.0.0.1:8080 -h /www' }]),
      });
      await waitFor('served running', async () => ((await t.core.readNamespacedPod({ namespace, name: 'served' })).status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000);
      const id = (await t.core.readNamespacedPod({ namespace, name: 'served' })).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
      await waitFor('httpd listening', async () => ((await runCommand('docker', ['exec', id, 'sh', '-c', 'netstat -ltn | grep -q 127.0.0.1:8080'])).code === 0 ? true : undefined), 20_000, 200);
      const big = Buffer.from((await runCommand('docker', ['exec', id, 'base64', '-w0', '/www/big'])).stdout, 'base64');
      expect(big.length).toBe(4194304);

      const forwarder = spawn(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'port-forward', 'pod/served', ':8080', ':8081']);
      let out = '';
      forwarder.stdout.on('data', (d: Buffer) => (out += d.toString()));
      forwarder.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => forwarder.once('exit', resolve));
      try {
        const ports = await waitFor('kubectl listening', async () => {
          const m = [...out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)];
          return m.length === 2 ? Object.fromEntries(m.map((x) => [x[2]!, Number(x[1])])) : undefined;
        }, 20_000);
        expect(await fetchLocal(ports['8080']!, '/index.html')).toEqual({ status: 200, body: Buffer.from('hello-from-pod\n') });
        const parallel = await Promise.all(Array.from({ length: 10 }, () => fetchLocal(ports['8080']!, '/index.html')));
        expect(parallel.map((r) => r.body.toString())).toEqual(Array(10).fill('hello-from-pod\n'));
        const started = Date.now();
        const got = await fetchLocal(ports['8080']!, '/big');
        const seconds = (Date.now() - started) / 1000;
        expect(got.body.length).toBe(big.length);
        expect(got.body.equals(big)).toBe(true);
        console.log(`[node-api] kubectl port-forward: 4 MiB in ${seconds.toFixed(2)} s = ${(4 / seconds).toFixed(1)} MiB/s`);
        // Nothing listens on 8081 in the pod: the connection ends with the kubelet's error on its
        // error stream, which kubectl reports before it gives up the whole forward (client-go's
        // portforward closes the connection on an error, as against a kubelet).
        await expect(fetchLocal(ports['8081']!, '/')).rejects.toThrow();
        expect(await exited).toBe(1);
        expect(out).toMatch(/error forwarding port 8081 to pod [0-9a-f-]+, uid : connect ECONNREFUSED 127\.0\.0\.1:8081/);
        expect(out).toContain('lost connection to pod');
      } catch (err) {
        // What kubectl said is the first thing to read when a connection failed (klog may say it a moment later).
        await new Promise((r) => setTimeout(r, 1000));
        const executorSaid = t.node.procs['runtime-executor']!.logs.filter((l) => /port-forward|exec closed/.test(String(l['msg']))).map((l) => JSON.stringify(l)).slice(-30).join('\n');
        throw new Error(`${(err as Error).message}; kubectl port-forward said:\n${out.replace(/Handling connection for \d+\n/g, '')}\nruntime-executor said:\n${executorSaid}`, { cause: err });
      } finally {
        forwarder.kill('SIGINT');
      }
    });
  });
});
