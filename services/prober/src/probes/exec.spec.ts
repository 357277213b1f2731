import { describe, expect, it } from 'vitest';
import { NoRespondersError, RemoteError, RequestTimeoutError } from '@splitlet/bus';
import { container, podView, probe } from '../__fixtures__/views';
import { ExecProbe, type ExecSyncClient } from './exec';
import { isProbeError } from './types';

const target = () => ({
  pod: podView([]),
  container: container({ containerId: 'cid-1' }),
  probe: probe({ timeoutSeconds: 2, handler: { case: 'exec', value: { command: ['cat', '/tmp/healthy'] } } }),
});

const enc = (s: string) => new TextEncoder().encode(s);

describe('prober exec probe', () => {
  it('exec - exit 0 succeeds; the request carries the container, command and timeout', async () => {
    const calls: unknown[] = [];
    const client: ExecSyncClient = {
      execSync: async (req, opts) => {
        calls.push({ req, opts });
        return { $typeName: 'splitlet.runtime.v1.ExecSyncResponse', stdout: enc('fine\n'), stderr: new Uint8Array(), exitCode: 0 };
      },
    };
    expect(await new ExecProbe(client, 500).run(target(), 2000)).toEqual({ result: 'success', output: 'fine\n' });
    expect(calls).toEqual([{ req: { containerId: 'cid-1', cmd: ['cat', '/tmp/healthy'], timeout: 2n }, opts: { timeoutMs: 2500 } }]);
  });

  it('exec - a non-zero exit fails with stdout and stderr as the output', async () => {
    const client: ExecSyncClient = {
      execSync: async () => ({ $typeName: 'splitlet.runtime.v1.ExecSyncResponse', stdout: enc('out '), stderr: enc('cat: /tmp/healthy: No such file or directory\n'), exitCode: 1 }),
    };
    expect(await new ExecProbe(client, 500).run(target(), 2000)).toEqual({ result: 'failure', output: 'out cat: /tmp/healthy: No such file or directory\n' });
  });

  it('exec - the executor timeout answer (code 4) is a failure; other bus errors are probe errors', async () => {
    const failing = (err: Error): ExecSyncClient => ({ execSync: async () => Promise.reject(err) });
    expect(await new ExecProbe(failing(new RemoteError('s', 4, 'deadline')), 500).run(target(), 2000)).toEqual({
      result: 'failure',
      output: 'command "cat /tmp/healthy" timed out',
    });
    for (const err of [new NoRespondersError('s'), new RequestTimeoutError('s', 2500), new RemoteError('s', 5, 'No such container: cid-1')]) {
      const thrown = await new ExecProbe(failing(err), 500).run(target(), 2000).catch((e: unknown) => e);
      expect(isProbeError(thrown)).toBe(true);
    }
  });
});
