import { credsAuthenticator } from '@nats-io/transport-node';
import { createAccount, createUser, fmtCreds } from '@nats-io/jwt';
import { describe, expect, it } from 'vitest';
import { nativeCredsAuthenticator } from './creds';

const JWT = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJ0ZXN0In0.c2ln';

describe('nativeCredsAuthenticator', () => {
  it('answers a nonce exactly as nats.js does: the same JWT, public key and (deterministic Ed25519) signature', () => {
    for (let i = 0; i < 5; i++) {
      const creds = fmtCreds(JWT, createUser());
      for (const nonce of ['abc', 'K0HgGcUZ7sGsXbWuSkYbZA', `nonce-${i}-${'x'.repeat(i * 7)}`]) {
        expect(nativeCredsAuthenticator(creds)(nonce)).toEqual(credsAuthenticator(creds)(nonce));
      }
    }
  });

  it('a creds file that is not one, or holds a key that is not a user\'s, is refused at once', () => {
    expect(() => nativeCredsAuthenticator(new TextEncoder().encode('not a creds file'))).toThrow(/unable to parse credentials/);
    expect(() => nativeCredsAuthenticator(fmtCreds(JWT, createAccount()))).toThrow(/not a user key/);
  });
});
