/**
 * The platform's MongoDB database in a backup, through the wire protocol (the mongodb driver that
 * mongoose brings), so it works against a running server, the bundled one or a real MongoDB alike:
 * each collection as one line of canonical Extended JSON per document (types such as ObjectId, Date,
 * Long and Binary survive), its indexes in the manifest.
 *
 * A live database is read one collection after the other, not at one instant. What makes that sound:
 * - the projections' checkpoints are read first, so the projections in the backup are at least as new
 *   as their checkpoints, and the projector, which reads changed records back from the chain and
 *   writes notifications by upsert, replays from there after a restore (as after any restart);
 * - the database is read before the ledger and the uploads, so every checkpoint is at or below the
 *   ledger's height in the backup and every file a document names is in the uploads copied after it.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import mongoose from 'mongoose';
import { meter, type IndexSpec, type Manifest, type Progress } from './archive';

const { MongoClient, BSON } = mongoose.mongo;
type MongoClientT = InstanceType<typeof MongoClient>;

type DatabaseManifest = Manifest['database'];

/** The projector's checkpoints (models/projections.ts): read before the projections they vouch for. */
const FIRST = 'checkpoints';
const INSERT_BATCH = 500;

export async function connect(uri: string): Promise<MongoClientT> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`cannot reach the platform's MongoDB at ${redact(uri)}: ${(err as Error).message}`);
  }
  return client;
}

/** A URI as it may be shown: without its password. */
export function redact(uri: string): string {
  return uri.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

async function collectionNames(client: MongoClientT): Promise<string[]> {
  const names = (await client.db().listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.'));
  return [...names.filter((n) => n === FIRST), ...names.filter((n) => n !== FIRST).sort()];
}

/** Writes every collection of the URI's database into `into` (database/ of the staging folder). */
export async function dumpDatabase(uri: string, into: string, progress: Progress): Promise<DatabaseManifest> {
  const client = await connect(uri);
  try {
    const db = client.db();
    await mkdir(into, { recursive: true });
    const collections: DatabaseManifest['collections'] = [];
    const names = await collectionNames(client);
    progress(`› database ${db.databaseName}: ${names.length} collections`);
    for (const name of names) {
      const collection = db.collection(name);
      const indexes: IndexSpec[] = (await collection.indexes())
        .filter((ix) => ix.name !== '_id_')
        .map(({ key, v: _v, ns: _ns, ...options }) => ({ key, options }));
      const total = await collection.estimatedDocumentCount();
      const file = `${encodeURIComponent(name)}.jsonl`;
      const out = createWriteStream(path.join(into, file), { mode: 0o600 });
      const tick = meter(progress, name, total, 'documents');
      let count = 0;
      for await (const doc of collection.find({}, { batchSize: 1000 })) {
        if (!out.write(`${BSON.EJSON.stringify(doc, { relaxed: false })}\n`)) await once(out, 'drain');
        tick(++count, false);
      }
      tick(count, true); // documents added or removed while it was read: the estimate is not the count
      out.end();
      await once(out, 'finish');
      collections.push({ name, file, count, indexes });
    }
    return { name: db.databaseName, collections };
  } finally {
    await client.close();
  }
}

/** Collections of the URI's database that hold documents: a restore refuses to mix into them. */
export async function nonEmptyCollections(client: MongoClientT): Promise<string[]> {
  const found: string[] = [];
  for (const name of await collectionNames(client)) if ((await client.db().collection(name).estimatedDocumentCount()) > 0) found.push(name);
  return found;
}

/** Loads the dumped collections from `from` (database/ of an extracted archive); with `replace`, drops each first. */
export async function restoreDatabase(client: MongoClientT, from: string, expected: DatabaseManifest, replace: boolean, progress: Progress): Promise<void> {
  const db = client.db();
  progress(`› database ${db.databaseName}: ${expected.collections.length} collections`);
  for (const c of expected.collections) {
    const collection = db.collection(c.name);
    if (replace) await collection.drop().catch(() => undefined);
    const tick = meter(progress, c.name, c.count, 'documents');
    let batch: Record<string, unknown>[] = [];
    let count = 0;
    const lines = createInterface({ input: createReadStream(path.join(from, c.file)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line === '') continue;
      batch.push(BSON.EJSON.parse(line, { relaxed: false }) as Record<string, unknown>);
      if (batch.length === INSERT_BATCH) {
        await collection.insertMany(batch, { ordered: true });
        tick((count += batch.length));
        batch = [];
      }
    }
    if (batch.length > 0) await collection.insertMany(batch, { ordered: true });
    tick((count += batch.length));
    for (const ix of c.indexes) await collection.createIndex(ix.key as Record<string, 1 | -1>, ix.options);
    const stored = await collection.countDocuments();
    if (stored !== c.count) throw new Error(`database ${c.name}: ${stored} documents after the restore, the manifest says ${c.count}`);
  }
}
