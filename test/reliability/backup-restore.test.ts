/**
 * Backup and restore (app/src/backup/): a platform with the demo data files projects with documents while a
 * backup is taken; the backup is restored into an empty folder and a new database, every restored channel
 * verifies clean (the verifier's CLI, as `npm run verify` runs it), and a platform started on the restored data
 * has the same users, every project acknowledged before the backup began (and none that the source never had),
 * the uploaded document with the same bytes, and carries on with the workflow (the users' keys and the wallet key
 * came back). Then corrupt and truncated copies of the archive are refused with a clear error before anything is
 * written: no target folder, no database opened; and a sound archive onto a data folder in use is refused too.
 */
import '../web/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { appConfig } from '@fund/app/dist/config';
import { startPlatform, type RunningPlatform } from '@fund/app/dist/server';
import { ProjectView } from '@fund/app/dist/models/projections';
import { User } from '@fund/app/dist/models/user';
import { takeBackup } from '@fund/app/dist/backup/backup';
import { RestoreRefused, restoreBackup } from '@fund/app/dist/backup/restore';
import { CorruptArchive, MANIFEST, type Manifest } from '@fund/app/dist/backup/archive';
import { WebClient, leishanProjectForm, projectionsSettled, startMongoServer, startTestPlatform, type MongoServer, type TestPlatform } from '../support/platform';

const VERIFY_CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger/verify-cli.js');

const document = (n: number) => ({ field: 'documents', name: `申报材料-${n}.pdf`, type: 'application/pdf', content: crypto.randomBytes(20_000) });

