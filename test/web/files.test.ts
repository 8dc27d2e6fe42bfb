/**
 * The off-chain file store (services/files.ts keepFiles): content-addressed, so the same evidence uploaded by several
 * users at once is stored once, and none of them fails. (The web benchmark's 50 users upload the same photo; two of
 * them once raced on one temporary file name and the second got ENOENT.)
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Request } from 'express';
import { StoredFile } from '@fund/app/dist/models/activity';
import { keepFiles } from '@fund/app/dist/services/files';
import { startTestPlatform, type TestPlatform } from '../support/platform';

describe('off-chain file store', () => {
  let platform: TestPlatform;

  before(async () => {
    platform = await startTestPlatform();
  });
  after(async () => {
    await platform?.stop();
  });

  test('the same file kept by twenty requests at once is stored once, intact, and every request succeeds', async () => {
    const buffer = crypto.randomBytes(200_000);
    const sha256 = crypto.createHash('sha256').update(buffer).digest('hex');
    const file = { name: '现场照片.png', sha256, size: buffer.length, mediaType: 'image/png', buffer };
    // What keepFiles reads from a request: the platform (its upload folder) and the user.
    const req = (n: number) => ({ app: { locals: { platform: platform.running.platform } }, user: { username: `unit${n}` } }) as unknown as Request;

    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => keepFiles(req(n), [file])));
    assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);

    const dir = platform.config.uploadDir;
    const stored = fs.readFileSync(path.join(dir, sha256));
    assert.equal(crypto.createHash('sha256').update(stored).digest('hex'), sha256);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(sha256)), [sha256], 'no temporary file is left behind');
    assert.equal(await StoredFile.countDocuments({ _id: sha256 }), 1);
  });
});
