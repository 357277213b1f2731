import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import type { DockerApi } from './docker';
import { LABEL, TYPE_CONTAINER } from './docker-mapping';
import { Owned } from './owned';

const NODE = 'node-a';
const ID = 'c'.repeat(64);

/** A Docker with one container of this node, whose state the test changes as Docker would. */
function oneContainer() {
  let state: { Status: string; Running: boolean; ExitCode: number; StartedAt: string; FinishedAt: string } | undefined = {
    Status: 'running',
    Running: true,
    ExitCode: 0,
    StartedAt: '2026-12-06T10:00:00.000000000Z',
    FinishedAt: '0001-01-01T00:00:00Z',
  };
  const labels = { [LABEL.node]: NODE, [LABEL.type]: TYPE_CONTAINER };
  const docker = {
    listContainers: async () => (state ? [{ Id: ID, State: state.Status, Labels: labels }] : []),
    getContainer: () => ({
      inspect: async () => {
        if (!state) throw Object.assign(new Error('no such container'), { statusCode: 404 });
        return { Id: ID, State: { ...state }, Config: { Labels: labels } };
      },
    }),
  } as unknown as DockerApi;
  return {
    docker,
    set: (s: Partial<NonNullable<typeof state>> | undefined) => (state = s && { ...state!, ...s }),
  };
}

const states = async (owned: Owned) => (await owned.inspectAll(await owned.list(TYPE_CONTAINER), TYPE_CONTAINER)).map((c: Docker.ContainerInspectInfo) => [c.State.Status, c.State.ExitCode, c.State.StartedAt]);

describe('runtime-executor Owned', () => {
  it('Owned - a list after a container exited shows its exit, after it was removed shows nothing', async () => {
    const d = oneContainer();
    const owned = new Owned(d.docker, NODE);
    expect(await states(owned)).toEqual([['running', 0, '2026-12-06T10:00:00.000000000Z']]);
    expect(await states(owned)).toEqual([['running', 0, '2026-12-06T10:00:00.000000000Z']]);
    d.set({ Status: 'exited', Running: false, ExitCode: 3, FinishedAt: '2026-12-06T10:01:00.000000000Z' });
    expect(await states(owned)).toEqual([['exited', 3, '2026-12-06T10:00:00.000000000Z']]);
    d.set(undefined);
    expect(await states(owned)).toEqual([]);
  });

  it('Owned - an exited container started again (forget) and exited again before the next list shows its new exit', async () => {
    const d = oneContainer();
    const owned = new Owned(d.docker, NODE);
    d.set({ Status: 'exited', Running: false, ExitCode: 1 });
    expect(await states(owned)).toEqual([['exited', 1, '2026-12-06T10:00:00.000000000Z']]);
    d.set({ StartedAt: '2026-12-06T10:05:00.000000000Z', ExitCode: 2 });
    owned.forget(ID);
    expect(await states(owned)).toEqual([['exited', 2, '2026-12-06T10:05:00.000000000Z']]);
  });
});
