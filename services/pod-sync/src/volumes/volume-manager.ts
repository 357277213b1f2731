import { chmodSync, chownSync, closeSync, constants, existsSync, fchmodSync, fchownSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { MountPropagation, type MountSchema } from '@splitlet/contracts';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from '@splitlet/telemetry';
import { parseQuantity } from '@splitlet/quantity';
import { expand, type EnvContext } from '../env';
import { writeAtomically, type Payload, type WrittenPayload } from './atomic-writer';
import { ContainerConfigError, isObjectNotFound } from './errors';
import { checkHostPathType } from './host-path';
import type { Mounter } from './mounter';
import type { ObjectSource } from './objects';
import { ClaimVolumeError, resolveClaim, type ClaimSource, type ResolvedClaim } from './persistent-volumes';
import { configMapEntries, DEFAULT_MODE, downwardPayload, keysPayload, secretEntries } from './payload';
import type { ServiceAccountTokens } from './service-account-tokens';
import { bindSubPath } from './subpath';

export type CriMount = MessageInitShape<typeof MountSchema>;

/**
 * SetVolumeOwnership (fsGroupChangePolicy Always): every file and directory of the
 * volume becomes the group's, readable and writable by it (0660; directories 0770 and
 * setgid, so what is made in them stays the group's). Nothing is followed: each entry is
 * opened with O_NOFOLLOW (a symbolic link, or one swapped in meanwhile by a pod sharing
 * the volume, is left alone) and changed through its descriptor, and a directory is read
 * through its descriptor (/proc/self/fd), so a name swapped for a link cannot lead out of
 * the volume. Other kinds of file (sockets, FIFOs, devices) are left alone, as symlinks.
 * Errors are the caller's to log: the kubelet only logs them.
 */
export function setVolumeOwnership(root: string, fsGroup: number): void {
  const walk = (path: string) => {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') return; // a symbolic link
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isDirectory() && !st.isFile()) return;
      fchownSync(fd, st.uid, fsGroup);
      fchmodSync(fd, (st.mode & 0o7777) | 0o660 | (st.isDirectory() ? 0o2110 : 0));
      if (st.isDirectory()) for (const name of readdirSync(`/proc/self/fd/${fd}`)) walk(`/proc/self/fd/${fd}/${name}`);
    } finally {
      closeSync(fd);
    }
  };
  walk(realpathSync(root));
}

/** Records a Warning Event about the pod (the kubelet's FailedMount). */
export type PodEventSink = (pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string) => void;

/** The kubelet's plugin directory names (pods/<uid>/volumes/<plugin>/<name>). */
const PLUGIN = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
} as const;

const tracer = trace.getTracer('pod-sync');

/**
 * With an fsGroup the kubelet makes read-only volume files readable by the group
 * (SetVolumeOwnership's 0440 mask), whatever the mode asked for.
 */
export const withFsGroup = (payload: Payload, fsGroup: number | undefined): Payload =>
  fsGroup === undefined ? payload : new Map([...payload].map(([p, f]) => [p, { data: f.data, mode: f.mode | 0o440 }]));

/** Names the node a pod directory belongs to. */
const NODE_FILE = 'node-name';

/** The kubelet's default token lifetime for a serviceAccountToken projection without one. */
const DEFAULT_TOKEN_SECONDS = 3600;

/**
 * The pod's volumes on the host, as the kubelet's volume manager and plugins: each
 * volume made under <dataDir>/pods/<uid>/volumes/<plugin>/<name> before the pod's
 * containers start, and again on every sync so changed ConfigMaps, Secrets, pod
 * fields and renewed tokens reach the files (through the atomic writer's swap).
 * Secret and token content is written only to a tmpfs mounted on its volume's
 * directory. Everything under the pod's directory goes when the pod does.
 */
export class VolumeManager {
  /** Volumes set up at least once, per pod uid: a later failure to refresh one does not hold the pod back. */
  private readonly ready = new Map<string, Set<string>>();

  constructor(
    private readonly dataDir: string,
    private readonly nodeName: string,
    private readonly objects: ObjectSource,
    private readonly tokens: ServiceAccountTokens,
    private readonly mounter: Mounter,
    private readonly record: PodEventSink,
    private readonly logger: Logger,
    /** The PVCs and PVs of persistentVolumeClaim volumes; none: such a volume has no plugin. */
    private readonly claims?: ClaimSource,
    /** The node's labels (its own Node's): a PV's node affinity is checked against them. */
    private readonly nodeLabels: () => Promise<Record<string, string> | undefined> = async () => undefined,
  ) {}

