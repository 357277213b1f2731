import { afterEach, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { ErrorCode, HandlerError } from '@splitlet/bus';
import { startFakeDockerApi, type FakeDockerApi } from './__fixtures__/docker-api';
import { connectDocker, dockerCall, dockerStatus, DockerTimeoutError } from './docker';

const TIMEOUT_MS = 300;

/** Resolves once `check` holds, polling every 10 ms; rejects after `ms`. */
async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('connectDocker - a Docker that does not answer', () => {
  let docker: FakeDockerApi | undefined;
  afterEach(async () => {
    await docker?.close();
    docker = undefined;
  });

  it('a call is given up at the deadline with 4, and its connection is closed', async () => {
    docker = await startFakeDockerApi({ delay: () => 'never' });
    const d = connectDocker(docker.host, { requestTimeoutMs: TIMEOUT_MS });
    const started = Date.now();
    const calls = Array.from({ length: 20 }, () => dockerCall(() => d.listContainers({ all: true })).catch((e: unknown) => e));
    await until(async () => (await docker!.openConnections()) === 20, 2000);
    const errors = await Promise.all(calls);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(took).toBeLessThan(TIMEOUT_MS + 1500);
    for (const err of errors) {
      expect(err).toBeInstanceOf(HandlerError);
      expect((err as HandlerError).code).toBe(ErrorCode.DeadlineExceeded);
      expect((err as HandlerError).message).toBe('docker did not answer within 0.3 s');
    }
    // Without the deadline all twenty would stay open as long as Docker is silent.
    await until(async () => (await docker!.openConnections()) === 0, 2000);
  });

  it('a stop may take its grace period on top of the deadline', async () => {
    // Docker answers the stop after 600 ms: past the 300 ms deadline, within 1 s + 300 ms.
    docker = await startFakeDockerApi({ delay: (r) => (r.includes('/stop') ? 600 : undefined) });
    const d = connectDocker(docker.host, { requestTimeoutMs: TIMEOUT_MS });
    const err = await d.getContainer('c1').stop({ t: 1 }).catch((e: unknown) => e);
    // Docker's own answer (the fake knows no such endpoint), not the deadline.
    expect(err).not.toBeInstanceOf(DockerTimeoutError);
    expect(dockerStatus(err)).toBe(404);
    expect(docker.requests).toEqual(['POST /containers/c1/stop?t=1']);
  });

  it('a stop Docker never answers is given up after its grace period and the deadline', async () => {
    docker = await startFakeDockerApi({ delay: () => 'never' });
    const d = connectDocker(docker.host, { requestTimeoutMs: TIMEOUT_MS });
    const started = Date.now();
    const err = await d.getContainer('c1').stop({ t: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000 + TIMEOUT_MS);
  });

  it('a stream (the event stream) outlives the deadline', async () => {
    docker = await startFakeDockerApi({ delay: (r) => (r.startsWith('GET /events') ? 'stream' : undefined) });
    const d = connectDocker(docker.host, { requestTimeoutMs: TIMEOUT_MS });
    const stream = (await d.getEvents({})) as Readable;
    let ended = false;
    stream.on('close', () => (ended = true)).on('error', () => undefined);
    await new Promise((r) => setTimeout(r, TIMEOUT_MS * 3));
    expect(ended).toBe(false);
    expect(await docker.openConnections()).toBe(1);
    stream.destroy();
  });
});
