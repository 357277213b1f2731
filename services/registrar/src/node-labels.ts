/**
 * Node labels and taints as the kubelet registers them, and what NodeRestriction
 * lets a node set on itself (plugin/pkg/admission/noderestriction, IsKubeletLabel).
 */

/** Label keys a kubelet may set in the kubernetes.io and k8s.io namespaces (kubeletapis.IsKubeletLabel). */
export const KUBELET_LABEL_KEYS = [
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'node.kubernetes.io/instance-type',
  'beta.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
] as const;
const KUBELET_LABELS = new Set<string>(KUBELET_LABEL_KEYS);

const inNamespace = (ns: string, domain: string) => ns === domain || ns.endsWith(`.${domain}`);

/** Why NodeRestriction would refuse this label key from a node, or undefined if it allows it. */
export function forbiddenLabelReason(key: string): string | undefined {
  const ns = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
  if (inNamespace(ns, 'node-restriction.kubernetes.io')) return 'the node-restriction.kubernetes.io/ prefix is reserved for labels set by administrators';
  const kubernetesLabel = inNamespace(ns, 'kubernetes.io') || inNamespace(ns, 'k8s.io');
  const kubeletLabel = KUBELET_LABELS.has(key) || inNamespace(ns, 'kubelet.kubernetes.io') || inNamespace(ns, 'node.kubernetes.io');
  if (kubernetesLabel && !kubeletLabel) {
    return 'a node may set kubernetes.io/k8s.io labels only from the kubelet\'s allow-list or under kubelet.kubernetes.io/ and node.kubernetes.io/';
  }
  return undefined;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Checks a label key's syntax (a qualified name with an optional DNS-subdomain prefix). */
export function labelKeyError(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return 'its prefix must be a DNS subdomain';
  if (name.length > 63 || !QUALIFIED_NAME.test(name)) return 'its name must be 63 characters or less of alphanumerics, "-", "_" and "."';
  return undefined;
}

/** Parses "k=v,k2=v2" (the kubelet's --node-labels), refusing what the API server or NodeRestriction would. */
export function parseNodeLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`label ${JSON.stringify(pair)}: expected key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const keyError = labelKeyError(key);
    if (keyError) throw new Error(`label key ${JSON.stringify(key)} is invalid: ${keyError}`);
    if (value.length > 63 || !LABEL_VALUE.test(value)) throw new Error(`label ${JSON.stringify(key)}: value ${JSON.stringify(value)} is not a valid label value`);
    const forbidden = forbiddenLabelReason(key);
    if (forbidden) throw new Error(`label key ${JSON.stringify(key)} is refused by NodeRestriction: ${forbidden}`);
    labels[key] = value;
  }
  return labels;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** Parses "key=value:Effect,key:Effect" (the kubelet's --register-with-taints). */
export function parseTaints(text: string): Taint[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((spec) => {
      const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(spec);
      if (!m) throw new Error(`taint ${JSON.stringify(spec)}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute`);
      const [, key = '', value, effect] = m;
      const keyError = labelKeyError(key);
      if (keyError) throw new Error(`taint key ${JSON.stringify(key)} is invalid: ${keyError}`);
      return { key, ...(value ? { value } : {}), effect: effect as Taint['effect'] };
    });
}

/** The labels the kubelet puts on its Node (initialNode), before configured ones. */
export function defaultNodeLabels(hostname: string, os: string, arch: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': hostname,
    'kubernetes.io/os': os,
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': os,
    'beta.kubernetes.io/arch': arch,
  };
}
