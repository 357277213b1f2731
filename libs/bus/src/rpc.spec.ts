import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type Service } from '@nats-io/services';
import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { RuntimeService } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { startNatsServer, type NatsServer } from '@splitlet/testing';
import {
  BadMessageError,
  createRpcClient,
  HandlerError,
  isNoResponders,
  isRemoteError,
  isRequestTimeout,
  methodSubject,
  ResponderLostError,
  RPC_STALL_MS,
  RPC_WORKING_HEADER,
  serveRpc,
  settleRequests,
  type RemoteError,
  type RpcHandlers,
} from './index';

type RuntimeMethods = typeof RuntimeService extends GenService<infer M> ? M : never;

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const logger = createLogger('bus-test', { level: 'silent' });

describe('bus rpc', () => {
  let server: NatsServer;
  let a: NatsConnection;
  let b: NatsConnection;
  let micro: Service | undefined;

  beforeAll(async () => {
    provider.register();
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server.stop();
    await provider.shutdown();
    trace.disable();
  });
  beforeEach(async () => {
    a = await connect({ servers: server.url });
    b = await connect({ servers: server.url });
    exporter.reset();
  });
  afterEach(async () => {
    await micro?.stop();
    micro = undefined;
    await a.close();
    await b.close();
  });

  const serve = async (version: () => Promise<{ runtimeName: string }>, node = 'n1') => {
    micro = await new Svcm(a).add({ name: 'rt', version: '0.0.1' });
    // Only Version matters here; every other method answers "unimplemented".
    const others = Object.fromEntries(RuntimeService.methods.map((m) => [m.localName, () => Promise.reject(new HandlerError(12, 'unimplemented'))]));
    serveRpc(micro, node, RuntimeService, { ...others, version } as unknown as RpcHandlers<RuntimeMethods>, { logger });
    await a.flush();
  };

  it('rpc - a request reaches the handler and its reply decodes as the contract type', async () => {
    await serve(async () => ({ runtimeName: 'docker' }));
    const reply = await createRpcClient(b, 'n1', RuntimeService).version({});
    expect(reply.$typeName).toBe('splitlet.runtime.v1.VersionResponse');
    expect(reply.runtimeName).toBe('docker');
  });

  it('rpc - no responders is a NoRespondersError, fast', async () => {
    const started = Date.now();
    const err = await createRpcClient(b, 'nobody', RuntimeService).version({}).catch((e: unknown) => e);
    expect(isNoResponders(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rpc - a handler that never answers is a RequestTimeoutError', async () => {
    await serve(() => new Promise(() => undefined));
    const err = await createRpcClient(b, 'n1', RuntimeService).version({}, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isRequestTimeout(err)).toBe(true);
  });

  it('rpc - a responder that dies holding the request (its connection gone, no reply): the caller knows after RPC_STALL_MS without word, not at its 30 s timeout', async () => {
    await serve(() => new Promise(() => undefined));
    const t0 = Date.now();
    const call = createRpcClient(b, 'n1', RuntimeService).version({}, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 1_500));
    // As a SIGKILL leaves it: the connection closed with the request taken, nothing stopped.
    await a.close();
    micro = undefined;
    const err = await call;
    expect(err).toBeInstanceOf(ResponderLostError);
    expect(isRequestTimeout(err)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(RPC_STALL_MS);
    expect(Date.now() - t0).toBeLessThan(RPC_STALL_MS + 3_000);
    a = await connect({ servers: server.url });
  });

  it('rpc - a handler working past RPC_STALL_MS is waited for: its word keeps the call alive until the reply', async () => {
    await serve(() => new Promise((r) => setTimeout(() => r({ runtimeName: 'slow but alive' }), RPC_STALL_MS + 1_000)));
    const reply = await createRpcClient(b, 'n1', RuntimeService).version({}, { timeoutMs: 30_000 });
    expect(reply.runtimeName).toBe('slow but alive');
  });

  it('rpc - a caller that does not ask for word (a plain request: operators\' tools, older services) gets the reply alone', async () => {
    await serve(() => new Promise((r) => setTimeout(() => r({ runtimeName: 'plain' }), 1_500)));
    const msg = await b.request(methodSubject('n1', RuntimeService, 'Version'), new Uint8Array(), { timeout: 5_000 });
    expect(msg.headers?.has(RPC_WORKING_HEADER) ?? false).toBe(false);
    expect(msg.data.length).toBeGreaterThan(0);
  });

  it('rpc - a timeout past setTimeout\'s longest waits for the answer (a grace period of 30 days once timed out after 1 ms)', async () => {
    await serve(() => new Promise((r) => setTimeout(() => r({ runtimeName: 'slow' }), 100)));
    const reply = await createRpcClient(b, 'n1', RuntimeService).version({}, { timeoutMs: 30 * 86_400_000 });
    expect(reply.runtimeName).toBe('slow');
  });

  it('rpc - stopping: the micro service stopped, a request it took is still answered before the connection drains; one that never ends is counted at the deadline', async () => {
    await serve(() => new Promise((r) => setTimeout(() => r({ runtimeName: 'late' }), 300)));
    const reply = createRpcClient(b, 'n1', RuntimeService).version({}, { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 50));
    await micro!.stop();
    expect(await settleRequests(micro!, 5_000)).toBe(0);
    await a.drain();
    expect((await reply).runtimeName).toBe('late');
    a = await connect({ servers: server.url });
    await serve(() => new Promise(() => undefined));
    void createRpcClient(b, 'n1', RuntimeService).version({}, { timeoutMs: 500 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    expect(await settleRequests(micro!, 200)).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('rpc - a HandlerError reaches the caller as a RemoteError with its code', async () => {
    await serve(async () => {
      throw new HandlerError(5, 'no such container');
    });
    const err = await createRpcClient(b, 'n1', RuntimeService).version({}).catch((e: unknown) => e);
    expect(isRemoteError(err)).toBe(true);
    expect(err as RemoteError).toMatchObject({ code: 5, description: 'no such container' });
  });

  it('rpc - a reply that is not the contract type is a BadMessageError', async () => {
    const subject = methodSubject('n1', RuntimeService, 'Version');
    a.subscribe(subject, {
      callback: (_e, m) => {
        m.respond(new Uint8Array([0x0a, 0xff, 0xff]));
      },
    });
    await a.flush();
    const err = await createRpcClient(b, 'n1', RuntimeService).version({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadMessageError);
  });

  it('rpc - the handler runs in a CONSUMER span, child of the caller PRODUCER span, one trace', async () => {
    await serve(async () => ({ runtimeName: 'docker' }));
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('caller', async (root) => {
      await createRpcClient(b, 'n1', RuntimeService).version({});
      root.end();
    });
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const producer = spans.find((s) => s.kind === SpanKind.PRODUCER);
    const consumer = spans.find((s) => s.kind === SpanKind.CONSUMER);
    const root = spans.find((s) => s.name === 'caller');
    expect(producer?.name).toBe('send splitlet.n1.runtime.v1.Version');
    expect(producer?.attributes).toMatchObject({ 'messaging.system': 'nats', 'rpc.method': 'Version' });
    expect(consumer?.spanContext().traceId).toBe(root?.spanContext().traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
    expect(producer?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
  });
});
