import {
  containerEventsSubject,
  containerLogStreamsSubject,
  execStreamsSubject,
  eventsStreamName,
  inboxPrefix,
  kubeEventsStreamName,
  kubeEventsSubjects,
  methodSubject,
  nodeStateBucket,
  podStatusesSubject,
  podsViewBucket,
  probeResultsBucket,
  pulledImagesBucket,
  podSyncBucket,
  podSyncReplicasBucket,
  proberReplicasBucket,
  registrarLeaderBucket,
  statusReporterLeasesBucket,
  statusReporterReplicasBucket,
  serviceSubject,
  statusStreamName,
} from '@splitlet/bus';
import { ContainerLogService, ExecStreamService, ImageService, podsyncv1, proberv1, RuntimeService, type DescService } from '@splitlet/contracts';

// THE permission table of the bus: what each service of a node may publish and
// subscribe to. Minting turns a row into the user JWT's permissions and
// docs/architecture.md shows it (`bus-creds table`); nothing else lists subjects.
// Every subject is under the node's own `splitlet.<node>` prefix, its own streams and
// buckets, or its own inbox: the bus's NodeRestriction. The exceptions are written out
// where they occur ($SRV discovery, $JS.API.INFO).

export const SERVICE_NAMES = ['registrar', 'pod-sync', 'runtime-executor', 'prober', 'status-reporter', 'node-api'] as const;
export type BusServiceName = (typeof SERVICE_NAMES)[number];
export const isBusServiceName = (s: string): s is BusServiceName => (SERVICE_NAMES as readonly string[]).includes(s);

/** One right a service holds; each expands into subjects for a given node. */
export type Grant =
  /** Serves every RPC of a proto service (subscribes to its method subjects; replies through `resp`). */
  | { kind: 'serve'; service: DescService }
  /** Calls these RPCs (publishes requests; replies come to its inbox). */
  | { kind: 'call'; service: DescService; methods: string[] }
  /** Publishes plain messages on a subject. */
  | { kind: 'publish'; subject: (node: string) => string; what: string }
  /** Subscribes to plain messages on a subject. */
  | { kind: 'consume'; subject: (node: string) => string; what: string }
  /** Creates the stream and publishes to it. */
  | { kind: 'stream-produce'; stream: (node: string) => string; subject: (node: string) => string }
  /** Removes messages of the stream it produces (a subject's at a time). */
  | { kind: 'stream-purge'; stream: (node: string) => string; what: string }
  /** Reads a stream through its own (ordered) consumers; `ack`: also through a durable one whose messages it acknowledges. */
  | { kind: 'stream-consume'; stream: (node: string) => string; ack?: boolean }
  /** Opens (creating when missing), reads and watches a KV bucket; `write` adds put/delete. */
  | { kind: 'bucket'; bucket: (node: string) => string; write: boolean }
  /** Pings a micro service by name ($SRV.PING.<name>). */
  | { kind: 'ping'; name: BusServiceName };

const rt = (...methods: (keyof typeof RuntimeService.method)[]) => methods.map((m) => RuntimeService.method[m].name);
const img = (...methods: (keyof typeof ImageService.method)[]) => methods.map((m) => ImageService.method[m].name);

