import type { V1ConfigMap, V1DownwardAPIVolumeFile, V1KeyToPath, V1Pod, V1Secret } from '@kubernetes/client-node';
import { resourceFieldValue } from '../downward-resources';
import { fieldValue, type EnvContext } from '../env';
import type { Payload } from './atomic-writer';

/** The API's default for defaultMode of configMap, secret, downwardAPI and projected volumes (0644). */
export const DEFAULT_MODE = 0o644;

/** Keys and bytes of a ConfigMap (data as UTF-8, binaryData decoded) or a Secret (data decoded). */
export const configMapEntries = (cm: V1ConfigMap): Map<string, Buffer> =>
  new Map([
    ...Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'utf8')] as const),
    ...Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const),
  ]);
export const secretEntries = (s: V1Secret): Map<string, Buffer> =>
  new Map([
    ...Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const),
    // stringData is write-only in the API, but a Secret built in a test may carry it.
    ...Object.entries(s.stringData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'utf8')] as const),
  ]);

/**
 * The files of a configMap or secret volume (the kubelet's MakePayload): every key
 * under its own name when no items are given, else each item's key at its path with
 * its mode; a missing key fails unless the volume is optional.
 */
export function keysPayload(
  kind: 'configmap' | 'secret',
  entries: Map<string, Buffer>,
  items: V1KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
): Payload {
  const payload: Payload = new Map();
  if (!items?.length) {
    for (const [k, data] of entries) payload.set(k, { data, mode: defaultMode });
    return payload;
  }
  for (const item of items) {
    const data = entries.get(item.key);
    if (data === undefined) {
      if (optional) continue;
      throw new Error(kind === 'configmap' ? `configmap references non-existent config key: ${item.key}` : `references non-existent secret key: ${item.key}`);
    }
    payload.set(item.path, { data, mode: item.mode ?? defaultMode });
  }
  return payload;
}

/** The files of a downwardAPI volume (or projection): each item's field or resource value at its path. */
export function downwardPayload(pod: V1Pod, items: V1DownwardAPIVolumeFile[] | undefined, defaultMode: number, ctx: EnvContext): Payload {
  const payload: Payload = new Map();
  for (const item of items ?? []) {
    let value: string | undefined;
    if (item.fieldRef) {
      value = fieldValue(pod, item.fieldRef.fieldPath, ctx);
      if (value === undefined) throw new Error(`unable to extract field path ${item.fieldRef.fieldPath}: unsupported fieldPath`);
    } else if (item.resourceFieldRef) value = resourceFieldValue(pod, item.resourceFieldRef, ctx.allocatable);
    else value = '';
    payload.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
  }
  return payload;
}
