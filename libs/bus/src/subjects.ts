import { createHash } from 'node:crypto';
import type { DescService } from '@bufbuild/protobuf';

/**
 * A node name as one subject token. Node names are DNS subdomains, so they may hold
 * dots (NATS token separators) but never underscores: '.' -> '_' is reversible.
 */
export const nodeToken = (nodeName: string): string => nodeName.replaceAll('.', '_');

/** The prefix every subject of one node starts with: `splitlet.<node>`. */
export const nodePrefix = (nodeName: string): string => `splitlet.${nodeToken(nodeName)}`;

/**
 * Where a proto service is served: its package without the leading `splitlet.`,
 * e.g. service splitlet.runtime.v1.RuntimeService -> `splitlet.<node>.runtime.v1`.
 */
export function serviceSubject(nodeName: string, service: DescService): string {
  const pkg = service.file.proto.package;
  if (!pkg.startsWith('splitlet.')) throw new Error(`service ${service.typeName} is not in a splitlet.* package`);
  return `${nodePrefix(nodeName)}.${pkg.slice('splitlet.'.length)}`;
}

/** The subject of one RPC method: `splitlet.<node>.runtime.v1.Version`. */
export const methodSubject = (nodeName: string, service: DescService, methodName: string): string =>
  `${serviceSubject(nodeName, service)}.${methodName}`;

/** The shard a key (a pod's UID) falls in: the same on every replica and every service, whatever the members. */
export function shardOf(key: string, shards: number): number {
  return Number(createHash('sha256').update(key).digest().readBigUInt64BE(0) % BigInt(shards));
}

/**
 * How many shards a node's pod statuses and Events are split into (a contract: every
 * publisher and every status-reporter replica must agree). Each shard is one status
 * subject space and one Events subject, so status-reporter's replicas can each take a
 * share of the pods, every pod's statuses and Events meeting one writer.
 */
export const STATUS_SHARDS = 8;

/** The status shard of an object (a pod's, or the Node's: its UID is the node's name). */
export const statusShardOf = (uid: string): number => shardOf(uid, STATUS_SHARDS);

/**
 * Where pod-sync hands the statuses it computes for one pod to status-reporter:
 * `splitlet.<node>.status.v1.pod.<shard>.<uid>`, a subject of the status stream (a
 * subject per pod, so the stream keeps the latest status of each; the pod's status
 * shard before it, so a status-reporter replica reads only the shards it holds).
 */
export const podStatusSubject = (nodeName: string, podUid: string): string => {
  // A Kubernetes UID is a UUID (36 characters); a longer token is no pod's.
  if (!isPodUidToken(podUid)) throw new Error(`bad pod UID ${JSON.stringify(podUid.slice(0, 64))}`);
  return `${nodePrefix(nodeName)}.status.v1.pod.${statusShardOf(podUid)}.${podUid}`;
};

/** Whether a pod UID can be a subject token (what podStatusSubject takes). */
export const isPodUidToken = (podUid: string): boolean => /^[A-Za-z0-9_-]{1,128}$/.test(podUid);

/** Every pod's status subject of one node (the status stream's, and for permissions): `splitlet.<node>.status.v1.pod.*.*`. */
export const podStatusesSubject = (nodeName: string): string => `${nodePrefix(nodeName)}.status.v1.pod.*.*`;

/** The status subjects of one shard's pods: `splitlet.<node>.status.v1.pod.<shard>.*`. */
export const shardStatusesSubject = (nodeName: string, shard: number): string => `${nodePrefix(nodeName)}.status.v1.pod.${shard}.*`;

/**
 * Where one service of one node receives its replies: `_INBOX.<node>.<service>`. Each
 * identity may subscribe only below its own prefix, so no one reads another's replies
 * (a shared `_INBOX.>` would let any client read every reply on the bus).
 */
export const inboxPrefix = (nodeName: string, service: string): string => `_INBOX.${nodeToken(nodeName)}.${service}`;

/**
 * Where one open container log is pulled from: `splitlet.<node>.runtime.v1.log.<id>`,
 * served by the runtime-executor replica that opened it (ContainerLogService).
 */
export const containerLogStreamSubject = (nodeName: string, streamId: string): string => {
  if (!/^[A-Za-z0-9_-]+$/.test(streamId)) throw new Error(`bad log stream id ${JSON.stringify(streamId)}`);
  return `${nodePrefix(nodeName)}.runtime.v1.log.${streamId}`;
};

/** Every open container log's subject of one node (for permissions): `splitlet.<node>.runtime.v1.log.*`. */
export const containerLogStreamsSubject = (nodeName: string): string => `${nodePrefix(nodeName)}.runtime.v1.log.*`;

/**
 * Where one open exec is driven (output pulled, stdin pushed): `splitlet.<node>.runtime.v1.exec.<id>`,
 * served by the runtime-executor replica that opened it (ExecStreamService).
 */
export const execStreamSubject = (nodeName: string, streamId: string): string => {
  if (!/^[A-Za-z0-9_-]+$/.test(streamId)) throw new Error(`bad exec stream id ${JSON.stringify(streamId)}`);
  return `${nodePrefix(nodeName)}.runtime.v1.exec.${streamId}`;
};

/** Every open exec's subject of one node (for permissions): `splitlet.<node>.runtime.v1.exec.*`. */
export const execStreamsSubject = (nodeName: string): string => `${nodePrefix(nodeName)}.runtime.v1.exec.*`;
