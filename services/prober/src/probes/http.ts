import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { timerMs } from '@splitlet/bus';
import type { HTTPHeader } from '@splitlet/contracts';
import { goNetErrorText } from './net-errors';
import { extractPort, joinHostPort } from './port';
import { MAX_OUTPUT, ProbeError, type ProbeHandler, type ProbeOutcome, type ProbeTarget } from './types';

/** The kubelet's User-Agent for probes: kube-probe/<major>.<minor>. */
export const PROBE_USER_AGENT = 'kube-probe/1.36';

// Go's http.Client follows these; any other 3xx (or one without Location) is returned as is.
const FOLLOWED = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

interface Response {
  status: number;
  location: string | undefined;
  body: string;
}

/**
 * pkg/probe/http: a GET to the pod (or the probe's host) on the named or numbered port.
 * 200-399 succeed; redirects to the same host are followed (at most 10), a redirect to
 * another host is not: its 3xx counts as success with a warning. The timeout covers the
 * whole exchange. HTTPS does not verify the certificate, as the kubelet's transport.
 */
export class HttpProbe implements ProbeHandler {
  async run({ pod, container, probe }: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
    if (probe.handler.case !== 'httpGet') throw new Error('not an httpGet probe');
    const action = probe.handler.value;
    const port = extractPort(action.port, action.portName, container.ports);
    const scheme = (action.scheme || 'HTTP').toLowerCase();
    const url = formatUrl(scheme, action.host || pod.podIp, port, action.path);
    const headers = probeHeaders(action.httpHeaders);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timerMs(timeoutMs));
    try {
      return await this.follow(url, headers, abort.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async follow(first: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<ProbeOutcome> {
    let url = first;
    let hostHeader = headers['Host'] as string | undefined;
    for (let via = 1; ; via++) {
      let res: Response;
      try {
        const { Host: _, ...rest } = headers;
        res = await get(url, hostHeader === undefined ? rest : { ...rest, Host: hostHeader }, signal);
      } catch (err) {
        // client.Do's error: "Convert errors into failures to catch timeouts."
        if (err instanceof TransportFailure) return { result: 'failure', output: err.message };
        throw err;
      }
      if (res.location === undefined || !FOLLOWED.has(res.status)) return classify(res);
      const next = new URL(res.location, url);
      // RedirectChecker(followNonLocalRedirects=false): another host ends the chain with this response.
      if (next.hostname !== first.hostname) return classify(res);
      if (via >= MAX_REDIRECTS) return { result: 'failure', output: `Get ${JSON.stringify(next.href)}: stopped after 10 redirects` };
      // Go keeps a Host override only through a relative redirect.
      if (/^[a-z][a-z0-9+.-]*:/i.test(res.location) || res.location.startsWith('//')) hostHeader = undefined;
      url = next;
    }
  }
}

function classify(res: Response): ProbeOutcome {
  if (res.status >= 200 && res.status < 400) {
    if (res.status >= 300) return { result: 'warning', output: `Probe terminated redirects, Response body: ${res.body}` };
    return { result: 'success', output: res.body };
  }
  // The kubelet keeps the body out of this message on purpose (kubernetes#99425).
  return { result: 'failure', output: `HTTP probe failed with statuscode: ${res.status}` };
}

/** One GET; transport failures are failures in Go's words, a body that cannot be read is an error. */
function get(url: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<Response> {
  const target = `Get ${JSON.stringify(url.href)}`;
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let response: IncomingMessage | undefined;
    const req = send(url, { method: 'GET', headers, agent: false, signal, rejectUnauthorized: false });
    req.once('response', (res) => {
      response = res;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () =>
        settle(() => {
          res.removeAllListeners('data');
          res.destroy();
          resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).subarray(0, MAX_OUTPUT).toString('utf8') });
        });
      res.on('data', (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        // utilio.ReadAtMost: past the limit the body is truncated, not an error.
        if (size >= MAX_OUTPUT) done();
      });
      res.once('end', done);
      // A body that breaks off is the kubelet's probe *error* (http.go returns err, the result is thrown away).
      const broken = (err?: Error) =>
        settle(() =>
          reject(
            new ProbeError(
              signal.aborted
                ? `${target}: net/http: request canceled (Client.Timeout or context cancellation while reading body)`
                : `${target}: ${err ? goNetErrorText(err) : 'unexpected EOF'}`,
            ),
          ),
        );
      res.once('error', broken);
      res.once('close', () => broken());
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      if (response) return; // the response's own listeners report it
      settle(() => reject(new TransportFailure(`${target}: ${transportText(url, err, signal)}`)));
    });
    req.end();
  });
}

function transportText(url: URL, err: NodeJS.ErrnoException, signal: AbortSignal): string {
  if (signal.aborted) return 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)';
  if (err.message === 'socket hang up') return 'EOF';
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT'].includes(err.code ?? '')) {
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    return `dial tcp ${joinHostPort(url.hostname.replace(/^\[|\]$/g, ''), port)}: ${goNetErrorText(err)}`;
  }
  return goNetErrorText(err);
}

/** client.Do failed: a probe failure with this text. */
class TransportFailure extends Error {}

/** The kubelet's formatURL: the path may carry a query; host and port are set apart. */
export function formatUrl(scheme: string, host: string, port: number, path: string): URL {
  const p = path.startsWith('/') ? path : `/${path}`;
  return new URL(`${scheme}://${joinHostPort(host, port)}${p}`);
}

/** Go's CanonicalMIMEHeaderKey: "x-custom-header" → "X-Custom-Header". */
const canonical = (name: string): string => name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());

/**
 * The probe's httpHeaders (repeated names keep every value), with the kubelet's
 * User-Agent and Accept unless given; an empty Accept removes it.
 */
export function probeHeaders(list: readonly HTTPHeader[]): OutgoingHttpHeaders {
  const h: Record<string, string[]> = {};
  for (const { name, value } of list) (h[canonical(name)] ??= []).push(value);
  if (!h['User-Agent']) h['User-Agent'] = [PROBE_USER_AGENT];
  if (!h['Accept']) h['Accept'] = ['*/*'];
  else if (h['Accept'][0] === '') delete h['Accept'];
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) out[k] = k === 'Host' ? v[0] : v.length === 1 ? v[0] : v;
  return out;
}
