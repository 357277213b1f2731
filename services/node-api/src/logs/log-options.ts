/** The kubelet's v1.PodLogOptions as /containerLogs takes them from the query. */
export interface PodLogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** Unix milliseconds (metav1.Time: RFC3339, seconds precision on the wire). */
  sinceTime?: number;
  limitBytes?: number;
  /** PodLogsQuerySplitStreams: one stream only; unset: "All". */
  stream?: 'All' | 'Stdout' | 'Stderr';
}

/** A query the kubelet refuses: its status and (JSON-looking, as the kubelet's) message. */
export class LogQueryError extends Error {
  override readonly name = 'LogQueryError';
  constructor(
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
  }
}

const DECODE = '{"message": "Unable to decode query."}';
const INVALID = '{"message": "Invalid request."}';

/**
 * Decodes and validates the query as pkg/kubelet/server's getContainerLogs: "tail"
 * stands for tailLines ("all": none), a value that does not parse is 400, options
 * that ValidatePodLogOptions refuses are 422.
 */
export function parseLogQuery(query: URLSearchParams): PodLogOptions {
  const q = new URLSearchParams(query);
  const tail = q.get('tail');
  if (tail) {
    if (tail === 'all') q.delete('tailLines');
    else q.set('tailLines', tail);
  }
  const opts: PodLogOptions = { follow: bool(q, 'follow'), previous: bool(q, 'previous'), timestamps: bool(q, 'timestamps') };
  const tailLines = int(q, 'tailLines');
  const sinceSeconds = int(q, 'sinceSeconds');
  const limitBytes = int(q, 'limitBytes');
  const sinceTime = time(q, 'sinceTime');
  if (tailLines !== undefined) opts.tailLines = tailLines;
  if (sinceSeconds !== undefined) opts.sinceSeconds = sinceSeconds;
  if (limitBytes !== undefined) opts.limitBytes = limitBytes;
  if (sinceTime !== undefined) opts.sinceTime = sinceTime;
  if ((tailLines !== undefined && tailLines < 0) || (limitBytes !== undefined && limitBytes < 1) || (sinceSeconds !== undefined && sinceSeconds < 1)) {
    throw new LogQueryError(422, INVALID);
  }
  if (sinceSeconds !== undefined && sinceTime !== undefined) throw new LogQueryError(422, INVALID);
  const stream = q.get('stream');
  if (stream !== null && stream !== '') {
    if (stream !== 'All' && stream !== 'Stdout' && stream !== 'Stderr') throw new LogQueryError(422, INVALID);
    // ValidatePodLogOptions: tailLines and a single stream are mutually exclusive (for now).
    if (stream !== 'All' && tailLines !== undefined) throw new LogQueryError(422, INVALID);
    opts.stream = stream;
  }
  return opts;
}

/** Since when, in Unix nanoseconds, the kubelet's NewLogOptions: now - sinceSeconds, or sinceTime when later. */
export function sinceUnixNano(opts: PodLogOptions, nowMs: number): bigint {
  let since = opts.sinceSeconds !== undefined ? nowMs - opts.sinceSeconds * 1000 : 0;
  if (opts.sinceTime !== undefined && opts.sinceTime > since) since = opts.sinceTime;
  return BigInt(Math.max(0, Math.floor(since))) * 1_000_000n;
}

// The query codec's booleans: strconv.ParseBool's spellings.
function bool(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  if (v === null || v === '') return false;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new LogQueryError(400, DECODE);
}

function int(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw new LogQueryError(400, DECODE);
  return Number(v);
}

function time(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw new LogQueryError(400, DECODE);
  // metav1.Time keeps whole seconds.
  return Math.floor(ms / 1000) * 1000;
}