export const PERMISSION_TABLE: Record<BusServiceName, { why: string; grants: Grant[] }> = {
  'runtime-executor': {
    why: 'serves the CRI-shaped RPCs, owns the container events stream and keeps the record of the images the node pulled',
    grants: [
      { kind: 'serve', service: RuntimeService },
      { kind: 'serve', service: ImageService },
      { kind: 'serve', service: ContainerLogService },
      { kind: 'consume', subject: containerLogStreamsSubject, what: 'pulls of the container logs it opened' },
      { kind: 'serve', service: ExecStreamService },
      { kind: 'consume', subject: execStreamsSubject, what: 'reads, writes and resizes of the execs and port-forwards it opened' },
      { kind: 'stream-produce', stream: eventsStreamName, subject: containerEventsSubject },
      { kind: 'bucket', bucket: pulledImagesBucket, write: true },
    ],
  },
  'pod-sync': {
    why: "the only caller of the mutating runtime RPCs; publishes pod statuses and Events, owns the pods view; reads the containers' stats (its eviction manager), lists and removes unused images (its image garbage collection); answers for its own metrics; runs the node's graceful shutdown when an operator asks (no service may) and keeps its state for registrar; keeps its pods' records (back-offs, last statuses) and the node's decisions about them in its own bucket, and shares the pods among its replicas (heartbeats, one key per shard)",
    grants: [
      {
        kind: 'call',
        service: RuntimeService,
        methods: rt(
          'runPodSandbox',
          'stopPodSandbox',
          'removePodSandbox',
          'podSandboxStatus',
          'listPodSandbox',
          'createContainer',
          'startContainer',
          'stopContainer',
          'removeContainer',
          'listContainers',
          'containerStatus',
          'execSync',
          'containerLogTail',
          'listContainerStats',
        ),
      },
      { kind: 'call', service: ImageService, methods: img('pullImage', 'imageStatus', 'listImages', 'imageFsInfo', 'removeImage') },
      { kind: 'stream-produce', stream: statusStreamName, subject: podStatusesSubject },
      { kind: 'stream-purge', stream: statusStreamName, what: 'the last status of a pod gone from the API server' },
      { kind: 'stream-produce', stream: kubeEventsStreamName, subject: kubeEventsSubjects },
      { kind: 'stream-consume', stream: eventsStreamName },
      { kind: 'bucket', bucket: podsViewBucket, write: true },
      { kind: 'bucket', bucket: probeResultsBucket, write: false },
      { kind: 'serve', service: podsyncv1.PodSyncMetricsService },
      { kind: 'serve', service: podsyncv1.NodeShutdownService },
      { kind: 'bucket', bucket: nodeStateBucket, write: true },
      { kind: 'bucket', bucket: podSyncBucket, write: true },
      { kind: 'bucket', bucket: podSyncReplicasBucket, write: true },
    ],
  },
  prober: {
    why: 'runs exec probes through ExecSync, reads the pods view, writes probe results and its heartbeats; answers for its own metrics',
    grants: [
      { kind: 'call', service: RuntimeService, methods: rt('execSync') },
      { kind: 'stream-produce', stream: kubeEventsStreamName, subject: kubeEventsSubjects },
      { kind: 'bucket', bucket: podsViewBucket, write: false },
      { kind: 'bucket', bucket: probeResultsBucket, write: true },
      { kind: 'bucket', bucket: proberReplicasBucket, write: true },
      { kind: 'serve', service: proberv1.ProberMetricsService },
    ],
  },
  registrar: {
    why: "reads runtime facts and the containers' memory for node status, relists the node's sandboxes and containers (its PLEG health check), checks that the services the node needs are alive, reads whether the node shuts down, publishes the Node's Events, and elects which of its replicas writes the Node",
    grants: [
      { kind: 'call', service: RuntimeService, methods: rt('version', 'status', 'listPodSandbox', 'listContainers', 'listContainerStats') },
      { kind: 'call', service: ImageService, methods: img('listImages', 'imageFsInfo') },
      { kind: 'stream-produce', stream: kubeEventsStreamName, subject: kubeEventsSubjects },
      { kind: 'ping', name: 'pod-sync' },
      { kind: 'ping', name: 'prober' },
      { kind: 'ping', name: 'status-reporter' },
      { kind: 'ping', name: 'node-api' },
      { kind: 'bucket', bucket: nodeStateBucket, write: false },
      { kind: 'bucket', bucket: registrarLeaderBucket, write: true },
    ],
  },
  'node-api': {
    why: "the kubelet's HTTPS API: opens and pulls container logs, opens and drives execs, attaches and port-forwards, reads containers' stats, gathers pod-sync's and the prober's metrics, nothing else on the bus",
    grants: [
      { kind: 'call', service: ContainerLogService, methods: [ContainerLogService.method.openContainerLog.name] },
      { kind: 'call', service: RuntimeService, methods: [RuntimeService.method.listContainerStats.name] },
      { kind: 'publish', subject: containerLogStreamsSubject, what: 'pulls of the container logs it opened' },
      { kind: 'call', service: ExecStreamService, methods: [ExecStreamService.method.openExec.name, ExecStreamService.method.openAttach.name, ExecStreamService.method.openPortForward.name] },
      { kind: 'publish', subject: execStreamsSubject, what: 'reads, writes and resizes of the execs, attaches and port-forwards it opened' },
      { kind: 'call', service: podsyncv1.PodSyncMetricsService, methods: [podsyncv1.PodSyncMetricsService.method.gatherMetrics.name] },
      { kind: 'call', service: proberv1.ProberMetricsService, methods: [proberv1.ProberMetricsService.method.gatherMetrics.name] },
    ],
  },
  'status-reporter': {
    why: 'reads the pod statuses and Events streams (acknowledging the Events it wrote), and shares their shards among its replicas (heartbeats, one key per shard); publishes nothing else on the bus',
    grants: [
      { kind: 'stream-consume', stream: statusStreamName },
      { kind: 'stream-consume', stream: kubeEventsStreamName, ack: true },
      { kind: 'bucket', bucket: statusReporterLeasesBucket, write: true },
      { kind: 'bucket', bucket: statusReporterReplicasBucket, write: true },
    ],
  },
};

/**
 * The inbox prefix of operators' tools (`nats --inbox-prefix _INBOX_OPERATOR micro ls`):
 * every service may answer there, as it answers its own node's services.
 */
export const OPERATOR_INBOX_PREFIX = '_INBOX_OPERATOR';

export interface SubjectPermissions {
  pub: string[];
  sub: string[];
}

const JS_API_INFO = '$JS.API.INFO'; // the account's JetStream info: every JetStream client asks it once

function streamRead(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
}

