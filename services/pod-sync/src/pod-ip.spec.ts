import { describe, expect, it } from 'vitest';
import { create, PodSandboxState, PodSandboxStatusSchema } from '@splitlet/contracts';
import { podIPOf } from './pod-ip';

const sandbox = (state: PodSandboxState, ip: string) => create(PodSandboxStatusSchema, { id: `s-${ip || 'none'}`, state, network: { ip } });

describe('pod-sync podIPOf', () => {
  it("a ready sandbox's IP, whatever was shown before", () => {
    expect(podIPOf([sandbox(PodSandboxState.READY, '172.17.0.9')], undefined, '172.17.0.7')).toBe('172.17.0.9');
  });

  it('a finished pod whose sandbox was stopped keeps the IP it showed (kubernetes#125404)', () => {
    expect(podIPOf([sandbox(PodSandboxState.NOTREADY_UNSPECIFIED, '')], undefined, '172.17.0.7')).toBe('172.17.0.7');
  });

  it('no sandbox yet and nothing shown: no IP; a host-network pod has the node\'s', () => {
    expect(podIPOf([], undefined, undefined)).toBe('');
    expect(podIPOf([sandbox(PodSandboxState.NOTREADY_UNSPECIFIED, '')], '10.0.0.5', '172.17.0.7')).toBe('10.0.0.5');
  });
});
