/** DI tokens of pod-sync (beside @splitlet/service's TOKENS). */
export const SYNC = {
  /** The PodInformer of the pods bound to this node. */
  PodInformer: Symbol('PodInformer'),
  /** ServiceClient<typeof RuntimeService> for this node. */
  Runtime: Symbol('Runtime'),
  /** ServiceClient<typeof ImageService> for this node. */
  Images: Symbol('Images'),
  /** DnsSettings: cluster DNS and domain. */
  Dns: Symbol('Dns'),
  /** () => Promise<string>: the node's InternalIP (the pods' hostIP). */
  NodeIP: Symbol('NodeIP'),
  /** () => ResourceList | undefined: the node's allocatable from its Node object (undefined until read). */
  NodeAllocatable: Symbol('NodeAllocatable'),
  /** ServiceSource: the cluster's Services (for the pods' service environment variables). */
  Services: Symbol('Services'),
  /** Caches: the other watches the syncs read (the node's own Node, the Services), started before the pods are. */
  Caches: Symbol('Caches'),
  /** PodWorkers */
  Workers: Symbol('Workers'),
  /** ImageManager: pull policy, pull secrets, pull back-off. */
  ImageManager: Symbol('ImageManager'),
  /** ProbeState: the pods view for the prober and its results. */
  Probes: Symbol('Probes'),
  /** The resync period in ms. */
  ResyncMs: Symbol('ResyncMs'),
  /** ObjectSource: the ConfigMaps and Secrets of this node's pods, got by name. */
  Objects: Symbol('Objects'),
  /** VolumeManager: the pods' volumes on the host. */
  Volumes: Symbol('Volumes'),
  /** PodAdmission: whether the node runs a pod (the kubelet's admit handlers). */
  Admission: Symbol('Admission'),
  /** PodEventSink: records an Event about a pod. */
  PodEvents: Symbol('PodEvents'),
  /** PodSyncMetrics: the kubelet_* figures node-api gathers for /metrics. */
  Metrics: Symbol('Metrics'),
  /** PodRecordStore: the pod records that outlive the process holding them (pod-records.ts). */
  Records: Symbol('Records'),
  /** PodShardView: which pods this replica syncs now. */
  Shards: Symbol('Shards'),
} as const;
