import { describe, expect, it } from 'vitest';
import { runCommand, workspaceRoot } from '@splitlet/testing';

// The services' Dockerfile builds on the lab's own Node.js 24 base image (passed as
// a build argument, as no registry is reachable) and the image runs the service.
describe('service images', () => {
  it('services/Dockerfile - builds prober on splitlet-lab/node:24; the image runs it as uid 1000', async () => {
    const tag = 'splitlet/prober:e2e';
    const build = await runCommand('docker', [
      'build', '-q', '-f', 'services/Dockerfile',
      '--build-arg', 'NODE_IMAGE=splitlet-lab/node:24', '--build-arg', 'SERVICE=prober',
      '-t', tag, workspaceRoot(),
    ]);
    expect(build.code, build.stderr).toBe(0);
    const user = await runCommand('docker', ['image', 'inspect', '-f', '{{.Config.User}}', tag]);
    expect(user.stdout.trim()).toBe('1000');
    // A bad value: the service says which and exits 78, as outside a container.
    const run = await runCommand('docker', ['run', '--rm', '-e', 'SPLITLET_NODE_NAME=Not_Valid', tag]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('prober: invalid configuration');
    expect(run.stderr).toContain('SPLITLET_NODE_NAME');
  }, 300_000);
});
