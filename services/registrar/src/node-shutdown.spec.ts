import { describe, expect, it } from 'vitest';
import { kvPut, NODE_SHUTDOWN_KEY, nodeStateBucket, openBucket } from '@splitlet/bus';
import { podsyncv1 } from '@splitlet/contracts';
import { systemClock } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { useNatsServer, waitFor } from '@splitlet/testing';
import { NodeShutdownWatch } from './node-shutdown';

const logger = createLogger('registrar-shutdown-test', { level: 'silent' });

describe('registrar: the node shutdown state (a real NATS bucket)', () => {
  const nats = useNatsServer();

  it('the node shuts down while a state of this boot is there: each change wakes the status at once; one of another boot, or garbage, is none', async () => {
    const node = 'watch.node-1';
    let changes = 0;
    const { nc } = nats;
    const watch = new NodeShutdownWatch(nc, node, logger, systemClock, () => void changes++, async () => 'boot-1');
    const ac = new AbortController();
    const running = watch.run(ac.signal);
    const kv = await openBucket(nc, nodeStateBucket(node));
    expect(watch.shuttingDown()).toBe(false);
    await kvPut(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, { bootId: 'boot-1', startedAt: 1n });
    await waitFor('shutting down', async () => (watch.shuttingDown() ? true : undefined), 5_000);
    expect(changes).toBe(1);
    await kvPut(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, { bootId: 'boot-0', startedAt: 1n });
    await waitFor('an earlier boot\'s state is over', async () => (!watch.shuttingDown() ? true : undefined), 5_000);
    await kvPut(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, { bootId: 'boot-1', startedAt: 1n });
    await waitFor('shutting down again', async () => (watch.shuttingDown() ? true : undefined), 5_000);
    await kv.put(NODE_SHUTDOWN_KEY, new Uint8Array([0xff, 0xff, 0xff]));
    await waitFor('garbage is no shutdown', async () => (!watch.shuttingDown() ? true : undefined), 5_000);
    await kvPut(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, { bootId: 'boot-1', startedAt: 1n });
    await waitFor('shutting down once more', async () => (watch.shuttingDown() ? true : undefined), 5_000);
    await kv.delete(NODE_SHUTDOWN_KEY);
    await waitFor('cancelled', async () => (!watch.shuttingDown() ? true : undefined), 5_000);
    expect(changes).toBe(6);
    ac.abort();
    await running;
  });
});
