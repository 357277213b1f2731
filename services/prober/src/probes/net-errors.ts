// Go's net error texts for the failures a probe meets, so messages read as the kubelet's
// ("dial tcp 10.1.0.5:8080: connect: connection refused").
const SYSCALL_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ECONNRESET: 'read: connection reset by peer',
  EPIPE: 'write: broken pipe',
  EADDRNOTAVAIL: 'connect: cannot assign requested address',
};

/** The part of a Go net.OpError after "dial tcp <addr>: " for a Node socket error. */
export function goNetErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return `lookup ${(e as { hostname?: string }).hostname ?? ''}: no such host`;
  return (e.code && SYSCALL_TEXT[e.code]) ?? e.message ?? String(err);
}
