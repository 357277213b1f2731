import { closeSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';

/**
 * A hostPath volume's type check (pkg/volume/hostpath checkType): the *OrCreate
 * types make what is missing (a directory 0755, an empty file 0644), the others
 * require the path to exist and be of that kind. The error reads as the kubelet's
 * ("hostPath type check failed: /x is not a directory").
 */
export function checkHostPathType(path: string, type: string | undefined): void {
  const fail = (what: string) => new Error(`hostPath type check failed: ${path} is not ${what}`);
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  switch (type ?? '') {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) return void mkdirSync(path, { recursive: true, mode: 0o755 });
      if (!st.isDirectory()) throw fail('a directory');
      return;
    case 'Directory':
      if (!st?.isDirectory()) throw fail('a directory');
      return;
    case 'FileOrCreate':
      if (!st) return void closeSync(openSync(path, 'a', 0o644));
      if (!st.isFile()) throw fail('a file');
      return;
    case 'File':
      if (!st?.isFile()) throw fail('a file');
      return;
    case 'Socket':
      if (!st?.isSocket()) throw fail('a socket file');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw fail('a character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw fail('a block device');
      return;
    default:
      throw new Error(`hostPath type check failed: ${type} is an invalid volume type`);
  }
}
