/**
 * Embedded certificate authority: one self-signed ECDSA P-256 CA per organisation that
 * enrols X.509 identities shaped like fabric-ca's, so that fabric-shim's ClientIdentity
 * (which parses the creator certificate with @fidm/x509) sees the same attributes it
 * would see on a real Fabric network.
 */
import * as crypto from 'node:crypto';
import 'reflect-metadata';
import * as X509 from '@peculiar/x509';

/** Fabric's private OID for the attribute extension written by fabric-ca. */
export const FABRIC_ATTR_OID = '1.2.3.4.5.6.7.8.1';

// @peculiar/x509 pulls in tsyringe, which needs a Reflect metadata polyfill loaded first.
function x509(): typeof X509 {
  return X509;
}

// @peculiar/x509 is typed against the DOM WebCrypto types, which this project does not
// load (lib: ES2022 only); Node's implementation is the same API, hence the casts.
type WebCryptoKey = crypto.webcrypto.CryptoKey;
const webcrypto = crypto.webcrypto as unknown as Parameters<typeof X509.X509CertificateGenerator.create>[1];
const subtle = crypto.webcrypto.subtle;

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;

// fabric-ca back-dates certificates by five minutes to tolerate clock skew between nodes.
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface EnrolmentRequest {
  enrollmentId: string;
  /** Application role; lands in the attribute extension and in the subject OU. */
  role: string;
  /** Organisation name; lands in the attribute extension and in the subject O. */
  org: string;
  /** fabric-ca affiliation (hf.Affiliation); empty string when omitted, as fabric-ca does. */
  affiliation?: string;
  /** Certificate lifetime in days (fabric-ca's default is one year). */
  validityDays?: number;
  /**
   * The MSP node OU (e.g. "client") to put in the subject instead of the role, as fabric-ca does: an MSP with
   * NodeOUs enabled (a real Fabric network) accepts only identities with exactly one of client/peer/admin/orderer
   * as OU, and the role "admin" must not read as the MSP's admin OU. The role stays in the attributes.
   */
  nodeOU?: string;
}

export interface Identity {
  mspId: string;
  enrollmentId: string;
  role: string;
  org: string;
  /** PEM-encoded enrolment certificate (what goes into SerializedIdentity.id_bytes). */
  certificate: string;
  privateKey: crypto.KeyObject;
}

/** Plain-JSON form of an identity (private key as PKCS#8 PEM) for wallets and fixtures. */
export interface IdentityJSON {
  mspId: string;
  enrollmentId: string;
  role: string;
  org: string;
  certificate: string;
  privateKey: string;
}

/** Plain-JSON form of a CA so that a ledger can persist it next to its blocks. */
export interface CertificateAuthorityJSON {
  mspId: string;
  name: string;
  certificate: string;
  /** PKCS#8 PEM. */
  privateKey: string;
}

export class CertificateAuthority {
  private constructor(
    readonly mspId: string,
    readonly name: string,
    /** PEM-encoded self-signed CA certificate (the MSP root cert). */
    readonly certificate: string,
    private readonly caCert: X509.X509Certificate,
    private readonly signingKey: WebCryptoKey,
    private readonly keyObject: crypto.KeyObject,
  ) {}

