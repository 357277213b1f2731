import { create, fromBinary, toBinary, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { errors, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { ServiceErrorCodeHeader, ServiceErrorHeader, type Service, type ServiceMsg } from '@nats-io/services';
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { BadMessageError, BusError, ErrorCode, HandlerError, NoRespondersError, PermissionDeniedError, RemoteError, RequestTimeoutError, ResponderLostError } from './errors';
import { methodSubject } from './subjects';
import { timerMs } from './timers';
import { injectContext, withConsumerSpan, withProducerSpan } from './tracing';

export interface CallOptions {
  /** How long to wait for the reply (default: the client's). */
  timeoutMs?: number;
  /** Extra attributes on the request's span (e.g. k8s.pod.uid). */
  attributes?: Attributes;
}

/**
 * A caller's request header asking the responder for word while it works: the interval
 * in ms. The responder sends an empty message with RPC_WORKING_HEADER at once, then
 * every interval until its reply, so a caller tells a responder that died holding its
 * request (SIGKILL, a cut connection) from a slow one: RPC_STALL_MS without word, and
 * the call fails (ResponderLostError) instead of waiting out its whole timeout (a
 * runtime call's 30 s). The kubelet sees its runtime's gRPC connection drop at once;
 * a NATS request has no connection to the responder to watch. Callers that do not
 * ask (nc.request, gatherRpc, operators' tools) get the reply alone, as before.
 */
export const RPC_PROGRESS_HEADER = 'Splitlet-Progress-Ms';
export const RPC_WORKING_HEADER = 'Splitlet-Working';
export const RPC_PROGRESS_MS = 1_000;
/** Five intervals: a responder whose event loop is held up for a few seconds (a loaded 2-core machine) is not taken for dead. */
export const RPC_STALL_MS = 5_000;
/** The shortest and longest interval a responder honours. */
const PROGRESS_BOUNDS_MS = [100, 60_000] as const;

/** A typed client of one proto service over NATS request/reply: one method per RPC. */
export type RpcClient<M extends GenServiceMethods> = {
  [K in keyof M]: (request: MessageInitShape<M[K]['input']>, opts?: CallOptions) => Promise<MessageShape<M[K]['output']>>;
};

/**
 * Creates a client for `service` as served by the node `nodeName`. Each call
 * rejects with a typed BusError: NoRespondersError, RequestTimeoutError,
 * RemoteError (the handler's error and code), BadMessageError or PermissionDeniedError
 * (this identity may not call the method).
 */
export function createRpcClient<M extends GenServiceMethods>(
  nc: NatsConnection,
  nodeName: string,
  service: GenService<M>,
  defaults: { timeoutMs: number } = { timeoutMs: 5000 },
): RpcClient<M> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    const subject = methodSubject(nodeName, service, method.name);
    client[method.localName] = (request: MessageInitShape<DescMethod['input']>, opts: CallOptions = {}) =>
      call(nc, subject, method, request, opts.timeoutMs ?? defaults.timeoutMs, {
        'rpc.service': service.typeName,
        'rpc.method': method.name,
        ...opts.attributes,
      });
  }
  return client as RpcClient<M>;
}

async function call(
  nc: NatsConnection,
  subject: string,
  method: DescMethod,
  request: MessageInitShape<DescMethod['input']>,
  timeoutMs: number,
  attributes: Attributes,
): Promise<unknown> {
  return withProducerSpan(subject, attributes, async () => {
    const headers = natsHeaders();
    injectContext(headers);
    headers.set(RPC_PROGRESS_HEADER, String(RPC_PROGRESS_MS));
    let reply: Msg | undefined;
    let working = false;
    try {
      // Ends at the reply, at timeoutMs (the iterator ends), or RPC_STALL_MS after the responder's last word.
      const replies = await nc.requestMany(subject, toBinary(method.input, create(method.input, request)), { strategy: 'timer', maxWait: timerMs(timeoutMs), headers });
      const it = replies[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next = await nextWithin(it, working ? RPC_STALL_MS : undefined);
          if (next === STALLED) throw new ResponderLostError(subject, RPC_STALL_MS);
          if (next.done) break;
          if (next.value.headers?.has(RPC_WORKING_HEADER)) working = true;
          else {
            reply = next.value;
            break;
          }
        }
      } finally {
        void it.return?.();
      }
    } catch (err) {
      throw toBusError(err, subject, timeoutMs);
    }
    if (!reply) throw new RequestTimeoutError(subject, timeoutMs);
    const code = reply.headers?.get(ServiceErrorCodeHeader);
    if (code) throw new RemoteError(subject, Number(code), reply.headers?.get(ServiceErrorHeader) ?? '');
    try {
      return fromBinary(method.output, reply.data);
    } catch (err) {
      throw new BadMessageError(subject, { cause: err });
    }
  });
}

const STALLED: unique symbol = Symbol('stalled');

