import { describe, expect, it } from 'vitest';
import { runCommand } from './lab';

describe('runCommand', () => {
  it('a command that exits without reading its stdin: its exit code, no stray EPIPE', async () => {
    // 8 MiB is far more than a pipe holds: the write is still going when sh exits.
    const r = await runCommand('sh', ['-c', 'exit 5'], 'z'.repeat(8 << 20));
    expect(r).toEqual({ code: 5, stdout: '', stderr: '' });
  });

  it('stdin piped through, output and exit code returned', async () => {
    expect(await runCommand('sh', ['-c', 'tr a-z A-Z; exit 3'], 'hello\n')).toEqual({ code: 3, stdout: 'HELLO\n', stderr: '' });
  });
});