  static async create(mspId: string, name: string, validityDays = 3650): Promise<CertificateAuthority> {
    const x = x509();
    const keys = await subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
    const now = Date.now();
    const cert = await x.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: [{ O: [mspId] }, { CN: [name] }],
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(now + validityDays * DAY_MS),
        signingAlgorithm: SIGN_ALG,
        keys,
        extensions: [
          new x.BasicConstraintsExtension(true, 1, true),
          new x.KeyUsagesExtension(
            x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign | x.KeyUsageFlags.digitalSignature,
            true,
          ),
          await x.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        ],
      },
      webcrypto,
    );
    return new CertificateAuthority(mspId, name, cert.toString('pem'), cert, keys.privateKey, crypto.KeyObject.from(keys.privateKey));
  }

  static async load(json: CertificateAuthorityJSON): Promise<CertificateAuthority> {
    const keyObject = crypto.createPrivateKey(json.privateKey);
    const der = keyObject.export({ type: 'pkcs8', format: 'der' });
    const key = await subtle.importKey('pkcs8', der, KEY_ALG, true, ['sign']);
    const cert = new (x509().X509Certificate)(json.certificate);
    return new CertificateAuthority(json.mspId, json.name, json.certificate, cert, key, keyObject);
  }

  save(): CertificateAuthorityJSON {
    const privateKey = this.keyObject.export({ type: 'pkcs8', format: 'pem' }).toString();
    return { mspId: this.mspId, name: this.name, certificate: this.certificate, privateKey };
  }

  /** Issues a fresh key pair and enrolment certificate, like `fabric-ca-client enroll`. */
  async enrol(req: EnrolmentRequest): Promise<Identity> {
    if (!req.enrollmentId) throw new Error('enrollmentId is required');
    const x = x509();
    const keys = await subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
    const now = Date.now();
    // Same attribute set fabric-ca puts in every enrolment certificate (hf.*), plus ours.
    const attrs = {
      attrs: {
        'hf.Affiliation': req.affiliation ?? '',
        'hf.EnrollmentID': req.enrollmentId,
        'hf.Type': 'client',
        role: req.role,
        org: req.org,
      },
    };
    const cert = await x.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: [{ O: [req.org] }, { OU: [req.nodeOU ?? req.role] }, { CN: [req.enrollmentId] }],
        issuer: this.caCert.subject,
        // Back-dated, but never before the CA itself: a Fabric MSP checks the chain at the certificate's notBefore
        // (+1 s), so a certificate older than a freshly made CA (cryptogen's is back-dated to a whole minute) is refused.
        notBefore: new Date(Math.max(now - BACKDATE_MS, this.caCert.notBefore.getTime())),
        notAfter: new Date(now + (req.validityDays ?? 365) * DAY_MS),
        signingAlgorithm: SIGN_ALG,
        publicKey: keys.publicKey,
        signingKey: this.signingKey,
        extensions: [
          new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
          new x.BasicConstraintsExtension(false, undefined, true),
          await x.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
          await x.AuthorityKeyIdentifierExtension.create(this.caCert, false, webcrypto),
          // fabric-ca stores the raw JSON bytes as the extension value (no inner ASN.1 wrapping).
          new x.Extension(FABRIC_ATTR_OID, false, Buffer.from(JSON.stringify(attrs), 'utf8')),
        ],
      },
      webcrypto,
    );
    return {
      mspId: this.mspId,
      enrollmentId: req.enrollmentId,
      role: req.role,
      org: req.org,
      certificate: cert.toString('pem'),
      privateKey: crypto.KeyObject.from(keys.privateKey),
    };
  }
}

export function exportIdentity(identity: Identity): IdentityJSON {
  return {
    mspId: identity.mspId,
    enrollmentId: identity.enrollmentId,
    role: identity.role,
    org: identity.org,
    certificate: identity.certificate,
    privateKey: identity.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function importIdentity(json: IdentityJSON): Identity {
  return { ...json, privateKey: crypto.createPrivateKey(json.privateKey) };
}

// ---------------------------------------------------------------------------------------
// Signatures. Fabric only accepts ECDSA signatures with S in the lower half of the curve
// order (bccsp "low-S"), because (r, s) and (r, n - s) are both valid and a malleable
// signature would let anyone mint a second valid transaction envelope.

// Big-endian 32-byte numbers, compared and subtracted as bytes: converting them to BigInt through
// hex strings cost about 10 µs a signature, a quarter of signing.
const P256_N = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');
const P256_HALF_N = Buffer.from('7FFFFFFF800000007FFFFFFFFFFFFFFFDE737D56D38BCF4279DCE5617E3192A8', 'hex');

/** ECDSA/SHA-256 over `bytes`, DER-encoded, S normalised to the low half like Fabric's BCCSP. */
export function signBytes(identity: Pick<Identity, 'privateKey'>, bytes: Uint8Array): Buffer {
  const raw = crypto.sign('sha256', bytes, { key: identity.privateKey, dsaEncoding: 'ieee-p1363' });
  const r = raw.subarray(0, 32);
  let s: Buffer = raw.subarray(32);
  if (Buffer.compare(s, P256_HALF_N) > 0) s = subtract(P256_N, s);
  return encodeDerSignature(r, s);
}

/** Verifies a DER ECDSA/SHA-256 signature against a PEM certificate; rejects high-S like Fabric. */
export function verifySignature(certPem: string, bytes: Uint8Array, sig: Uint8Array): boolean {
  try {
    const parsed = decodeDerSignature(Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength));
    if (!parsed || parsed.r.length === 0 || parsed.s.length === 0 || compareUnsigned(parsed.s, P256_HALF_N) > 0) return false;
    return crypto.verify('sha256', bytes, { key: publicKeyOf(certPem), dsaEncoding: 'der' }, sig);
  } catch {
    return false;
  }
}

/**
 * True when `certPem` was signed by `caCertPem` and is valid at `at` — the minimum an MSP
 * checks before trusting a creator certificate.
 */
export function isIssuedBy(certPem: string, caCertPem: string, at: Date = new Date()): boolean {
  const checked = issuedWindow(`${caCertPem}\0${certPem}`);
  return checked !== false && at >= checked.validFrom && at <= checked.validTo;
}

/** The subject's common name (the enrolment id) of a certificate, '' if it has none or is unreadable. */
export const subjectCommonName = certificateMemo((certPem) => {
  try {
    return /(?:^|\n)CN=([^\n]*)/.exec(new crypto.X509Certificate(certPem).subject)?.[1] ?? '';
  } catch {
    return '';
  }
});

/**
 * A certificate's SHA-256 over its DER in lower-case hex, as the routing chain records a node's CA (table 4.5):
 * `openssl x509 -noout -fingerprint -sha256` gives the same digits.
 */
export function certificateHash(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * Parsing a certificate costs far more than verifying a signature, and the same few creators
 * sign almost every proposal: facts derived from certificates are kept, up to `max` of them.
 */
function certificateMemo<T>(derive: (key: string) => T, max = 1024): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    if (cache.has(key)) return cache.get(key)!;
    const value = derive(key);
    if (cache.size >= max) cache.clear();
    cache.set(key, value);
    return value;
  };
}