  /** Each persistentVolumeClaim volume resolved to its PV's directory, by `<pod uid>/<volume>`: resolved once, as the kubelet processes a pod's volumes once. */
  private readonly resolved = new Map<string, ResolvedClaim>();
  /** What each ConfigMap, Secret, downward API and projected volume holds, by its directory (writeAtomically's memo). */
  private readonly written = new Map<string, WrittenPayload>();

  private initialized: Promise<void> | undefined;

  /**
   * Once, before the first volume: the data dir made a shared mount, so mounts below
   * it reach the runtime's binds (the kubelet does it to its root dir) and
   * HostToContainer propagation is possible from it.
   */
  private init(): Promise<void> {
    this.initialized ??= (async () => {
      mkdirSync(join(this.dataDir, 'pods'), { recursive: true, mode: 0o750 });
      await this.mounter.makeRShared(this.dataDir);
    })().catch((err: unknown) => {
      this.initialized = undefined;
      throw err;
    });
    return this.initialized;
  }

  podDir(uid: string): string {
    return join(this.dataDir, 'pods', uid);
  }

  /** Where a volume of the pod is on the host. */
  volumePath(pod: V1Pod, v: V1Volume): string {
    if (v.hostPath) return v.hostPath.path;
    if (v.persistentVolumeClaim) {
      const claim = this.resolved.get(`${pod.metadata!.uid!}/${v.name}`);
      if (!claim) throw new Error(`volume "${v.name}" is not set up yet`);
      return claim.path;
    }
    const plugin = v.emptyDir ? PLUGIN.emptyDir : v.configMap ? PLUGIN.configMap : v.secret ? PLUGIN.secret : v.downwardAPI ? PLUGIN.downwardAPI : v.projected ? PLUGIN.projected : undefined;
    if (!plugin) throw new Error(`volume "${v.name}" has a type splitlet does not support`);
    return join(this.podDir(pod.metadata!.uid!), 'volumes', plugin, v.name);
  }

  /** Whether the pod has volumes whose content follows objects that may change (ConfigMaps, Secrets, tokens). */
  hasChangingSources(pod: V1Pod): boolean {
    return (pod.spec?.volumes ?? []).some((v) => v.configMap || v.secret || v.projected);
  }

  /**
   * Sets up (or refreshes) every volume of the pod. A failure is a FailedMount Event
   * with the kubelet's message; returns false while some volume has never been set
   * up, and the pod's containers must then wait (ContainerCreating).
   */
  setUp(pod: V1Pod, ctx: EnvContext): Promise<boolean> {
    if (!pod.spec?.volumes?.length) return Promise.resolve(true);
    return tracer.startActiveSpan('pod-sync set up volumes', { attributes: { 'splitlet.volumes': pod.spec.volumes.length } }, async (span) => {
      try {
        const ok = await this.setUpAll(pod, ctx);
        if (!ok) span.setStatus({ code: SpanStatusCode.ERROR, message: 'a volume is not set up yet' });
        return ok;
      } finally {
        span.end();
      }
    });
  }

