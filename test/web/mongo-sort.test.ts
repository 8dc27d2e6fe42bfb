/**
 * The bundled MongoDB server sorts finds with its own comparator (tools/mongo-server KeyedSort: keys read once per
 * document, not at every comparison). Its order must be the library's: for documents of every kind of sort value —
 * dates, strings (non-ASCII too), integers of several widths, doubles, missing fields, nulls, arrays, nested paths —
 * a find's sort returns exactly what the untouched aggregation $sort stage returns, ascending, descending and on two
 * keys, on the file store and in memory, with skip and limit (a limited find keeps only its first skip + limit
 * documents in a bounded heap, so equal keys must still come in the stage's order).
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mongoose from 'mongoose';
import { startMongoServer, type MongoServer } from '../support/platform';

// The driver the platform itself uses, through mongoose.
const { MongoClient } = mongoose.mongo;
type Document = mongoose.mongo.Document;
type Sort = mongoose.mongo.Sort;

const DOCS: Document[] = [];
for (let i = 0; i < 300; i++) {
  DOCS.push({
    _id: `D${String((i * 7919) % 300).padStart(4, '0')}`,
    at: i % 17 === 0 ? null : new Date(Date.UTC(2026, 0, 1 + (i % 23), i % 5)),
    name: ['黔东南', 'alpha', 'Beta', 'beta', '雷山县', '', 'zz'][i % 7],
    n: i % 11 === 0 ? 2 ** 40 + i : i % 3 === 0 ? 1.5 * (i % 9) : (i * 31) % 13,
    ...(i % 13 === 0 ? {} : { maybe: i % 2 ? `m${i % 4}` : i % 4 }),
    tags: i % 19 === 0 ? [3, 1] : i % 4,
    nested: { seq: (i * 37) % 29 },
  });
}

const SORTS: Sort[] = [{ at: 1 }, { at: -1 }, { name: 1, _id: -1 }, { n: -1, _id: 1 }, { maybe: 1, _id: 1 }, { tags: 1, _id: 1 }, { 'nested.seq': -1, at: 1, _id: 1 }];

for (const memory of [false, true]) {
  describe(`bundled MongoDB server (${memory ? 'in memory' : 'file store'}): find's sort`, () => {
    let tmp: string;
    let server: MongoServer;
    let client: mongoose.mongo.MongoClient;
    let docs: mongoose.mongo.Collection;

    before(async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mongo-sort-'));
      server = await startMongoServer(memory ? '' : path.join(tmp, 'mongo'), '256m', memory);
      client = await MongoClient.connect(`${server.uri}/sort`);
      docs = client.db('sort').collection('docs');
      await docs.insertMany(DOCS);
    });

    after(async () => {
      await client?.close();
      await server?.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    for (const sort of SORTS) {
      test(`${JSON.stringify(sort)} is the $sort stage's order`, async () => {
        const ids = (list: Document[]) => list.map((d) => d._id as string);
        const expected = ids(await docs.aggregate([{ $sort: sort }]).toArray());
        assert.equal(expected.length, DOCS.length);
        assert.deepEqual(ids(await docs.find().sort(sort).toArray()), expected);
        assert.deepEqual(ids(await docs.find().sort(sort).skip(40).limit(25).toArray()), expected.slice(40, 65));
        const filtered = ids(await docs.aggregate([{ $match: { name: { $ne: 'zz' } } }, { $sort: sort }]).toArray());
        assert.deepEqual(ids(await docs.find({ name: { $ne: 'zz' } }).sort(sort).toArray()), filtered);
        assert.deepEqual(ids(await docs.find({ name: { $ne: 'zz' } }).sort(sort).limit(30).toArray()), filtered.slice(0, 30));
      });
    }
  });
}
