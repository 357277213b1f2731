import { mkdtempSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { kubectl, labEnv, runCommand, podTestNames, startPodTestNode, waitFor } from '@splitlet/testing';

// postStart and preStop hooks (exec and httpGet) as the kubelet runs them, end to end:
// what the container saw, the Events, the restart after a failed postStart.
const lab = labEnv();
const names = podTestNames('e2e-hooks');
const { nodeName, namespace } = names;
let core: CoreV1Api;

const podOf = (name: string, container: Partial<V1Container>, grace = 10): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: grace, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', ...container }] },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const eventsOf = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=${reason}` })).items;
const logsOf = async (containerID: string) => (await runCommand('docker', ['logs', containerID.replace('docker://', '')])).stdout;
/**
 * Follows a container's log from now until the container is gone: the pod's deletion
 * removes its containers moments after they stop, before a later `docker logs` could
 * read what they wrote last.
 */
const followLogs = (containerID: string) => {
  const p = spawn('docker', ['logs', '-f', containerID.replace('docker://', '')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  p.stdout.on('data', (d: Buffer) => (text += d.toString()));
  p.stderr.on('data', (d: Buffer) => (text += d.toString()));
  return { text: () => text, stop: () => p.kill() };
};
const running = (name: string) =>
  waitFor(`${name} Running`, async () => {
    const p = await read(name);
    return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running ? p : undefined;
  }, 60_000);

describe('lifecycle hooks on a splitlet node', () => {
  let stopNode: (() => Promise<void>) | undefined;
  let server: http.Server;
  let port = 0;
  const hits: Array<{ path: string; agent: string; at: number }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push({ path: req.url ?? '', agent: req.headers['user-agent'] ?? '', at: Date.now() });
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    // The shipped resync (a minute): a status must come from the syncs the kubelet would make, not from a fast resync.
    ({ core, stop: stopNode } = await startPodTestNode(names, { env: { SPLITLET_POD_RESYNC_MS: '60000' } }));
  });
  afterAll(async () => {
    await stopNode?.();
    await new Promise((r) => server.close(r));
  });

  it('pod-sync - postStart exec runs in the container before it counts as running; httpGet reaches its host', async () => {
    await core.createNamespacedPod({
      namespace,
      body: podOf('post', {
        command: ['sh', '-c', 'while [ ! -f /tmp/hook ]; do sleep 0.1; done; echo "hook said: $(cat /tmp/hook)"; sleep 3600'],
        lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo from-post-start > /tmp/hook'] } } },
      }),
    });
    const pod = await running('post');
    const cid = pod.status!.containerStatuses![0]!.containerID!;
    await waitFor('the hook output in the logs', async () => ((await logsOf(cid)).includes('hook said: from-post-start') ? true : undefined), 20_000);
    expect(pod.status!.containerStatuses![0]!.restartCount).toBe(0);

    await core.createNamespacedPod({
      namespace,
      body: podOf('post-http', { command: ['sleep', '3600'], lifecycle: { postStart: { httpGet: { host: '127.0.0.1', port: port, path: '/post-start' } } } }),
    });
    await running('post-http');
    expect(hits.find((h) => h.path === '/post-start')?.agent).toMatch(/^kube-lifecycle\//);
  });

  it('pod-sync - a failing postStart: FailedPostStartHook with the kubelet\'s message, the container killed and restarted', async () => {
    await core.createNamespacedPod({
      namespace,
      body: podOf('post-fail', { command: ['sleep', '3600'], lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo nope >&2; exit 3'] } } } }, 2),
    });
    const failed = await waitFor('FailedPostStartHook', async () => (await eventsOf('post-fail', 'FailedPostStartHook'))[0], 60_000);
    expect(failed).toMatchObject({ type: 'Warning', involvedObject: { fieldPath: 'spec.containers{app}' } });
    // The kubelet (1.36) keeps the hook's output out of the Event, where a secret could leak.
    expect(failed.message).toBe('PostStartHook failed');
    const killing = await waitFor('Killing', async () => (await eventsOf('post-fail', 'Killing'))[0], 30_000);
    expect(killing.message).toBe('FailedPostStartHook');
    const pod = await waitFor('a restart', async () => {
      const p = await read('post-fail');
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
    }, 60_000);
    expect(pod.status?.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
    // The second failure meets the back-off, and the status says so inside it (the
    // kubelet's PLEG sees that instance start, then die: two syncs), not
    // PostStartHookError until the restart 10 s later.
    const backedOff = await waitFor('CrashLoopBackOff', async () => {
      const p = await read('post-fail');
      const s = p.status?.containerStatuses?.[0];
      return s?.state?.waiting?.reason === 'CrashLoopBackOff' || (s?.restartCount ?? 0) >= 2 ? s : undefined;
    }, 60_000);
    expect(backedOff).toMatchObject({ restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } });
  });

  it('pod-sync - a pod deleted while its postStart hook runs is not held by the hook: its termination starts at once', async () => {
    // The hook would run up to the grace period (120 s); the deletion asks for 2 s.
    await core.createNamespacedPod({ namespace, body: podOf('post-slow', { command: ['sleep', '3600'], lifecycle: { postStart: { exec: { command: ['sleep', '600'] } } } }, 120) });
    await waitFor('Started', async () => (await eventsOf('post-slow', 'Started'))[0], 60_000);
    const deletedAt = Date.now();
    await core.deleteNamespacedPod({ namespace, name: 'post-slow', gracePeriodSeconds: 2 });
    await waitFor('post-slow gone', async () => ((await kubectl(lab.adminKubeconfig, ['get', 'pod', '-n', namespace, 'post-slow'])).code !== 0 ? true : undefined), 110_000);
    // As the kubelet's pod worker cancels the sync in flight: gone in its 2 s grace and
    // the node's round trips, not after the hook's 120 s.
    expect(Date.now() - deletedAt).toBeLessThan(60_000);
    const killing = await waitFor('Killing', async () => (await eventsOf('post-slow', 'Killing'))[0], 10_000);
    expect(killing.message).toBe('Stopping container app');
  });

  it('pod-sync - deletion runs preStop (exec and httpGet) before the stop signal; a failing one is FailedPreStopHook and the stop goes on', async () => {
    await core.createNamespacedPod({
      namespace,
      body: podOf('pre', {
        command: ['sh', '-c', 'trap "echo got-TERM; exit 0" TERM; while true; do sleep 0.2; done'],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop-ran > /proc/1/fd/1; sleep 2'] } } },
      }),
    });
    await core.createNamespacedPod({
      namespace,
      body: podOf('pre-http', { command: ['sleep', '3600'], lifecycle: { preStop: { httpGet: { host: '127.0.0.1', port: port, path: '/pre-stop' } } } }, 3),
    });
    await core.createNamespacedPod({
      namespace,
      body: podOf('pre-fail', { command: ['sleep', '3600'], lifecycle: { preStop: { exec: { command: ['/no/such/binary'] } } } }, 3),
    });
    const cid = (await running('pre')).status!.containerStatuses![0]!.containerID!;
    await running('pre-http');
    await running('pre-fail');
    const log = followLogs(cid);
    await core.deleteNamespacedPod({ namespace, name: 'pre' });
    await core.deleteNamespacedPod({ namespace, name: 'pre-http' });
    await core.deleteNamespacedPod({ namespace, name: 'pre-fail' });
    // preStop first (its output while the container still runs), then TERM.
    const logs = await waitFor('preStop then TERM in the logs', async () => (/prestop-ran[\s\S]*got-TERM/.test(log.text()) ? log.text() : undefined), 30_000).finally(log.stop);
    expect(logs.indexOf('prestop-ran')).toBeLessThan(logs.indexOf('got-TERM'));
    await waitFor('the preStop GET', async () => (hits.some((h) => h.path === '/pre-stop') ? true : undefined), 30_000);
    const failed = await waitFor('FailedPreStopHook', async () => (await eventsOf('pre-fail', 'FailedPreStopHook'))[0], 30_000);
    expect(failed.message).toBe('PreStopHook failed');
    for (const name of ['pre', 'pre-http', 'pre-fail'])
      await waitFor(`${name} gone`, async () => ((await kubectl(lab.adminKubeconfig, ['get', 'pod', '-n', namespace, name])).code !== 0 ? true : undefined), 60_000);
  });

  it('pod-sync - deletion stops the app container first (its preStop still reaches the sidecar), then the sidecars in reverse order', async () => {
    // Each container writes what happened to a host directory the test reads (the
    // containers are removed with the pod).
    const dir = mkdtempSync(join(tmpdir(), 'splitlet-e2e-sidecars-'));
    const events = join(dir, 'events');
    const onTerm = (who: string) => `trap 'echo ${who}-TERM >> /log/events; exit 0' TERM; while true; do sleep 0.2; done`;
    const body: V1Pod = {
      metadata: { name: 'sidecars', namespace },
      spec: {
        nodeName,
        terminationGracePeriodSeconds: 20,
        volumes: [{ name: 'log', hostPath: { path: dir, type: 'Directory' } }],
        initContainers: [
          {
            name: 'proxy',
            image: 'splitlet-lab/testbox:1',
            restartPolicy: 'Always',
            command: ['sh', '-c', `trap 'echo proxy-TERM >> /log/events; exit 0' TERM; mkdir -p /tmp/www; echo pong > /tmp/www/ping; httpd -f -p 8080 -h /tmp/www & wait`],
            volumeMounts: [{ name: 'log', mountPath: '/log' }],
          },
          { name: 'logger', image: 'splitlet-lab/testbox:1', restartPolicy: 'Always', command: ['sh', '-c', onTerm('logger')], volumeMounts: [{ name: 'log', mountPath: '/log' }] },
        ],
        containers: [
          {
            name: 'app',
            image: 'splitlet-lab/testbox:1',
            command: ['sh', '-c', onTerm('app')],
            volumeMounts: [{ name: 'log', mountPath: '/log' }],
            // Through the sidecar, after a moment: a sidecar stopped at once is gone by then.
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 2; wget -qO- http://127.0.0.1:8080/ping >> /log/events || echo prestop-failed >> /log/events'] } } },
          },
        ],
      },
    };
    await core.createNamespacedPod({ namespace, body });
    await waitFor('sidecars Running with all three containers', async () => {
      const p = await read('sidecars');
      const all = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
      return all.length === 3 && all.every((c) => c.state?.running) ? p : undefined;
    }, 60_000);
    await core.deleteNamespacedPod({ namespace, name: 'sidecars' });
    await waitFor('sidecars gone', async () => ((await kubectl(lab.adminKubeconfig, ['get', 'pod', '-n', namespace, 'sidecars'])).code !== 0 ? true : undefined), 60_000);
    expect(readFileSync(events, 'utf8')).toBe('pong\napp-TERM\nlogger-TERM\nproxy-TERM\n');
  });

  it('pod-sync - a finished pod\'s sidecar gets a graceful stop (its preStop, then TERM), not a SIGKILL with the sandbox', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'splitlet-e2e-finished-'));
    const log = { name: 'log', mountPath: '/log' };
    const body: V1Pod = {
      metadata: { name: 'finished', namespace },
      spec: {
        nodeName,
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 20,
        volumes: [{ name: 'log', hostPath: { path: dir, type: 'Directory' } }],
        initContainers: [
          {
            name: 'side',
            image: 'splitlet-lab/testbox:1',
            restartPolicy: 'Always',
            command: ['sh', '-c', `trap 'echo side-TERM >> /log/events; exit 0' TERM; while true; do sleep 0.2; done`],
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo side-preStop >> /log/events'] } } },
            volumeMounts: [log],
          },
        ],
        containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'sleep 1; echo app-done >> /log/events'], volumeMounts: [log] }],
      },
    };
    await core.createNamespacedPod({ namespace, body });
    await waitFor('finished Succeeded with its sidecar stopped', async () => {
      const p = await read('finished');
      return p.status?.phase === 'Succeeded' && p.status.initContainerStatuses?.[0]?.state?.terminated ? p : undefined;
    }, 60_000);
    expect(readFileSync(join(dir, 'events'), 'utf8')).toBe('app-done\nside-preStop\nside-TERM\n');
  });
});
