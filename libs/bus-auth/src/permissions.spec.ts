import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, errors, type NatsConnection } from '@nats-io/transport-node';
import { connectWithCreds, startAuthNatsServer, type AuthNatsServer } from '@splitlet/testing';
import { permissionsFor, SERVICE_NAMES, type BusServiceName } from './permissions';

// Each identity against a real nats-server running the generated config: allowed on
// every subject of its row, refused on every other subject any identity of this node
// or of another node holds (plus wildcards a sniffer would try), publish and subscribe.

const NODE = 'node-a';
const OTHER = 'node-b.example'; // a dotted name: its token is node-b_example

/** A concrete subject for a permission pattern (`*` -> one token, `>` -> two). */
const concrete = (pattern: string) => pattern.replaceAll('>', 'x.y').replaceAll('*', 'x');

/** Whether a NATS pattern matches a subject (tokens; `*` one, `>` the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

const universe = (pick: 'pub' | 'sub') => {
  const all = new Set<string>();
  for (const node of [NODE, OTHER]) for (const s of SERVICE_NAMES) for (const p of permissionsFor(node, s)[pick]) all.add(concrete(p));
  // What a sniffer or a forger would try beyond any row.
  for (const x of ['>', 'splitlet.>', `splitlet.${NODE}.>`, '_INBOX.>', '$KV.>', '$JS.API.>', '$JS.API.STREAM.LIST', '$JS.API.STREAM.DELETE.KV_SPLITLET_PODS_node-a', `_INBOX.x`]) all.add(x);
  return [...all];
};

/** Publishes (or subscribes to) each subject, then returns those the server refused. */
async function refused(nc: NatsConnection, op: 'publish' | 'subscription', subjects: string[]): Promise<Set<string>> {
  const denied = new Set<string>();
  const watching = (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error instanceof errors.PermissionViolationError && s.error.operation === op) denied.add(s.error.subject);
    }
  })();
  // One at a time, each followed by a flush: the server answers in order, so a refusal
  // arrives before that flush's PONG (a burst of refusals is not all reported).
  for (const subject of subjects) {
    if (op === 'publish') nc.publish(subject, 'probe');
    const sub = op === 'subscription' ? nc.subscribe(subject, { callback: () => undefined }) : undefined;
    await nc.flush();
    sub?.unsubscribe();
  }
  // The status iterator hands each error on in a later task: let it drain.
  await new Promise((resolve) => setImmediate(resolve));
  void watching;
  return denied;
}

describe('bus permissions', () => {
  let server: AuthNatsServer;
  beforeAll(async () => {
    server = await startAuthNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('bus permissions - an anonymous client is refused', async () => {
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toBeInstanceOf(errors.AuthorizationError);
  });

  it('bus permissions - a user signed by another account key is refused', async () => {
    const stranger = await startAuthNatsServer();
    try {
      const file = await stranger.credsFile(NODE, 'pod-sync');
      await expect(connectWithCreds(server.url, file)).rejects.toBeInstanceOf(errors.AuthorizationError);
    } finally {
      await stranger.stop();
    }
  });

  it('bus permissions - every identity of a node with the longest name allowed (253 characters) connects and uses its row', async () => {
    const longest = `${'n'.repeat(63)}.${'o'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(61)}`;
    expect(longest).toHaveLength(253);
    for (const service of SERVICE_NAMES) {
      const nc = await server.connectAs(longest, service);
      try {
        const own = permissionsFor(longest, service);
        expect(await refused(nc, 'publish', own.pub.map(concrete))).toEqual(new Set());
      } finally {
        await nc.close();
      }
    }
  });

  describe.each(SERVICE_NAMES.map((s) => [s] as [BusServiceName]))('%s', (service) => {
    let nc: NatsConnection;
    beforeAll(async () => {
      nc = await server.connectAs(NODE, service);
    });
    afterAll(async () => {
      await nc?.close();
    });

    for (const [op, pick] of [
      ['publish', 'pub'],
      ['subscription', 'sub'],
    ] as const) {
      it(`bus permissions - ${service} may ${op === 'publish' ? 'publish to' : 'subscribe to'} its own row only`, async () => {
        const own = permissionsFor(NODE, service)[pick];
        const subjects = universe(pick === 'pub' ? 'pub' : 'sub').concat(universe(pick === 'pub' ? 'sub' : 'pub'));
        const denied = await refused(nc, op, [...new Set(subjects)]);
        const expectedDenied = [...new Set(subjects)].filter((s) => !own.some((p) => matches(p, s)));
        expect([...denied].sort()).toEqual(expectedDenied.sort());
        // Nothing of another node and no catch-all is ever allowed.
        expect(expectedDenied).toEqual(expect.arrayContaining(['>', 'splitlet.>', '_INBOX.>']));
        for (const s of subjects.filter((x) => x.includes('node-b_example'))) expect(denied).toContain(s);
      });
    }
  });
});
