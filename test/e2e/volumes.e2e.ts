import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { kubectl, labEnv, mintNodeKubeconfig, requiredServices, runCommand, testNode, waitFor, type TestNode } from '@splitlet/testing';

// Volumes and configuration on a splitlet node, end to end: ConfigMaps, Secrets,
// downward API, projected service-account tokens, emptyDir, hostPath, subPath and
// env from objects — each checked by what the container itself printed (its
// `docker logs`), by the pod's status and Events as kubectl shows them, and by what
// is left on the host.
const lab = labEnv();
const suffix = randomBytes(3).toString('hex');
const nodeName = `e2e-volumes-${suffix}`;
const namespace = `e2e-volumes-${suffix}`;
const dataDir = '/var/lib/splitlet';
const hostDir = `/tmp/splitlet-e2e-volumes-${suffix}`;
const admin = new KubeConfig();
admin.loadFromFile(lab.adminKubeconfig);
const core = admin.makeApiClient(CoreV1Api);

const box = (name: string, script: string, extra: Partial<V1Container> = {}): V1Container => ({ name, image: 'splitlet-lab/testbox:1', command: ['sh', '-c', script], ...extra });
const podOf = (name: string, containers: V1Container[], extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, namespace, labels: { app: name } },
  spec: { nodeName, restartPolicy: 'Never', terminationGracePeriodSeconds: 1, containers, ...extra },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
// The i-th container of the spec: containerStatuses are by name, as the kubelet sorts them.
const idOf = (p: V1Pod, i = 0) => p.status!.containerStatuses!.find((c) => c.name === p.spec!.containers[i]!.name)!.containerID!.replace('docker://', '');
const logsOf = async (p: V1Pod, i = 0) => (await runCommand('docker', ['logs', idOf(p, i)])).stdout;
/** Waits for the pod's phase; on a timeout the error tells the pod's status and pod-sync's warnings. */
const phase = (name: string, want: string, timeoutMs = 60_000) =>
  waitFor(`${name} ${want}`, async () => {
    const p = await read(name);
    return p.status?.phase === want ? p : undefined;
  }, timeoutMs).catch(async (err: Error) => {
    const status = JSON.stringify((await read(name).catch(() => undefined))?.status);
    const events = (await eventsOf(name).catch(() => [])).map((e) => `${e.reason}: ${e.message}`).join(' | ');
    const warnings = (nodeRef.current?.procs['pod-sync']?.logs ?? []).filter((l) => Number(l['level']) >= 40).map((l) => JSON.stringify(l));
    throw new Error(`${err.message}\nstatus: ${status}\nevents: ${events}\npod-sync warnings:\n${warnings.slice(-10).join('\n')}`);
  });
