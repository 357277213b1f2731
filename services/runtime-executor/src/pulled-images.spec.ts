import { afterEach, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger } from '@splitlet/telemetry';
import { useNatsServer, waitFor } from '@splitlet/testing';
import { familiarName, PulledImages, type ImageNames } from './pulled-images';

const logger = createLogger('runtime-executor-test', { level: 'silent' });
const PAUSE = 'registry.k8s.io/pause:3.10';
const sha = (c: string) => `sha256:${c.repeat(64)}`;

describe('familiarName', () => {
  it.each([
    ['docker.io/library/busybox', 'busybox:latest'],
    ['docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['index.docker.io/library/nginx:1.27', 'nginx:1.27'],
    ['library/busybox', 'busybox:latest'],
    ['busybox', 'busybox:latest'],
    [' busybox:1 ', 'busybox:1'],
    ['docker.io/x/y', 'x/y:latest'],
    ['x/y:2', 'x/y:2'],
    ['127.0.0.1:5000/a/b:1', '127.0.0.1:5000/a/b:1'],
    ['host:5000/a', 'host:5000/a:latest'],
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10'],
    [`docker.io/library/busybox@${sha('a')}`, `busybox@${sha('a')}`],
    [`host:5000/a/b@${sha('b')}`, `host:5000/a/b@${sha('b')}`],
  ])('pulled images - familiarName(%s) is %s', (ref, name) => {
    expect(familiarName(ref)).toBe(name);
  });
});

describe('PulledImages', () => {
  const nats = useNatsServer();
  const aborts: AbortController[] = [];
  const conns: NatsConnection[] = [];
  let nodes = 0;

  afterEach(async () => {
    for (const ac of aborts.splice(0)) ac.abort();
    for (const nc of conns.splice(0)) await nc.close();
  });

  /** A node of its own (its own bucket), and a first replica's PulledImages on it. */
  const newNode = () => {
    const node = `pulled-images-node-${++nodes}`;
    return { node, pulled: new PulledImages(nats.nc, node, PAUSE, logger) };
  };

  /** Another replica on the node: its own connection, following the bucket. */
  const replica = async (node: string) => {
    const nc = await connect({ servers: nats.server.url });
    conns.push(nc);
    const ac = new AbortController();
    aborts.push(ac);
    const pulled = new PulledImages(nc, node, PAUSE, logger);
    void pulled.run(ac.signal).catch(() => undefined);
    return pulled;
  };

  const until = (what: string, ok: () => boolean) => waitFor(what, async () => (ok() ? true : undefined), 10_000, 25);

  it('pulled images - an image is pinned until the node pulled it', async () => {
    const { pulled } = newNode();
    const app: ImageNames = { id: sha('1'), repoTags: ['127.0.0.1:5000/team/app:1'] };
    expect(pulled.pinned(app)).toBe(true);

    await pulled.record('127.0.0.1:5000/team/app:1', app.id);

    expect(pulled.pinned(app)).toBe(false);
  });

  it('pulled images - a pull by a Docker Hub name counts for the tag Docker lists', async () => {
    const { pulled } = newNode();
    const busybox: ImageNames = { id: sha('2'), repoTags: ['busybox:latest'] };

    await pulled.record('docker.io/library/busybox', busybox.id);

    expect(pulled.pinned(busybox)).toBe(false);
  });

  it('pulled images - a pull that resolved to another image does not unpin this one', async () => {
    const { pulled } = newNode();
    await pulled.record('app:1', sha('3'));

    expect(pulled.pinned({ id: sha('4'), repoTags: ['app:1'] })).toBe(true);
  });

  it('pulled images - the pause image is always pinned, even pulled by the node', async () => {
    const { pulled } = newNode();
    const pause: ImageNames = { id: sha('5'), repoTags: [PAUSE] };

    await pulled.record(PAUSE, pause.id);

    expect(pulled.pinned(pause)).toBe(true);
    expect(pulled.pinned({ id: pause.id, repoTags: ['mine:1', PAUSE] })).toBe(true);
  });

  it('pulled images - an image with an extra tag the node did not pull is pinned', async () => {
    const { pulled } = newNode();
    await pulled.record('busybox', sha('6'));

    expect(pulled.pinned({ id: sha('6'), repoTags: ['busybox:latest', 'someone-else/busybox:mine'] })).toBe(true);
    expect(pulled.pinned({ id: sha('6'), repoTags: ['busybox:latest'] })).toBe(false);
  });

  it('pulled images - an untagged image a pull resolved to (its tag moved on) is not pinned; one no pull resolved to is', async () => {
    const { pulled } = newNode();
    await pulled.record('app:latest', sha('7'));
    await pulled.record('app:latest', sha('8'));

    expect(pulled.pinned({ id: sha('7'), repoTags: [] })).toBe(false);
    expect(pulled.pinned({ id: sha('8'), repoTags: ['app:latest'] })).toBe(false);
    expect(pulled.pinned({ id: sha('9'), repoTags: [] })).toBe(true);
  });

  it('pulled images - after forget() the image is pinned again', async () => {
    const { pulled } = newNode();
    const app: ImageNames = { id: sha('a'), repoTags: ['app:2'] };
    await pulled.record('app:2', app.id);
    expect(pulled.pinned(app)).toBe(false);

    await pulled.forget(app);

    expect(pulled.pinned(app)).toBe(true);
    expect(pulled.pinned({ id: app.id, repoTags: [] })).toBe(true);
  });

  it('pulled images - forgetting an untagged old image leaves its name with the image it moved on to', async () => {
    const { pulled } = newNode();
    await pulled.record('app:latest', sha('b'));
    await pulled.record('app:latest', sha('c'));

    await pulled.forget({ id: sha('b'), repoTags: [] });

    expect(pulled.pinned({ id: sha('b'), repoTags: [] })).toBe(true);
    expect(pulled.pinned({ id: sha('c'), repoTags: ['app:latest'] })).toBe(false);
  });

  it('pulled images - reconcile drops the records of images the engine no longer lists, but not a pull recorded after the listing', async () => {
    const app: ImageNames = { id: sha('g'), repoTags: ['app:1'] };
    const raced = newNode().pulled;
    await raced.record('app:1', app.id);
    // Listed before the pull was recorded: its absence from the list says nothing.
    await raced.reconcile(new Set(), Date.now() - 1000);
    expect(raced.pinned(app)).toBe(false);

    const removed = newNode().pulled;
    await removed.record('app:1', app.id);
    // Listed after: the image is gone from the engine, its record goes too.
    await removed.reconcile(new Set(), Date.now() + 1);
    expect(removed.pinned(app)).toBe(true);
  });

  it("pulled images - another replica following the bucket sees the first one's record, and its forget", async () => {
    const { node, pulled } = newNode();
    const other = await replica(node);
    const app: ImageNames = { id: sha('d'), repoTags: ['127.0.0.1:5000/a/b:1'] };
    expect(other.pinned(app)).toBe(true);

    await pulled.record('127.0.0.1:5000/a/b:1', app.id);
    await until('the other replica to see the record', () => !other.pinned(app));

    await pulled.forget(app);
    await until('the other replica to see the forget', () => other.pinned(app));
  });

  it('pulled images - a replica started later reads the records already in the bucket', async () => {
    const { node, pulled } = newNode();
    const app: ImageNames = { id: sha('e'), repoTags: ['busybox:latest'] };
    await pulled.record('docker.io/library/busybox:latest', app.id);

    const later = await replica(node);

    await until('the later replica to read the record', () => !later.pinned(app));
    // Another node's bucket is its own: a replica there that has read its own bucket's record still pins this node's image.
    const elsewhere = await replica(`${node}-other`);
    const writer = await replica(`${node}-other`);
    const theirs: ImageNames = { id: sha('f'), repoTags: ['theirs:1'] };
    await writer.record('theirs:1', theirs.id);
    await until('the other node\'s replica to read its own record', () => !elsewhere.pinned(theirs));
    expect(elsewhere.pinned(app)).toBe(true);
  });
});
