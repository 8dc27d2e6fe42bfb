/**
 * The bundled MongoDB-protocol server (tools/mongo-server) keeps what it acknowledged through a SIGKILL: every write
 * command is committed to its store file and synced before the reply (DurableWrites). Writes go one by one through
 * the driver with the default acknowledged write concern, the server is SIGKILLed in the same tick as the last
 * acknowledgement, started again on its folder, and every write is found. Its store alone commits about once a
 * second, which lost the last of these writes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mongoose from 'mongoose';
import { startMongoServer, type MongoServer } from '../support/platform';

const SINGLE = 300;
const WRITERS = 4;
const PER_WRITER = 50;

interface Doc {
  _id: string;
  n: number;
  state: string;
}

/** Resolves once the process is gone (reaped), so its store's file lock is free for the next server. */
async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the bundled MongoDB server: acknowledged writes survive SIGKILL', { timeout: 120_000 }, () => {
  let tmp: string;
  let mongo: MongoServer | undefined;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mongo-durability-'));
  });
  after(async () => {
    await mongo?.stop().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs `work` against a fresh server on `dir`, SIGKILLs it right after `work`'s last acknowledgement. */
  async function killedAfter(dir: string, work: (db: mongoose.mongo.Db) => Promise<void>): Promise<void> {
    mongo = await startMongoServer(dir);
    const { pid } = mongo;
    const client = await new mongoose.mongo.MongoClient(mongo.uri).connect();
    try {
      await work(client.db('durability'));
      process.kill(pid, 'SIGKILL'); // same tick as the last acknowledgement: no time for a background commit
    } finally {
      mongo = undefined;
      await client.close(true).catch(() => undefined);
    }
    await gone(pid);
  }

  /** Starts the server again on `dir` and reads a collection whole. */
  async function readBack(dir: string, collection: string): Promise<{ docs: Map<string, Doc>; indexes: string[] }> {
    mongo = await startMongoServer(dir);
    const client = await new mongoose.mongo.MongoClient(mongo.uri).connect();
    try {
      const coll = client.db('durability').collection<Doc>(collection);
      const docs = new Map((await coll.find({}).toArray()).map((d) => [d._id, d]));
      const indexes = (await coll.listIndexes().toArray()).map((i) => String(i.name));
      return { docs, indexes };
    } finally {
      await client.close();
      await mongo.stop();
      mongo = undefined;
    }
  }

  test(`${SINGLE} single writes (inserts, then updates, deletes, findOneAndUpdate, an index): all there after the kill`, async () => {
    const dir = path.join(tmp, 'single');
    await killedAfter(dir, async (db) => {
      const coll = db.collection<Doc>('docs');
      for (let n = 0; n < SINGLE; n++) await coll.insertOne({ _id: `d${n}`, n, state: 'new' });
      await coll.createIndex({ state: 1, n: 1 }, { name: 'by_state' });
      for (let n = 0; n < SINGLE; n += 3) await coll.updateOne({ _id: `d${n}` }, { $set: { state: 'updated' } });
      for (let n = 1; n < SINGLE; n += 10) await coll.deleteOne({ _id: `d${n}` });
      await coll.findOneAndUpdate({ _id: `d${SINGLE - 1}` }, { $set: { state: 'last' } });
    });
    const { docs, indexes } = await readBack(dir, 'docs');
    const expected = (n: number) => (n === SINGLE - 1 ? 'last' : n % 3 === 0 ? 'updated' : 'new');
    const missing = [];
    const wrong = [];
    for (let n = 0; n < SINGLE; n++) {
      const doc = docs.get(`d${n}`);
      if (n % 10 === 1) {
        if (doc) wrong.push(`d${n} deleted but back`);
      } else if (!doc) missing.push(`d${n}`);
      else if (doc.state !== expected(n)) wrong.push(`d${n} ${doc.state} instead of ${expected(n)}`);
    }
    assert.deepEqual({ missing, wrong }, { missing: [], wrong: [] }, `${docs.size} documents after the restart`);
    assert.ok(indexes.includes('by_state'), `indexes after the restart: ${indexes.join(', ')}`);
  });

  test(`${WRITERS} clients writing at once (group commit), killed mid-stream: every acknowledged insert there`, async () => {
    const dir = path.join(tmp, 'concurrent');
    const acknowledged: string[] = [];
    await killedAfter(dir, async (db) => {
      const coll = db.collection<Doc>('docs');
      let killed = false;
      await new Promise<void>((resolve) => {
        for (let w = 0; w < WRITERS; w++) {
          void (async () => {
            for (let n = 0; !killed; n++) {
              const id = `w${w}-${n}`;
              try {
                await coll.insertOne({ _id: id, n, state: 'new' });
              } catch {
                return; // in flight at the kill: may or may not be there
              }
              if (killed) return; // answered after the kill was sent: not counted
              acknowledged.push(id);
              if (acknowledged.length === WRITERS * PER_WRITER) {
                killed = true;
                resolve(); // killedAfter SIGKILLs in this same tick, the other writers' inserts still in flight
              }
            }
          })();
        }
      });
    });
    const { docs } = await readBack(dir, 'docs');
    const missing = acknowledged.filter((id) => !docs.has(id));
    assert.deepEqual(missing, [], `${docs.size} documents after the restart, ${acknowledged.length} acknowledged before the kill`);
  });
});
