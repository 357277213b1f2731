import { connect } from 'node:net';
import { timerMs } from '@splitlet/bus';
import { goNetErrorText } from './net-errors';
import { extractPort, joinHostPort } from './port';
import type { ProbeHandler, ProbeOutcome, ProbeTarget } from './types';

/** pkg/probe/tcp: success when a connection opens within the timeout; it is closed at once. */
export class TcpProbe implements ProbeHandler {
  async run({ pod, container, probe }: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
    if (probe.handler.case !== 'tcpSocket') throw new Error('not a tcpSocket probe');
    const action = probe.handler.value;
    const port = extractPort(action.port, action.portName, container.ports);
    const host = action.host || pod.podIp;
    const addr = joinHostPort(host, port);
    return new Promise((resolve) => {
      const socket = connect({ host, port });
      const finish = (outcome: ProbeOutcome) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      };
      // The timeout is judged after the poll phase (setImmediate): when a busy event loop
      // wakes up late, a refusal or a connection that arrived meanwhile is what happened,
      // not a timeout the target never caused.
      const timer = setTimeout(() => setImmediate(() => finish({ result: 'failure', output: `dial tcp ${addr}: i/o timeout` })), timerMs(timeoutMs));
      socket.once('connect', () => finish({ result: 'success', output: '' }));
      socket.once('error', (err) => finish({ result: 'failure', output: `dial tcp ${addr}: ${goNetErrorText(err)}` }));
    });
  }
}
