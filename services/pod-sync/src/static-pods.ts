import { createHash } from 'node:crypto';
import { readdir, readFile, stat, watch } from 'node:fs/promises';
import { join } from 'node:path';
import type { CoreV1Api, V1Container, V1Pod, V1Probe, V1Volume } from '@kubernetes/client-node';
import { describeApiError, isAlreadyExists, isNotFound } from '@splitlet/kube';
import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';

// Static pods (the kubelet's file and URL pod sources, pkg/kubelet/config) and their
// mirror pods (pkg/kubelet/pod/mirror_client.go). A static pod is pod-sync's own: it runs
// without the API server, its UID is a hash of its manifest, and the API server sees it
// as a mirror pod that carries its status.

export const CONFIG_SOURCE = 'kubernetes.io/config.source';
export const CONFIG_HASH = 'kubernetes.io/config.hash';
export const CONFIG_MIRROR = 'kubernetes.io/config.mirror';
export const CONFIG_SEEN = 'kubernetes.io/config.seen';

/** IsStaticPod: a pod from a source other than the API server. */
export const isStaticPod = (pod: V1Pod): boolean => {
  const source = pod.metadata?.annotations?.[CONFIG_SOURCE];
  return source !== undefined && source !== 'api';
};
/** IsMirrorPod: the API server's copy of a static pod. */
export const isMirrorPod = (pod: V1Pod): boolean => pod.metadata?.annotations?.[CONFIG_MIRROR] !== undefined;
/** IsMirrorPodOf: the mirror pod shows this static pod (same name and namespace, its hash). */
export const isMirrorPodOf = (mirror: V1Pod, pod: V1Pod): boolean =>
  mirror.metadata?.name === pod.metadata?.name && mirror.metadata?.namespace === pod.metadata?.namespace && mirror.metadata?.annotations?.[CONFIG_MIRROR] === pod.metadata?.annotations?.[CONFIG_HASH];

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A manifest that is no pod the node can run: the file and why. */
export class ManifestError extends Error {}

/** The API server's defaults the kubelet's decoder applies to a static pod (SetObjectDefaults_Pod), those pod-sync reads. */
export function defaultPod(pod: V1Pod): V1Pod {
  const spec = (pod.spec ??= { containers: [] });
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  const probe = (p: V1Probe | undefined) => {
    if (!p) return;
    p.timeoutSeconds ??= 1;
    p.periodSeconds ??= 10;
    p.successThreshold ??= 1;
    p.failureThreshold ??= 3;
    if (p.httpGet) p.httpGet.scheme ??= 'HTTP';
  };
  const container = (c: V1Container) => {
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    if (c.imagePullPolicy === undefined) {
      // Always for :latest or no tag, IfNotPresent otherwise (a digest included).
      const ref = c.image ?? '';
      const tag = ref.includes('@') ? 'digest' : /:([^/:]+)$/.exec(ref)?.[1];
      c.imagePullPolicy = !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
    }
    for (const p of c.ports ?? []) p.protocol ??= 'TCP';
    // Requests default to the limits given (SetDefaults_ResourceList on the container).
    if (c.resources?.limits) c.resources.requests = { ...c.resources.limits, ...(c.resources.requests ?? {}) };
    probe(c.livenessProbe);
    probe(c.readinessProbe);
    probe(c.startupProbe);
  };
  for (const c of spec.initContainers ?? []) container(c);
  for (const c of spec.containers ?? []) container(c);
  return pod;
}

/**
 * The pods one manifest holds, YAML or JSON: a file's one Pod (its first document), a
 * URL's Pod or PodList. The YAML parser loads on first use: a node without static pods
 * never evaluates it.
 */
