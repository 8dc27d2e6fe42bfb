/**
 * `npm run ledger -- <command>`: the operator's view of the embedded ledger's files.
 *
 *   channels                       every channel with its height
 *   info <channel>                 height, last block hash, state savepoint, transaction counts
 *   block <channel> <n>            a block's header and its transactions with validation codes
 *   tx <channel> <txId>            one transaction: creator, call, validation, writes, event
 *   history <channel> <type> <id…> every committed value of a composite key, e.g. `history business Project PRJ-…`
 *
 * Options: --data <dir> (default $LEDGER_DATA_DIR or data/ledger), --json for machine-readable output.
 * Reads the files directly, so the platform must be stopped (LevelDB allows one process at a time).
 * Exit codes: 0 found, 1 not found / bad arguments, 2 the ledger cannot be opened.
 */
// Loading the chaincode (for its canonical JSON) would otherwise log every contract's decorators.
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import * as path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { ChaincodeStub } from 'fabric-shim';
import { proposalFunction } from './proposal';
import { blockHeaderHash, type StoredTransaction } from './ledger/block';
import { ChannelStore } from './ledger/channel-store';

const USAGE = `usage: npm run ledger -- [--data <dir>] [--json] <command>
  channels
  info <channel>
  block <channel> <number>
  tx <channel> <txId>
  history <channel> <type> <id> [<id>…]`;

const NAMESPACE = 'fund';

class UsageError extends Error {}

interface Options {
  dataDir: string;
  json: boolean;
  args: string[];
}

function parse(argv: string[]): Options {
  const args: string[] = [];
  let dataDir = process.env.LEDGER_DATA_DIR ?? path.join('data', 'ledger');
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--data') {
      if (!argv[i + 1]) throw new UsageError('--data needs a directory');
      dataDir = argv[++i];
    } else args.push(argv[i]);
  }
  return { dataDir: path.resolve(dataDir), json, args };
}

async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 1;
  }
  const [command, channel, ...rest] = opts.args;
  const out = (value: unknown, text: () => string) => console.log(opts.json ? JSON.stringify(value, null, 2) : text());
  if (command === 'channels') return channels(opts, out);
  const needs: Record<string, number> = { info: 0, block: 1, tx: 1, history: 2 };
  if (!(command in needs) || !channel || rest.length < needs[command]) {
    console.error(command && !(command in needs) ? `unknown command ${JSON.stringify(command)}\n${USAGE}` : USAGE);
    return 1;
  }
  if (!existsSync(path.join(opts.dataDir, channel))) {
    console.error(`no ledger for channel ${JSON.stringify(channel)} in ${opts.dataDir}`);
    return 1;
  }
  let store: ChannelStore;
  try {
    store = await ChannelStore.open(opts.dataDir, channel);
  } catch (err) {
    // classic-level puts LevelDB's own reason (e.g. "IO error: lock …/LOCK") in the cause.
    const cause = (err as Error & { cause?: Error }).cause;
    const msg = cause ? `${(err as Error).message}: ${cause.message}` : (err as Error).message;
    console.error(`cannot open channel ${channel}: ${msg}${/lock/i.test(msg) ? '\n(is the platform running? stop it first: LevelDB allows one process at a time)' : ''}`);
    return 2;
  }
  try {
    if (command === 'info') return await info(store, out);
    if (command === 'block') return await block(store, rest[0], out);
    if (command === 'tx') return await transaction(store, rest[0], out);
    return await history(store, rest, out);
  } finally {
    await store.close();
  }
}

type Out = (value: unknown, text: () => string) => void;

async function channels(opts: Options, out: Out): Promise<number> {
  if (!existsSync(opts.dataDir)) {
    console.error(`no ledger data directory at ${opts.dataDir}`);
    return 1;
  }
  const list: Array<{ channel: string; height: number }> = [];
  for (const entry of readdirSync(opts.dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !existsSync(path.join(opts.dataDir, entry.name, 'blocks'))) continue;
    const store = await ChannelStore.open(opts.dataDir, entry.name);
    list.push({ channel: entry.name, height: store.blocks.height() });
    await store.close();
  }
  list.sort((a, b) => a.channel.localeCompare(b.channel));
  out(list, () => (list.length ? list.map((c) => `${c.channel.padEnd(20)} height ${c.height}`).join('\n') : `no channels in ${opts.dataDir}`));
  return 0;
}

async function info(store: ChannelStore, out: Out): Promise<number> {
  const height = store.blocks.height();
  let valid = 0;
  let invalid = 0;
  for await (const b of store.blocks.iterate()) {
    for (const tx of b.transactions) {
      if (tx.validationCode === 'VALID') valid++;
      else invalid++;
    }
  }
  const last = height > 0 ? await store.blocks.getBlock(height - 1) : undefined;
  const value = {
    channel: store.channel,
    height,
    currentBlockHash: last ? blockHeaderHash(last) : '',
    previousBlockHash: last?.previousHash ?? '',
    stateSavepoint: store.state.savepoint(),
    lastBlockAt: last?.metadata.cutAt ?? null,
    transactions: { valid, invalid },
  };
  out(value, () =>
    [
      `channel        ${value.channel}`,
      `height         ${height} block(s)`,
      `current hash   ${value.currentBlockHash || '-'}`,
      `previous hash  ${value.previousBlockHash || '-'}`,
      `state at block ${value.stateSavepoint}`,
      `last block at  ${value.lastBlockAt ?? '-'}`,
      `transactions   ${valid} valid, ${invalid} invalid`,
    ].join('\n'),
  );
  return 0;
}

