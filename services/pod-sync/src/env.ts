import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseQuantity } from '@splitlet/quantity';

/**
 * $(VAR) expansion as the kubelet's (third_party/forked/golang/expansion): a
 * reference to a defined variable is replaced, `$$` is an escaped `$`, and a
 * reference to an undefined variable, or an unclosed one, stays as written.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      const value = name ? lookup(name) : undefined;
      out += value ?? `$(${name})`;
      i = end;
    } else {
      out += `$${next}`;
      i++;
    }
  }
  return out;
}

export interface EnvContext {
  podIP: string;
  hostIP: string;
  nodeName: string;
}

/** fieldpath.FormatMap: sorted key="value" lines. */
const formatMap = (map: Record<string, string> | undefined): string =>
  Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map![k])}`)
    .join('\n');

/** The value of a downward-API field path (fieldRef), or undefined when it is not one the kubelet supports. */
export function fieldValue(pod: V1Pod, path: string, ctx: EnvContext): string | undefined {
  const m = pod.metadata;
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub) return (sub[1] === 'labels' ? m?.labels : m?.annotations)?.[sub[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return m?.name ?? '';
    case 'metadata.namespace':
      return m?.namespace ?? '';
    case 'metadata.uid':
      return m?.uid ?? '';
    case 'metadata.labels':
      return formatMap(m?.labels);
    case 'metadata.annotations':
      return formatMap(m?.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP;
    default:
      return undefined;
  }
}

/**
 * resourceFieldRef: the container's request or limit divided by the divisor, rounded
 * up (ExtractContainerResourceValue). A limit the container does not set would be
 * the node's allocatable in the kubelet; here it reads 0 until that is wired in.
 */
export function resourceValue(c: V1Container, resource: string, divisor = '1'): string {
  const [kind, name] = resource.split('.') as [string, string];
  const list = kind === 'limits' ? c.resources?.limits : c.resources?.requests;
  const value = parseQuantity(list?.[name] ?? '0');
  const div = parseQuantity(divisor || '1');
  if (div === 0n) return '0';
  return String((value + div - 1n) / div);
}

/**
 * The container's environment as the kubelet makes it (makeEnvironmentVariables):
 * values in order, each expanded against the ones before it; fieldRef and
 * resourceFieldRef resolved. configMapKeyRef / secretKeyRef / envFrom come with the
 * volumes-and-configuration work.
 */
export function containerEnv(pod: V1Pod, c: V1Container, ctx: EnvContext): { key: string; value: string }[] {
  const env = new Map<string, string>();
  for (const e of c.env ?? []) {
    let value: string | undefined;
    if (e.value !== undefined) value = expand(e.value, (n) => env.get(n));
    else if (e.valueFrom?.fieldRef) value = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, ctx);
    else if (e.valueFrom?.resourceFieldRef) {
      const r = e.valueFrom.resourceFieldRef;
      const target = r.containerName ? (pod.spec?.containers.find((x) => x.name === r.containerName) ?? c) : c;
      value = resourceValue(target, r.resource, r.divisor ? String(r.divisor) : '1');
    } else if (!e.valueFrom) value = '';
    if (value !== undefined) env.set(e.name, value);
  }
  return [...env].map(([key, value]) => ({ key, value }));
}

/** Command and args with $(VAR) expanded against the container's environment. */
export function expandCommand(list: string[] | undefined, env: { key: string; value: string }[]): string[] {
  const map = new Map(env.map((e) => [e.key, e.value]));
  return (list ?? []).map((s) => expand(s, (n) => map.get(n)));
}
