import { afterEach, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type Service } from '@nats-io/services';
import { proberv1 } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { useNatsServer } from '@splitlet/testing';
import { gatherRpc, HandlerError, methodSubject, serveRpc } from './index';

const logger = createLogger('bus-test', { level: 'silent' });
const { ProberMetricsService } = proberv1;

describe('bus gather', () => {
  const nats = useNatsServer();
  const replicas: { nc: NatsConnection; micro: Service }[] = [];

  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.micro.stop();
      await r.nc.close();
    }
  });

  /** One replica of the prober's metrics endpoint, answering after `delayMs` (or failing). */
  const replica = async (id: string, answer: { delayMs?: number; fail?: boolean } = {}) => {
    const nc = await connect({ servers: nats.server.url });
    const micro = await new Svcm(nc).add({ name: 'prober', version: '0.0.1' });
    replicas.push({ nc, micro });
    serveRpc(
      micro,
      'n1',
      ProberMetricsService,
      {
        gatherMetrics: async () => {
          await new Promise((r) => setTimeout(r, answer.delayMs ?? 0));
          if (answer.fail) throw new HandlerError(13, 'registry broken');
          return { replicaId: id, families: [] };
        },
      },
      { logger, everyReplica: true },
    );
    await nc.flush();
  };

  const gather = (opts = { firstReplyMs: 2000, stallMs: 150 }) => gatherRpc(nats.nc, 'n1', ProberMetricsService, 'gatherMetrics', {}, opts);

  it('gather - every replica answers the one request (each in a queue group of its own)', async () => {
    await replica('a');
    await replica('b');
    await replica('c');
    const { replies, errors } = await gather();
    expect(replies.map((r) => r.replicaId).sort()).toEqual(['a', 'b', 'c']);
    expect(errors).toEqual([]);
  });

  it('gather - a replica that does not answer within the stall after the others is left out, and the gather ends without it', async () => {
    await replica('a');
    await replica('slow', { delayMs: 3000 });
    const started = Date.now();
    const { replies } = await gather({ firstReplyMs: 2000, stallMs: 150 });
    expect(replies.map((r) => r.replicaId)).toEqual(['a']);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('gather - answers that keep coming within the stall of each other are cut at firstReplyMs + stallMs, and at maxReplies', async () => {
    const nc = await connect({ servers: nats.server.url });
    const micro = await new Svcm(nc).add({ name: 'prober', version: '0.0.1' });
    replicas.push({ nc, micro });
    let sent = 0;
    // Answers the one request every 20 ms, on and on (a replica gone wrong, or a forger).
    micro.addEndpoint('flood', {
      subject: methodSubject('n1', ProberMetricsService, 'GatherMetrics'),
      queue: 'flood',
      handler: (_err, msg) => {
        const timer = setInterval(() => {
          if (++sent > 200 || nc.isClosed()) return clearInterval(timer);
          msg.respond(toBinary(proberv1.GatherMetricsResponseSchema, create(proberv1.GatherMetricsResponseSchema, { replicaId: 'flood' })));
        }, 20);
      },
    });
    await nc.flush();
    let started = Date.now();
    const byTime = await gather({ firstReplyMs: 500, stallMs: 150 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(byTime.replies.length).toBeGreaterThan(5);
    expect(byTime.replies.length).toBeLessThan(50);
    started = Date.now();
    const byCount = await gatherRpc(nats.nc, 'n1', ProberMetricsService, 'gatherMetrics', {}, { firstReplyMs: 2000, stallMs: 150, maxReplies: 5 });
    expect(byCount.replies).toHaveLength(5);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('gather - a replica that answers with an error is a RemoteError beside the others\' replies', async () => {
    await replica('a');
    await replica('broken', { fail: true });
    const { replies, errors } = await gather();
    expect(replies.map((r) => r.replicaId)).toEqual(['a']);
    expect(errors.map((e) => [e.kind, e.message])).toEqual([['remote', expect.stringContaining('registry broken')]]);
  });

  it('gather - nobody serving is a NoRespondersError, not a wait', async () => {
    const started = Date.now();
    const { replies, errors } = await gather({ firstReplyMs: 5000, stallMs: 150 });
    expect(replies).toEqual([]);
    expect(errors.map((e) => e.kind)).toEqual(['no-responders']);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gather - a garbage request is answered with a 400 and the replica goes on serving', async () => {
    await replica('a');
    const reply = await nats.nc.request(methodSubject('n1', ProberMetricsService, 'GatherMetrics'), new Uint8Array([0xff, 0xff, 0xff]), { timeout: 2000 });
    expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('400');
    const { replies } = await gather();
    expect(replies.map((r) => r.replicaId)).toEqual(['a']);
  });

  it('gather - an answer that is not the contract type is a BadMessageError beside the good replies', async () => {
    await replica('a');
    const nc = await connect({ servers: nats.server.url });
    const micro = await new Svcm(nc).add({ name: 'prober', version: '0.0.1' });
    replicas.push({ nc, micro });
    micro.addEndpoint('forger', { subject: methodSubject('n1', ProberMetricsService, 'GatherMetrics'), queue: 'forger', handler: (_err, msg) => msg.respond(new Uint8Array([0xff, 0xff, 0xff])) });
    await nc.flush();
    const { replies, errors } = await gather();
    expect(replies.map((r) => r.replicaId)).toEqual(['a']);
    expect(errors.map((e) => e.kind)).toEqual(['bad-message']);
  });
});
