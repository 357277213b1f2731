import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsConnection } from '@nats-io/transport-node';
import { createRpcClient, isNoResponders, isRemoteError, ResponderLostError, RPC_STALL_MS, type RemoteError, type ServiceClient } from '@splitlet/bus';
import { ContainerState, ImageService, PidNamespace, PodSandboxState, RuntimeService } from '@splitlet/contracts';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ContainerConfigSchema, CreateContainerRequestSchema, PodSandboxConfigSchema } from '@splitlet/contracts';
import { connectToLabBus, labBusEnv, removeLabNodeCreds, runCommand, startServiceProcess, type ServiceProcess, waitFor } from '@splitlet/testing';

// runtime-executor against the lab's real Docker and NATS: what each CRI-shaped call
// makes Docker run, read back with `docker inspect`. Several nodes share the one
// Docker engine, so everything is scoped by the node's label.
const nodeName = `e2e-rx-${randomBytes(3).toString('hex')}`;
const otherNode = `${nodeName}-b`;
const TESTBOX = 'splitlet-lab/testbox:1';
const PAUSE = 'splitlet-lab/pause:1';

type Runtime = ServiceClient<typeof RuntimeService>;
type SandboxConfigInit = MessageInitShape<typeof PodSandboxConfigSchema>;
type ContainerRequestInit = MessageInitShape<typeof CreateContainerRequestSchema>;
/** A container's config as a plain object, without the message's own fields. */
type ContainerConfigInit = Omit<Exclude<MessageInitShape<typeof ContainerConfigSchema>, { $typeName: string }>, '$typeName'>;

