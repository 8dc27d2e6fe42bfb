/**
 * The ledger's folder becomes read-only, or its disk fills up, while the platform works (issue 19, "Faults"), and the
 * platform is started on a read-only ledger folder. The ledger lives on a small tmpfs mounted by the test (root
 * only: as root, chmod does not stop writes; skipped otherwise) and remounted read-only, or filled with a file, under
 * a burst of workflow traffic. What the user sees must say what is wrong; nothing acknowledged may be lost and
 * nothing corrupted; once the condition clears, the platform takes work again and verify is clean.
 */
import '../web/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appConfig } from '@fund/app/dist/config';
import { startPlatform } from '@fund/app/dist/server';
import { startMongoServer, type MongoServer } from '../support/platform';
import { Burst, PlatformChild, checkRecovered, issueBankToken, readProjections, verifyLedger, type Ack } from './support/faults';

const CLIENTS = 3;

function sh(cmd: string, args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Whether this process may mount a tmpfs (root in a machine or container that allows it). */
function canMount(): boolean {
  if (process.getuid?.() !== 0 || process.platform !== 'linux') return false;
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'mount-probe-'));
  try {
    if (!sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]).ok) return false;
    sh('umount', [probe]);
    return true;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

const mountable = canMount();

describe('faults: the ledger folder read-only or full', { skip: mountable ? false : 'needs root and mount (a tmpfs for the ledger)', timeout: 300_000 }, () => {
  let tmp: string;
  let mnt: string;
  let mongo: MongoServer | undefined;
  let child: PlatformChild | undefined;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-faults-'));
  });

  after(async () => {
    await child?.kill().catch(() => undefined);
    await mongo?.stop().catch(() => undefined);
    if (mnt) unmount(mnt);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function unmount(dir: string): void {
    if (!sh('umount', [dir]).ok) sh('umount', ['-l', dir]);
  }

  /** A tmpfs of `size` for the ledger, the database beside it on the ordinary disk, the platform with the demo. */
  async function fresh(name: string, size: string) {
    const dataDir = path.join(tmp, name);
    mnt = path.join(dataDir, 'ledger-disk');
    fs.mkdirSync(mnt, { recursive: true });
    const mounted = sh('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', mnt]);
    assert.ok(mounted.ok, mounted.output);
    mongo = await startMongoServer(path.join(dataDir, 'mongo'));
    const mongoUri = `${mongo.uri}/fund`;
    const env = { DATA_DIR: path.join(dataDir, 'platform'), LEDGER_DATA_DIR: path.join(mnt, 'ledger'), MONGODB_URI: mongoUri, DEMO: '1' };
    child = await PlatformChild.start(env);
    const token = await issueBankToken(child.url, mongoUri);
    return { env, mongoUri, token };
  }

  async function check(env: Record<string, string>, mongoUri: string, acks: Ack[]) {
    const projections = await readProjections(mongoUri);
    const config = appConfig({ ...process.env, ...env, PORT: '0' });
    const running = await startPlatform({ config, log: () => {} });
    let figures;
    try {
      figures = await checkRecovered(running, acks, projections);
    } finally {
      await running.close();
    }
    const verified = verifyLedger(config.ledger.dataDir);
    assert.equal(verified.status, 0, verified.output);
    return figures;
  }

  /** Every file under `dir` with its size and modification time. */
  function treeOf(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
      const st = fs.statSync(path.join(dir, name));
      out[name] = st.isDirectory() ? 'dir' : `${st.size} ${st.mtimeMs}`;
    }
    return out;
  }

  /** Failures seen since `from`, with their messages (what the user read). */
  function failuresSince(burst: Burst, from: number): string[] {
    return burst.failures.slice(from);
  }

  test('started on a read-only ledger folder: it refuses with the folder and the cause, changes nothing; writable again, it starts and works', async (t) => {
    // A mount cannot turn read-only under a running platform (the kernel refuses while the ledger holds its files
    // open for writing), so the folder turns read-only between two runs.
    const { env, mongoUri, token } = await fresh('ro', '64m');
    const burst = new Burst(child!.url, token, 'R');
    burst.start(CLIENTS);
    await burst.untilAcks(10, 90_000);
    await burst.stop();
    await child!.settle();
    await child!.stop();
    child = undefined;
    const before = treeOf(mnt);

    const remounted = sh('mount', ['-o', 'remount,ro', mnt]);
    assert.ok(remounted.ok, remounted.output);
    const refused = await PlatformChild.start(env).then(
      async (p) => {
        await p.stop();
        return '';
      },
      (err: Error) => err.message,
    );
    t.diagnostic(`start on a read-only ledger folder: ${refused.split('\n')[0].slice(0, 400)}`);
    assert.match(refused, /the ledger folder \S+ cannot be written \(a read-only file system/, 'the start fails and names the cause');
    assert.ok(refused.includes(env.LEDGER_DATA_DIR), 'and the folder');
    assert.ok(sh('mount', ['-o', 'remount,rw', mnt]).ok);
    assert.deepEqual(treeOf(mnt), before, 'nothing in the ledger folder changed');

    const t0 = Date.now();
    child = await PlatformChild.start(env);
    t.diagnostic(`writable again: serving after ${Date.now() - t0} ms`);
    burst.retarget(child.url);
    burst.start(CLIENTS);
    await burst.untilAcks(burst.acks.length + 8, 60_000);
    await burst.stop();
    await child.settle();
    await child.stop();
    child = undefined;

    const figures = await check(env, mongoUri, burst.acks);
    t.diagnostic(`after recovery: ${figures.found} of ${figures.acknowledged} acknowledged actions found; ${figures.projects} projects, ${figures.drafts} drafts equal in the projections; verify clean`);
    await mongo!.stop();
    mongo = undefined;
    unmount(mnt);
  });

  test('the ledger disk fills up under load: a clear error, nothing lost; space freed, work resumes', async (t) => {
    const { env, mongoUri, token } = await fresh('full', '48m');
    const burst = new Burst(child!.url, token, 'D');
    burst.start(CLIENTS);
    await burst.untilAcks(10, 90_000);
    // Fill what is left of the disk.
    const filler = path.join(mnt, 'filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    try {
      for (;;) fs.writeSync(fd, chunk, 0, 512);
    } catch {
      // full to the last block
    }
    fs.closeSync(fd);
    const atFault = burst.acks.length;
    const failuresAtFault = burst.failures.length;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const seen = failuresSince(burst, failuresAtFault);
    t.diagnostic(`acknowledged before the disk was full: ${atFault}; while full (3 s): ${burst.acks.length - atFault} acknowledged, ${seen.length} failed, e.g. ${seen.slice(0, 2).join(' | ')}`);
    assert.ok(seen.length > 0, 'work that writes the chain fails while the disk is full');
    assert.ok(seen.some((f) => /ENOSPC|no space|空间/i.test(f)), `the user is told the disk is full: ${seen.slice(0, 3).join(' | ')}`);
    const onAPage = seen.find((f) => !f.includes('/api/'));
    if (onAPage) t.diagnostic(`a form's answer: ${onAPage}`);

    fs.rmSync(filler);
    const clearedAt = Date.now();
    const beforeResume = burst.acks.length;
    await burst.untilAcks(beforeResume + 8, 60_000);
    t.diagnostic(`space freed: new work acknowledged within ${Date.now() - clearedAt} ms`);
    await burst.stop();
    await child!.settle();
    await child!.stop();
    child = undefined;

    const figures = await check(env, mongoUri, burst.acks);
    t.diagnostic(`after recovery: ${figures.found} of ${figures.acknowledged} acknowledged actions found; ${figures.projects} projects, ${figures.drafts} drafts equal in the projections; verify clean`);
    await mongo!.stop();
    mongo = undefined;
    unmount(mnt);
  });
});
