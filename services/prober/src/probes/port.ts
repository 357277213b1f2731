import type { ContainerPort } from '@splitlet/contracts';
import { ProbeError } from './types';

/**
 * The kubelet's extractPort: a number as is; a name looked up among the container's
 * ports, else parsed as a number ("maybe it was an int stored as string"); the result
 * must be 1-65535. Errors are the kubelet's (Go's strconv) words.
 */
export function extractPort(port: number, portName: string, ports: readonly ContainerPort[]): number {
  let n = port;
  if (portName) {
    const named = ports.find((p) => p.name === portName);
    if (named) n = named.containerPort;
    else if (/^[+-]?\d+$/.test(portName)) n = Number(portName);
    else throw new ProbeError(`strconv.Atoi: parsing ${JSON.stringify(portName)}: invalid syntax`);
  }
  if (n > 0 && n < 65536) return n;
  throw new ProbeError(`invalid port number: ${n}`);
}

/** net.JoinHostPort: an IPv6 address goes in brackets. */
export const joinHostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