function bucketSubjects(bucket: string, write: boolean): string[] {
  const stream = `KV_${bucket}`;
  return [
    `$JS.API.STREAM.CREATE.${stream}`,
    ...streamRead(stream),
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    ...(write ? [`$KV.${bucket}.>`] : []),
  ];
}

/** Every subject one service of one node may publish and subscribe to. */
export function permissionsFor(nodeName: string, service: BusServiceName): SubjectPermissions {
  // Replies go to the inboxes of this node's services (and operators' tools) only, not
  // wherever a request says (NATS `allow_responses`): another node's service that
  // receives a $SRV ping cannot answer it, so it cannot pose as this node's pod-sync
  // (or any service registrar requires: SPLITLET_NODE_REQUIRED_SERVICES).
  const pub = new Set<string>([`${inboxPrefix(nodeName, '*')}.>`, `${OPERATOR_INBOX_PREFIX}.>`]);
  const sub = new Set<string>([`${inboxPrefix(nodeName, service)}.>`]);
  // Every service is a NATS micro service: it answers discovery for its own name only,
  // so no identity can pose as another service. $SRV subjects are not node-scoped (the
  // micro protocol's): see docs/architecture.md, "The bus's identities".
  for (const s of ['$SRV.*', `$SRV.*.${service}`, `$SRV.*.${service}.*`]) sub.add(s);
  for (const g of PERMISSION_TABLE[service].grants) {
    switch (g.kind) {
      case 'serve':
        for (const m of g.service.methods) sub.add(methodSubject(nodeName, g.service, m.name));
        break;
      case 'call':
        for (const m of g.methods) pub.add(methodSubject(nodeName, g.service, m));
        break;
      case 'publish':
        pub.add(g.subject(nodeName));
        break;
      case 'consume':
        sub.add(g.subject(nodeName));
        break;
      case 'stream-produce': {
        const s = g.stream(nodeName);
        for (const x of [JS_API_INFO, `$JS.API.STREAM.INFO.${s}`, `$JS.API.STREAM.CREATE.${s}`, `$JS.API.STREAM.UPDATE.${s}`, g.subject(nodeName)]) pub.add(x);
        break;
      }
      case 'stream-purge':
        pub.add(`$JS.API.STREAM.PURGE.${g.stream(nodeName)}`);
        break;
      case 'stream-consume':
        for (const x of [JS_API_INFO, ...streamRead(g.stream(nodeName))]) pub.add(x);
        if (g.ack) pub.add(`$JS.ACK.${g.stream(nodeName)}.>`);
        break;
      case 'bucket':
        for (const x of [JS_API_INFO, ...bucketSubjects(g.bucket(nodeName), g.write)]) pub.add(x);
        break;
      case 'ping':
        pub.add(`$SRV.PING.${g.name}`);
        break;
    }
  }
  return { pub: [...pub], sub: [...sub] };
}

/** The subjects a service serves, for the table in the docs. */
export const servedSubject = (nodeName: string, service: DescService): string => `${serviceSubject(nodeName, service)}.<Method>`;

/** The table as Markdown, with `<node>` for the node's token (docs/architecture.md holds its output). */
export function permissionTableMarkdown(): string {
  const node = '<node>';
  const rows = SERVICE_NAMES.map((name) => {
    const lines = PERMISSION_TABLE[name].grants.map((g) => describeGrant(node, g));
    return `| ${name} | ${PERMISSION_TABLE[name].why} | ${lines.join('<br>')} |`;
  });
  return [
    '| identity `<node>/<service>` | why | may (besides reading its own inbox `_INBOX.<node>.<service>.>`, answering its own `$SRV` discovery, and replying into `_INBOX.<node>.*.>` and `_INBOX_OPERATOR.>`) |',
    '|---|---|---|',
    ...rows,
  ].join('\n');
}

function describeGrant(node: string, g: Grant): string {
  const code = (s: string) => `\`${s}\``;
  switch (g.kind) {
    case 'serve':
      return `serve ${code(servedSubject(node, g.service))} (${g.service.name}: all)`;
    case 'call':
      return `call ${code(`${serviceSubject(node, g.service)}.{${g.methods.join(',')}}`)}`;
    case 'publish':
      return `publish ${g.what} ${code(g.subject(node))}`;
    case 'consume':
      return `subscribe to ${g.what} ${code(g.subject(node))}`;
    case 'stream-produce':
      return `create stream ${code(g.stream(node))}, publish ${code(g.subject(node))}`;
    case 'stream-purge':
      return `purge ${g.what} from stream ${code(g.stream(node))}`;
    case 'stream-consume':
      return `read stream ${code(g.stream(node))} (own consumers${g.ack ? ', acknowledging' : ''})`;
    case 'bucket':
      return `${g.write ? 'read/write' : 'read'} bucket ${code(g.bucket(node))}`;
    case 'ping':
      return `ping ${code(`$SRV.PING.${g.name}`)}`;
  }
}