async function docker(...args: string[]): Promise<string> {
  const r = await runCommand('docker', args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Inspected {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; Error: string };
  Config: { Image: string; Hostname: string; User: string; StopSignal?: string; Labels: Record<string, string>; Entrypoint: string[] | null; Cmd: string[] | null };
  HostConfig: { NetworkMode: string; IpcMode: string; PortBindings: Record<string, { HostIp: string; HostPort: string }[]> | null };
  NetworkSettings: { IPAddress: string };
}

async function inspect(id: string): Promise<Inspected> {
  const [info] = JSON.parse(await docker('inspect', id)) as Inspected[];
  return info!;
}

/** Docker's containers labelled for a node, running or not. */
async function nodeContainers(node: string): Promise<string[]> {
  return (await docker('ps', '-aq', '--no-trunc', '--filter', `label=splitlet.node=${node}`)).split('\n').filter(Boolean);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function remoteError(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isRemoteError(err)) throw new Error(`expected a RemoteError, got ${String(err)}`);
  return err;
}

async function startExecutor(node: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const p = startServiceProcess('runtime-executor', { SPLITLET_NODE_NAME: node, ...(await labBusEnv(node, 'runtime-executor')), SPLITLET_PAUSE_IMAGE: PAUSE, ...env });
  await p.waitForLog((l) => l['msg'] === 'started', 30_000);
  return p;
}

describe('runtime-executor against Docker', () => {
  const procs: ServiceProcess[] = [];
  let nc: NatsConnection;
  let otherNc: NatsConnection;
  let rt: Runtime;
  let images: ServiceClient<typeof ImageService>;
  let other: Runtime;

  const uid = randomUUID();
  const hostPort = { value: 0 };
  let sandboxId = '';
  let sandboxIp = '';
  let boxId = '';

  const sandboxConfig = (): SandboxConfigInit => ({
    metadata: { name: 'web', namespace: 'e2e-rx', uid, attempt: 0 },
    hostname: 'rx-web',
    dnsConfig: { servers: ['10.96.0.10'], searches: ['e2e-rx.svc.cluster.local'], options: ['ndots:5'] },
    portMappings: [{ containerPort: 8080, hostPort: hostPort.value, hostIp: '127.0.0.1' }],
    labels: { app: 'web' },
    annotations: { 'example.com/note': 'kept' },
    hostAliases: [{ ip: '10.1.2.3', hostnames: ['alias.example'] }],
  });

  const containerRequest = (name: string, config: ContainerConfigInit = {}, attempt = 0): ContainerRequestInit => ({
    podSandboxId: sandboxId,
    config: { metadata: { name, attempt }, image: TESTBOX, ...config },
    sandboxConfig: sandboxConfig(),
  });

  const exec = (id: string, cmd: string[], timeout = 0n) => rt.execSync({ containerId: id, cmd, timeout }, { timeoutMs: 20_000 });
  const text = (b: Uint8Array) => Buffer.from(b).toString();

  beforeAll(async () => {
    hostPort.value = await freePort();
    procs.push(await startExecutor(nodeName), await startExecutor(otherNode));
    // As each node's pod-sync: the one caller of the mutating RPCs, and of its own node only.
    nc = await connectToLabBus(nodeName, 'pod-sync');
    otherNc = await connectToLabBus(otherNode, 'pod-sync');
    rt = createRpcClient(nc, nodeName, RuntimeService, { timeoutMs: 30_000 });
    images = createRpcClient(nc, nodeName, ImageService, { timeoutMs: 30_000 });
    other = createRpcClient(otherNc, otherNode, RuntimeService, { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    for (const node of [nodeName, otherNode]) {
      const ids = await nodeContainers(node).catch(() => []);
      if (ids.length) await runCommand('docker', ['rm', '-f', '-v', ...ids]);
    }
    procs.forEach((p) => p.kill());
    await Promise.all(procs.map((p) => p.exited));
    await nc?.close();
    await otherNc?.close();
    await Promise.all([nodeName, otherNode, `${nodeName}-down`].map(removeLabNodeCreds));
  });

  it('RunPodSandbox - runs the pause image on the bridge with the pod\'s labels, IPC shareable and its host port published', async () => {
    sandboxId = (await rt.runPodSandbox({ config: sandboxConfig() })).podSandboxId;
    const d = await inspect(sandboxId);
    expect(d.Name).toBe(`/k8s_POD_web_e2e-rx_${uid}_0`);
    expect(d.State.Running).toBe(true);
    expect(d.Config.Image).toBe(PAUSE);
    expect(d.Config.Hostname).toBe('rx-web');
    expect(d.Config.Labels).toMatchObject({
      'splitlet.node': nodeName,
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.pod.namespace': 'e2e-rx',
      'io.kubernetes.pod.uid': uid,
      'io.kubernetes.container.name': 'POD',
      'io.kubernetes.docker.type': 'podsandbox',
      app: 'web',
      'annotation.example.com/note': 'kept',
    });
    expect(d.HostConfig.NetworkMode).toBe('bridge');
    expect(d.HostConfig.IpcMode).toBe('shareable');
    expect(d.HostConfig.PortBindings).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort.value) }] });
    expect(d.NetworkSettings.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    sandboxIp = d.NetworkSettings.IPAddress;
  });

  it('PodSandboxStatus - ready, with the bridge IP as the pod IP, the labels and the annotations', async () => {
    const { status } = await rt.podSandboxStatus({ podSandboxId: sandboxId });
    expect(status).toMatchObject({
      id: sandboxId,
      metadata: { name: 'web', namespace: 'e2e-rx', uid, attempt: 0 },
      state: PodSandboxState.READY,
      network: { ip: sandboxIp },
      annotations: { 'example.com/note': 'kept' },
      hostNetwork: false,
    });
    expect(status?.labels).toMatchObject({ app: 'web', 'io.kubernetes.pod.uid': uid });
    expect(status?.labels['splitlet.node']).toBeUndefined();
    expect(status?.createdAt).toBeGreaterThan(0n);
  });

  it('RunPodSandbox - the same pod UID and attempt again returns the same sandbox, and Docker holds one', async () => {
    expect((await rt.runPodSandbox({ config: sandboxConfig() })).podSandboxId).toBe(sandboxId);
    expect(await nodeContainers(nodeName)).toEqual([sandboxId]);
  });

  it('CreateContainer - a testbox joins the sandbox\'s network and IPC; created twice it is one container', async () => {
    const req = containerRequest('box', {
      command: ['sh', '-c'],
      args: ['echo hello; sleep 3600'],
      envs: [{ key: 'GREETING', value: 'hi there' }],
      labels: { tier: 'front' },
      annotations: { 'io.kubernetes.container.restartCount': '0' },
    });
    boxId = (await rt.createContainer(req)).containerId;
    expect((await rt.createContainer(req)).containerId).toBe(boxId);
    const d = await inspect(boxId);
    expect(d.Name).toBe(`/k8s_box_web_e2e-rx_${uid}_0`);
    expect(d.State.Status).toBe('created');
    expect(d.Config.Entrypoint).toEqual(['sh', '-c']);
    expect(d.Config.Cmd).toEqual(['echo hello; sleep 3600']);
    expect(d.HostConfig.NetworkMode).toBe(`container:${sandboxId}`);
    expect(d.HostConfig.IpcMode).toBe(`container:${sandboxId}`);
    expect(d.Config.Labels).toMatchObject({
      'splitlet.node': nodeName,
      'io.kubernetes.docker.type': 'container',
      'io.kubernetes.sandbox.id': sandboxId,
      'io.kubernetes.container.name': 'box',
      'io.kubernetes.pod.uid': uid,
      tier: 'front',
      'annotation.io.kubernetes.container.restartCount': '0',
    });
    expect((await nodeContainers(nodeName)).sort()).toEqual([sandboxId, boxId].sort());
  });

  it('StartContainer - the container runs; ContainerStatus says running with its start time', async () => {
    await rt.startContainer({ containerId: boxId });
    expect((await inspect(boxId)).State.Running).toBe(true);
    const { status } = await rt.containerStatus({ containerId: boxId });
    expect(status).toMatchObject({
      id: boxId,
      metadata: { name: 'box', attempt: 0 },
      state: ContainerState.RUNNING,
      image: TESTBOX,
      imageRef: expect.stringMatching(/^docker:\/\/sha256:[0-9a-f]{64}$/),
      podSandboxId: sandboxId,
      labels: { tier: 'front' },
      annotations: { 'io.kubernetes.container.restartCount': '0' },
    });
    expect(status?.startedAt).toBeGreaterThanOrEqual(status!.createdAt);
    expect(status?.finishedAt).toBe(0n);
    const logs = await runCommand('docker', ['logs', boxId]);
    expect(logs.stdout).toBe('hello\n');
  });

  it('CreateContainer - PID_NAMESPACE_TARGET joins a running container of the same sandbox; another pod\'s container is refused (5) and nothing is created', async () => {
    const joined = (await rt.createContainer(containerRequest('peek', { command: ['sleep', '3600'], securityContext: { pidNamespace: PidNamespace.TARGET, pidTargetId: boxId } }))).containerId;
    expect((await docker('inspect', '-f', '{{.HostConfig.PidMode}}', joined)).trim()).toBe(`container:${boxId}`);
    await docker('rm', '-f', joined);

    const otherUid = randomUUID();
    const { podSandboxId: intruderSandbox } = await rt.runPodSandbox({ config: { metadata: { name: 'intruder', namespace: 'e2e-rx', uid: otherUid, attempt: 0 }, hostname: 'intruder' } });
    const before = await nodeContainers(nodeName);
    const err = await remoteError(
      rt.createContainer({
        podSandboxId: intruderSandbox,
        config: { metadata: { name: 'snoop', attempt: 0 }, image: TESTBOX, securityContext: { pidNamespace: PidNamespace.TARGET, pidTargetId: boxId } },
        sandboxConfig: { metadata: { name: 'intruder', namespace: 'e2e-rx', uid: otherUid, attempt: 0 } },
      }),
    );
    expect(err.code).toBe(5);
    expect(err.description).toBe(`target container ${JSON.stringify(boxId)} is not a container of pod sandbox ${intruderSandbox}`);
    expect(await nodeContainers(nodeName)).toEqual(before);
    await rt.stopPodSandbox({ podSandboxId: intruderSandbox });
    await rt.removePodSandbox({ podSandboxId: intruderSandbox });
  });

  it('ExecSync - the container sees the sandbox\'s IP, the pod host name, the DNS config and the host aliases', async () => {
    expect(text((await exec(boxId, ['ip', '-4', 'addr', 'show', 'eth0'])).stdout)).toContain(`inet ${sandboxIp}/`);
    expect(text((await exec(boxId, ['hostname'])).stdout).trim()).toBe('rx-web');
    const resolv = text((await exec(boxId, ['cat', '/etc/resolv.conf'])).stdout);
    expect(resolv).toMatch(/^nameserver 10\.96\.0\.10$/m);
    expect(resolv).toMatch(/^search e2e-rx\.svc\.cluster\.local$/m);
    expect(resolv).toMatch(/^options ndots:5$/m);
    expect(text((await exec(boxId, ['cat', '/etc/hosts'])).stdout)).toMatch(/^10\.1\.2\.3\s+alias\.example$/m);
    expect(text((await exec(boxId, ['sh', '-c', 'echo "$GREETING"'])).stdout)).toBe('hi there\n');
  });

  it('ExecSync - stdout and stderr apart, with the command\'s exit code', async () => {
    const r = await exec(boxId, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(text(r.stdout)).toBe('out\n');
    expect(text(r.stderr)).toBe('err\n');
    expect(r.exitCode).toBe(3);
  });

  it('ExecSync - a command past its timeout answers 4 (DeadlineExceeded) on time, and the executor keeps serving', async () => {
    const started = Date.now();
    const err = await remoteError(exec(boxId, ['sleep', '30'], 1n));
    expect(err.code).toBe(4);
    expect(err.description).toBe('command timed out after 1s');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await exec(boxId, ['true'])).exitCode).toBe(0);
  });

  it('RunPodSandbox - the host port reaches a server in the pod from the host, as does the pod IP', async () => {
    const web = (await rt.createContainer(containerRequest('httpd', { command: ['sh', '-c', 'echo pong > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'] }))).containerId;
    await rt.startContainer({ containerId: web });
    const body = await waitFor('the host port to answer', async () => (await fetch(`http://127.0.0.1:${hostPort.value}/index.html`)).text());
    expect(body).toBe('pong\n');
    expect(await (await fetch(`http://${sandboxIp}:8080/index.html`)).text()).toBe('pong\n');
  });

  it('StopContainer - stops with the timeout; ContainerStatus says exited, Error, 137', async () => {
    // sh as PID 1 ignores SIGTERM: Docker kills it after the 1 s timeout.
    await rt.stopContainer({ containerId: boxId, timeout: 1n });
    const d = await inspect(boxId);
    expect(d.State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    const { status } = await rt.containerStatus({ containerId: boxId });
    expect(status).toMatchObject({ state: ContainerState.EXITED, exitCode: 137, reason: 'Error' });
    expect(status?.finishedAt).toBeGreaterThan(status!.startedAt);
    await rt.stopContainer({ containerId: boxId, timeout: 1n });
  });

  it('StopContainer - honours the container\'s stop signal rather than waiting out the timeout', async () => {
    const id = (await rt.createContainer(containerRequest('stopsig', { command: ['sleep', '3600'], stopSignal: 'SIGKILL' }))).containerId;
    expect((await inspect(id)).Config.StopSignal).toBe('SIGKILL');
    await rt.startContainer({ containerId: id });
    const started = Date.now();
    await rt.stopContainer({ containerId: id, timeout: 30n });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await inspect(id)).State).toMatchObject({ Status: 'exited', ExitCode: 137 });
  });

  it('ContainerStatus - a command that exits 0 is exited with reason Completed', async () => {
    const id = (await rt.createContainer(containerRequest('once', { command: ['true'] }))).containerId;
    await rt.startContainer({ containerId: id });
    const status = await waitFor('the container to exit', async () => {
      const { status: s } = await rt.containerStatus({ containerId: id });
      return s?.state === ContainerState.EXITED ? s : undefined;
    });
    expect(status).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('StartContainer - a command not in the image answers 13 with Docker\'s message; the status shows it exited with that message', async () => {
    const id = (await rt.createContainer(containerRequest('broken', { command: ['no-such-binary'] }))).containerId;
    const err = await remoteError(rt.startContainer({ containerId: id }));
    expect(err.code).toBe(13);
    expect(err.description).toMatch(/exec: "no-such-binary": executable file not found in \$PATH/);
    const d = await inspect(id);
    expect(d.State.Error).toBe(err.description);
    const { status } = await rt.containerStatus({ containerId: id });
    expect(status).toMatchObject({ state: ContainerState.EXITED, message: err.description, reason: 'StartError' });
    expect(status?.exitCode).not.toBe(0);
  });

  it('CreateContainer - an image Docker does not hold answers 5 (NotFound) with Docker\'s message, and creates nothing', async () => {
    const before = await nodeContainers(nodeName);
    const err = await remoteError(rt.createContainer(containerRequest('ghost', { image: 'splitlet-lab/no-such-image:1' })));
    expect(err.code).toBe(5);
    expect(err.description).toBe('No such image: splitlet-lab/no-such-image:1');
    expect(await nodeContainers(nodeName)).toEqual(before);
  });

  it('CreateContainer - runAsNonRoot with an image that runs as root is refused (9); with runAsUser it runs as that user', async () => {
    const before = await nodeContainers(nodeName);
    const err = await remoteError(rt.createContainer(containerRequest('nonroot', { securityContext: { runAsNonRoot: true } })));
    expect(err.code).toBe(9);
    expect(err.description).toMatch(/^container has runAsNonRoot and image will run as root/);
    expect(await nodeContainers(nodeName)).toEqual(before);

    const id = (
      await rt.createContainer(
        containerRequest('asuser', {
          command: ['sleep', '3600'],
          securityContext: { runAsNonRoot: true, runAsUser: 1000n, runAsGroup: 1000n, supplementalGroups: [65534n], readonlyRootfs: true, noNewPrivs: true, capabilities: { dropCapabilities: ['ALL'] } },
          resources: { cpuShares: 512n, cpuQuota: 50_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 64n * 1024n * 1024n },
        }),
      )
    ).containerId;
    await rt.startContainer({ containerId: id });
    expect(text((await exec(id, ['id'])).stdout).trim()).toMatch(/^uid=1000\(user\) gid=1000\(user\) groups=.*\b65534\(nogroup\)/);
    const hc = JSON.parse(await docker('inspect', '-f', '{{json .HostConfig}}', id)) as Record<string, unknown>;
    expect(hc).toMatchObject({ ReadonlyRootfs: true, SecurityOpt: ['no-new-privileges'], CapDrop: ['ALL'], CpuShares: 512, CpuQuota: 50_000, CpuPeriod: 100_000, Memory: 67_108_864 });
  });

  it('ListContainers - this node\'s containers, filtered by state, sandbox and labels; another node sees none', async () => {
    const all = (await rt.listContainers({})).containers;
    expect(all.map((c) => c.id)).toContain(boxId);
    expect(all.map((c) => c.id)).not.toContain(sandboxId);
    expect(all.every((c) => c.podSandboxId === sandboxId)).toBe(true);
    const running = (await rt.listContainers({ filter: { state: ContainerState.RUNNING } })).containers.map((c) => c.metadata?.name).sort();
    expect(running).toEqual(['asuser', 'httpd']);
    expect((await rt.listContainers({ filter: { labelSelector: { tier: 'front' } } })).containers.map((c) => c.id)).toEqual([boxId]);
    expect((await rt.listContainers({ filter: { id: boxId.slice(0, 12) } })).containers.map((c) => c.id)).toEqual([boxId]);
    expect((await rt.listContainers({ filter: { podSandboxId: 'not-this-one' } })).containers).toEqual([]);

    expect((await other.listContainers({})).containers).toEqual([]);
    expect((await other.listPodSandbox({})).items).toEqual([]);
    expect((await remoteError(other.containerStatus({ containerId: boxId }))).code).toBe(5);
    // Another node's executor does not touch this node's container.
    await other.removeContainer({ containerId: boxId });
    expect((await inspect(boxId)).Id).toBe(boxId);
  });

  it('ListPodSandbox - this node\'s sandbox, by label and state', async () => {
    expect((await rt.listPodSandbox({})).items.map((s) => s.id)).toEqual([sandboxId]);
    expect((await rt.listPodSandbox({ filter: { labelSelector: { app: 'web' }, state: PodSandboxState.READY } })).items.map((s) => s.id)).toEqual([sandboxId]);
    expect((await rt.listPodSandbox({ filter: { labelSelector: { app: 'db' } } })).items).toEqual([]);
  });

  it('ImageStatus - a present image with its ID, tags and size; an absent one unset', async () => {
    const { image } = await images.imageStatus({ image: { image: TESTBOX } });
    // What Docker holds for the image: any user may have given it more tags.
    const [inspected] = JSON.parse(await docker('image', 'inspect', TESTBOX)) as { Id: string; RepoTags: string[]; RepoDigests: string[] }[];
    expect(image?.id).toBe(inspected!.Id);
    expect(image?.repoTags).toContain(TESTBOX);
    expect([...(image?.repoTags ?? [])].sort()).toEqual([...inspected!.RepoTags].sort());
    expect([...(image?.repoDigests ?? [])].sort()).toEqual([...inspected!.RepoDigests].sort());
    expect(image?.size).toBeGreaterThan(0n);
    expect((await images.imageStatus({ image: { image: 'splitlet-lab/no-such-image:1' } })).image).toBeUndefined();
  });

  it('PullImage - a registry that cannot be reached answers 14 with Docker\'s message', async () => {
    const err = await remoteError(images.pullImage({ image: { image: '127.0.0.1:1/nothing/here:1' }, auth: { username: 'u', password: 'p' } }));
    expect(err.code).toBe(14);
    expect(err.description).toMatch(/127\.0\.0\.1:1.*connection refused/);
  });

  it('StopPodSandbox - stops the sandbox and every container in it; the sandbox is then not ready', async () => {
    await rt.stopPodSandbox({ podSandboxId: sandboxId });
    for (const id of await nodeContainers(nodeName)) expect((await inspect(id)).State.Running, id).toBe(false);
    expect((await rt.podSandboxStatus({ podSandboxId: sandboxId })).status?.state).toBe(PodSandboxState.NOTREADY_UNSPECIFIED);
    await rt.stopPodSandbox({ podSandboxId: sandboxId });
  });

  it('RemovePodSandbox - leaves nothing of the pod in Docker; removing again is fine', async () => {
    await rt.removePodSandbox({ podSandboxId: sandboxId });
    expect(await nodeContainers(nodeName)).toEqual([]);
    await rt.removePodSandbox({ podSandboxId: sandboxId });
    await rt.removeContainer({ containerId: boxId });
    await rt.stopContainer({ containerId: boxId, timeout: 0n });
    expect((await remoteError(rt.podSandboxStatus({ podSandboxId: sandboxId }))).code).toBe(5);
  });

  it('RunPodSandbox - hostNetwork: the sandbox and its containers use the host\'s network; no pod IP of its own', async () => {
    const cfg: SandboxConfigInit = { metadata: { name: 'hostnet', namespace: 'e2e-rx', uid: randomUUID(), attempt: 1 }, hostNetwork: true, hostname: 'ignored' };
    const id = (await rt.runPodSandbox({ config: cfg })).podSandboxId;
    expect((await inspect(id)).HostConfig.NetworkMode).toBe('host');
    const { status } = await rt.podSandboxStatus({ podSandboxId: id });
    expect(status).toMatchObject({ hostNetwork: true, network: { ip: '' }, state: PodSandboxState.READY, metadata: { attempt: 1 } });
    const req: ContainerRequestInit = { podSandboxId: id, config: { metadata: { name: 'c', attempt: 0 }, image: TESTBOX, command: ['sleep', '3600'] } };
    const c = (await rt.createContainer(req)).containerId;
    const d = await inspect(c);
    expect(d.HostConfig.NetworkMode).toBe('host');
    expect(d.HostConfig.IpcMode).toBe(`container:${id}`);
    await rt.removePodSandbox({ podSandboxId: id });
    expect(await nodeContainers(nodeName)).toEqual([]);
  });

  it('hostile ids and references - each RPC answers 3 to "", "/", "..", "../../info", "%2F" and 4 KiB of "A"; the executor stays up and Docker keeps the node\'s containers', async () => {
    const before = await nodeContainers(nodeName);
    const hostile = ['', '/', '..', '../../info', '%2F', 'A'.repeat(4096)];
    const calls: Record<string, (bad: string) => Promise<unknown>> = {
      StopPodSandbox: (bad) => rt.stopPodSandbox({ podSandboxId: bad }),
      RemovePodSandbox: (bad) => rt.removePodSandbox({ podSandboxId: bad }),
      PodSandboxStatus: (bad) => rt.podSandboxStatus({ podSandboxId: bad }),
      CreateContainer: (bad) => rt.createContainer({ podSandboxId: bad, config: { metadata: { name: 'c', attempt: 0 }, image: TESTBOX } }),
      StartContainer: (bad) => rt.startContainer({ containerId: bad }),
      StopContainer: (bad) => rt.stopContainer({ containerId: bad, timeout: 0n }),
      RemoveContainer: (bad) => rt.removeContainer({ containerId: bad }),
      ContainerStatus: (bad) => rt.containerStatus({ containerId: bad }),
      ExecSync: (bad) => rt.execSync({ containerId: bad, cmd: ['true'] }),
      ContainerLogTail: (bad) => rt.containerLogTail({ containerId: bad, lines: 1, maxBytes: 100 }),
      PullImage: (bad) => images.pullImage({ image: { image: bad } }),
      ImageStatus: (bad) => images.imageStatus({ image: { image: bad } }),
    };
    const codes: Record<string, number[]> = {};
    for (const [rpc, call] of Object.entries(calls)) codes[rpc] = await Promise.all(hostile.map(async (bad) => (await remoteError(call(bad))).code));
    expect(codes).toEqual(Object.fromEntries(Object.keys(calls).map((rpc) => [rpc, hostile.map(() => 3)])));
    expect(procs[0]!.child.exitCode).toBeNull();
    // Still serving (pod-sync's identity may list, not ask the Version).
    await expect(rt.listContainers({})).resolves.toMatchObject({ containers: expect.any(Array) });
    expect(await nodeContainers(nodeName)).toEqual(before);
  });

  it('RuntimeService - with Docker unreachable, the container calls answer 14', async () => {
    const node = `${nodeName}-down`;
    procs.push(await startExecutor(node, { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }));
    const downNc = await connectToLabBus(node, 'pod-sync');
    try {
      const down = createRpcClient(downNc, node, RuntimeService, { timeoutMs: 10_000 });
      const err = await remoteError(down.listContainers({}));
      expect(err.code).toBe(14);
      expect(err.description).toMatch(/^docker: .*ENOENT/);
      expect((await remoteError(down.runPodSandbox({ config: { metadata: { name: 'x', namespace: 'y', uid: 'z' } } }))).code).toBe(14);
    } finally {
      await downNc.close();
    }
  });

  /**
   * The node's executor started anew: once its endpoints answer ('started' comes before
   * its parts serve their RPCs; a call in between is told "no responders").
   */
  async function restartExecutor(): Promise<void> {
    procs[0] = await startExecutor(nodeName);
    await waitFor('the new executor answering', () => rt.listPodSandbox({}).then(() => true, (err: unknown) => (isNoResponders(err) ? undefined : Promise.reject(err))), 10_000, 50);
  }

  /** A running container whose stop waits out its whole timeout: sleep as PID 1 ignores SIGTERM, Docker kills it after. */
  async function slowStopper(pod: string): Promise<string> {
    const config = { metadata: { name: pod, namespace: 'e2e-rx', uid: randomUUID(), attempt: 0 } };
    const { podSandboxId } = await rt.runPodSandbox({ config });
    const id = (await rt.createContainer({ podSandboxId, config: { metadata: { name: 'slowstop', attempt: 0 }, image: TESTBOX, command: ['sleep', '3600'] }, sandboxConfig: config })).containerId;
    await rt.startContainer({ containerId: id });
    return id;
  }

  it('SIGTERM while a call is in flight - the executor answers the call before it exits (a stop waiting out its 3 s timeout), and exits 0', async () => {
    const id = await slowStopper('slow');
    const executor = procs[0]!;
    const started = Date.now();
    const stopping = rt.stopContainer({ containerId: id, timeout: 3n }, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 500));
    executor.kill('SIGTERM');
    // Answered (not a timeout after 15 s), once Docker stopped the container.
    await expect(stopping).resolves.toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    expect((await inspect(id)).State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect(await executor.exited).toEqual({ code: 0, signal: null });
    expect(executor.logs.filter((l) => l['msg'] === 'stopping with requests unanswered')).toEqual([]);
    await restartExecutor();
  });

  it('SIGKILL while a call is in flight - the caller knows the executor is gone when its word stops (RPC_STALL_MS), not at its 30 s timeout; a live executor answers the call again', async () => {
    const id = await slowStopper('slowkill');
    const executor = procs[0]!;
    const started = Date.now();
    // A stop that takes 20 s in Docker (sleep as PID 1 ignores SIGTERM), asked with pod-sync's 30 s timeout.
    const stopping = rt.stopContainer({ containerId: id, timeout: 20n }, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 1_500));
    executor.kill('SIGKILL');
    const killedAt = Date.now();
    const err = await stopping;
    expect(err).toBeInstanceOf(ResponderLostError);
    expect(Date.now() - killedAt).toBeLessThan(RPC_STALL_MS + 2_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    await restartExecutor();
    // The call again, to the executor started anew: answered (Docker was stopping it all along).
    await expect(rt.stopContainer({ containerId: id, timeout: 1n }, { timeoutMs: 30_000 })).resolves.toBeDefined();
    expect((await inspect(id)).State).toMatchObject({ Status: 'exited' });
  });
});