async function block(store: ChannelStore, arg: string, out: Out): Promise<number> {
  const n = /^\d+$/.test(arg) ? Number(arg) : NaN;
  if (!(n < store.blocks.height())) {
    console.error(`block ${JSON.stringify(arg)} does not exist: channel ${store.channel} has blocks 0 to ${store.blocks.height() - 1}`);
    return 1;
  }
  const b = await store.blocks.getBlock(n);
  out(b, () =>
    [
      `block ${b.number} of ${store.channel}  (${b.transactions.length} transactions, cut by ${b.metadata.cutReason} at ${b.metadata.cutAt})`,
      `  hash          ${blockHeaderHash(b)}`,
      `  previous hash ${b.previousHash || '-'}`,
      `  data hash     ${b.dataHash}`,
      ...b.transactions.map((tx, i) => `  ${String(i).padStart(3)} ${tx.txId}  ${tx.validationCode.padEnd(22)} ${fcn(tx).padEnd(36)} ${tx.creator.mspId}`),
    ].join('\n'),
  );
  return 0;
}

async function transaction(store: ChannelStore, txId: string, out: Out): Promise<number> {
  const found = await store.blocks.getTransaction(txId);
  if (!found) {
    console.error(`transaction ${txId} is not on channel ${store.channel}`);
    return 1;
  }
  const tx = found.transaction;
  const event = tx.event ? { name: tx.event.name, payload: decode(tx.event.payload) } : undefined;
  const value = {
    txId: tx.txId,
    block: found.blockNumber,
    position: found.txNum,
    function: fcn(tx),
    creator: tx.creator,
    timestamp: tx.timestamp,
    validationCode: tx.validationCode,
    validationMessage: tx.validationMessage,
    response: { status: tx.response.status, message: tx.response.message, payload: decode(tx.response.payload) },
    reads: tx.results.reads.map((r) => ({ key: printable(r.key), version: r.version })),
    writes: tx.results.writes.map((w) => ({ key: printable(w.key), delete: w.isDelete })),
    event,
  };
  out(value, () =>
    [
      `transaction ${tx.txId}`,
      `  block ${found.blockNumber}, position ${found.txNum}: ${tx.validationCode}${tx.validationMessage ? ` (${tx.validationMessage})` : ''}`,
      `  call      ${value.function}`,
      `  creator   ${tx.creator.mspId}`,
      `  timestamp ${tx.timestamp}`,
      `  reads     ${value.reads.map((r) => r.key).join(', ') || '-'}`,
      `  writes    ${value.writes.map((w) => (w.delete ? `${w.key} (deleted)` : w.key)).join(', ') || '-'}`,
      `  event     ${event ? event.name : '-'}`,
    ].join('\n'),
  );
  return 0;
}

async function history(store: ChannelStore, parts: string[], out: Out): Promise<number> {
  // The chaincode's entities live under composite keys; fabric-shim's own builder uses no stub state.
  let key: string;
  try {
    key = ChaincodeStub.prototype.createCompositeKey(parts[0], parts.slice(1));
  } catch (err) {
    console.error(`not a valid key: ${(err as Error).message}`);
    return 1;
  }
  const mods = await store.state.history(NAMESPACE, key);
  if (mods.length === 0) {
    console.error(`no history for ${printable(key)} on channel ${store.channel}`);
    return 1;
  }
  const entries = mods.map((m) => ({ txId: m.txId, timestamp: m.timestamp.toISOString(), isDelete: m.isDelete, value: m.isDelete ? null : decode(m.value.toString('base64')) }));
  out(entries, () =>
    [`history of ${printable(key)}, newest first`, ...entries.map((e) => `  ${e.timestamp}  ${e.txId}  ${e.isDelete ? '(deleted)' : summarise(e.value)}`)].join('\n'),
  );
  return 0;
}

function fcn(tx: StoredTransaction): string {
  return proposalFunction(Buffer.from(tx.signedProposal, 'base64')) || '?';
}

/** A base64 payload as JSON when it is JSON, else as text. */
function decode(b64: string): unknown {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  try {
    return text === '' ? '' : JSON.parse(text);
  } catch {
    return text;
  }
}

function summarise(value: unknown): string {
  if (value && typeof value === 'object' && 'status' in value) return `status ${(value as { status: string }).status}`;
  const text = JSON.stringify(value);
  return text.length > 100 ? `${text.slice(0, 97)}…` : text;
}

/** Composite keys with their U+0000 separators shown as '/'. */
function printable(key: string): string {
  return key.replace(/\u0000/g, '/');
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exitCode = 2;
  },
);
