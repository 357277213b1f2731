import { Server, ServerCredentials, status as Status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { container, podView, probe } from '../__fixtures__/views';
import { GrpcProbe } from './grpc';
import { decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest, encodeHealthCheckResponse } from './health-codec';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.forceShutdown();
});

/** A grpc.health.v1 server whose Check answers from statusOf(service); hang: never answers. */
async function healthServer(statusOf: (service: string) => number | 'hang'): Promise<number> {
  const server = new Server();
  servers.push(server);
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        // An object, not the bare string: grpc-js takes a falsy request for a missing one.
        requestSerialize: (v: { service: string }) => encodeHealthCheckRequest(v.service),
        requestDeserialize: (b: Buffer) => ({ service: decodeHealthCheckRequest(b) }),
        responseSerialize: (v: number) => encodeHealthCheckResponse(v),
        responseDeserialize: decodeHealthCheckResponse,
      },
    },
    {
      Check: (call: ServerUnaryCall<{ service: string }, number>, cb: sendUnaryData<number>) => {
        const s = statusOf(call.request.service);
        if (s === 'hang') return;
        if (s < 0) return cb({ code: Status.UNIMPLEMENTED, details: 'no health here' });
        cb(null, s);
      },
    },
  );
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

const target = (port: number, service?: string) => ({
  pod: podView([]),
  container: container(),
  probe: probe({ handler: { case: 'grpc', value: { port, ...(service === undefined ? {} : { service }) } } }),
});

describe('prober grpc probe', () => {
  const runner = new GrpcProbe();

  it('grpc - SERVING succeeds; the service name is sent', async () => {
    const asked: string[] = [];
    const port = await healthServer((svc) => (asked.push(svc), svc === 'db' ? 2 : 1));
    expect(await runner.run(target(port), 1000)).toEqual({ result: 'success', output: 'service healthy' });
    expect(await runner.run(target(port, 'db'), 1000)).toEqual({ result: 'failure', output: 'service unhealthy (responded with "NOT_SERVING")' });
    expect(asked).toEqual(['', 'db']);
  });

  it('grpc - a server without the health service fails in the kubelet words', async () => {
    const port = await healthServer(() => -1);
    expect((await runner.run(target(port), 1000)).output).toBe('this server does not implement the grpc health protocol (grpc.health.v1.Health): no health here');
  });

  it('grpc - nothing listening fails at the timeout as a connect timeout', async () => {
    const port = await healthServer(() => 1);
    servers.pop()?.forceShutdown();
    expect(await runner.run(target(port), 1000)).toEqual({
      result: 'failure',
      output: `timeout: failed to connect service "127.0.0.1:${port}" within 1s: context deadline exceeded`,
    });
  });

  it('grpc - a Check that hangs fails at the timeout', async () => {
    const port = await healthServer(() => 'hang');
    const start = performance.now();
    expect(await runner.run(target(port), 1000)).toEqual({ result: 'failure', output: 'timeout: health rpc did not complete within 1s' });
    expect(performance.now() - start).toBeLessThan(1500);
  });

  it('grpc - the health messages round-trip, unknown fields skipped', () => {
    expect(decodeHealthCheckRequest(encodeHealthCheckRequest('svc.v1'))).toBe('svc.v1');
    expect(decodeHealthCheckResponse(Buffer.concat([Buffer.from([0x12, 0x01, 0x41]), encodeHealthCheckResponse(3)]))).toBe(3);
    expect(decodeHealthCheckResponse(Buffer.alloc(0))).toBe(0);
  });
});
