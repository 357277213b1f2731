import { afterEach, describe, expect, it } from 'vitest';
import { CommandError, CommandShell } from './command-shell';

describe('CommandShell', () => {
  let shell: CommandShell;
  afterEach(() => shell?.close());

  it('CommandShell - runs each command with its arguments as given (spaces, quotes, $, ;), in order; a failure carries its status and output', async () => {
    shell = new CommandShell();
    const weird = `a b'c"d $HOME; \`x\``;
    const outputs: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        shell.run('sh', ['-c', `printf '%s|%s' "$0" "$1"; exit $2`, `n${i}`, weird, i % 5 === 4 ? '3' : '0']).then(
          () => outputs.push(`ok ${i}`),
          (err: unknown) => outputs.push(`failed ${i}: ${(err as CommandError).code} ${(err as CommandError).output}`),
        ),
      ),
    );
    expect(outputs).toEqual(Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? `failed ${i}: 3 n${i}|${weird}` : `ok ${i}`)));
    await expect(shell.run('sh', ['-c', 'echo oops >&2; exit 32'])).rejects.toThrow(/^Command failed: sh -c echo oops >&2; exit 32\noops$/);
  });

  it('CommandShell - a shell that died fails the command it ran, and the next command gets a new one', async () => {
    shell = new CommandShell();
    await shell.run('true', []);
    await expect(shell.run('sh', ['-c', 'kill -9 $PPID; sleep 5'])).rejects.toThrow(/the command shell exited \(SIGKILL\)/);
    await shell.run('true', []);
    await expect(shell.run('false', [])).rejects.toBeInstanceOf(CommandError);
  });
});
