/**
 * fabric-common signs proposals and transactions with `elliptic`, in pure JavaScript: in the Fabric benchmark 30 % of
 * the client's CPU went to bn.js, more than everything else the client did. This identity provider gives
 * fabric-network the same X.509 users, but their signatures come from Node's OpenSSL through signBytes (ECDSA/SHA-256,
 * DER, low S as Fabric's peers require), the one signing function the platform already uses.
 */
import type { KeyObject } from 'node:crypto';
import type { IdentityProvider } from 'fabric-network';
import { newDefaultProviderRegistry } from 'fabric-network/lib/impl/wallet/identityproviderregistry';
import { signBytes } from '../embedded/identity';

const x509 = newDefaultProviderRegistry().getProvider('X.509');

/** An X.509 identity provider whose users sign with `privateKey` (the key of the identity the gateway connects as). */
export function nativeSigningProvider(privateKey: KeyObject): IdentityProvider {
  return {
    type: x509.type,
    getCryptoSuite: () => x509.getCryptoSuite(),
    fromJson: (data) => x509.fromJson(data),
    toJson: (identity) => x509.toJson(identity),
    async getUserContext(identity, name) {
      const user = await x509.getUserContext(identity, name);
      // SigningIdentity.sign hashes the message and signs the digest; signBytes does both with OpenSSL.
      user.getSigningIdentity().sign = (message: Buffer) => signBytes({ privateKey }, message);
      return user;
    },
  };
}
