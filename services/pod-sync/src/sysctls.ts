import type { V1Pod } from '@kubernetes/client-node';

/** The kubelet's admission reason for a sysctl it does not allow (pkg/kubelet/sysctl). */
export const SYSCTL_FORBIDDEN = 'SysctlForbidden';

/** The kernel namespace a sysctl lives in (component-helpers node/util/sysctl). */
type SysctlNamespace = 'IPC' | 'Net';

const NAME_TO_NAMESPACE: Record<string, SysctlNamespace> = {
  'kernel.sem': 'IPC',
  'kernel.shmall': 'IPC',
  'kernel.shmmax': 'IPC',
  'kernel.shmmni': 'IPC',
  'kernel.shm_rmid_forced': 'IPC',
  'kernel.shm': 'IPC',
  'kernel.msgmax': 'IPC',
  'kernel.msgmnb': 'IPC',
  'kernel.msgmni': 'IPC',
  'kernel.msg': 'IPC',
};
const PREFIX_TO_NAMESPACE: [string, SysctlNamespace][] = [
  ['net', 'Net'],
  ['fs.mqueue', 'IPC'],
];

function namespaceOf(name: string): SysctlNamespace | undefined {
  return NAME_TO_NAMESPACE[name] ?? PREFIX_TO_NAMESPACE.find(([p]) => name.startsWith(`${p}.`))?.[1];
}

/**
 * A sysctl name with dots as separators (NormalizeName): `net/ipv4/conf/eno2.100/rp_filter`
 * becomes `net.ipv4.conf.eno2/100.rp_filter`; a name whose first separator is a dot stays.
 */
export function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first === -1 || name[first] === '.') return name;
  return name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/**
 * The safe sysctls (safe_sysctls.go) and the kernel from which each is namespaced; on
 * an older kernel the kubelet drops it from the list.
 */
const SAFE_SYSCTLS: [string, string?][] = [
  ['kernel.shm_rmid_forced'],
  ['net.ipv4.ip_local_port_range'],
  ['net.ipv4.tcp_syncookies'],
  ['net.ipv4.ping_group_range'],
  ['net.ipv4.ip_unprivileged_port_start'],
  ['net.ipv4.ip_local_reserved_ports', '3.16'],
  ['net.ipv4.tcp_keepalive_time', '4.5'],
  ['net.ipv4.tcp_fin_timeout', '4.6'],
  ['net.ipv4.tcp_keepalive_intvl', '4.5'],
  ['net.ipv4.tcp_keepalive_probes', '4.5'],
  ['net.ipv4.tcp_rmem', '4.15'],
  ['net.ipv4.tcp_wmem', '4.15'],
];

const versionParts = (v: string) => (/^(\d+)\.(\d+)/.exec(v) ?? []).slice(1).map(Number);
const atLeast = (kernel: string, min: string) => {
  const [a = 0, b = 0] = versionParts(kernel);
  const [x = 0, y = 0] = versionParts(min);
  return a > x || (a === x && b >= y);
};

/** The safe sysctls this kernel has namespaced (SafeSysctlAllowlist); kernelRelease is `uname -r`. */
export const safeSysctls = (kernelRelease: string): string[] => SAFE_SYSCTLS.filter(([, min]) => !min || atLeast(kernelRelease, min)).map(([name]) => name);

const SEGMENT = '[a-z0-9]([-_a-z0-9]*[a-z0-9])?';
/** A sysctl pattern: a name, or a prefix ending in `*` (policy validation's IsValidSysctlPattern). */
const PATTERN = new RegExp(`^(${SEGMENT}[\\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]$`);

/** A pattern the allow-list cannot hold: not a sysctl pattern, or not namespaced. */
export class InvalidSysctlPatternError extends Error {}

/**
 * The kubelet's sysctl admission (pkg/kubelet/sysctl allowlist.go): the safe sysctls and
 * the node's allowed unsafe ones (--allowed-unsafe-sysctls: names, or prefixes ending
 * in `*`); any other sysctl, or one of the host's network (IPC) namespace for a pod on
 * it, refuses the pod.
 */
export class SysctlAllowlist {
  private readonly sysctls = new Map<string, SysctlNamespace>();
  private readonly prefixes: [string, SysctlNamespace][] = [];

  /** Throws InvalidSysctlPatternError with the kubelet's message for a pattern it would refuse to start with. */
  constructor(patterns: string[]) {
    for (const pattern of patterns) {
      if (pattern.length > 253 || !PATTERN.test(pattern)) {
        throw new InvalidSysctlPatternError(`sysctl "${pattern}" must have at most 253 characters and match regex (${SEGMENT}[\\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]`);
      }
      let name = normalizeSysctlName(pattern);
      const star = name.indexOf('*');
      if (star !== -1) name = name.slice(0, star);
      const ns = namespaceOf(name);
      if (!ns) throw new InvalidSysctlPatternError(`the sysctls "${name}" are not known to be namespaced`);
      if (star !== -1) this.prefixes.push([name, ns]);
      else this.sysctls.set(name, ns);
    }
  }

  private validate(raw: string, hostNet: boolean, hostIPC: boolean): string | undefined {
    const name = normalizeSysctlName(raw);
    const ns = this.sysctls.get(name) ?? this.prefixes.find(([p]) => name.startsWith(p))?.[1];
    if (!ns) return `"${name}" not allowlisted`;
    if (ns === 'IPC' && hostIPC) return `"${name}" not allowed with host ${ns} enabled`;
    if (ns === 'Net' && hostNet) return `"${name}" not allowed with host ${ns} enabled`;
    return undefined;
  }

  /** The kubelet's Admit: the reason and message that refuse the pod, or undefined when it may run. */
  admit(pod: V1Pod): { reason: string; message: string } | undefined {
    for (const s of pod.spec?.securityContext?.sysctls ?? []) {
      const err = this.validate(s.name, pod.spec?.hostNetwork ?? false, pod.spec?.hostIPC ?? false);
      if (err) return { reason: SYSCTL_FORBIDDEN, message: `forbidden sysctl: ${err}` };
    }
    return undefined;
  }
}
