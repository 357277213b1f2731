import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerLogStreamSubject, createRpcClient, isRemoteError, type RemoteError } from '@splitlet/bus';
import { ContainerLogService, create, fromBinary, ReadContainerLogRequestSchema, ReadContainerLogResponseSchema, toBinary } from '@splitlet/contracts';
import { startServiceHarness, waitFor, type ServiceHarness } from '@splitlet/testing';
import type { DockerApi } from '../docker';
import { LABEL, TYPE_CONTAINER } from '../docker-mapping';
import { RT } from '../tokens';
import { ContainerLogServer } from './log-server';

const frame = (text: string) => {
  const payload = Buffer.from(`2026-12-03T10:00:00.500000000Z ${text}`);
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

const C1 = 'c1'.repeat(32);

/** One container of this node whose log is a stream the test writes to. */
function fakeDocker(nodeName: string) {
  const streams: PassThrough[] = [];
  const queries: Record<string, unknown>[] = [];
  const docker = {
    getContainer: (id: string) => ({
      inspect: async () => {
        if (id !== C1) throw Object.assign(new Error('No such container'), { statusCode: 404 });
        return { Id: C1, Config: { Tty: false, Labels: { [LABEL.node]: nodeName, [LABEL.type]: TYPE_CONTAINER } } };
      },
      modem: {
        dial: (opts: { path: string; isStream: boolean; options: Record<string, unknown> }, cb: (err: unknown, s?: unknown) => void) => {
          if (opts.path !== `/containers/${C1}/logs?` || !opts.isStream) return cb(new Error(`unexpected ${opts.path}`));
          queries.push(opts.options);
          const s = new PassThrough();
          streams.push(s);
          cb(null, s);
        },
      },
    }),
  } as unknown as DockerApi;
  return { docker, streams, queries };
}

describe('container log server', () => {
  let h: ServiceHarness;
  let fake: ReturnType<typeof fakeDocker>;
  let abort: AbortController;
  let server: ContainerLogServer;
  let running: Promise<void>;

  beforeEach(async () => {
    h = await startServiceHarness('runtime-executor');
    fake = fakeDocker(h.nodeName);
    h.container.registerInstance(RT.Docker, fake.docker);
    server = h.container.resolve(ContainerLogServer);
    abort = new AbortController();
    running = server.run(abort.signal);
    // The endpoint's subscription reaches the server before any request (else: no responders).
    await h.nc.flush();
  });
  afterEach(async () => {
    abort.abort();
    await running;
    await h.close();
  });

  const client = () => createRpcClient(h.peer, h.nodeName, ContainerLogService);
  const pull = async (id: string, req: { maxBytes?: number; waitMs?: number; close?: boolean }) =>
    fromBinary(ReadContainerLogResponseSchema, (await h.peer.request(containerLogStreamSubject(h.nodeName, id), toBinary(ReadContainerLogRequestSchema, create(ReadContainerLogRequestSchema, req)), { timeout: 5_000 })).data);

  it('ContainerLogServer - opens a followed log with Docker\'s timestamps and hands it out pull by pull', async () => {
    const { streamId } = await client().openContainerLog({ containerId: C1, options: { follow: true, timestamps: true, tailLines: 10n, sinceUnixNano: 1_700_000_000_000_000_000n } });
    expect(fake.queries[0]).toMatchObject({ follow: true, timestamps: true, tail: 10, since: '1700000000.000000000', stdout: true, stderr: true });
    fake.streams[0]!.write(frame('hello\n'));
    expect((await pull(streamId, { maxBytes: 1024, waitMs: 2_000 })).data.toString()).toBe('2026-12-03T10:00:00.5Z hello\n');
    fake.streams[0]!.end();
    expect(await pull(streamId, { maxBytes: 1024, waitMs: 2_000 })).toMatchObject({ eof: true, error: '' });
    await waitFor('stream freed', async () => (server.openCount === 0 ? true : undefined));
  });

  it('ContainerLogServer - reads a log without follow as a stream too (never the whole log at once)', async () => {
    const { streamId } = await client().openContainerLog({ containerId: C1, options: {} });
    expect(fake.queries[0]).toMatchObject({ follow: false });
    fake.streams[0]!.end(frame('all\n'));
    expect((await pull(streamId, { maxBytes: 1024, waitMs: 2_000 })).data.toString()).toBe('all\n');
  });

  it('ContainerLogServer - a reader\'s close destroys Docker\'s stream and frees the stream', async () => {
    const { streamId } = await client().openContainerLog({ containerId: C1, options: { follow: true } });
    expect(server.openCount).toBe(1);
    await pull(streamId, { close: true });
    expect(fake.streams[0]!.destroyed).toBe(true);
    expect(server.openCount).toBe(0);
  });

  it('ContainerLogServer - answers NOT_FOUND for a container that is not there', async () => {
    const err = await client().openContainerLog({ containerId: 'f'.repeat(64), options: {} }).catch((e: unknown) => e);
    expect(isRemoteError(err)).toBe(true);
    expect((err as RemoteError).code).toBe(5);
  });

  it('ContainerLogServer - refuses (3) an id that is not shaped as Docker\'s before it reaches Docker\'s URL path (found by the fuzz: "%" made a malformed URL)', async () => {
    for (const containerId of ['', '/', '..', '../../info', '%2F', '%', 'c1', 'A'.repeat(4096)]) {
      const err = await client().openContainerLog({ containerId, options: {} }).catch((e: unknown) => e);
      expect(isRemoteError(err) && (err as RemoteError).code).toBe(3);
    }
    expect(fake.queries).toEqual([]);
  });
});
