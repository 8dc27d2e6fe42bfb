/**
 * The embedded ledger's membership service: one certificate authority per organisation (MSP),
 * kept on disk beside the ledger so certificates issued before a restart stay valid. The CAs'
 * root certificates are the trust roots every proposal is checked against.
 */
import * as path from 'node:path';
import { mkdir, readdir, readFile, writeFile, rename } from 'node:fs/promises';
import { CertificateAuthority, type Identity } from './identity';
import { Serial } from './ledger/serial';

const MSP_ID = /^[A-Za-z][A-Za-z0-9.-]{0,63}$/;

export interface EnrolmentInput {
  enrollmentId: string;
  mspId: string;
  role: string;
  org: string;
}

export class Membership {
  private readonly serial = new Serial();
  private rootsCache: Record<string, string> | undefined;

  private constructor(
    private readonly dir: string,
    private readonly cas: Map<string, CertificateAuthority>,
  ) {}

  static async open(dir: string): Promise<Membership> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const cas = new Map<string, CertificateAuthority>();
    for (const name of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
      const ca = await CertificateAuthority.load(JSON.parse(await readFile(path.join(dir, name), 'utf8')));
      cas.set(ca.mspId, ca);
    }
    return new Membership(dir, cas);
  }

  /** mspId → root CA certificate, for verifyProposal; the same object until an MSP is added. */
  roots(): Record<string, string> {
    this.rootsCache ??= Object.fromEntries([...this.cas].map(([id, ca]) => [id, ca.certificate]));
    return this.rootsCache;
  }

  /** The MSP's CA, created (and persisted) the first time the MSP enrols someone. */
  authority(mspId: string): Promise<CertificateAuthority> {
    if (!MSP_ID.test(mspId)) return Promise.reject(new Error(`invalid MSP id ${JSON.stringify(mspId)}: letters, digits, '.' and '-', starting with a letter`));
    return this.serial.run(async () => {
      let ca = this.cas.get(mspId);
      if (!ca) {
        ca = await CertificateAuthority.create(mspId, `ca.${mspId.toLowerCase()}`);
        // Written then renamed, so a crash never leaves half a CA key behind.
        const file = path.join(this.dir, `${mspId}.json`);
        await writeFile(`${file}.tmp`, JSON.stringify(ca.save(), null, 2), { mode: 0o600 });
        await rename(`${file}.tmp`, file);
        this.cas.set(mspId, ca);
        this.rootsCache = undefined;
      }
      return ca;
    });
  }

  async enrol(req: EnrolmentInput): Promise<Identity> {
    checkEnrolment(req);
    const ca = await this.authority(req.mspId);
    return ca.enrol({ enrollmentId: req.enrollmentId, role: req.role, org: req.org });
  }
}

/** Enrolment's input checks, the same for every adapter: enrolment id, role and organisation present and short. */
export function checkEnrolment(req: EnrolmentInput): void {
  for (const field of ['enrollmentId', 'role', 'org'] as const) {
    if (typeof req[field] !== 'string' || req[field].trim() === '' || req[field].length > 128) {
      throw new Error(`enrolment: ${field} must be a non-empty string of at most 128 characters`);
    }
  }
}
