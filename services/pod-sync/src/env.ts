import type { V1ConfigMap, V1Container, V1Pod, V1Secret } from '@kubernetes/client-node';
import { resourceFieldValue, type ResourceList } from './downward-resources';
import { ContainerConfigError } from './volumes/errors';

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
  /** The node's allocatable from its Node object (what an unset limit reads as in resourceFieldRef); undefined until the Node is read. */
  allocatable?: ResourceList;
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
 * What a container's env draws on, fetched before the env is made: the ConfigMaps and
 * Secrets it refers to (undefined for one that does not exist) and the service
 * variables of the pod's namespace (service-env.ts).
 */
export interface EnvObjects {
  configMaps: Map<string, V1ConfigMap | undefined>;
  secrets: Map<string, V1Secret | undefined>;
  services?: Map<string, string>;
}

/** Keys of an envFrom source skipped as invalid variable names (the kubelet's InvalidEnvironmentVariableNames Event). */
export interface SkippedEnvKeys {
  kind: 'configMap' | 'secret';
  name: string;
  keys: string[];
}

/** validation.IsEnvVarName */
export const isEnvVarName = (name: string): boolean => /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name);

const secretValue = (s: V1Secret, key: string): string | undefined => {
  const b64 = s.data?.[key];
  return b64 === undefined ? s.stringData?.[key] : Buffer.from(b64, 'base64').toString('utf8');
};

/**
 * The container's environment as the kubelet makes it (makeEnvironmentVariables):
 * envFrom first (each key with its prefix, keys that are not variable names
 * skipped and reported), then env in order, each value expanded against the ones
 * before it and then the service variables; fieldRef, resourceFieldRef,
 * configMapKeyRef and secretKeyRef resolved; last the service variables the
 * container does not set itself. A missing object or key that is not optional is a
 * ContainerConfigError worded as the kubelet's.
 */
export function containerEnv(
  pod: V1Pod,
  c: V1Container,
  ctx: EnvContext,
  objects: EnvObjects = { configMaps: new Map(), secrets: new Map() },
  skipped: SkippedEnvKeys[] = [],
): { key: string; value: string }[] {
  const ns = pod.metadata?.namespace ?? '';
  const env = new Map<string, string>();
  const services = objects.services ?? new Map<string, string>();
  // expansion.MappingFuncFor(tmpEnv, serviceEnv): the container's own first.
  const lookup = (n: string) => env.get(n) ?? services.get(n);
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let entries: [string, string][];
    let kind: SkippedEnvKeys['kind'];
    let name: string;
    if (from.configMapRef) {
      kind = 'configMap';
      name = from.configMapRef.name ?? '';
      const cm = objects.configMaps.get(name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ContainerConfigError(`configmap "${name}" not found`);
      }
      entries = Object.entries(cm.data ?? {});
    } else if (from.secretRef) {
      kind = 'secret';
      name = from.secretRef.name ?? '';
      const secret = objects.secrets.get(name);
      if (!secret) {
        if (from.secretRef.optional) continue;
        throw new ContainerConfigError(`secret "${name}" not found`);
      }
      entries = Object.keys({ ...secret.data, ...secret.stringData }).map((k) => [k, secretValue(secret, k) ?? '']);
    } else continue;
    const invalid: string[] = [];
    for (const [k, v] of entries) {
      const key = prefix + k;
      if (!isEnvVarName(key)) invalid.push(key);
      else env.set(key, v);
    }
    if (invalid.length) skipped.push({ kind, name, keys: invalid.sort() });
  }
  for (const e of c.env ?? []) {
    let value: string | undefined;
    const from = e.valueFrom;
    if (e.value !== undefined) value = expand(e.value, lookup);
    else if (from?.fieldRef) value = fieldValue(pod, from.fieldRef.fieldPath, ctx);
    else if (from?.resourceFieldRef) value = resourceFieldValue(pod, from.resourceFieldRef, ctx.allocatable, c);
    else if (from?.configMapKeyRef) {
      const { name = '', key, optional } = from.configMapKeyRef;
      const cm = objects.configMaps.get(name);
      if (!cm) {
        if (optional) continue;
        throw new ContainerConfigError(`configmap "${name}" not found`);
      }
      value = cm.data?.[key];
      if (value === undefined) {
        if (optional) continue;
        throw new ContainerConfigError(`couldn't find key ${key} in ConfigMap ${ns}/${name}`);
      }
    } else if (from?.secretKeyRef) {
      const { name = '', key, optional } = from.secretKeyRef;
      const secret = objects.secrets.get(name);
      if (!secret) {
        if (optional) continue;
        throw new ContainerConfigError(`secret "${name}" not found`);
      }
      value = secretValue(secret, key);
      if (value === undefined) {
        if (optional) continue;
        throw new ContainerConfigError(`couldn't find key ${key} in Secret ${ns}/${name}`);
      }
    } else if (!from) value = '';
    if (value !== undefined) env.set(e.name, value);
  }
  const all = [...env];
  for (const [k, v] of services) if (!env.has(k)) all.push([k, v]);
  return all.map(([key, value]) => ({ key, value }));
}

/** The names of the ConfigMaps and Secrets the container's env refers to. */
export function envObjectNames(c: V1Container): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const f of c.envFrom ?? []) {
    if (f.configMapRef?.name) configMaps.add(f.configMapRef.name);
    if (f.secretRef?.name) secrets.add(f.secretRef.name);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
    if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
  }
  return { configMaps, secrets };
}

/** Command and args with $(VAR) expanded against the container's environment. */
export function expandCommand(list: string[] | undefined, env: { key: string; value: string }[]): string[] {
  const map = new Map(env.map((e) => [e.key, e.value]));
  return (list ?? []).map((s) => expand(s, (n) => map.get(n)));
}