  private async setUpAll(pod: V1Pod, ctx: EnvContext): Promise<boolean> {
    const uid = pod.metadata!.uid!;
    const ready = this.ready.get(uid) ?? new Set<string>();
    this.ready.set(uid, ready);
    let all = true;
    let prepared: unknown;
    try {
      await this.init();
      this.claim(uid);
    } catch (err) {
      prepared = err; // every volume fails with it below: the pod shows why it waits
    }
    // The claims the populator could not process: one Event for the pod (WaitForAttachAndMount's).
    const unprocessed: { volume: string; why: string }[] = [];
    for (const v of pod.spec?.volumes ?? []) {
      try {
        if (prepared) throw prepared;
        await this.setUpVolume(pod, v, ctx);
        ready.add(v.name);
      } catch (err) {
        if (err instanceof ClaimVolumeError && err.kind === 'process') unprocessed.push({ volume: v.name, why: err.message });
        else if (err instanceof ClaimVolumeError && err.kind === 'wait') {
          // Not a failure: the next sync looks again.
        } else {
          const message = err instanceof ClaimVolumeError ? err.message : `MountVolume.SetUp failed for volume "${v.name}" : ${(err as Error).message}`;
          this.record(pod, 'Warning', 'FailedMount', message);
        }
        this.logger.warn({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, volume: v.name, err: (err as Error).message }, 'volume set-up failed');
        if (!ready.has(v.name)) all = false;
      }
    }
    if (unprocessed.length) {
      // getExpectedVolumes: the volumes the containers mount.
      const mountedByContainers = new Set([...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...((pod.spec?.ephemeralContainers ?? []) as V1Container[])].flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)));
      const unmounted = (pod.spec?.volumes ?? []).map((v) => v.name).filter((n) => mountedByContainers.has(n) && !ready.has(n)).sort();
      const failed = unprocessed.map((u) => u.volume).sort();
      this.record(pod, 'Warning', 'FailedMount', `Unable to attach or mount volumes: unmounted volumes=[${unmounted.join(' ')}], unattached volumes=[], failed to process volumes=[${failed.join(' ')}]: ${unprocessed.map((u) => u.why).join('; ')}`);
    }
    return all;
  }

  /**
   * Marks the pod's directory as this node's: several nodes may share a data dir (the
   * e2e tests run many on one host), and a node cleans up only its own pods'.
   */
  private claim(uid: string): void {
    const file = join(this.podDir(uid), NODE_FILE);
    try {
      if (readFileSync(file, 'utf8') === this.nodeName) return;
    } catch {
      // not claimed yet
    }
    mkdirSync(this.podDir(uid), { recursive: true, mode: 0o750 });
    writeFileSync(file, this.nodeName);
  }

  private async setUpVolume(pod: V1Pod, v: V1Volume, ctx: EnvContext): Promise<void> {
    if (v.hostPath) return checkHostPathType(v.hostPath.path, v.hostPath.type);
    if (v.persistentVolumeClaim) return this.setUpClaim(pod, v);
    const dir = this.volumePath(pod, v);
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    if (v.emptyDir) {
      if (v.emptyDir.medium === 'Memory') {
        const size = v.emptyDir.sizeLimit ? parseQuantity(String(v.emptyDir.sizeLimit)) / 1000n : undefined;
        await this.mounter.mountTmpfs(dir, size);
      }
      // The kubelet's emptyDir is writable by any user of the pod: 0777 (setupDir), a
      // tmpfs root 1777 (the kubelet mounts it with no mode: tmpfs's sticky default).
      // With an fsGroup it belongs to that group and what is made in it too (setgid),
      // as SetVolumeOwnership; a missing subPath in it is made with the same mode.
      const fsGroup = pod.spec?.securityContext?.fsGroup;
      if (fsGroup !== undefined) chownSync(dir, 0, fsGroup);
      chmodSync(dir, (v.emptyDir.medium === 'Memory' ? 0o1777 : 0o777) | (fsGroup !== undefined ? 0o2000 : 0));
      return;
    }
    // Secrets and tokens never touch a disk: their volume is a tmpfs of its own.
    if (v.secret || v.projected) await this.mounter.mountTmpfs(dir);
    chmodSync(dir, 0o755); // any user of the pod reads it (the files' own modes decide the rest)
    const fsGroup = pod.spec?.securityContext?.fsGroup;
    writeAtomically(dir, withFsGroup(await this.payload(pod, v, ctx), fsGroup), undefined, fsGroup, this.written);
  }

  /**
   * A claim's volume, once: the claim and its PV resolved (resolveClaim), then the
   * plugin's set-up — `local`: the path must be a directory (NewMounter's
   * getGlobalLocalPath); `hostPath`: its type checked, a directory made for
   * DirectoryOrCreate. The containers bind the PV's path itself (no mount of the node's).
   */
  private async setUpClaim(pod: V1Pod, v: V1Volume): Promise<void> {
    const key = `${pod.metadata!.uid!}/${v.name}`;
    if (this.resolved.has(key)) return;
    if (!this.claims) throw new ClaimVolumeError('process', `error processing PVC ${pod.metadata?.namespace}/${v.persistentVolumeClaim!.claimName}: no claim source`);
    const claim = await resolveClaim(pod, v, this.claims, await this.nodeLabels());
    if (claim.plugin === 'local') {
      let st;
      try {
        st = statSync(claim.path);
      } catch {
        throw new ClaimVolumeError('mount', `MountVolume.NewMounter initialization failed for volume "${claim.pvName}" : path "${claim.path}" does not exist`);
      }
      if (st.isBlockDevice()) throw new ClaimVolumeError('mount', `MountVolume.NewMounter initialization failed for volume "${claim.pvName}" : a block device local volume is not supported by splitlet`);
      if (!st.isDirectory()) throw new ClaimVolumeError('mount', `MountVolume.NewMounter initialization failed for volume "${claim.pvName}" : only directory and block device are supported`);
      // The local plugin's SetUpAt: with an fsGroup and not read-only, the volume becomes the group's (SetVolumeOwnership).
      const fsGroup = pod.spec?.securityContext?.fsGroup;
      if (fsGroup !== undefined && !claim.readOnly) {
        try {
          setVolumeOwnership(claim.path, fsGroup);
        } catch (err) {
          this.logger.warn({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, volume: claim.pvName, err: (err as Error).message }, 'the volume\'s ownership could not be set to the fsGroup');
        }
      }
    } else {
      try {
        checkHostPathType(claim.path, claim.hostPathType);
      } catch (err) {
        throw new ClaimVolumeError('mount', `MountVolume.SetUp failed for volume "${claim.pvName}" : ${(err as Error).message}`);
      }
    }
    this.resolved.set(key, claim);
  }

  private async payload(pod: V1Pod, v: V1Volume, ctx: EnvContext): Promise<Payload> {
    const ns = pod.metadata!.namespace!;
    if (v.configMap) {
      const s = v.configMap;
      const cm = await this.objects.configMap(ns, s.name!).catch((err: unknown) => (s.optional && isObjectNotFound(err) ? undefined : Promise.reject(err)));
      return cm ? keysPayload('configmap', configMapEntries(cm), s.items, s.defaultMode ?? DEFAULT_MODE, s.optional ?? false) : new Map();
    }
    if (v.secret) {
      const s = v.secret;
      const secret = await this.objects.secret(ns, s.secretName!).catch((err: unknown) => (s.optional && isObjectNotFound(err) ? undefined : Promise.reject(err)));
      return secret ? keysPayload('secret', secretEntries(secret), s.items, s.defaultMode ?? DEFAULT_MODE, s.optional ?? false) : new Map();
    }
    if (v.downwardAPI) return downwardPayload(pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? DEFAULT_MODE, ctx);
    return this.projectedPayload(pod, v, ctx);
  }

  /** The projected volume's sources merged into one payload (pkg/volume/projected collectData). */
  private async projectedPayload(pod: V1Pod, v: V1Volume, ctx: EnvContext): Promise<Payload> {
    const ns = pod.metadata!.namespace!;
    const mode = v.projected!.defaultMode ?? DEFAULT_MODE;
    const payload: Payload = new Map();
    const errors: string[] = [];
    const add = (p: Payload) => p.forEach((f, path) => payload.set(path, f));
    for (const src of v.projected!.sources ?? []) {
      try {
        if (src.configMap) {
          const s = src.configMap;
          const cm = await this.objects.configMap(ns, s.name!).catch((err: unknown) => (s.optional && isObjectNotFound(err) ? undefined : Promise.reject(err)));
          if (cm) add(keysPayload('configmap', configMapEntries(cm), s.items, mode, s.optional ?? false));
        } else if (src.secret) {
          const s = src.secret;
          const secret = await this.objects.secret(ns, s.name!).catch((err: unknown) => (s.optional && isObjectNotFound(err) ? undefined : Promise.reject(err)));
          if (secret) add(keysPayload('secret', secretEntries(secret), s.items, mode, s.optional ?? false));
        } else if (src.downwardAPI) {
          add(downwardPayload(pod, src.downwardAPI.items, mode, ctx));
        } else if (src.serviceAccountToken) {
          const t = src.serviceAccountToken;
          const token = await this.tokens.token(pod, { audience: t.audience, expirationSeconds: t.expirationSeconds ?? DEFAULT_TOKEN_SECONDS });
          payload.set(t.path, { data: Buffer.from(token, 'utf8'), mode });
        } else {
          errors.push('unsupported projected volume source');
        }
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length === 1) throw new Error(errors[0]);
    if (errors.length) throw new Error(`[${errors.join(', ')}]`);
    return payload;
  }

  /**
   * The container's volumeMounts as CRI mounts (kubelet_pods.go makeMounts):
   * configMap, secret, downwardAPI and projected volumes always read-only; a
   * subPath (or subPathExpr expanded from the container's env) bound safely; mount
   * propagation translated. Errors are the container's config errors.
   */
  async mountsFor(pod: V1Pod, c: V1Container, env: { key: string; value: string }[]): Promise<CriMount[]> {
    const privileged = c.securityContext?.privileged ?? false;
    const envMap = new Map(env.map((e) => [e.key, e.value]));
    const out: CriMount[] = [];
    for (const [index, vm] of (c.volumeMounts ?? []).entries()) {
      const v = pod.spec?.volumes?.find((x) => x.name === vm.name);
      if (!v) throw new ContainerConfigError(`cannot find volume "${vm.name}" to mount into container "${c.name}"`);
      let hostPath = this.volumePath(pod, v);
      const subPath = vm.subPathExpr ? expand(vm.subPathExpr, (n) => envMap.get(n)) : (vm.subPath ?? '');
      if (subPath) {
        const target = join(this.podDir(pod.metadata!.uid!), 'volume-subpaths', v.name, c.name, String(index));
        try {
          await bindSubPath(this.mounter, hostPath, subPath, target);
        } catch (err) {
          // As the kubelet: the detail stays in the log, it could tell about the host's files.
          this.logger.warn({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, container: c.name, volumeMount: vm.name, err: (err as Error).message }, 'subPath refused');
          throw new ContainerConfigError(`failed to prepare subPath for volumeMount "${vm.name}" of container "${c.name}"`);
        }
        hostPath = target;
      }
      let propagation = MountPropagation.PRIVATE_UNSPECIFIED;
      if (vm.mountPropagation === 'HostToContainer') propagation = MountPropagation.HOST_TO_CONTAINER;
      else if (vm.mountPropagation === 'Bidirectional') {
        if (!privileged) throw new ContainerConfigError('Bidirectional mount propagation is available only to privileged containers');
        propagation = MountPropagation.BIDIRECTIONAL;
      } else if (vm.mountPropagation && vm.mountPropagation !== 'None') throw new ContainerConfigError(`invalid MountPropagation mode: "${vm.mountPropagation}"`);
      const apiData = Boolean(v.configMap || v.secret || v.downwardAPI || v.projected);
      const claimReadOnly = v.persistentVolumeClaim ? (this.resolved.get(`${pod.metadata!.uid!}/${v.name}`)?.readOnly ?? false) : false;
      out.push({ containerPath: vm.mountPath, hostPath, readonly: (vm.readOnly ?? false) || apiData || claimReadOnly, propagation });
    }
    return out;
  }

  /**
   * Removes the pod's volumes: every mount below its directory undone (deepest
   * first), then the directory. While anything is still mounted the directory is
   * kept — a recursive delete must never reach into a hostPath through a bind.
   */
  async tearDown(uid: string): Promise<void> {
    this.ready.delete(uid);
    this.tokens.forget(uid);
    for (const k of this.resolved.keys()) if (k.startsWith(`${uid}/`)) this.resolved.delete(k);
    const dir = this.podDir(uid);
    for (const k of this.written.keys()) if (k.startsWith(`${dir}/`)) this.written.delete(k);
    // Nothing can be mounted below a directory that is not there (a finished pod's
    // resyncs come here every time): no mount table to read.
    if (!existsSync(dir)) return;
    for (const m of this.mounter.mountPointsUnder(dir)) {
      await this.mounter.unmount(m).catch((err: unknown) => this.logger.warn({ uid, mount: m, err: (err as Error).message }, 'unmount failed; retried with the next clean-up'));
    }
    if (this.mounter.mountPointsUnder(dir).length) return;
    rmSync(dir, { recursive: true, force: true });
  }

  /** Uids of this node's pods that have a directory here: the clean-up finds those of pods that are gone. */
  podDirs(): string[] {
    let uids: string[];
    try {
      uids = readdirSync(join(this.dataDir, 'pods'));
    } catch {
      return [];
    }
    return uids.filter((uid) => {
      try {
        return readFileSync(join(this.podDir(uid), NODE_FILE), 'utf8') === this.nodeName;
      } catch {
        return false;
      }
    });
  }
}