export async function parseManifest(text: string, source: 'file' | 'http' = 'http'): Promise<V1Pod[]> {
  const { parseAllDocuments } = await import('yaml');
  const parsed = parseAllDocuments(text);
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  // A file holds one Pod, its first document (the file source's tryDecodeSinglePod); a URL a Pod or a PodList.
  const first = docs.find((d) => d.errors.length || (d.contents !== null && d.contents !== undefined));
  if (!first) return [];
  if (first.errors.length) throw new ManifestError(`not YAML or JSON: ${first.errors[0]!.message.split('\n')[0]}`);
  const obj = first.toJS() as { apiVersion?: string; kind?: string; items?: unknown[] } | null;
  if (!obj || typeof obj !== 'object') throw new ManifestError('not an object');
  if (obj.kind === 'PodList' && source === 'http') return (obj.items ?? []).map((item) => checked({ apiVersion: 'v1', kind: 'Pod', ...(item as object) }));
  if (obj.kind !== 'Pod' && source === 'file') throw new ManifestError(`couldn't parse as pod(want kind Pod, got ${obj.kind ?? '(none)'}), please check config file`);
  return [checked(obj)];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_ERROR = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";

/**
 * The checks the kubelet's decoding and validation make first (tryDecodeSinglePod:
 * ValidatePodCreate's, those of names; then PreventStaticPodAPIReferences, on by
 * default since 1.34: a static pod may not reference API objects).
 */
function checked(obj: { apiVersion?: string; kind?: string }): V1Pod {
  if (obj.apiVersion !== 'v1' || obj.kind !== 'Pod') throw new ManifestError(`want apiVersion v1, kind Pod or PodList; got ${obj.apiVersion ?? '(none)'} ${obj.kind ?? '(none)'}`);
  const pod = obj as V1Pod;
  const name = pod.metadata?.name ?? '';
  if (!name) throw new ManifestError('invalid pod: name is needed for the pod');
  const errors: string[] = [];
  if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) errors.push(`metadata.name: Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
  const volumes = new Set<string>();
  for (const [i, v] of (pod.spec?.volumes ?? []).entries()) {
    if (!v?.name) errors.push(`spec.volumes[${i}].name: Required value`);
    else if (!DNS1123_LABEL.test(v.name) || v.name.length > 63) errors.push(`spec.volumes[${i}].name: Invalid value: ${JSON.stringify(v.name)}: ${LABEL_ERROR}`);
    else if (volumes.has(v.name)) errors.push(`spec.volumes[${i}].name: Duplicate value: ${JSON.stringify(v.name)}`);
    else volumes.add(v.name);
  }
  const containers = pod.spec?.containers ?? [];
  if (!containers.length) errors.push('spec.containers: Required value');
  const names = new Set<string>();
  for (const [field, list] of [['spec.initContainers', pod.spec?.initContainers ?? []], ['spec.containers', containers]] as const) {
    for (const [i, c] of list.entries()) {
      if (!c?.name) errors.push(`${field}[${i}].name: Required value`);
      else if (!DNS1123_LABEL.test(c.name) || c.name.length > 63) errors.push(`${field}[${i}].name: Invalid value: ${JSON.stringify(c.name)}: ${LABEL_ERROR}`);
      else if (names.has(c.name)) errors.push(`${field}[${i}].name: Duplicate value: ${JSON.stringify(c.name)}`);
      else names.add(c.name);
      if (!c?.image) errors.push(`${field}[${i}].image: Required value`);
    }
  }
  if (errors.length) throw new ManifestError(`invalid pod: [${errors.join(', ')}]`);
  const reference = apiObjectReference(pod);
  if (reference) throw new ManifestError(`static pods may not reference ${reference}`);
  return pod;
}

/** HasAPIObjectReference: the first kind of API object the pod refers to (service account, Secrets, ConfigMaps, claims, ...). */
export function apiObjectReference(pod: V1Pod): string | undefined {
  const spec = pod.spec;
  if (spec?.serviceAccountName) return 'serviceaccounts';
  const containers = [...(spec?.initContainers ?? []), ...(spec?.containers ?? []), ...((spec?.ephemeralContainers ?? []) as V1Container[])];
  const envs = containers.flatMap((c) => c.env ?? []);
  const envFroms = containers.flatMap((c) => c.envFrom ?? []);
  const volumes = spec?.volumes ?? [];
  // VisitPodSecretNames: pull secrets, env, and every volume that names a Secret.
  const volumeSecret = (v: V1Volume) =>
    v.secret || v.projected?.sources?.some((p) => p.secret) || v.cephfs?.secretRef || v.cinder?.secretRef || v.flexVolume?.secretRef || v.rbd?.secretRef || v.scaleIO?.secretRef || v.iscsi?.secretRef || v.storageos?.secretRef || v.csi?.nodePublishSecretRef || v.azureFile?.secretName;
  if ((spec?.imagePullSecrets ?? []).length || envs.some((e) => e.valueFrom?.secretKeyRef) || envFroms.some((e) => e.secretRef) || volumes.some(volumeSecret)) return 'secrets';
  if (envs.some((e) => e.valueFrom?.configMapKeyRef) || envFroms.some((e) => e.configMapRef) || volumes.some((v) => v.configMap || v.projected?.sources?.some((p) => p.configMap))) return 'configmaps';
  if ((spec?.resourceClaims ?? []).length) return 'resourceclaims';
  for (const v of volumes) {
    if (v.csi) return 'csidrivers (via CSI volumes)';
    if (v.glusterfs) return 'endpoints (via glusterFS volumes)';
    if (v.persistentVolumeClaim) return 'persistentvolumeclaims';
    if (v.ephemeral) return 'persistentvolumeclaims (via ephemeral volumes)';
    if (v.azureFile) return 'secrets (via azureFile volumes)';
    for (const p of v.projected?.sources ?? []) {
      if (p.serviceAccountToken) return 'serviceaccounts (via projected volumes)';
      if (p.clusterTrustBundle) return 'clustertrustbundles';
      if ((p as { podCertificate?: unknown }).podCertificate) return 'podcertificates';
    }
  }
  return undefined;
}

/** generatePodName: `<name>-<node>`. */
export const staticPodName = (name: string, nodeName: string): string => `${name}-${nodeName.toLowerCase()}`;

/**
 * applyDefaults: the UID a hash of the pod as written, the node and the file (or URL) —
 * the same manifest on the same node keeps its UID across restarts, an edit makes a
 * new one; the name suffixed with the node's; namespace `default` when none; bound to
 * the node; the config annotations; for a file's, the NoExecute toleration of every
 * taint; Pending.
 */
export function staticPod(raw: V1Pod, source: 'file' | 'http', origin: string, nodeName: string, seen: string): V1Pod {
  const pod = defaultPod(structuredClone(raw));
  const hash = createHash('sha256').update(JSON.stringify(canonical(pod))).update(source === 'file' ? `host:${nodeName}file:${origin}` : `url:${origin}`).digest('hex').slice(0, 32);
  const metadata = pod.metadata!;
  const uid = metadata.uid || hash;
  pod.metadata = {
    ...metadata,
    uid,
    name: staticPodName(metadata.name!, nodeName),
    namespace: metadata.namespace || 'default',
    annotations: { ...(metadata.annotations ?? {}), [CONFIG_HASH]: uid, [CONFIG_SOURCE]: source, [CONFIG_SEEN]: seen },
  };
  pod.spec!.nodeName = nodeName;
  if (source === 'file') {
    // Not evicted for the node's problems (the file source's only).
    const tolerations = pod.spec!.tolerations ?? [];
    if (!tolerations.some((t) => t.operator === 'Exists' && t.effect === 'NoExecute' && !t.key)) tolerations.push({ operator: 'Exists', effect: 'NoExecute' });
    pod.spec!.tolerations = tolerations;
  }
  pod.status = { phase: 'Pending' };
  return pod;
}

/** Go's time.RFC3339Nano of a UTC instant: trailing zeros of the fraction dropped (kubetypes.Timestamp's GetString). */
export function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

/** The object with its keys sorted, so the hash does not depend on the manifest's key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object' && !(v instanceof Date)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

export interface StaticPodSourceOptions {
  nodeName: string;
  /** --pod-manifest-path (staticPodPath): every file in it not starting with a dot. */
  dir?: string;
  /** --manifest-url: one manifest, read over HTTP(S). */
  url?: string;
  /** fileCheckFrequency / httpCheckFrequency (20 s). */
  periodMs: number;
  clock: Clock;
  logger: Logger;
  /** A manifest that cannot run: a Warning Event about the Node (once per content). */
  invalid: (origin: string, why: string) => void;
  /** The pods now, whenever they change: the ones added, the ones removed (by UID). */
  changed: (added: V1Pod[], removed: V1Pod[]) => void;
}

/**
 * The file and URL sources: read at start and every period (a directory's change is
 * seen at once through a watch too), each manifest's pods turned into static pods. An
 * invalid manifest leaves the others running, its own pods gone (the kubelet's file
 * source); one that cannot be read (the URL does not answer) keeps the pods it gave last.
 */
export class StaticPodSource {
  private readonly pods = new Map<string, V1Pod>();
  /** Per origin: the pods its last good read gave, and the last error reported. */
  private readonly byOrigin = new Map<string, { pods: V1Pod[]; text?: string; error?: string }>();
  /** Per UID: when it was first seen (config.seen; kept while the pod is). */
  private readonly seen = new Map<string, string>();
  private listed = false;
  /** The kinds of source read well once ('dir', 'url'). */
  private readonly ok = new Set<'dir' | 'url'>();
  private markSynced!: () => void;
  /** Resolves once every source was read once (at once when there is none). */
  readonly synced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(private readonly o: StaticPodSourceOptions) {
    if (!this.enabled) this.markSynced();
  }

  get enabled(): boolean {
    return Boolean(this.o.dir || this.o.url);
  }

  /** Whether the first read is done (the kubelet's sources ready). */
  get hasSynced(): boolean {
    return this.listed || !this.enabled;
  }

  list(): V1Pod[] {
    return [...this.pods.values()];
  }

  get(namespace: string, name: string): V1Pod | undefined {
    for (const p of this.pods.values()) if (p.metadata?.namespace === namespace && p.metadata?.name === name) return p;
    return undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.enabled) return;
    let wake: (() => void) | undefined;
    // A change seen while a read runs: read again at once (the read may have missed it).
    let dirty = false;
    if (this.o.dir) {
      let watcher: AsyncIterable<unknown> | undefined;
      try {
        watcher = watch(this.o.dir, { signal });
      } catch {
        watcher = undefined;
      }
      if (watcher) {
        void (async () => {
          try {
            for await (const _ of watcher) {
              dirty = true;
              wake?.();
            }
          } catch {
            // the path went, or the service stops: the period's reads go on
          }
        })();
      }
    }
    while (!signal.aborted) {
      dirty = false;
      await this.readAll();
      if (dirty) continue;
      const early = new AbortController();
      wake = () => early.abort();
      await this.o.clock.sleep(this.o.periodMs, AbortSignal.any([signal, early.signal])).catch(() => undefined);
      wake = undefined;
    }
  }

  /**
   * One read of every source; the changes are handed over. A source counts as read (the
   * kubelet's seen sources) once it was read well: the directory listed (or absent),
   * the URL answered. A directory that cannot be listed, or a URL that does not answer,
   * keeps the pods it gave last.
   */
  async readAll(): Promise<void> {
    const origins = new Set<string>();
    if (this.o.dir) {
      const dir = this.o.dir;
      let files: string[] | undefined;
      try {
        const st = await stat(dir);
        // A path to one file is that file (listConfig's regular file).
        files = st.isFile() ? [dir] : (await readdir(dir)).filter((n) => !n.startsWith('.')).sort().map((n) => join(dir, n));
        this.ok.add('dir');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          files = [];
          this.ok.add('dir');
        } else this.o.logger.warn({ dir, err: (err as Error).message }, 'static pods: the manifest path cannot be read; its pods stay as they were');
      }
      if (files === undefined) for (const origin of this.byOrigin.keys()) if (origin !== this.o.url) origins.add(origin);
      for (const file of files ?? []) {
        const st = await stat(file).catch(() => undefined);
        if (!st?.isFile()) continue;
        origins.add(file);
        await this.readOrigin(file, 'file', () => readFile(file, 'utf8'));
      }
    }
    if (this.o.url) {
      const url = this.o.url;
      origins.add(url);
      const read = await this.readOrigin(url, 'http', async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
        return res.text();
      });
      if (read) this.ok.add('url');
    }
    // A file removed: its pods go.
    for (const origin of this.byOrigin.keys()) if (!origins.has(origin)) this.byOrigin.delete(origin);
    this.apply();
    if ((!this.o.dir || this.ok.has('dir')) && (!this.o.url || this.ok.has('url'))) {
      this.listed = true;
      this.markSynced();
    }
  }

  /** Reads one manifest; returns whether it was read (valid or not). */
  private async readOrigin(origin: string, source: 'file' | 'http', read: () => Promise<string>): Promise<boolean> {
    const last = this.byOrigin.get(origin);
    let text: string;
    try {
      text = await read();
    } catch (err) {
      this.report(origin, last, `cannot read it: ${(err as Error).message}`);
      return false;
    }
    if (last && last.text === text && !last.error) return true;
    try {
      const pods = (await parseManifest(text, source)).map((raw) => {
        const pod = staticPod(raw, source, origin, this.o.nodeName, '');
        // First seen: kept while the pod (its UID) is.
        pod.metadata!.annotations![CONFIG_SEEN] = this.seen.get(pod.metadata!.uid!) ?? rfc3339Nano(this.o.clock.now());
        return pod;
      });
      this.byOrigin.set(origin, { pods, text });
      if (last?.error) this.o.logger.info({ origin }, 'static pods: the manifest is valid again');
    } catch (err) {
      // An invalid file drops its pods (the file source leaves it out); an invalid
      // answer of the URL keeps the last good ones (the HTTP source sends no update).
      const why = (err as Error).message;
      this.report(origin, last, why);
      this.byOrigin.set(origin, { pods: source === 'http' ? (last?.pods ?? []) : [], text, error: why });
    }
    return true;
  }

  private report(origin: string, last: { pods: V1Pod[]; text?: string; error?: string } | undefined, why: string): void {
    if (last?.error === why) return;
    this.o.logger.error({ origin, why }, 'static pods: a manifest cannot be run; the others run');
    this.o.invalid(origin, why);
    if (last) last.error = why;
  }

  /** The pods of every source now (the first of a duplicated name wins, as the kubelet's), against the last. */
  private apply(): void {
    const now = new Map<string, V1Pod>();
    const names = new Set<string>();
    for (const [origin, { pods }] of [...this.byOrigin].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const p of pods) {
        const key = `${p.metadata!.namespace}/${p.metadata!.name}`;
        if (names.has(key)) {
          this.o.logger.warn({ origin, pod: key }, 'static pods: a pod of this name is already defined; this one is ignored');
          continue;
        }
        names.add(key);
        now.set(p.metadata!.uid!, p);
      }
    }
    const added = [...now.values()].filter((p) => !this.pods.has(p.metadata!.uid!));
    const removed = [...this.pods.values()].filter((p) => !now.has(p.metadata!.uid!));
    this.pods.clear();
    for (const [uid, p] of now) this.pods.set(uid, p);
    for (const p of added) this.seen.set(p.metadata!.uid!, p.metadata!.annotations![CONFIG_SEEN]!);
    for (const p of removed) this.seen.delete(p.metadata!.uid!);
    if (added.length || removed.length) {
      this.o.logger.info({ added: added.map((p) => p.metadata!.name), removed: removed.map((p) => p.metadata!.name) }, 'static pods changed');
      this.o.changed(added, removed);
    }
  }
}

/**
 * The mirror pods (mirror_client.go): the API server's copy of each static pod, owned
 * by the Node, with `kubernetes.io/config.mirror` set to the pod's hash. One that shows
 * another hash, or is being deleted, is deleted (no grace, on its UID) and made again.
 */
export class MirrorPods {
  constructor(
    private readonly api: CoreV1Api,
    private readonly nodeName: string,
    /** The API server's pod of that name (the informer's), mirror or not. */
    private readonly apiPod: (namespace: string, name: string) => V1Pod | undefined,
    /** The Node's UID (its owner reference); undefined until the Node is known. */
    private readonly nodeUid: () => string | undefined,
    private readonly logger: Logger,
  ) {}

  /** The mirror pod that shows this static pod now, if there is one. */
  mirrorOf(pod: V1Pod): V1Pod | undefined {
    const mirror = this.apiPod(pod.metadata!.namespace!, pod.metadata!.name!);
    return mirror && isMirrorPodOf(mirror, pod) && !mirror.metadata?.deletionTimestamp ? mirror : undefined;
  }

  /** SyncPod's mirror part: the mirror made when missing, replaced when stale. Never throws (the next sync tries again). */
  async ensure(pod: V1Pod): Promise<void> {
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const existing = this.apiPod(ns, name);
    if (existing && isMirrorPodOf(existing, pod) && !existing.metadata?.deletionTimestamp) return;
    try {
      if (existing) {
        if (!isMirrorPod(existing)) {
          this.logger.warn({ pod: `${ns}/${name}` }, 'static pod: an API pod of the same name is no mirror pod; no mirror pod is made');
          return;
        }
        await this.deleteMirror(existing);
      }
      const nodeUid = this.nodeUid();
      if (!nodeUid) return; // the Node is not known yet: the next sync makes it
      const { status: _status, ...copy } = structuredClone(pod);
      const { uid: _uid, resourceVersion: _rv, ...metadata } = copy.metadata!;
      await this.api.createNamespacedPod({
        namespace: ns,
        body: {
          ...copy,
          metadata: {
            ...metadata,
            annotations: { ...(metadata.annotations ?? {}), [CONFIG_MIRROR]: pod.metadata!.annotations![CONFIG_HASH]! },
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: nodeUid, controller: true }],
          },
        },
      });
      this.logger.info({ pod: `${ns}/${name}` }, 'mirror pod created');
    } catch (err) {
      if (isAlreadyExists(err)) return; // the informer has not seen it yet
      this.logger.warn({ pod: `${ns}/${name}`, err: describeApiError(err) }, 'mirror pod: not made; the next sync tries again');
    }
  }

  /** DeleteMirrorPod: with no grace, on its UID (a newer pod of the name is left alone). */
  async deleteMirror(mirror: V1Pod): Promise<void> {
    try {
      await this.api.deleteNamespacedPod({ namespace: mirror.metadata!.namespace!, name: mirror.metadata!.name!, gracePeriodSeconds: 0, body: { preconditions: { uid: mirror.metadata!.uid! }, gracePeriodSeconds: 0 } });
      this.logger.info({ pod: `${mirror.metadata!.namespace}/${mirror.metadata!.name}` }, 'mirror pod deleted');
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  /** The static pod is gone: its mirror goes too, when it shows that pod (not a successor's). Never throws. */
  async forget(pod: V1Pod): Promise<void> {
    const existing = this.apiPod(pod.metadata!.namespace!, pod.metadata!.name!);
    if (!existing || !isMirrorPodOf(existing, pod)) return;
    await this.deleteOrphan(existing);
  }

  /** deleteOrphanedMirrorPods: a mirror pod no static pod stands behind. Never throws. */
  async deleteOrphan(mirror: V1Pod): Promise<void> {
    await this.deleteMirror(mirror).catch((err: unknown) => this.logger.warn({ pod: `${mirror.metadata!.namespace}/${mirror.metadata!.name}`, err: describeApiError(err) }, 'orphaned mirror pod: not deleted'));
  }
}

/** What the node runs: the API server's pods bound to it (not the mirror pods) and the static pods. */
export class NodePods {
  constructor(
    private readonly api: { start(): Promise<void>; stop(): void; list(): readonly V1Pod[]; get(namespace: string, name: string): V1Pod | undefined; readonly synced: Promise<void>; readonly hasSynced: boolean },
    private readonly statics: StaticPodSource,
    private readonly o: {
      /** A static pod not to run yet (its predecessor of the same name still terminates). */
      hidden?: (pod: V1Pod) => boolean;
      /** A static pod's status as its mirror pod shows it, if it has one. */
      status?: (pod: V1Pod) => V1Pod['status'] | undefined;
    } = {},
  ) {}

  /** Both sources read once (the kubelet's allSourcesReady). */
  get synced(): Promise<void> {
    return Promise.all([this.api.synced, this.statics.synced]).then(() => undefined);
  }

  get hasSynced(): boolean {
    return this.api.hasSynced && this.statics.hasSynced;
  }

  /**
   * The API server's pods listed: the pods run from then on. The static sources may still
   * be unread (a URL down at boot): what removes the runtime of pods no source has
   * (housekeeping's clean-up, the container GC) waits for hasSynced / synced instead.
   */
  async start(): Promise<void> {
    await this.api.start();
  }

  stop(): void {
    this.api.stop();
  }

  list(): V1Pod[] {
    const statics = this.statics
      .list()
      .filter((p) => !this.o.hidden?.(p))
      .map((p) => this.withStatus(p));
    return [...this.api.list().filter((p) => !isMirrorPod(p)), ...statics];
  }

  get(namespace: string, name: string): V1Pod | undefined {
    const own = this.statics.get(namespace, name);
    if (own) return this.o.hidden?.(own) ? undefined : this.withStatus(own);
    const fromApi = this.api.get(namespace, name);
    return fromApi && !isMirrorPod(fromApi) ? fromApi : undefined;
  }

  private withStatus(pod: V1Pod): V1Pod {
    const status = this.o.status?.(pod);
    return status ? { ...pod, status } : pod;
  }
}
