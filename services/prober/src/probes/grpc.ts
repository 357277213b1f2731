import { Client, credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { goDuration, goGrpcError } from './go-format';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, HEALTH_CHECK_METHOD, SERVING_STATUS } from './health-codec';
import { joinHostPort } from './port';
import { PROBE_USER_AGENT } from './http';
import type { ProbeHandler, ProbeOutcome, ProbeTarget } from './types';

/**
 * pkg/probe/grpc: grpc.health.v1 Health/Check (with the probe's service name, if any)
 * to the pod IP, plaintext. Connecting and checking share the timeout; only SERVING
 * succeeds. Messages are the kubelet's.
 */
export class GrpcProbe implements ProbeHandler {
  async run({ pod, probe }: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
    if (probe.handler.case !== 'grpc') throw new Error('not a grpc probe');
    const action = probe.handler.value;
    const addr = joinHostPort(pod.podIp, action.port);
    const timeout = goDuration(Math.round(timeoutMs / 1000));
    const deadline = Date.now() + timeoutMs;
    const client = new Client(addr, credentials.createInsecure(), {
      'grpc.primary_user_agent': PROBE_USER_AGENT,
      // One probe, one connection: nothing to keep alive or retry between probes.
      'grpc.enable_retries': 0,
    });
    try {
      // grpc.WithBlock(): wait for the connection within the timeout.
      const connected = await new Promise<Error | undefined>((resolve) => client.waitForReady(deadline, resolve));
      if (connected) {
        return { result: 'failure', output: `timeout: failed to connect service ${JSON.stringify(addr)} within ${timeout}: context deadline exceeded` };
      }
      const reply = await new Promise<{ err: ServiceError | null; status: number }>((resolve) => {
        client.makeUnaryRequest(
          HEALTH_CHECK_METHOD,
          (service: string) => encodeHealthCheckRequest(service),
          decodeHealthCheckResponse,
          action.service ?? '',
          new Metadata(),
          { deadline },
          (err, value) => resolve({ err, status: value ?? 0 }),
        );
      });
      if (reply.err) {
        const { code, details } = reply.err;
        if (code === Status.UNIMPLEMENTED) {
          return { result: 'failure', output: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${details}` };
        }
        if (code === Status.DEADLINE_EXCEEDED) return { result: 'failure', output: `timeout: health rpc did not complete within ${timeout}` };
        return { result: 'failure', output: `error: health rpc probe failed: ${goGrpcError(code, details)}` };
      }
      const name = SERVING_STATUS[reply.status] ?? String(reply.status);
      if (name !== 'SERVING') return { result: 'failure', output: `service unhealthy (responded with ${JSON.stringify(name)})` };
      return { result: 'success', output: 'service healthy' };
    } finally {
      client.close();
    }
  }
}