/** The iterator's next result, or STALLED when ms (if given) pass first. */
async function nextWithin<T>(it: AsyncIterator<T>, ms: number | undefined): Promise<IteratorResult<T> | typeof STALLED> {
  if (ms === undefined) return it.next();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([it.next(), new Promise<typeof STALLED>((resolve) => (timer = setTimeout(() => resolve(STALLED), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function toBusError(err: unknown, subject: string, timeoutMs: number): Error {
  if (err instanceof BusError) return err;
  if (err instanceof errors.RequestError) {
    if (err.isNoResponders()) return new NoRespondersError(subject, { cause: err });
    if (err.cause instanceof errors.TimeoutError) return new RequestTimeoutError(subject, timeoutMs, { cause: err });
    if (err.cause instanceof errors.PermissionViolationError) return new PermissionDeniedError(subject, { cause: err });
  }
  if (err instanceof errors.PermissionViolationError) return new PermissionDeniedError(subject, { cause: err });
  if (err instanceof errors.NoRespondersError) return new NoRespondersError(subject, { cause: err });
  if (err instanceof errors.TimeoutError) return new RequestTimeoutError(subject, timeoutMs, { cause: err });
  if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError) {
    return new BusError('closed', subject, `connection closed: cannot request ${subject}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export interface GatherOptions {
  /** How long to wait for the first answer. */
  firstReplyMs: number;
  /**
   * After each answer, how long to wait for the next: the replicas got the request at
   * the same moment, so one that is this much later than the last is left out.
   */
  stallMs: number;
  /** At most this many answers are taken (64 unless set): more replicas than a node runs. */
  maxReplies?: number;
  /** Extra attributes on the request's span. */
  attributes?: Attributes;
}

/** Answers a gather takes at most, unless told. */
export const GATHER_MAX_REPLIES = 64;

/** What every replica answered (decoded), and what went wrong (an error reply, a bad message, nobody there). */
export interface Gathered<T> {
  replies: T[];
  errors: BusError[];
}

/**
 * One request to every replica of a method served with `everyReplica`: collects the
 * answers that come in time (the first within firstReplyMs, each next within stallMs
 * of the one before), so a replica that hangs delays the whole by stallMs at most.
 * The whole ends by firstReplyMs + stallMs and after maxReplies answers in any case:
 * answers that keep coming (a replica that answers again and again, or anything that
 * may reply into our inbox) cannot hold it open or grow it without end.
 * Never rejects for the bus: failures are in `errors`.
 */
export async function gatherRpc<M extends GenServiceMethods, K extends keyof M & string>(
  nc: NatsConnection,
  nodeName: string,
  service: GenService<M>,
  methodName: K,
  request: MessageInitShape<M[K]['input']>,
  opts: GatherOptions,
): Promise<Gathered<MessageShape<M[K]['output']>>> {
  const method = (service.method as Record<string, DescMethod>)[methodName];
  if (!method) throw new Error(`no method ${methodName} in ${service.typeName}`);
  const subject = methodSubject(nodeName, service, method.name);
  const attributes = { 'rpc.service': service.typeName, 'rpc.method': method.name, ...opts.attributes };
  return withProducerSpan(subject, attributes, async (span) => {
    const headers = natsHeaders();
    injectContext(headers);
    const gathered: Gathered<MessageShape<M[K]['output']>> = { replies: [], errors: [] };
    const deadline = Date.now() + opts.firstReplyMs + opts.stallMs;
    const maxReplies = opts.maxReplies ?? GATHER_MAX_REPLIES;
    let cut = false;
    try {
      const replies = await nc.requestMany(subject, toBinary(method.input, create(method.input, request)), {
        strategy: 'stall',
        maxWait: timerMs(opts.firstReplyMs),
        stall: timerMs(opts.stallMs),
        headers,
      });
      for await (const msg of replies) {
        const code = msg.headers?.get(ServiceErrorCodeHeader);
        if (code) {
          gathered.errors.push(new RemoteError(subject, Number(code), msg.headers?.get(ServiceErrorHeader) ?? ''));
          continue;
        }
        try {
          gathered.replies.push(fromBinary(method.output, msg.data) as MessageShape<M[K]['output']>);
        } catch (err) {
          gathered.errors.push(new BadMessageError(subject, { cause: err }));
        }
        if (gathered.replies.length + gathered.errors.length >= maxReplies || Date.now() > deadline) {
          cut = true;
          break; // ends the request: later answers are dropped
        }
      }
    } catch (err) {
      const busError = toBusError(err, subject, opts.firstReplyMs);
      // Anything but the bus's own failures is a bug here, not a replica's.
      if (!(busError instanceof BusError)) throw busError;
      gathered.errors.push(busError);
    }
    span.setAttribute('splitlet.gather.replies', gathered.replies.length);
    if (cut) span.setAttribute('splitlet.gather.cut', true);
    if (gathered.errors.length) span.setAttribute('splitlet.gather.errors', gathered.errors.length);
    return gathered;
  });
}

/** What a handler gets beside the request: the subject and the request's headers. */
export interface HandlerContext {
  subject: string;
  headers: MsgHdrs | undefined;
}

/** The server side of a proto service: one async handler per RPC. */
export type RpcHandlers<M extends GenServiceMethods> = {
  [K in keyof M]: (request: MessageShape<M[K]['input']>, ctx: HandlerContext) => Promise<MessageInitShape<M[K]['output']>>;
};

export interface ServeOptions {
  logger: Logger;
  /** Queue group shared by the replicas; each request goes to one of them. */
  queue?: string;
  /**
   * Every replica gets every request (each in a queue group of its own, so it stays a
   * micro endpoint): for figures each replica holds a share of, gathered by gatherRpc.
   */
  everyReplica?: boolean;
}

/**
 * Serves `service` for the node on a NATS micro service: one endpoint per RPC, each
 * handled in a CONSUMER span joined to the caller's trace. A request that does not
 * decode gets a 400 reply and changes nothing; a HandlerError answers with its code;
 * anything else thrown answers 13 (internal) and is logged.
 */
export function serveRpc<M extends GenServiceMethods>(
  svc: Service,
  nodeName: string,
  service: GenService<M>,
  handlers: RpcHandlers<M>,
  opts: ServeOptions,
): void {
  for (const method of service.methods) {
    const subject = methodSubject(nodeName, service, method.name);
    const handler = (handlers as Record<string, RpcHandlers<M>[keyof M]>)[method.localName];
    if (!handler) throw new Error(`no handler for ${service.typeName}.${method.name}`);
    svc.addEndpoint(method.name, {
      subject,
      queue: opts.everyReplica ? `r${svc.info().id}` : (opts.queue ?? 'q'),
      metadata: { rpc: `${service.typeName}/${method.name}` },
      handler: (err, msg) => {
        if (err) {
          opts.logger.error({ err, subject }, 'endpoint stopped');
          return;
        }
        track(svc, handleRequest(msg, subject, method, service.typeName, handler as Handler, opts.logger));
      },
    });
  }
}

/** The requests each micro service is answering now. */
const answering = new WeakMap<Service, Set<Promise<void>>>();

function track(svc: Service, p: Promise<void>): void {
  let set = answering.get(svc);
  if (!set) answering.set(svc, (set = new Set()));
  set.add(p);
  void p.finally(() => set.delete(p));
}

/**
 * Waits until every request the service took has been answered (at most timeoutMs):
 * a service stopping gracefully stops taking requests (its micro service stopped),
 * then answers what it took before its connection drains — a reply sent after the
 * drain is lost, and its caller would wait out its whole timeout (a runtime call
 * 30 s). Resolves with how many were still unanswered at the deadline.
 */
export async function settleRequests(svc: Service, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const set = answering.get(svc);
    if (!set?.size) return 0;
    const left = deadline - Date.now();
    if (left <= 0) return set.size;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...set]), new Promise((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
  }
}

type Handler = (request: unknown, ctx: HandlerContext) => Promise<MessageInitShape<DescMethod['output']>>;

async function handleRequest(msg: ServiceMsg, subject: string, method: DescMethod, serviceName: string, handler: Handler, logger: Logger) {
  const attributes = { 'rpc.service': serviceName, 'rpc.method': method.name };
  await withConsumerSpan(subject, msg.headers, attributes, async (span) => {
    let request: unknown;
    try {
      request = fromBinary(method.input, msg.data);
    } catch (err) {
      logger.warn({ subject, err: (err as Error).message }, 'malformed request dropped');
      span.setAttribute('error.type', 'bad_request');
      msg.respondError(ErrorCode.BadRequest, `malformed ${method.input.typeName}: ${(err as Error).message}`);
      return;
    }
    const stopWord = keepCallerInformed(msg);
    try {
      const reply = await handler(request, { subject, headers: msg.headers });
      stopWord();
      msg.respond(toBinary(method.output, create(method.output, reply)));
    } catch (err) {
      stopWord();
      const code = err instanceof HandlerError ? err.code : ErrorCode.Internal;
      if (!(err instanceof HandlerError)) logger.error({ err, subject }, 'handler failed');
      span.setAttribute('error.type', String(code));
      msg.respondError(code, (err as Error).message);
    }
  }).catch((err: unknown) => logger.error({ err, subject }, 'could not answer request'));
}

/**
 * Sends the caller word that its request is being worked on, when it asked
 * (RPC_PROGRESS_HEADER): at once, then every interval it gave (within bounds), until
 * the returned function is called. A word that cannot be sent (the connection closing)
 * is dropped: the reply, or the caller's stall, follows.
 */
function keepCallerInformed(msg: ServiceMsg): () => void {
  const asked = Number(msg.headers?.get(RPC_PROGRESS_HEADER));
  if (!msg.reply || !Number.isFinite(asked) || asked <= 0) return () => undefined;
  const every = Math.min(Math.max(asked, PROGRESS_BOUNDS_MS[0]), PROGRESS_BOUNDS_MS[1]);
  const word = natsHeaders();
  word.set(RPC_WORKING_HEADER, '1');
  const send = () => {
    try {
      msg.respond(undefined, { headers: word });
    } catch {
      // closing: nothing to tell
    }
  };
  send();
  const timer = setInterval(send, every);
  return () => clearInterval(timer);
}

/** The client type of a generated service: `ServiceClient<typeof RuntimeService>`. */
export type ServiceClient<S> = S extends GenService<infer M> ? RpcClient<M> : never;