async function fileProject(county: WebClient, n: number): Promise<{ id: string; sha256: string; content: Buffer }> {
  const doc = document(n);
  const res = await county.postMultipart('/projects', leishanProjectForm({ name: `备份测试项目 ${n}` }), [doc]);
  assert.equal(res.status, 302, `filing project ${n}: ${res.status}`);
  const id = /\/projects\/([^/?#]+)$/.exec(res.location)?.[1];
  assert.ok(id, `filing project ${n} redirected to ${res.location}`);
  return { id, sha256: crypto.createHash('sha256').update(doc.content).digest('hex'), content: doc.content };
}

const projectIds = async () => (await ProjectView.find({}, { _id: 1 }).lean()).map((p) => String(p._id)).sort();
const usernames = async () => (await User.find({}, { username: 1 }).lean()).map((u) => u.username).sort();

describe('backup and restore', () => {
  let tmp: string;
  let source: TestPlatform | undefined;
  let archive: string;
  let manifest: Manifest;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'backup-test-'));
  });
  after(async () => {
    await source?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a backup taken while projects are filed restores into an empty folder: verify clean, same users, projects and files, the workflow goes on', async () => {
    source = await startTestPlatform({ demo: true });
    await source.settled();
    const county = await WebClient.loggedIn(source.url, 'county');
    const first = await fileProject(county, 0);
    await source.settled();
    const before = { projects: await projectIds(), users: await usernames() };
    assert.ok(before.projects.includes(first.id));

    // Filing goes on in the background while the backup runs.
    let filing = true;
    let filed = 0;
    const traffic = (async () => {
      for (let n = 1; filing || filed < 2; n++) {
        await fileProject(county, n);
        filed++;
      }
    })();
    while (filed === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    archive = path.join(tmp, 'platform.tar.gz');
    const lines: string[] = [];
    const t0 = Date.now();
    manifest = await takeBackup({ config: source.config, mongodbUri: source.mongoUri, out: archive, progress: (l) => lines.push(l) });
    const backupMs = Date.now() - t0;
    filing = false;
    await traffic;
    await source.settled();
    const afterIds = await projectIds();
    console.log(`# backup: ${backupMs} ms, ${fs.statSync(archive).size} bytes, ${Object.keys(manifest.members).length} members; ${filed} projects filed meanwhile`);

    assert.equal(fs.statSync(archive).mode & 0o777, 0o600, 'the archive holds keys: owner only');
    assert.deepEqual(manifest.ledger.channels.map((c) => c.channel), ['business', 'routing'], 'the sets first, the routing channel last');
    assert.ok(manifest.ledger.channels.every((c) => c.height > 0));
    assert.ok(manifest.ledger.msp.length > 0 && manifest.secrets.file);
    assert.equal(manifest.database.collections[0].name, 'checkpoints', 'the checkpoints are read before the projections');
    assert.ok(manifest.database.collections.find((c) => c.name === 'users')!.count === before.users.length);
    assert.ok(manifest.members[`uploads/${first.sha256}`], 'the uploaded document is in the archive');
    assert.ok(lines.some((l) => l.includes('ledger: business at height')), lines.join('\n'));
    const entries: string[] = [];
    await tar.t({ file: archive, onReadEntry: (e) => entries.push(e.path) });
    assert.equal(entries[0], MANIFEST, 'the manifest is the first member');

    // The source goes away (one mongoose connection per process); its folders are left as they are.
    await source.stopPlatform();

    const restored = path.join(tmp, 'restored');
    let mongo: MongoServer | undefined;
    const env = { PATH: process.env.PATH, DATA_DIR: restored, PORT: '0', BATCH_TIMEOUT_MS: '200' };
    const t1 = Date.now();
    await restoreBackup({
      file: archive,
      config: appConfig(env),
      database: async () => {
        mongo = await startMongoServer(path.join(restored, 'mongo'));
        return { uri: mongo.uri, close: async () => {} }; // kept running for the restored platform
      },
      progress: () => {},
    });
    const restoreMs = Date.now() - t1;
    let running: RunningPlatform | undefined;
    try {
      const verify = spawnSync(process.execPath, [VERIFY_CLI, path.join(restored, 'ledger')], { encoding: 'utf8' });
      assert.equal(verify.status, 0, `${verify.stdout}${verify.stderr}`);
      for (const c of manifest.ledger.channels) assert.match(verify.stdout, new RegExp(`ok +${c.channel}: height ${c.height}\\b`));

      running = await startPlatform({ config: { ...appConfig(env), mongodbUri: mongo!.uri }, log: () => {} });
      await projectionsSettled(running);
      const restoredIds = await projectIds();
      console.log(`# restore: ${restoreMs} ms; projects before the backup ${before.projects.length}, restored ${restoredIds.length}, at the end of the source ${afterIds.length}`);
      assert.deepEqual(await usernames(), before.users);
      for (const id of before.projects) assert.ok(restoredIds.includes(id), `project ${id}, filed before the backup, is restored`);
      for (const id of restoredIds) assert.ok(afterIds.includes(id), `restored project ${id} exists on the source`);

      // The same passwords, the same certificates and wallet key: the county logs in, reads its document and files again.
      const again = await WebClient.loggedIn(running.url, 'county');
      const file = await again.request('GET', `/files/${first.sha256}`);
      assert.equal(file.status, 200);
      const page = await again.get(`/projects/${first.id}`);
      assert.equal(page.status, 200);
      assert.match(page.text, /备份测试项目 0/);
      const bytes = Buffer.from(await (await fetch(new URL(`/files/${first.sha256}`, running.url), { headers: { cookie: again.cookieHeader() } })).arrayBuffer());
      assert.ok(bytes.equals(first.content), 'the document comes back byte for byte');
      const next = await fileProject(again, 99);
      await projectionsSettled(running);
      assert.ok((await projectIds()).includes(next.id));
    } finally {
      await running?.close();
      await mongo?.stop();
    }
  });

  test('a corrupt or truncated archive is refused with a clear error before anything is written', async () => {
    assert.ok(archive, 'needs the archive of the first test');
    const bytes = fs.readFileSync(archive);
    // A member changed under an intact manifest, repacked as a well-formed tar.gz.
    const unpacked = path.join(tmp, 'unpacked');
    fs.mkdirSync(unpacked);
    await tar.x({ file: archive, cwd: unpacked });
    const blocks = path.join(unpacked, 'ledger', 'business', 'blocks', 'blocks.dat');
    const data = fs.readFileSync(blocks);
    data[Math.floor(data.length / 2)] ^= 0x01;
    fs.writeFileSync(blocks, data);
    const tampered = path.join(tmp, 'tampered.tar.gz');
    await tar.c({ gzip: true, file: tampered, cwd: unpacked, portable: true }, [MANIFEST, ...fs.readdirSync(unpacked).filter((n) => n !== MANIFEST)]);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)] ^= 0xff;
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated to half', bytes.subarray(0, Math.floor(bytes.length / 2)), /corrupt or truncated/],
      ['cut 10 bytes short', bytes.subarray(0, bytes.length - 10), /corrupt or truncated/],
      ['one byte flipped', flipped, /corrupt or truncated|does not match its manifest/],
      ['a block changed under its manifest', fs.readFileSync(tampered), /does not match its manifest[\s\S]*ledger\/business\/blocks\/blocks\.dat: SHA-256/],
      ['not a backup', Buffer.from('hello, not a tar.gz\n'), /corrupt or truncated|not a backup/],
    ];
    for (const [what, content, message] of cases) {
      const file = path.join(tmp, `bad-${what.replace(/\W+/g, '-')}.tar.gz`);
      fs.writeFileSync(file, content);
      const target = path.join(tmp, `target-${what.replace(/\W+/g, '-')}`);
      let opened = false;
      await assert.rejects(
        restoreBackup({
          file,
          config: appConfig({ DATA_DIR: target }),
          database: async () => {
            opened = true;
            throw new Error('the database must not be opened');
          },
        }),
        (err: Error) => {
          assert.ok(err instanceof CorruptArchive, `${what}: ${err.stack}`);
          assert.match(err.message, message, what);
          assert.match(err.message, /nothing was restored/, what);
          return true;
        },
      );
      assert.equal(opened, false, `${what}: no database opened`);
      assert.equal(fs.existsSync(target), false, `${what}: nothing written`);
      assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.endsWith('.restoring')), [], `${what}: no staging folder left`);
    }

    // A sound archive onto a data folder that is in use (the source's): refused, the folder as it was.
    const occupied = source!.config.dataDir;
    const listing = fs.readdirSync(occupied).sort();
    await assert.rejects(
      restoreBackup({ file: archive, config: appConfig({ DATA_DIR: occupied }), database: () => Promise.reject(new Error('must not be opened')) }),
      (err: Error) => err instanceof RestoreRefused && /is not empty: restore onto an empty data folder .*--force.*nothing was written/.test(err.message),
    );
    assert.deepEqual(fs.readdirSync(occupied).sort(), listing);
  });
});
