import { describe, expect, it } from 'vitest';
import { forwardedPort } from './kubectl';

describe('kubectl', () => {
  it('forwardedPort - the local port kubectl port-forward chose for the remote one', () => {
    const out = 'Forwarding from 127.0.0.1:41234 -> 8080\nForwarding from [::1]:41234 -> 8080\nForwarding from 127.0.0.1:41235 -> 8081\n';
    expect(forwardedPort(out, 8080)).toBe(41234);
    expect(forwardedPort(out, 8081)).toBe(41235);
  });

  it('forwardedPort - nothing before kubectl says it, nor for another remote port', () => {
    expect(forwardedPort('', 8080)).toBeUndefined();
    expect(forwardedPort('Forwarding from 127.0.0.1:41234 -> 80800\n', 8080)).toBeUndefined();
    expect(forwardedPort('Forwarding from 127.0.0.1:41234 -> 9090\n', 8080)).toBeUndefined();
    // A line still being written: the remote port is not complete yet.
    expect(forwardedPort('Forwarding from 127.0.0.1:41234 -> 80', 8080)).toBeUndefined();
  });
});
