import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerEnv, isEnvVarName, type EnvObjects, type SkippedEnvKeys } from './env';

const ctx = { podIP: '', hostIP: '', nodeName: 'n' };
const pod: V1Pod = { metadata: { name: 'web', namespace: 'ns' }, spec: { containers: [] } };
const objects: EnvObjects = {
  configMaps: new Map([['cfg', { data: { HOST: 'db', PORT: '5432', '1st': 'x', 'dotted.name': 'ok' } }]]),
  secrets: new Map([['sec', { data: { PASSWORD: Buffer.from('s3cret').toString('base64') } }]]),
};
const envOf = (c: Omit<V1Container, 'name'>, skipped: SkippedEnvKeys[] = []) => Object.fromEntries(containerEnv(pod, { name: 'app', ...c }, ctx, objects, skipped).map((e) => [e.key, e.value]));

describe('pod-sync env from objects', () => {
  it('env - configMapKeyRef and secretKeyRef give the key\'s value (a secret decoded); later values expand them', () => {
    expect(
      envOf({
        env: [
          { name: 'H', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'HOST' } } },
          { name: 'P', valueFrom: { secretKeyRef: { name: 'sec', key: 'PASSWORD' } } },
          { name: 'URL', value: 'pg://$(H):$(PORT)' },
        ],
        envFrom: [{ configMapRef: { name: 'cfg' } }],
      }),
    ).toMatchObject({ H: 'db', P: 's3cret', URL: 'pg://db:5432' });
  });

  it('env - envFrom with a prefix; env entries override envFrom; keys that are no variable names are skipped and reported', () => {
    const skipped: SkippedEnvKeys[] = [];
    const env = envOf({ envFrom: [{ configMapRef: { name: 'cfg' } }, { prefix: 'S_', secretRef: { name: 'sec' } }], env: [{ name: 'HOST', value: 'mine' }] }, skipped);
    expect(env).toEqual({ HOST: 'mine', PORT: '5432', 'dotted.name': 'ok', S_PASSWORD: 's3cret' });
    expect(skipped).toEqual([{ kind: 'configMap', name: 'cfg', keys: ['1st'] }]);
  });

  it.each([
    ['a missing ConfigMap', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] }, 'configmap "nope" not found'],
    ['a missing Secret', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, 'secret "nope" not found'],
    ['a missing ConfigMap key', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }, "couldn't find key k in ConfigMap ns/cfg"],
    ['a missing Secret key', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'sec', key: 'k' } } }] }, "couldn't find key k in Secret ns/sec"],
    ['a missing envFrom ConfigMap', { envFrom: [{ configMapRef: { name: 'nope' } }] }, 'configmap "nope" not found'],
    ['a missing envFrom Secret', { envFrom: [{ secretRef: { name: 'nope' } }] }, 'secret "nope" not found'],
  ])('env - %s is a CreateContainerConfigError in the kubelet\'s words', (_what, c, message) => {
    let err: (Error & { waiting?: string }) | undefined;
    try {
      envOf(c as Omit<V1Container, 'name'>);
    } catch (e) {
      err = e as Error & { waiting?: string };
    }
    expect([err?.waiting, err?.message]).toEqual(['CreateContainerConfigError', message]);
  });

  it('env - optional references to missing objects or keys are left out', () => {
    expect(
      envOf({
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } },
          { name: 'B', valueFrom: { secretKeyRef: { name: 'sec', key: 'k', optional: true } } },
        ],
        envFrom: [{ configMapRef: { name: 'nope', optional: true } }, { secretRef: { name: 'nope', optional: true } }],
      }),
    ).toEqual({});
  });

  it.each([
    ['A_B', true],
    ['a.b-c', true],
    ['_x', true],
    ['1st', false],
    ['has space', false],
    ['', false],
  ])('env - isEnvVarName(%j) is %s', (name, ok) => {
    expect(isEnvVarName(name)).toBe(ok);
  });
});