const running = (name: string) => phase(name, 'Running');
/** The output of a container that prints its findings and exits 0. */
const finishedOutput = async (name: string, i = 0) => logsOf(await phase(name, 'Succeeded'), i);
const eventsOf = async (name: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
const waiting = (name: string, reason: string) =>
  waitFor(`${name} waiting ${reason}`, async () => {
    const p = await read(name);
    const w = p.status?.containerStatuses?.[0]?.state?.waiting;
    return w?.reason === reason ? p : undefined;
  }, 60_000);
const jwtClaims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown> & { 'kubernetes.io'?: { pod?: { name?: string; uid?: string } } };

const nodeRef: { current?: TestNode } = {};

describe('volumes and configuration on a splitlet node', () => {
  let node: TestNode;
  beforeAll(async () => {
    expect((await kubectl(lab.adminKubeconfig, ['create', 'namespace', namespace])).code).toBe(0);
    await waitFor('the default service account', () => core.readNamespacedServiceAccount({ namespace, name: 'default' }).catch(() => undefined), 30_000);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'cfg' }, data: { 'a.conf': 'alpha', 'b.conf': 'beta', GREETING: 'hello', '1st': 'y' } } });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'sec' }, stringData: { password: 's3cret', user: 'admin' } } });
    mkdirSync(hostDir, { recursive: true });
    node = testNode(nodeName, await mintNodeKubeconfig(nodeName), { SPLITLET_PAUSE_IMAGE: 'splitlet-lab/pause:1', SPLITLET_POD_RESYNC_MS: '2000', SPLITLET_OBJECT_CACHE_TTL_MS: '1000', SPLITLET_NODE_REQUIRED_SERVICES: requiredServices().join(',') });
    nodeRef.current = node;
    await Promise.all([node.start('runtime-executor'), node.start('status-reporter')]);
    await node.start('pod-sync');
    await node.start('registrar');
  });
  afterAll(async () => {
    // The pods go while the node still runs, so pod-sync unmounts and removes their volumes.
    const uids = (await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] as V1Pod[] }))).items.map((p) => p.metadata!.uid!);
    await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitFor('the pods\' volumes removed', async () => (uids.every((u) => !existsSync(`${dataDir}/pods/${u}`)) ? true : undefined), 30_000).catch(() => undefined);
    await kubectl(lab.adminKubeconfig, ['delete', 'namespace', namespace, '--wait=false']);
    await node?.stopAll();
    const left = (await runCommand('docker', ['ps', '-aq', '--filter', `label=splitlet.node=${nodeName}`])).stdout.split('\n').filter(Boolean);
    if (left.length) await runCommand('docker', ['rm', '-f', ...left]);
    await core.deleteNode({ name: nodeName }).catch(() => undefined);
    rmSync(hostDir, { recursive: true, force: true });
  });

  it('configMap and secret volumes - keys as files, items key→path, defaultMode and per-item mode, read-only; the secret on tmpfs; optional ones missing are empty', async () => {
    const body = podOf('files', [
      box('app', 'for f in /cfg/a.conf /cfg/b.conf /items/sub/x.txt /sec/password /sec/user; do echo "$f $(stat -L -c %a $f) $(cat $f)"; done; ls /items; grep " /sec " /proc/mounts | cut -d" " -f3; touch /cfg/new 2>/dev/null || echo read-only; ls /opt-secret /opt-cfg | grep -v : | grep -vc "^$"; true', {
        volumeMounts: [
          { name: 'opt-secret', mountPath: '/opt-secret' },
          { name: 'opt-cfg', mountPath: '/opt-cfg' },
          { name: 'cfg', mountPath: '/cfg' },
          { name: 'items', mountPath: '/items' },
          { name: 'sec', mountPath: '/sec' },
        ],
      }),
    ], {
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg', defaultMode: 0o640 } },
        { name: 'items', configMap: { name: 'cfg', items: [{ key: 'a.conf', path: 'sub/x.txt', mode: 0o600 }] } },
        { name: 'sec', secret: { secretName: 'sec', defaultMode: 0o400 } },
        { name: 'opt-secret', secret: { secretName: 'absent', optional: true } },
        { name: 'opt-cfg', configMap: { name: 'cfg', optional: true, items: [{ key: 'absent', path: 'x' }] } },
      ],
    });
    await core.createNamespacedPod({ namespace, body });
    expect(await finishedOutput('files')).toBe(
      ['/cfg/a.conf 640 alpha', '/cfg/b.conf 640 beta', '/items/sub/x.txt 600 alpha', '/sec/password 400 s3cret', '/sec/user 400 admin', 'sub', 'tmpfs', 'read-only', '0', ''].join('\n'),
    );
  });

  it('a non-root user - reads configMap and service-account files; with fsGroup a 0400 secret is the group\'s to read and an emptyDir the group\'s to write', async () => {
    const body = podOf('nonroot', [
      box('app', 'id -u; cat /cfg/a.conf; echo; head -c 3 /var/run/secrets/kubernetes.io/serviceaccount/token; echo; cat /sec/password; echo; stat -L -c "%a %g" /sec/password; touch /data/f && stat -c %g /data/f', {
        volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }, { name: 'sec', mountPath: '/sec' }, { name: 'data', mountPath: '/data' }],
      }),
    ], {
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
      volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }, { name: 'sec', secret: { secretName: 'sec', defaultMode: 0o400 } }, { name: 'data', emptyDir: {} }],
    });
    await core.createNamespacedPod({ namespace, body });
    expect(await finishedOutput('nonroot')).toBe('1000\nalpha\neyJ\ns3cret\n440 2000\n2000\n');
  });

  it('the service-account volume - token bound to the pod, ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount; none with automountServiceAccountToken false', async () => {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    await core.createNamespacedPod({ namespace, body: podOf('sa', [box('app', `cat ${sa}/namespace; echo; head -n 1 ${sa}/ca.crt; cat ${sa}/token`)]) });
    const out = (await finishedOutput('sa')).split('\n');
    expect(out[0]).toBe(namespace);
    expect(out[1]).toBe('-----BEGIN CERTIFICATE-----');
    const pod = await read('sa');
    expect(jwtClaims(out[2]!)['kubernetes.io']?.pod).toMatchObject({ name: 'sa', uid: pod.metadata!.uid });
    await core.createNamespacedPod({ namespace, body: podOf('nosa', [box('app', `ls ${sa} 2>&1 >/dev/null | grep -c 'No such file'`)], { automountServiceAccountToken: false }) });
    expect(await finishedOutput('nosa')).toBe('1\n');
  });

  it('projected volume - configMap, secret, downwardAPI and a serviceAccountToken with its audience and lifetime in one directory', async () => {
    const body = podOf('proj', [box('app', 'cat /p/conf; echo; cat /p/pw; echo; cat /p/name; echo; cat /p/token', { volumeMounts: [{ name: 'p', mountPath: '/p' }] })], {
      volumes: [
        {
          name: 'p',
          projected: {
            sources: [
              { configMap: { name: 'cfg', items: [{ key: 'b.conf', path: 'conf' }] } },
              { secret: { name: 'sec', items: [{ key: 'password', path: 'pw' }] } },
              { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
              { serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 600 } },
            ],
          },
        },
      ],
    });
    await core.createNamespacedPod({ namespace, body });
    const [conf, pw, name, token] = (await finishedOutput('proj')).split('\n');
    expect([conf, pw, name]).toEqual(['beta', 's3cret', 'proj']);
    const claims = jwtClaims(token!) as { aud: string[]; exp: number; iat: number; 'kubernetes.io'?: { pod?: { name?: string } } };
    expect(claims.aud).toEqual(['vault']);
    expect(claims.exp - claims.iat).toBe(600);
    expect(claims['kubernetes.io']?.pod?.name).toBe('proj');
  });

  it('updates propagate - a changed ConfigMap, Secret and changed labels reach the files within a minute; a subPath mount keeps what it had', async () => {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'live' }, data: { v: 'one' } } });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'live' }, stringData: { s: 'old' } } });
    const body = podOf('live', [
      box('app', 'while true; do echo "$(cat /live/v)|$(cat /sub)|$(cat /secret/s)|$(cat /info/labels | tr "\\n" ,)"; sleep 1; done', {
        volumeMounts: [
          { name: 'live', mountPath: '/live' },
          { name: 'secret', mountPath: '/secret' },
          { name: 'live', mountPath: '/sub', subPath: 'v' },
          { name: 'info', mountPath: '/info' },
        ],
      }),
    ], {
      volumes: [
        { name: 'live', configMap: { name: 'live' } },
        { name: 'secret', secret: { secretName: 'live' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      ],
    });
    await core.createNamespacedPod({ namespace, body });
    const pod = await running('live');
    await waitFor('first output', async () => ((await logsOf(pod)).includes('one|one|old|app="live"\n') ? true : undefined), 30_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; the container printed:\n${(await logsOf(pod)).slice(-300)}`);
    });
    await core.replaceNamespacedConfigMap({ namespace, name: 'live', body: { metadata: { name: 'live' }, data: { v: 'two' } } });
    await core.replaceNamespacedSecret({ namespace, name: 'live', body: { metadata: { name: 'live' }, stringData: { s: 'new' } } });
    await core.patchNamespacedPod({ namespace, name: 'live', body: [{ op: 'add', path: '/metadata/labels/tier', value: 'web' }] });
    const started = Date.now();
    await waitFor('the new values in the container', async () => ((await logsOf(pod)).includes('two|one|new|app="live",tier="web"\n') ? true : undefined), 60_000, 1000);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('mountPropagation - a mount made on the host under a volume reaches a HostToContainer mount, not a None one', async () => {
    // (Bidirectional needs a privileged container, which this lab's Docker cannot run;
    // its translation to rshared is unit-tested.)
    const look = 'until [ -d /s/m ]; do sleep 0.2; done; sleep 3; cat /s/m/f 2>/dev/null || echo not-seen; sleep 3600';
    const body = podOf('propagation', [
      box('slave', look, { volumeMounts: [{ name: 's', mountPath: '/s', mountPropagation: 'HostToContainer' }] }),
      box('private', look, { volumeMounts: [{ name: 's', mountPath: '/s', mountPropagation: 'None' }] }),
    ], { volumes: [{ name: 's', emptyDir: {} }] });
    await core.createNamespacedPod({ namespace, body });
    const pod = await running('propagation');
    const dir = `${dataDir}/pods/${pod.metadata!.uid}/volumes/kubernetes.io~empty-dir/s/m`;
    expect((await runCommand('sh', ['-c', `mkdir -p ${dir} && mount -t tmpfs tmpfs ${dir} && echo from-host > ${dir}/f`])).code).toBe(0);
    await waitFor('both containers looked', async () => ((await logsOf(pod, 0)) && (await logsOf(pod, 1)) ? true : undefined), 30_000);
    expect([await logsOf(pod, 0), await logsOf(pod, 1)]).toEqual(['from-host\n', 'not-seen\n']);
  });

  it('emptyDir - shared by the pod\'s containers; medium Memory is a tmpfs of sizeLimit', async () => {
    const body = podOf('scratch', [
      box('writer', 'echo shared > /data/f; grep " /mem " /proc/mounts | cut -d" " -f3,4 | tr , "\\n" | grep -E "^tmpfs|size"', { volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'mem', mountPath: '/mem' }] }),
      box('reader', 'until [ -f /shared/f ]; do sleep 0.2; done; cat /shared/f', { volumeMounts: [{ name: 'data', mountPath: '/shared' }] }),
    ], { volumes: [{ name: 'data', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }] });
    await core.createNamespacedPod({ namespace, body });
    const pod = await phase('scratch', 'Succeeded');
    expect(await logsOf(pod, 0)).toBe('tmpfs rw\nsize=1024k\n');
    expect(await logsOf(pod, 1)).toBe('shared\n');
  });

  it('hostPath - DirectoryOrCreate makes the directory and the container writes through; a missing Directory is a FailedMount, the container ContainerCreating', async () => {
    const made = `${hostDir}/made`;
    await core.createNamespacedPod({
      namespace,
      body: podOf('hostpath', [box('app', 'echo from-pod > /h/out', { volumeMounts: [{ name: 'h', mountPath: '/h' }] })], { volumes: [{ name: 'h', hostPath: { path: made, type: 'DirectoryOrCreate' } }] }),
    });
    await phase('hostpath', 'Succeeded');
    expect(readFileSync(`${made}/out`, 'utf8')).toBe('from-pod\n');

    const missing = `${hostDir}/missing`;
    await core.createNamespacedPod({
      namespace,
      body: podOf('nohost', [box('app', 'true', { volumeMounts: [{ name: 'h', mountPath: '/h' }] })], { volumes: [{ name: 'h', hostPath: { path: missing, type: 'Directory' } }] }),
    });
    const event = await waitFor('FailedMount', async () => (await eventsOf('nohost')).find((e) => e.reason === 'FailedMount'), 30_000);
    expect([event.type, event.message]).toEqual(['Warning', `MountVolume.SetUp failed for volume "h" : hostPath type check failed: ${missing} is not a directory`]);
    const pod = await waiting('nohost', 'ContainerCreating');
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.status?.containerStatuses?.[0]?.containerID).toBeUndefined();
  });

  it('a missing ConfigMap for a volume - FailedMount with the kubelet\'s message; the pod starts once it appears', async () => {
    await core.createNamespacedPod({
      namespace,
      body: podOf('novol', [box('app', 'cat /c/k', { volumeMounts: [{ name: 'c', mountPath: '/c' }] })], { volumes: [{ name: 'c', configMap: { name: 'later-vol' } }] }),
    });
    const event = await waitFor('FailedMount', async () => (await eventsOf('novol')).find((e) => e.reason === 'FailedMount'), 30_000);
    expect(event.message).toBe('MountVolume.SetUp failed for volume "c" : configmap "later-vol" not found');
    await waiting('novol', 'ContainerCreating');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'later-vol' }, data: { k: 'arrived' } } });
    expect(await finishedOutput('novol')).toBe('arrived');
  });

  it('env from objects - configMapKeyRef, secretKeyRef, envFrom with a prefix; invalid names skipped with the kubelet\'s Event; optional missing ones left out', async () => {
    const app = box('app', 'echo "$GREETING|$PASS|$CFG_a.conf|$CFG_GREETING|$S_user|${MAYBE-unset}|${MAYBEKEY-unset}"; tr "\\0" "\\n" < /proc/1/environ | grep -c "^CFG_"', {
      env: [
        { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'GREETING' } } },
        { name: 'PASS', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
        { name: 'MAYBE', valueFrom: { configMapKeyRef: { name: 'nothere', key: 'x', optional: true } } },
        { name: 'MAYBEKEY', valueFrom: { secretKeyRef: { name: 'sec', key: 'nokey', optional: true } } },
      ],
      envFrom: [{ configMapRef: { name: 'cfg' } }, { prefix: 'CFG_', configMapRef: { name: 'cfg' } }, { prefix: 'S_', secretRef: { name: 'sec' } }, { configMapRef: { name: 'gone', optional: true } }],
    });
    await core.createNamespacedPod({ namespace, body: podOf('env', [app]) });
    // sh cannot name "CFG_a.conf" ($CFG_a then ".conf"); the process's environ shows it is there:
    // CFG_a.conf, CFG_b.conf, CFG_GREETING and CFG_1st; without the prefix "1st" is no variable name.
    expect(await finishedOutput('env')).toBe('hello|s3cret|.conf|hello|admin|unset|unset\n4\n');
    const event = await waitFor('InvalidEnvironmentVariableNames', async () => (await eventsOf('env')).find((e) => e.reason === 'InvalidEnvironmentVariableNames'), 20_000);
    expect([event.type, event.message]).toEqual(['Warning', `Keys [1st] from the EnvFrom configMap ${namespace}/cfg were skipped since they are considered invalid environment variable names.`]);
  });

  it('env from a missing ConfigMap or key - CreateContainerConfigError with the kubelet\'s message; the pod starts by itself once the object appears', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('later', [box('app', 'echo "$V"', { env: [{ name: 'V', valueFrom: { configMapKeyRef: { name: 'later', key: 'v' } } }] })]) });
    let pod = await waiting('later', 'CreateContainerConfigError');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe('configmap "later" not found');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'later' }, data: { other: 'x' } } });
    pod = await waitFor('the key message', async () => {
      const p = await read('later');
      return p.status?.containerStatuses?.[0]?.state?.waiting?.message === `couldn't find key v in ConfigMap ${namespace}/later` ? p : undefined;
    }, 30_000);
    await core.replaceNamespacedConfigMap({ namespace, name: 'later', body: { metadata: { name: 'later' }, data: { v: 'here now' } } });
    expect(await finishedOutput('later')).toBe('here now\n');
    const failed = (await eventsOf('later')).filter((e) => e.reason === 'Failed').map((e) => e.message);
    expect(failed).toContain('Error: configmap "later" not found');
  });

  it('subPath and subPathExpr - a directory of the volume is mounted, created when missing, named from the env', async () => {
    const body = podOf('subpath', [
      box('app', 'echo mine > /one/f; echo expr > /two/f', {
        env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        volumeMounts: [
          { name: 'data', mountPath: '/one', subPath: 'a/b' },
          { name: 'data', mountPath: '/two', subPathExpr: 'by-pod/$(POD)' },
        ],
      }),
      box('check', 'until [ -f /all/by-pod/subpath/f ]; do sleep 0.2; done; cat /all/a/b/f /all/by-pod/subpath/f', { volumeMounts: [{ name: 'data', mountPath: '/all' }] }),
    ], { volumes: [{ name: 'data', emptyDir: {} }] });
    await core.createNamespacedPod({ namespace, body });
    const pod = await phase('subpath', 'Succeeded');
    expect(await logsOf(pod, 1)).toBe('mine\nexpr\n');
  });

  it('subPath mode - a missing subPath of an emptyDir gets the volume\'s mode, not the umask\'s: with an fsGroup 2777, on tmpfs dgtrwxrwxrwx, owned by the group (the NodeConformance spec\'s)', async () => {
    const show = (dir: string) => `stat -c "%a %A %u %g" ${dir}`;
    const body = podOf('submode', [
      box('app', `${show('/plain')}; ${show('/test-volume')}; stat -f -c %T /test-volume; touch /test-volume/f; stat -c %g /test-volume/f`, {
        volumeMounts: [
          { name: 'disk', mountPath: '/plain', subPath: 'plain' },
          { name: 'mem', mountPath: '/test-volume', subPath: 'test-sub' },
        ],
      }),
    ], { securityContext: { runAsUser: 1001, fsGroup: 123 }, volumes: [{ name: 'disk', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory' } }] });
    await core.createNamespacedPod({ namespace, body });
    expect(await finishedOutput('submode')).toBe('2777 drwxrwsrwx 0 123\n3777 drwxrwsrwt 0 123\ntmpfs\n123\n');
  });

  it('subPath escape - a symlink the pod put into its volume cannot lead a subPath mount out of it (CVE-2021-25741)', async () => {
    writeFileSync(`${hostDir}/host-secret`, 'host only');
    const body = podOf('escape', [box('app', 'cat /escaped/host-secret; ls /escaped', { volumeMounts: [{ name: 'data', mountPath: '/escaped', subPath: 'link' }] })], {
      initContainers: [box('plant', `ln -s ${hostDir} /data/link`, { volumeMounts: [{ name: 'data', mountPath: '/data' }] })],
      volumes: [{ name: 'data', emptyDir: {} }],
    });
    await core.createNamespacedPod({ namespace, body });
    const pod = await waiting('escape', 'CreateContainerConfigError');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe('failed to prepare subPath for volumeMount "data" of container "app"');
    expect(pod.status?.containerStatuses?.[0]?.containerID).toBeUndefined();
  });

  it('clean-up - a running pod\'s secret is on a tmpfs on the host; deleted, the pod leaves no directory and no mount behind; a finished pod\'s volumes go when it finishes', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('keep', [box('app', 'sleep 3600', { volumeMounts: [{ name: 'sec', mountPath: '/sec' }] })], { volumes: [{ name: 'sec', secret: { secretName: 'sec' } }] }) });
    const uid = (await running('keep')).metadata!.uid!;
    const dir = `${dataDir}/pods/${uid}`;
    const findmnt = await runCommand('findmnt', ['-n', '-o', 'FSTYPE', `${dir}/volumes/kubernetes.io~secret/sec`]);
    expect(findmnt.stdout.trim()).toBe('tmpfs');
    await core.deleteNamespacedPod({ namespace, name: 'keep' });
    await waitFor('keep gone', () => read('keep').then(() => undefined, () => true), 60_000);
    await waitFor('its directory removed', async () => (existsSync(dir) ? undefined : true), 30_000);
    expect((await runCommand('sh', ['-c', `grep -c ${uid} /proc/self/mountinfo || true`])).stdout.trim()).toBe('0');
    // 'files' ran to completion earlier: it is still there, its volumes are not.
    const finished = await read('files');
    expect(finished.status?.phase).toBe('Succeeded');
    await waitFor('the finished pod\'s volumes removed', async () => (existsSync(`${dataDir}/pods/${finished.metadata!.uid}`) ? undefined : true), 30_000);
  });
});
