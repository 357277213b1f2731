import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { Authenticator } from '@nats-io/transport-node';
import { Codec } from '@nats-io/nkeys/lib/codec';
import { Prefix } from '@nats-io/nkeys';

/**
 * nats.js's credsAuthenticator, with the nonce signed by node's own Ed25519 (OpenSSL)
 * instead of nkeys' tweetnacl: the same JWT, public key and signature, without the
 * ~15 ms a first signature in JavaScript costs every cold start (two scalar
 * multiplications, before V8 has compiled them: issue 17, "Cold start").
 * The .creds file is read as nats.js reads it: the first armored block is the user's
 * JWT, the second the user's seed (@nats-io/jwt's parseCreds would also decode the JWT,
 * which the server checks anyway). A file that is not one throws here, at once, as
 * credsAuthenticator throws at its first connection.
 */
export function nativeCredsAuthenticator(creds: Uint8Array): Authenticator {
  const { jwt, seed } = parseCreds(creds);
  const { buf, prefix } = Codec.decodeSeed(new TextEncoder().encode(seed));
  if (prefix !== Prefix.User) throw new Error('the credentials hold a seed that is not a user key');
  const key = ed25519PrivateKey(buf);
  const nkey = Codec.encode(Prefix.User, ed25519PublicKey(key));
  const nkeyText = new TextDecoder().decode(nkey);
  return (nonce?: string) => ({
    jwt,
    nkey: nkeyText,
    sig: nonce ? sign(null, Buffer.from(nonce), key).toString('base64') : '',
  });
}

function parseCreds(creds: Uint8Array): { jwt: string; seed: string } {
  const CREDS = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi;
  const text = new TextDecoder().decode(creds);
  const jwt = CREDS.exec(text)?.[1]?.trim();
  const seed = CREDS.exec(text)?.[1]?.trim();
  if (!jwt || !seed) throw new Error('unable to parse credentials');
  return { jwt, seed };
}

// An Ed25519 private key is a 32-byte seed; PKCS#8 wraps it in this fixed DER prefix (RFC 8410).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

function ed25519PublicKey(key: KeyObject): Uint8Array {
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  if (!x) throw new Error('no Ed25519 public key');
  return Buffer.from(x, 'base64url');
}
