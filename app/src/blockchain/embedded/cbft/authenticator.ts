/**
 * How a client authenticates its requests to the replicas: PBFT's MAC authenticator (Castro and
 * Liskov), one HMAC-SHA256 of the request's digest per replica (truncated to 128 bits), each under
 * a key only the client and that replica hold, agreed by ECDH between the keys of their
 * certificates (peer organisation's and orderer organisation's CAs). A replica checks its own
 * entry in microseconds, where an ECDSA signature cost every replica about 0.1 ms per transaction;
 * a replica cannot forge an entry for another, so a Byzantine primary still cannot slip a request
 * of its own making past the others. What it gives up against a signature: a third party (an
 * auditor) cannot check it; the block's commit certificate and the peer's own endorsement
 * checks are what vouch for a block afterwards.
 */
import * as crypto from 'node:crypto';

const MAC_BYTES = 16;

/** The key a private key shares with the holder of `certificate`, by ECDH and HKDF. */
export function sharedKey(privateKey: crypto.KeyObject, certificate: string): Buffer {
  const secret = crypto.diffieHellman({ privateKey, publicKey: new crypto.X509Certificate(certificate).publicKey });
  return Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), 'cbft request authenticator', 32));
}

/** The authenticator of `digest` for replicas 0…N−1, by their shared keys in order (base64). */
export function authenticate(keys: Buffer[], digest: string): string {
  return Buffer.concat(keys.map((key) => mac(key, digest))).toString('base64');
}

/** Whether replica `index`'s entry of the authenticator is right for `digest` under `key`. */
export function checkAuthenticator(key: Buffer, index: number, digest: string, authenticator: string): boolean {
  if (typeof authenticator !== 'string') return false;
  const entry = Buffer.from(authenticator, 'base64').subarray(index * MAC_BYTES, (index + 1) * MAC_BYTES);
  return entry.length === MAC_BYTES && crypto.timingSafeEqual(entry, mac(key, digest));
}

function mac(key: Buffer, digest: string): Buffer {
  return crypto.createHmac('sha256', key).update(digest).digest().subarray(0, MAC_BYTES);
}
