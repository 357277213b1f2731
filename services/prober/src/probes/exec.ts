import { ErrorCode, isRemoteError, type ServiceClient } from '@splitlet/bus';
import type { RuntimeService } from '@splitlet/contracts';
import { MAX_OUTPUT, ProbeError, type ProbeHandler, type ProbeOutcome, type ProbeTarget } from './types';

/** The one RPC an exec probe needs (a narrow seam, so tests fake it in one line). */
export type ExecSyncClient = Pick<ServiceClient<typeof RuntimeService>, 'execSync'>;

/**
 * pkg/probe/exec through the CRI's ExecSync (runtime-executor): exit 0 succeeds, any
 * other code fails with the command's output; the executor's timeout answer (code 4)
 * is a failure `command "..." timed out`; anything else (no executor, no reply,
 * container gone) is a probe error, whose result the kubelet throws away.
 */
export class ExecProbe implements ProbeHandler {
  constructor(
    private readonly runtime: ExecSyncClient,
    /** How much longer than the probe's timeout the request may take (the bus round trip). */
    private readonly graceMs: number,
  ) {}

  async run({ container, probe }: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
    if (probe.handler.case !== 'exec') throw new Error('not an exec probe');
    const cmd = probe.handler.value.command;
    const seconds = Math.max(1, Math.round(timeoutMs / 1000));
    let reply;
    try {
      reply = await this.runtime.execSync({ containerId: container.containerId, cmd, timeout: BigInt(seconds) }, { timeoutMs: timeoutMs + this.graceMs });
    } catch (err) {
      if (isRemoteError(err) && err.code === ErrorCode.DeadlineExceeded) {
        return { result: 'failure', output: `command ${JSON.stringify(cmd.join(' '))} timed out` };
      }
      throw new ProbeError((err as Error).message, { cause: err });
    }
    // The kubelet's exec probe reads stdout and stderr as one combined output.
    const output = Buffer.concat([Buffer.from(reply.stdout), Buffer.from(reply.stderr)]).subarray(0, MAX_OUTPUT).toString('utf8');
    return { result: reply.exitCode === 0 ? 'success' : 'failure', output };
  }
}
