import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** A command that exited non-zero: its status and what it printed (stdout and stderr together). */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number,
    readonly output: string,
  ) {
    super(`Command failed: ${command}${output ? `\n${output.trimEnd()}` : ''}`);
  }
}

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * Runs short host commands (mount, umount) through one long-lived /bin/sh. pod-sync is
 * a ~100 MiB process: forking it copies its page tables, ~9 ms of its CPU per mount
 * under load (the 5 pods/s bench's profile, issue 18: 15 % of pod-sync's CPU), where
 * the small shell forks for a fraction of that. Commands run one at a time, each with
 * its arguments quoted; what it printed and its exit status come back framed by a
 * marker this process chose at random. A shell that died is started again for the
 * next command; the command it was running fails.
 */
export class CommandShell {
  private sh: ChildProcessWithoutNullStreams | undefined;
  private output = '';
  private readonly marker = `__splitlet_${randomBytes(8).toString('hex')}__`;
  private tail: Promise<unknown> = Promise.resolve();
  private waiting: { resolve: (r: { code: number; output: string }) => void; reject: (err: Error) => void } | undefined;

  constructor(private readonly shellPath = '/bin/sh') {}

  /** Runs `file args...`; rejects with a CommandError when it exits non-zero. */
  run(file: string, args: readonly string[]): Promise<void> {
    const done = this.tail.then(() => this.exec(file, args));
    this.tail = done.catch(() => undefined);
    return done;
  }

  /** Ends the shell (tests; a pod-sync that exits ends it by closing its stdin). */
  close(): void {
    this.sh?.stdin.end();
    this.sh = undefined;
  }

  private async exec(file: string, args: readonly string[]): Promise<void> {
    const command = [file, ...args].join(' ');
    const sh = this.shell();
    const result = await new Promise<{ code: number; output: string }>((resolve, reject) => {
      this.waiting = { resolve, reject };
      sh.stdin.write(`${[file, ...args].map(quote).join(' ')} </dev/null 2>&1; printf '\\n%s %d\\n' ${this.marker} $?\n`);
    });
    if (result.code !== 0) throw new CommandError(command, result.code, result.output);
  }

  private shell(): ChildProcessWithoutNullStreams {
    if (this.sh) return this.sh;
    const sh = spawn(this.shellPath, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.sh = sh;
    this.output = '';
    sh.stdout.setEncoding('utf8');
    sh.stdout.on('data', (chunk: string) => {
      this.output += chunk;
      const end = this.output.indexOf(`\n${this.marker} `);
      if (end < 0) return;
      const eol = this.output.indexOf('\n', end + 1);
      if (eol < 0) return;
      const code = Number(this.output.slice(end + this.marker.length + 2, eol));
      const output = this.output.slice(0, end);
      this.output = this.output.slice(eol + 1);
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve({ code, output });
    });
    // The shell's own complaints (its commands' stderr goes to stdout): drained, not kept.
    sh.stderr.resume();
    const gone = (why: string) => {
      if (this.sh === sh) this.sh = undefined;
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(new Error(`the command shell ${why}`));
    };
    sh.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    sh.on('error', (err) => gone(`failed: ${err.message}`));
    sh.stdin.on('error', () => undefined); // a write to a shell that just died: its exit says so
    // Nothing of it keeps this process running.
    sh.unref();
    for (const s of [sh.stdin, sh.stdout, sh.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
    return sh;
  }
}