/** Issuer check of "ca\0cert": pure in its inputs; only the validity window is compared with `at`. */
const issuedWindow = certificateMemo((key): false | { validFrom: Date; validTo: Date } => {
  const [caCertPem, certPem] = key.split('\0');
  try {
    const cert = new crypto.X509Certificate(certPem);
    const ca = new crypto.X509Certificate(caCertPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    return { validFrom: new Date(cert.validFrom), validTo: new Date(cert.validTo) };
  } catch {
    return false;
  }
});

const publicKeyOf = certificateMemo((certPem) => new crypto.X509Certificate(certPem).publicKey);

function randomSerial(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] &= 0x7f; // keep the INTEGER positive
  return bytes.toString('hex');
}

/** An unsigned big-endian number without its leading zero bytes (empty for zero). */
function stripZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** Compares unsigned big-endian numbers whatever their leading zeros. */
function compareUnsigned(a: Buffer, b: Buffer): number {
  const x = stripZeros(a);
  const y = stripZeros(b);
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y);
}

/** a − b for 32-byte big-endian numbers, a ≥ b. */
function subtract(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(32);
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = a[i] - b[i] - borrow;
    borrow = d < 0 ? 1 : 0;
    out[i] = d + 256 * borrow;
  }
  return out;
}

/** DER INTEGER of an unsigned big-endian number: minimal, with a 0x00 first if the top bit is set. */
function derInteger(value: Buffer): Buffer {
  const body = stripZeros(value);
  const pad = body.length === 0 || body[0] & 0x80 ? 1 : 0;
  const out = Buffer.alloc(2 + pad + body.length);
  out[0] = 0x02;
  out[1] = pad + body.length;
  body.copy(out, 2 + pad);
  return out;
}

function encodeDerSignature(r: Buffer, s: Buffer): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** r and s as unsigned numbers without leading zeros. */
function decodeDerSignature(sig: Buffer): { r: Buffer; s: Buffer } | undefined {
  // SEQUENCE { INTEGER r, INTEGER s }, short-form lengths only (P-256 signatures are < 128 bytes).
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return undefined;
  let offset = 2;
  const ints: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    if (sig[offset] !== 0x02) return undefined;
    const len = sig[offset + 1];
    if (len === 0 || offset + 2 + len > sig.length) return undefined;
    ints.push(stripZeros(sig.subarray(offset + 2, offset + 2 + len)));
    offset += 2 + len;
  }
  return offset === sig.length ? { r: ints[0], s: ints[1] } : undefined;
}
