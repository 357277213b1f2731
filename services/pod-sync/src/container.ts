import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Service } from '@nats-io/services';
import type { DependencyContainer } from 'tsyringe';
import { createRpcClient, forgetPodStatus, HandlerError, nodeStateBucket, openBucket, podSyncBucket, podSyncReplicasBucket, POD_SYNC_SHARDS, recordNodeEvent, recordPodEvent, serveMetrics, serveRpc, shardOf, type ServiceClient } from '@splitlet/bus';
import { reservedMemoryOf, thresholdsOf } from '@splitlet/config';
import { ContainerState, ImageService, podsyncv1, RuntimeService } from '@splitlet/contracts';
import { loadKubeConfig, OwnNodeInformer, PodInformer, ServiceInformer } from '@splitlet/kube';
import { readBootId, runAll, shardMembersTtlMs, ShardOwnership, TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { release } from 'node:os';
import { PodAdmission } from './admission';
import { commaList, imageGCPolicyOf, shardSettings, shutdownPeriodsOf, type Config } from './config';
import { ContainerGC } from './container-gc';
import { ImageGC } from './image-gc';
import { ImageManager } from './image-manager';
import { PodUpdateFilter } from './pod-changes';
import { PodSyncMetrics } from './pod-metrics';
import { PodRecordStore } from './pod-records';
import { PodDecisions } from './pod-decisions';
import { rejectionOf, SharedAdmission } from './shared-admission';
import { EvictionManager } from './eviction-manager';
import { GracefulShutdownDisabledError, NodeShutdownManager } from './node-shutdown';
import { PodSyncer, type Eviction } from './pod-syncer';
import { ProbeState } from './probe-state';
import { PodTraces } from './pod-traces';
import { PodWatch, type Caches } from './pod-watch';
import { PodWorkers } from './pod-workers';
import { isMirrorPod, isMirrorPodOf, isStaticPod, MirrorPods, NodePods, StaticPodSource } from './static-pods';
import { SysctlAllowlist, safeSysctls } from './sysctls';
import { SYNC } from './tokens';
import { SystemMounter } from './volumes/mounter';
import { ApiObjectSource } from './volumes/objects';
import { ApiClaimSource } from './volumes/persistent-volumes';
import { ServiceAccountTokens } from './volumes/service-account-tokens';
import { VolumeManager, type PodEventSink } from './volumes/volume-manager';

/** gRPC's FAILED_PRECONDITION: the typed errors' codes are the CRI's. */
const FAILED_PRECONDITION = 9;

/** The kubelet's backOffPeriod: a pod whose sync failed is synced again after this (plus up to half of it). */
const RETRY_MS = 10_000;

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  const logger = container.resolve<Logger>(TOKENS.Logger);
  const nc = container.resolve<NatsConnection>(TOKENS.Nats);
  const kc = loadKubeConfig(config.KUBECONFIG);
  const node = config.SPLITLET_NODE_NAME;
  const core = kc.makeApiClient(CoreV1Api);
  const opts = { timeoutMs: config.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS };
  // The node's pods are shared among pod-sync's replicas by shard (ShardOwnership below):
  // a replica syncs the pods of the shards it holds, and the one holding shard 0 leads —
  // it runs the node's own duties (admission, evictions, the node shutdown, garbage
  // collection) and syncs the static pods. Alone, a replica holds every shard.
  const held = new Set<number>();
  const shardOfUid = (uid: string) => shardOf(uid, POD_SYNC_SHARDS);
  const shardOfPod = (pod: V1Pod) => (isStaticPod(pod) ? 0 : shardOfUid(pod.metadata?.uid ?? ''));
  const owns = (pod: V1Pod) => held.has(shardOfPod(pod));
  const leads = () => held.has(0);
  container.registerInstance(SYNC.Runtime, createRpcClient(nc, node, RuntimeService, opts));
  container.registerInstance(SYNC.Images, createRpcClient(nc, node, ImageService, { timeoutMs: 300_000 }));
  container.registerInstance(SYNC.Dns, { clusterDNS: config.SPLITLET_CLUSTER_DNS.split(',').map((s) => s.trim()).filter(Boolean), clusterDomain: config.SPLITLET_CLUSTER_DOMAIN });
  container.registerInstance(SYNC.NodeIP, nodeInternalIP(core, node));
  // The node's own Node (its allocatable: what an unset limit reads as in the downward
  // API) and every Service (the pods' service variables), each kept by a watch as the
  // kubelet's node and service listers.
  const ownNode = new OwnNodeInformer({ kubeConfig: kc, nodeName: node, logger });
  const services = new ServiceInformer({ kubeConfig: kc, logger });
  // A Node not registered yet, or registered without its status, has no allocatable yet.
  container.registerInstance(SYNC.NodeAllocatable, () => {
    const allocatable = ownNode.get(node)?.status?.allocatable;
    return allocatable && Object.keys(allocatable).length ? allocatable : undefined;
  });
  container.registerInstance(SYNC.Services, services);
  // GetActivePods: admitted (by this process, or given a start time by the node before it) and not finished, being deleted or not.
  const activePod = (p: V1Pod) => (Boolean(p.status?.startTime) || container.resolve<SharedAdmission>(SYNC.Admission).isAdmitted(p.metadata?.uid ?? '')) && !finished(p);
  // Finished as the node knows it: by this replica's own records, or as the replica syncing it said (the API's phase lags).
  const finished = (p: V1Pod) => syncer.finished(p) || Boolean(decisions.admission(p.metadata?.uid ?? '')?.finished);
  // The node shutdown manager's state is read before any pod is admitted (a shutdown under way refuses them).
  let bucket: ReturnType<typeof openBucket> | undefined;
  const shutdown = new NodeShutdownManager({
    periods: shutdownPeriodsOf(config),
    bucket: () => (bucket ??= openBucket(nc, nodeStateBucket(node)).catch((err: unknown) => {
      bucket = undefined;
      throw err;
    })),
    bootId: readBootId,
    pods: () => nodePods.list(),
    // The API server's pods listed (a static source down at boot does not hold the shutdown back).
    synced: () => informer.synced,
    active: activePod,
    terminate: (pod, how) => decideEviction(pod, how),
    runningPods: () =>
      container
        .resolve<ServiceClient<typeof RuntimeService>>(SYNC.Runtime)
        .listContainers({ filter: { state: ContainerState.RUNNING } })
        .then(
          (r) => new Set(r.containers.map((c) => c.labels['io.kubernetes.pod.uid'] ?? '')),
          () => undefined,
        ),
    nodeEvent: (type, reason, message) => recordNodeEvent(nc, node, type, reason, message),
    clock: container.resolve<Clock>(TOKENS.Clock),
    logger,
    // Only the replica that leads terminates pods (lead(), while it holds shard 0).
    leading: false,
  });
  // Read before the first sync admits a pod (tried again in the background when the bucket does not answer).
  const shutdownLoaded = shutdown.load();
  const caches: Caches = {
    start: async () => {
      await Promise.all([ownNode.start(), services.start()]);
    },
    stop: () => {
      ownNode.stop();
      services.stop();
    },
  };
  container.registerInstance(SYNC.Caches, caches);
  container.registerInstance(SYNC.ResyncMs, config.SPLITLET_POD_RESYNC_MS);
  container.registerInstance(SYNC.Probes, new ProbeState(nc, node, logger));
  if (!container.isRegistered(SYNC.Metrics)) container.registerInstance(SYNC.Metrics, new PodSyncMetrics(container.resolve(SYNC.Runtime), logger));
  const metrics = container.resolve<PodSyncMetrics>(SYNC.Metrics);
  container.registerInstance(SYNC.ImageManager, new ImageManager(container.resolve(SYNC.Images), core, container.resolve<Clock>(TOKENS.Clock), metrics));
  const podEvents: PodEventSink = (pod, type, reason, message) => {
    const m = pod.metadata!;
    recordPodEvent(nc, node, { namespace: m.namespace!, name: m.name!, uid: m.uid!, resourceVersion: m.resourceVersion }, type, reason, message);
  };
  const objects = new ApiObjectSource(core, config.SPLITLET_OBJECT_CACHE_TTL_MS);
  container.registerInstance(SYNC.PodEvents, podEvents);
  container.registerInstance(SYNC.Objects, objects);
  // The node's labels (a PV's node affinity): its watch's, or read when it has not listed yet (the kubelet's getNodeAnyWay).
  const nodeLabels = async () => {
    const known = ownNode.get(node);
    if (known) return known.metadata?.labels ?? {};
    return core.readNode({ name: node }).then((n) => n.metadata?.labels ?? {}, () => undefined);
  };
  container.registerInstance(
    SYNC.Volumes,
    new VolumeManager(config.SPLITLET_DATA_DIR, node, objects, new ServiceAccountTokens(core), new SystemMounter(), podEvents, logger, new ApiClaimSource(core), nodeLabels),
  );
  // The safe sysctls this kernel namespaces and the node's allowed unsafe ones (kubelet.go NewMainKubelet).
  // Admission reads the node's own Node and the pods bound to it (the informer below).
  // A pod counts as finished once this node knows it finished, not once the API shows it.
  const admissionView = { node: () => ownNode.get(node), pods: () => nodePods.list(), shuttingDown: () => shutdown.shuttingDown(), finished };
  const localAdmission = new PodAdmission(new SysctlAllowlist([...safeSysctls(release()), ...commaList(config.SPLITLET_ALLOWED_UNSAFE_SYSCTLS)]), admissionView);
  // The node's decisions about pods (admissions, evictions), taken by the replica that
  // leads and followed by every one: the one syncing a pod carries them out.
  let podBucket: Promise<KV> | undefined;
  const openPodBucket = () => (podBucket ??= openBucket(nc, podSyncBucket(node)).catch((err: unknown) => {
    podBucket = undefined;
    throw err;
  }));
  const podByUid = (uid: string) => nodePods.list().find((p) => p.metadata?.uid === uid);
  const decisions = new PodDecisions(
    openPodBucket,
    {
      admission: (uid, d) => (d ? localAdmission.record(uid, rejectionOf(d)) : localAdmission.forget(uid)),
      eviction: (uid, d) => {
        syncer.evicted(uid, d && { reason: d.reason || undefined, message: d.message, gracePeriodSeconds: Number(d.gracePeriodSeconds), disruption: d.disruption, decidedAt: Number(d.decidedAt), event: false });
        const pod = d && podByUid(uid);
        if (pod) workers.update(pod);
      },
    },
    container.resolve<Clock>(TOKENS.Clock),
    logger,
  );
  let owner: ShardOwnership | undefined;
  const admission = new SharedAdmission(localAdmission, decisions, leads, logger, undefined, () => owner?.settled() ?? false);
  container.registerInstance(SYNC.Admission, admission);
  /** The leader's eviction (or node shutdown termination) of a pod: its Event now, the pod's syncing replica told through the bucket. */
  const decideEviction = (pod: V1Pod, how: Eviction) => {
    const decided = syncer.evict(pod, how);
    const uid = pod.metadata!.uid!;
    workers.update(pod);
    void decisions
      .evict(uid, { reason: decided.reason ?? '', message: decided.message, gracePeriodSeconds: BigInt(decided.gracePeriodSeconds), disruption: decided.disruption !== false, decidedAt: BigInt(decided.decidedAt ?? 0) })
      .catch((err: unknown) => logger.warn({ uid, err: (err as Error).message }, 'the eviction could not be written: the replica syncing the pod does not know it'));
  };
  // What outlives this process of each pod (its back-off, its last status): pod-sync's own bucket.
  container.registerInstance(SYNC.Records, new PodRecordStore(openPodBucket, logger));
  const syncer = container.resolve(PodSyncer);
  container.registerInstance(PodSyncer, syncer);
  syncer.onCleanup = (uid) => decisions.forget(uid);
  syncer.onFinished = (uid) => void decisions.finished(uid).catch((err: unknown) => logger.debug({ uid, err }, "the pod's end could not be written: the leader counts it until the API shows it"));
  const traces = new PodTraces(node);
  const workers = new PodWorkers(
    (pod, statusOnly, signal) =>
      traces.run(pod, async () => {
        await shutdownLoaded;
        // A static pod's mirror first, as SyncPod: made when missing, replaced when stale.
        if (isStaticPod(pod) && !statusOnly && !pod.metadata?.deletionTimestamp) await mirrors.ensure(pod);
        return syncer.sync(pod, statusOnly, signal);
      }),
    {
      resyncMs: config.SPLITLET_POD_RESYNC_MS,
      retryMs: Math.min(RETRY_MS, config.SPLITLET_POD_RESYNC_MS),
      refreshMs: config.SPLITLET_VOLUME_REFRESH_MS,
      refresh: (pod) => traces.run(pod, () => syncer.refreshVolumes(pod)),
      latest: (pod) => {
        const now = nodePods.get(pod.metadata!.namespace!, pod.metadata!.name!);
        return now?.metadata?.uid === pod.metadata?.uid ? now : undefined;
      },
    },
  );
  container.registerInstance(SYNC.Workers, workers);
  workers.owns = owns;
  container.registerInstance(SYNC.Shards, { ownsUid: (uid: string) => held.has(isStaticPod(podByUid(uid) ?? {}) ? 0 : shardOfUid(uid)) });
  const updates = new PodUpdateFilter();
  const informer: PodInformer = new PodInformer(
    { kubeConfig: kc, nodeName: node, logger },
    {
      onUpsert: (pod) => {
        // A mirror pod is not run: its static pod is synced (its status goes to it now; a stale one is replaced).
        if (isMirrorPod(pod)) {
          const key = keyOf(pod);
          // A static pod of that name still terminating (an edit): its mirror is left alone, the new pod waits.
          if (terminatingNames.has(key)) return;
          const own = statics.get(pod.metadata!.namespace!, pod.metadata!.name!);
          if (own) {
            const current = isMirrorPodOf(pod, own) && !pod.metadata?.deletionTimestamp;
            // A new mirror of the pod: its status goes there now (a status-only sync); a stale one is replaced (a full one).
            if (!current || mirrorsSeen.get(key) !== pod.metadata?.uid) workers.update(own, { statusOnly: current });
            mirrorsSeen.set(key, pod.metadata!.uid!);
          }
          // deleteOrphanedMirrorPods: a mirror pod of no static pod goes, once the static pods are read.
          else if (statics.hasSynced && leads()) void mirrors.deleteOrphan(pod);
          return;
        }
        // The startup SLI ends when the watch shows every container started.
        if (owns(pod)) metrics.observedOnWatch(pod, container.resolve<Clock>(TOKENS.Clock).now());
        // The leader admits each new pod as it sees it, whichever replica syncs it.
        admission.decideAhead(pod, finished(pod));
        if (updates.shouldSync(pod)) workers.update(pod);
      },
      onDelete: (pod) => {
        const uid = pod.metadata?.uid;
        if (!uid) return;
        if (isMirrorPod(pod)) {
          // Its last status leaves the stream; a static pod that still runs gets a new mirror.
          if (leads()) void forgetPodStatus(nc, node, uid).catch(() => undefined);
          const key = keyOf(pod);
          if (mirrorsSeen.get(key) === uid) mirrorsSeen.delete(key);
          const own = statics.get(pod.metadata!.namespace!, pod.metadata!.name!);
          if (own && !terminatingNames.has(key)) workers.update(own);
          return;
        }
        updates.forget(uid);
        evictions.forget(uid);
        // Another replica's pod: that one cleans it up.
        if (!owns(pod)) return;
        // In the pod's worker, after the sync that runs now (its termination removing the
        // same sandbox), and with no sync after it to record the pod again.
        workers
          .remove(uid, () => traces.run(pod, () => syncer.cleanup(uid)))
          .catch((err: unknown) => logger.warn({ uid, err: (err as Error).message }, 'cleanup failed'));
      },
    },
  );
  // Static pods (SPLITLET_STATIC_POD_PATH, SPLITLET_MANIFEST_URL) beside the API server's, and their mirror pods.
  const mirrors = new MirrorPods(core, node, (ns, name) => informer.get(ns, name), () => ownNode.get(node)?.metadata?.uid, logger);
  /** `<ns>/<name>` of static pods being removed, and how many: a new pod of the name waits for all (allowStaticPodStart). */
  const terminating = new Map<string, number>();
  const terminatingNames = { has: (key: string) => (terminating.get(key) ?? 0) > 0 };
  /** The mirror pod last seen per name, so a status patch of it does not sync its static pod again. */
  const mirrorsSeen = new Map<string, string>();
  const keyOf = (pod: V1Pod) => `${pod.metadata!.namespace}/${pod.metadata!.name}`;
  const statics = new StaticPodSource({
    nodeName: node,
    ...(config.SPLITLET_STATIC_POD_PATH ? { dir: config.SPLITLET_STATIC_POD_PATH } : {}),
    ...(config.SPLITLET_MANIFEST_URL ? { url: config.SPLITLET_MANIFEST_URL } : {}),
    periodMs: config.SPLITLET_FILE_CHECK_FREQUENCY_MS,
    clock: container.resolve<Clock>(TOKENS.Clock),
    logger,
    // Every replica reads the manifests; the leader, which syncs the static pods, says what is wrong with one.
    invalid: (origin, why) => leads() && recordNodeEvent(nc, node, 'Warning', 'FailedToCreateStaticPod', `static pod manifest ${origin}: ${why}`),
    changed: (added, removed) => {
      // The old first: an edited pod's successor waits until it is gone.
      for (const pod of removed) removeStaticPod(pod);
      for (const pod of added) if (!terminatingNames.has(keyOf(pod))) workers.update(pod);
    },
  });
  // Each static pod as its mirror pod's status shows it (the status manager's cache of it), none while its predecessor terminates.
  const nodePods = new NodePods(informer, statics, {
    hidden: (pod) => terminatingNames.has(keyOf(pod)),
    status: (pod) => mirrors.mirrorOf(pod)?.status,
  });
  // The mirror pods of static pods gone while pod-sync was away.
  const deleteOrphanMirrors = () => {
    for (const p of informer.list()) if (isMirrorPod(p) && !statics.get(p.metadata!.namespace!, p.metadata!.name!) && !terminatingNames.has(keyOf(p))) void mirrors.deleteOrphan(p);
  };
  // A static pod whose manifest is gone (or was edited) ends as a deleted pod does: its
  // sync running now cancelled, its containers stopped within its grace period, cleaned
  // up, its mirror deleted; then a new pod of its name starts.
  const removeStaticPod = (pod: V1Pod) => {
    // The static pods are the leader's (shard 0's holder).
    if (!leads()) return;
    const uid = pod.metadata!.uid!;
    const key = keyOf(pod);
    // A pod that never started (an edit's successor edited again) has nothing to stop (cleanupUnstartedPod).
    const started = workers.has(uid);
    terminating.set(key, (terminating.get(key) ?? 0) + 1);
    const ending: V1Pod = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date(container.resolve<Clock>(TOKENS.Clock).now()), deletionGracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds ?? 30 } };
    if (started) workers.update(ending);
    workers
      .remove(uid, () =>
        traces.run(pod, async () => {
          if (started) await syncer.sync(ending, false, new AbortController().signal);
          await syncer.cleanup(uid);
          await mirrors.forget(pod);
        }),
      )
      .catch((err: unknown) => logger.warn({ uid, err: (err as Error).message }, 'static pod: removal failed'))
      .finally(() => {
        const left = (terminating.get(key) ?? 1) - 1;
        if (left > 0) terminating.set(key, left);
        else terminating.delete(key);
        const next = statics.get(pod.metadata!.namespace!, pod.metadata!.name!);
        if (next && !terminatingNames.has(key)) workers.update(next);
      });
  };
  // A static pod's status goes to its mirror pod (none yet: nowhere), and never ends it.
  syncer.routeStatus((pod) => {
    if (!isStaticPod(pod)) return { uid: pod.metadata!.uid!, terminated: undefined };
    const mirror = mirrors.mirrorOf(pod);
    return mirror ? { uid: mirror.metadata!.uid!, terminated: false } : undefined;
  });
  container.registerInstance(SYNC.PodInformer, nodePods);
  // The container GC runs beside the pod watch, on the same pods, once they are listed.
  const gc = new ContainerGC(container.resolve(SYNC.Runtime), nodePods, container.resolve<Clock>(TOKENS.Clock), logger, node, undefined, finished);
  const nodeWarning = (reason: string, message: string) => recordNodeEvent(nc, node, 'Warning', reason, message);
  const runtime = container.resolve<ServiceClient<typeof RuntimeService>>(SYNC.Runtime);
  const images = container.resolve<ServiceClient<typeof ImageService>>(SYNC.Images);
  const imageGC = new ImageGC(
    { listImages: (r) => images.listImages(r), imageFsInfo: (r) => images.imageFsInfo(r), removeImage: (r) => images.removeImage(r), listContainers: (r) => runtime.listContainers(r) },
    container.resolve<Clock>(TOKENS.Clock),
    logger,
    node,
    nodeWarning,
    imageGCPolicyOf(config),
  );
  // The eviction manager (memory.available, the disk signals) hands the pod it chooses to the pod's worker.
  const evictions = new EvictionManager({
    thresholds: thresholdsOf(config),
    // Unmeasured, the disk signals are left out of the look; the others still act.
    imageFs: () =>
      images.imageFsInfo({}).then(
        ({ imageFilesystems: [fs] }) => fs && { availableBytes: fs.availableBytes, capacityBytes: fs.capacityBytes, inodesFree: fs.inodesFree, inodes: fs.inodes },
        (err: unknown) => void logger.warn({ err: (err as Error).message }, 'eviction manager: the image filesystem could not be measured'),
      ),
    reclaim: { deleteAllUnusedContainers: () => gc.deleteAllUnusedContainers(), deleteUnusedImages: () => imageGC.deleteUnusedImages() },
    maxPodGracePeriodSeconds: config.SPLITLET_EVICTION_MAX_POD_GRACE_PERIOD,
    reservedMemoryBytes: reservedMemoryOf(config),
    volumePath: (pod, v) => container.resolve<VolumeManager>(SYNC.Volumes).volumePath(pod, v),
    hostRoot: config.SPLITLET_HOST_ROOT,
    runtime: container.resolve(SYNC.Runtime),
    pods: () => nodePods.list(),
    // Not the API's startTime alone: the status that carries it may not be back yet (or
    // status-reporter is away) while the pod already fills the disk.
    active: activePod,
    nodeEvent: (type, reason, message) => recordNodeEvent(nc, node, type, reason, message),
    evict: (pod, eviction) => decideEviction(pod, eviction),
    clock: container.resolve<Clock>(TOKENS.Clock),
    logger,
    intervalMs: config.SPLITLET_EVICTION_MONITORING_MS,
  });
  const watch = container.resolve(PodWatch);
  const metricsServer: Runnable = {
    run: async (signal) => {
      // Every replica answers node-api's gather (its micro service instance is its replica id).
      const micro = container.resolve<Service>(TOKENS.MicroService);
      serveMetrics(micro, node, podsyncv1.PodSyncMetricsService, { registry: metrics.registry, replicaId: micro.info().id }, logger);
      // The node's graceful shutdown: only an operator's identity may call it (libs/bus-auth).
      serveRpc(
        micro,
        node,
        podsyncv1.NodeShutdownService,
        {
          shutdown: async () => ({
            state: await shutdown.shutdown().catch((err: unknown) => {
              throw err instanceof GracefulShutdownDisabledError ? new HandlerError(FAILED_PRECONDITION, err.message) : err;
            }),
          }),
          cancelShutdown: async () => ({ cancelled: await shutdown.cancel() }),
        },
        { logger },
      );
      await untilAborted(signal);
      await shutdown.stop();
    },
  };
  // The node's own duties, run by the replica that leads (holds shard 0) while it does.
  const leaderDuties: Runnable = runAll(
    { run: (signal) => gc.run(signal, config.SPLITLET_CONTAINER_GC_PERIOD_MS, nodeWarning) },
    { run: (signal) => imageGC.run(signal, config.SPLITLET_IMAGE_GC_PERIOD_MS) },
    evictions,
    { run: (signal) => shutdown.lead(signal) },
    {
      run: async (signal) => {
        await Promise.race([nodePods.synced, untilAborted(signal)]);
        if (signal.aborted) return;
        // The mirror pods of static pods gone while no pod-sync led; the pods that wait for their admission.
        deleteOrphanMirrors();
        for (const pod of nodePods.list()) admission.decideAhead(pod, finished(pod));
      },
    },
  );
  const settings = shardSettings(config);
  /** Which shard a pod with a worker or a record here falls in (a static pod's: 0). */
  const shardOfKnown = (uid: string) => (isStaticPod(podByUid(uid) ?? {}) ? 0 : shardOfUid(uid));
  /**
   * Syncs the pods of a shard while this replica holds it: each pod of it now, and every
   * update of one until the term ends; then the pods are let go — no sync of them starts
   * here again, the ones under way finish, and each pod's record is kept for the next
   * holder (which starts only once this returns: ShardOwnership).
   */
  const hold = async (shard: number, term: AbortSignal): Promise<void> => {
    held.add(shard);
    logger.info({ shard }, 'syncing the pods of a shard');
    try {
      await Promise.race([nodePods.synced, untilAborted(term)]);
      if (!term.aborted) {
        for (const pod of nodePods.list()) if (shardOfPod(pod) === shard) workers.update(pod);
        await (shard === 0 ? leaderDuties.run(term) : untilAborted(term));
      }
    } finally {
      held.delete(shard);
      await workers.release(workers.uids().filter((uid) => shardOfKnown(uid) === shard));
      const handed = syncer.recordedPods().filter((uid) => shardOfKnown(uid) === shard);
      await Promise.all(handed.map((uid) => syncer.handOver(uid)));
      logger.info({ shard, pods: handed.length }, 'stopped syncing the pods of a shard');
    }
  };
  const ownership: Runnable = {
    run: async (signal) => {
      const members = await openBucket(nc, podSyncReplicasBucket(node), { ttlMs: shardMembersTtlMs(settings) });
      const leases = await openPodBucket();
      logger.info({ replica: settings.id, shards: settings.shards }, "sharing the node's pods");
      owner = new ShardOwnership(members, leases, settings, container.resolve<Clock>(TOKENS.Clock), logger, hold);
      await owner.run(signal);
    },
  };
  return runAll(watch, statics, metricsServer, decisions, { run: (signal) => shutdown.follow(signal) }, ownership);
}

/**
 * The node's InternalIP from its Node object (the pods' hostIP): read when first
 * needed and whenever still unknown (the Node may not be registered yet), then
 * refreshed every 30 s.
 */
function nodeInternalIP(api: CoreV1Api, node: string): () => Promise<string> {
  let ip = '';
  let readAt = 0;
  return async () => {
    if (ip && Date.now() - readAt < 30_000) return ip;
    const n = await api.readNode({ name: node }).catch(() => undefined);
    ip = n?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? ip;
    readAt = Date.now();
    return ip;
  };
}
