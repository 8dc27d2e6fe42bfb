/**
 * fabric-shim's ClientIdentity parses the creator's certificate with @fidm/x509 for every transaction, although the
 * same few users sign almost all of them: 9 % of the embedded endorser's time went to that ASN.1 parsing. Parsed
 * certificates are kept here, keyed by their PEM text, up to a bound. ClientIdentity only reads the parsed object
 * (subject, issuer, extensions), so sharing one between transactions changes nothing they see.
 */
import { createRequire } from 'node:module';

const MAX_CERTIFICATES = 1024;

// The @fidm/x509 instance fabric-shim itself loads.
const x509 = createRequire(require.resolve('fabric-shim'))('@fidm/x509') as { Certificate: { fromPEM(pem: Buffer | string): unknown } };
const fromPEM = x509.Certificate.fromPEM.bind(x509.Certificate);
const parsed = new Map<string, unknown>();

x509.Certificate.fromPEM = function fromPEMOnce(pem: Buffer | string): unknown {
  const key = pem.toString();
  let cert = parsed.get(key);
  if (cert === undefined) {
    cert = fromPEM(pem);
    if (parsed.size >= MAX_CERTIFICATES) parsed.clear();
    parsed.set(key, cert);
  }
  return cert;
};
