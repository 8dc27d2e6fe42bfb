#!/usr/bin/env node
// A real Hyperledger Fabric network as plain processes on 127.0.0.1, in the shape of Fabric's test network:
//   npm run network -- up             crypto material, then the orderers (three Raft nodes; FABRIC_ORDERERS) and one peer
//                                     per organisation, until each answers
//   npm run network -- createChannel  the channels of the configuration (LEDGER_SETS business channels, default 1:
//                                     business, business2, …, and routing; or LEDGER_CHANNELS): genesis block,
//                                     osnadmin channel join on every orderer, peer channel join on every peer
//                                     and the applications' connection profiles data/fabric/connection-<org>.json
//   npm run network -- deployCC [fund|pressure|all]  a chaincode as a service on every channel it belongs on (fund:
//                                     all of them; pressure: the business channels): package, install, approve,
//                                     commit, start its server
//   npm run network -- addChannel <name>  one more channel on the running network (an operator adding a set):
//                                     created, joined by every peer, in the connection profiles, and every chaincode
//                                     whose server runs deployed on it
//   npm run network -- status         which processes run, and each peer's height on each channel
//   npm run network -- stopPeer <org> [--kill]   stop one organisation's peer (SIGTERM, or SIGKILL with --kill); its
//                                     ledger stays, the rest of the network runs on
//   npm run network -- startPeer <org>           start it again with the environment `up` gave it; it catches up
//   npm run network -- stopOrderer <name> [--kill]  stop one orderer (orderer, orderer2, orderer3, or `leader`: the
//                                     Raft leader of the first channel); the others go on ordering
//   npm run network -- startOrderer <name>       start it again on its data; it catches up from the others
//   npm run network -- orderers [--json]   each orderer: running or not, and per channel its height and whether it
//                                     is the Raft leader (osnadmin, and the operations endpoint's is_leader metric)
//   npm run network -- crypto         only the crypto material, for nodes started elsewhere (network/compose, with
//                                     FABRIC_NODES=external for createChannel and deployCC; FABRIC_ORDERERS=1 there)
//   npm run network -- down           stop what `up` and `deployCC` started (by the pids they recorded), remove data/fabric
//
// Everything lives under data/fabric: crypto/ (cryptogen), configtx.yaml, channels/*.block, orderers/<name>/ and
// peers/<org>/ (config, ledgers), chaincode/ (packages), logs/*.log, pids.json (what was started, so `down` stops only
// that) and network.json (the network's shape as `up` made it: the number of orderers).
// The commands come from scripts/fabric-tools.mjs (.tools/fabric), built on first use.
//
// Environment: LEDGER_SETS / LEDGER_CHANNELS (the channel-naming rule is app/src/blockchain/fabric/channels.ts);
// BATCH_TIMEOUT_MS / BATCH_MAX_MESSAGE_COUNT / BATCH_PREFERRED_MAX_BYTES (the orderers' batch settings, read when
// channels are created; default the thesis's 2000 ms / 10 / 2 MiB, as the embedded ledger); CC_POLICY_<CHANNEL> (a
// channel's chaincode endorsement policy), CHAINCODE_NAME (fund), CHAINCODE_PORT (7100), PRESSURE_CHAINCODE_PORT
// (7101); FABRIC_LOGGING_SPEC (default INFO); FABRIC_ORDERERS (1–3, default 3: how many Raft orderers `up` starts and
// the channels list as consenters; later commands take it from data/fabric/network.json).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, build } from './lib.mjs';
import { ensureFabricTools, FABRIC_BIN, FABRIC_CONFIG, CCAAS_BUILDER } from './fabric-tools.mjs';

export const DATA = path.join(ROOT, 'data', 'fabric');
const NETWORK = path.join(ROOT, 'network');
const CRYPTO = path.join(DATA, 'crypto');
const LOGS = path.join(DATA, 'logs');
const PIDS = path.join(DATA, 'pids.json');
const CHANNEL_BLOCKS = path.join(DATA, 'channels');

/**
 * The channel-naming rule is the app's (one definition for the app, this script and the tests), compiled into
 * app/dist; compiled here first when it is not there yet.
 */
const CHANNEL_RULE = path.join(ROOT, 'app', 'dist', 'blockchain', 'fabric', 'channels.js');
if (!existsSync(CHANNEL_RULE)) build();
const { channelLayout } = await import(pathToFileURL(CHANNEL_RULE).href);
const LAYOUT = channelLayout(process.env);
/** The configured channels: business channels (sets) first, then routing. */
export const CHANNELS = LAYOUT.all;
/** The routing channel, unless the one configured channel serves as business channel too. */
const ROUTING = LAYOUT.business.includes(LAYOUT.routing) ? undefined : LAYOUT.routing;
const PROFILE = 'FundChannel'; // network/configtx.yaml

/**
 * Ports on 127.0.0.1. The orderers' and the peers' listen ports are also in network/configtx.yaml (orderer endpoints,
 * Raft consenters, anchor peers), in this order.
 */
const ORDERER_ORG = { mspId: 'OrdererMSP', domain: 'orderer.fund.local' };
const ALL_ORDERERS = [
  // port: clients (broadcast/deliver) and Raft cluster traffic; adminPort: channel participation API (osnadmin);
  // opsPort: operations (/healthz, /metrics). Each has its own MSP and TLS pair (crypto-config.yaml's Specs).
  { name: 'orderer', port: 7050, adminPort: 7053, opsPort: 9443 },
  { name: 'orderer2', port: 8050, adminPort: 8053, opsPort: 9447 },
  { name: 'orderer3', port: 9050, adminPort: 9053, opsPort: 9448 },
].map((o) => ({ ...o, ...ORDERER_ORG, host: `${o.name}.${ORDERER_ORG.domain}` }));

/** The network's shape as `up` recorded it (data/fabric/network.json), so later commands need no environment. */
const SHAPE_FILE = path.join(DATA, 'network.json');
/** FABRIC_ORDERERS: how many orderers `up` starts (default 3). */
function askedOrderers() {
  const raw = process.env.FABRIC_ORDERERS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= 1 && n <= ALL_ORDERERS.length)) throw new Error(`FABRIC_ORDERERS must be a whole number from 1 to ${ALL_ORDERERS.length}, not ${JSON.stringify(raw)}`);
  return n;
}
function recordedOrderers() {
  try {
    return JSON.parse(readFileSync(SHAPE_FILE, 'utf8')).orderers;
  } catch {
    return undefined;
  }
}
/**
 * The orderers of this network, the Raft consenters of every channel: as many as `up` started (network.json), else
 * FABRIC_ORDERERS, else 3. `up` sets it afresh from FABRIC_ORDERERS.
 */
export let ORDERERS = ALL_ORDERERS.slice(0, recordedOrderers() ?? askedOrderers() ?? 3);
export const PEERS = [
  // profilePort: Go's pprof, served only with CORE_PEER_PROFILE_ENABLED=true in the environment of `network up`.
  { name: 'province', mspId: 'ProvinceMSP', domain: 'province.fund.local', port: 7051, ccPort: 7052, opsPort: 9444, profilePort: 6061 },
  { name: 'county', mspId: 'CountyMSP', domain: 'county.fund.local', port: 8051, ccPort: 8052, opsPort: 9445, profilePort: 6062 },
  { name: 'bank', mspId: 'BankMSP', domain: 'bank.fund.local', port: 9051, ccPort: 9052, opsPort: 9446, profilePort: 6063 },
];

/**
 * The chaincodes, each run as a service (fabric-chaincode-node server) that every peer dials, by the name
 * `deployCC` takes. `fund` is the platform's (every contract of chaincode/, on every channel); `pressure` is the
 * benchmark's one-key contract (chapter 5's pressureMeasureCC: the chaincode package's `pressureContracts`) on the
 * business channels only.
 */
const CHAINCODE_DIR = path.join(ROOT, 'chaincode');
export const CHAINCODES = {
  fund: {
    name: process.env.CHAINCODE_NAME ?? 'fund',
    version: '1.0',
    address: `127.0.0.1:${process.env.CHAINCODE_PORT ?? 7100}`,
    on: (channels) => channels,
  },
  pressure: {
    name: 'pressure',
    version: '1.0',
    address: `127.0.0.1:${process.env.PRESSURE_CHAINCODE_PORT ?? 7101}`,
    on: (channels) => channels.filter((c) => c !== ROUTING),
    /** The export of the chaincode package that lists its contracts (fabric-chaincode-node wants `contracts`). */
    contractsExport: 'pressureContracts',
  },
};
/**
 * Chaincode endorsement policy per channel, the same for every chaincode on it. On a business channel (every set) a
 * transaction (a draft's transfer among them) is valid only when the province's peer and the bank's peer both
 * endorsed it; the routing channel (relay configuration) needs the province's. CC_POLICY_<CHANNEL> (upper case,
 * other characters as _) overrides.
 */
const policyOf = (channel) =>
  process.env[`CC_POLICY_${channel.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] ??
  (channel === ROUTING ? "OR('ProvinceMSP.peer')" : "AND('ProvinceMSP.peer','BankMSP.peer')");

// ── crypto material paths (cryptogen's layout) ─────────────────────────────────────────────────────────────────
const ordererOrgDir = path.join(CRYPTO, 'ordererOrganizations', ORDERER_ORG.domain);
const ordererNode = (o) => path.join(ordererOrgDir, 'orderers', o.host);
const ordererTlsCa = path.join(ordererOrgDir, 'tlsca', `tlsca.${ORDERER_ORG.domain}-cert.pem`);
const ordererAdminTls = path.join(ordererOrgDir, 'users', `Admin@${ORDERER_ORG.domain}`, 'tls');
const peerOrgDir = (p) => path.join(CRYPTO, 'peerOrganizations', p.domain);
const peerNode = (p) => path.join(peerOrgDir(p), 'peers', `peer0.${p.domain}`);
const peerTlsCa = (p) => path.join(peerOrgDir(p), 'tlsca', `tlsca.${p.domain}-cert.pem`);
const peerAdminMsp = (p) => path.join(peerOrgDir(p), 'users', `Admin@${p.domain}`, 'msp');
const peerHome = (p) => path.join(DATA, 'peers', p.name);
// Chaincode as a service over mutual TLS: the server's pair (cryptogen's Province "chaincode" host) and the client pair
// every peer presents to it (the province User1's TLS pair, carried in the package's connection.json); both are
// issued by the province's TLS CA, which each side trusts for the other.
const ccServerTls = () => path.join(peerOrgDir(PEERS[0]), 'peers', `chaincode.${PEERS[0].domain}`, 'tls');
const ccClientTls = () => path.join(peerOrgDir(PEERS[0]), 'users', `User1@${PEERS[0].domain}`, 'tls');
const ordererHome = (o) => path.join(DATA, 'orderers', o.name);

// ── small helpers ──────────────────────────────────────────────────────────────────────────────────────────────
const bin = (cmd) => path.join(FABRIC_BIN, cmd);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rel = (p) => path.relative(ROOT, p);
/** Fabric's default log line without the colour codes (the logs go to files). */
const LOG_FORMAT = '%{time:2006-01-02 15:04:05.000 MST} %{id:04x} %{level:.4s} [%{module}] %{shortfunc} -> %{message}';

/** Runs a Fabric command to completion; returns its combined output, or throws with it. */
function fabric(cmd, args, { env = {}, allow } = {}) {
  const r = spawnSync(bin(cmd), args, { cwd: ROOT, env: { ...process.env, FABRIC_LOGGING_FORMAT: LOG_FORMAT, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status === 0 || (allow && allow.test(output))) return output;
  throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}:\n${output.trim()}`);
}

/** fabric(), without blocking: for steps that may run side by side (each organisation's approval). */
function fabricAsync(cmd, args, { env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin(cmd), args, { cwd: ROOT, env: { ...process.env, FABRIC_LOGGING_FORMAT: LOG_FORMAT, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve(output) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${output.trim()}`))));
  });
}

function readPids() {
  try {
    return JSON.parse(readFileSync(PIDS, 'utf8'));
  } catch {
    return {};
  }
}
function recordPid(name, entry) {
  const pids = readPids();
  pids[name] = entry;
  writeFileSync(PIDS, JSON.stringify(pids, null, 2) + '\n');
}

/** Alive, and still the program we started (a recycled pid is not ours to signal). */
function running(entry) {
  if (!entry?.pid) return false;
  try {
    process.kill(entry.pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${entry.pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false; // exited, not yet reaped
    return cmdline.split('\0')[0] === entry.command;
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Starts a long-running process detached (its own process group), output appended to data/fabric/logs/<name>.log. */
function startProcess(name, command, args, { env, cwd = ROOT, ...info }) {
  mkdirSync(LOGS, { recursive: true });
  const log = path.join(LOGS, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const entry = { pid: child.pid, command, args, log: rel(log), started: new Date().toISOString(), ...info };
  recordPid(name, entry);
  return entry;
}

function tail(file, lines = 15) {
  try {
    return readFileSync(path.join(ROOT, file), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function httpStatus(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/** Waits until the node's operations endpoint reports healthy; fails early if the process dies. */
async function waitHealthy(name, entry, opsPort, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running(entry)) throw new Error(`${name} exited; the end of ${entry.log}:\n${tail(entry.log)}`);
    if ((await httpStatus(`http://127.0.0.1:${opsPort}/healthz`)) === 200) return;
    await sleep(300);
  }
  throw new Error(`${name} did not answer on 127.0.0.1:${opsPort}/healthz within ${timeoutMs / 1000} s; see ${entry.log}`);
}

/** A copy of a sampleconfig file with exact substitutions; fails loudly if the pinned file no longer has the text. */
function configFrom(sample, target, replacements = []) {
  let text = readFileSync(path.join(FABRIC_CONFIG, sample), 'utf8');
  for (const [from, to] of replacements) {
    if (!from.test(text)) throw new Error(`${sample}: expected ${from} in Fabric's sampleconfig`);
    text = text.replace(from, to);
  }
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
}

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return n;
}

// ── the nodes ──────────────────────────────────────────────────────────────────────────────────────────────────
function ordererEnv(o) {
  const tls = path.join(ordererNode(o), 'tls');
  const list = (...files) => `[${files.join(',')}]`;
  return {
    FABRIC_CFG_PATH: ordererHome(o),
    FABRIC_LOGGING_SPEC: process.env.FABRIC_LOGGING_SPEC ?? 'INFO',
    FABRIC_LOGGING_FORMAT: LOG_FORMAT,
    ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1',
    ORDERER_GENERAL_LISTENPORT: String(o.port),
    ORDERER_GENERAL_LOCALMSPID: o.mspId,
    ORDERER_GENERAL_LOCALMSPDIR: path.join(ordererNode(o), 'msp'),
    ORDERER_GENERAL_TLS_ENABLED: 'true',
    ORDERER_GENERAL_TLS_PRIVATEKEY: path.join(tls, 'server.key'),
    ORDERER_GENERAL_TLS_CERTIFICATE: path.join(tls, 'server.crt'),
    ORDERER_GENERAL_TLS_ROOTCAS: list(path.join(tls, 'ca.crt')),
    // Raft traffic on the same listener; the node's TLS pair is also its cluster client identity (the channels'
    // consenter entries name it), and the other orderers' pairs come from the same TLS CA.
    ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE: path.join(tls, 'server.crt'),
    ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY: path.join(tls, 'server.key'),
    ORDERER_GENERAL_CLUSTER_ROOTCAS: list(path.join(tls, 'ca.crt')),
    // How long a follower waits to hand a transaction on to the Raft leader (and a cluster send to complete) before
    // refusing it with SERVICE_UNAVAILABLE, so that the client tries another orderer: 3 s instead of Fabric's 7 s. With
    // the leader killed, a follower's forward to it hung for the whole 7 s, and every client with it.
    ORDERER_GENERAL_CLUSTER_RPCTIMEOUT: '3s',
    // No system channel: channels are joined through the channel participation API.
    ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none',
    ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
    ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${o.adminPort}`,
    ORDERER_ADMIN_TLS_ENABLED: 'true',
    ORDERER_ADMIN_TLS_CERTIFICATE: path.join(tls, 'server.crt'),
    ORDERER_ADMIN_TLS_PRIVATEKEY: path.join(tls, 'server.key'),
    ORDERER_ADMIN_TLS_ROOTCAS: list(path.join(tls, 'ca.crt')),
    ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED: 'true',
    ORDERER_ADMIN_TLS_CLIENTROOTCAS: list(path.join(tls, 'ca.crt')),
    ORDERER_FILELEDGER_LOCATION: path.join(ordererHome(o), 'ledger'),
    ORDERER_CONSENSUS_WALDIR: path.join(ordererHome(o), 'etcdraft', 'wal'),
    ORDERER_CONSENSUS_SNAPDIR: path.join(ordererHome(o), 'etcdraft', 'snapshot'),
    ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${o.opsPort}`,
    ORDERER_METRICS_PROVIDER: 'prometheus',
  };
}

function peerNodeEnv(p) {
  const tls = path.join(peerNode(p), 'tls');
  const address = `127.0.0.1:${p.port}`;
  return {
    FABRIC_CFG_PATH: peerHome(p),
    FABRIC_LOGGING_SPEC: process.env.FABRIC_LOGGING_SPEC ?? 'INFO',
    FABRIC_LOGGING_FORMAT: LOG_FORMAT,
    CORE_PEER_ID: `peer0.${p.domain}`,
    CORE_PEER_ADDRESS: address,
    CORE_PEER_LISTENADDRESS: address,
    CORE_PEER_CHAINCODEADDRESS: `127.0.0.1:${p.ccPort}`,
    CORE_PEER_CHAINCODELISTENADDRESS: `127.0.0.1:${p.ccPort}`,
    // One peer per organisation: it bootstraps gossip from itself, and publishes its address to the other
    // organisations (service discovery needs that), and it is its organisation's leader, pulling blocks from the orderers
    // (any of the channel configuration's OrdererEndpoints, the next when one stops).
    CORE_PEER_GOSSIP_BOOTSTRAP: address,
    CORE_PEER_GOSSIP_EXTERNALENDPOINT: address,
    CORE_PEER_GOSSIP_USELEADERELECTION: 'false',
    CORE_PEER_GOSSIP_ORGLEADER: 'true',
    CORE_PEER_LOCALMSPID: p.mspId,
    CORE_PEER_MSPCONFIGPATH: path.join(peerNode(p), 'msp'),
    CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_TLS_CERT_FILE: path.join(tls, 'server.crt'),
    CORE_PEER_TLS_KEY_FILE: path.join(tls, 'server.key'),
    CORE_PEER_TLS_ROOTCERT_FILE: path.join(tls, 'ca.crt'),
    CORE_PEER_FILESYSTEMPATH: path.join(peerHome(p), 'production'),
    CORE_LEDGER_SNAPSHOTS_ROOTDIR: path.join(peerHome(p), 'snapshots'),
    CORE_OPERATIONS_LISTENADDRESS: `127.0.0.1:${p.opsPort}`,
    CORE_METRICS_PROVIDER: 'prometheus',
    CORE_PEER_PROFILE_LISTENADDRESS: `127.0.0.1:${p.profilePort}`,
    // Passed to the ccaas builder (propagateEnvironment in core.yaml): connection.json may use {{.peername}}.
    CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG: JSON.stringify({ peername: p.name }),
  };
}

/** The peer CLI acting as the organisation's admin against its own peer. */
function peerAdminEnv(p) {
  return {
    FABRIC_CFG_PATH: peerHome(p),
    FABRIC_LOGGING_SPEC: 'WARNING',
    CORE_PEER_LOCALMSPID: p.mspId,
    CORE_PEER_MSPCONFIGPATH: peerAdminMsp(p),
    CORE_PEER_ADDRESS: `127.0.0.1:${p.port}`,
    CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_TLS_ROOTCERT_FILE: peerTlsCa(p),
  };
}

/** An orderer that runs (the first that does; any of them takes a transaction): where the peer CLI sends its own. */
function liveOrderer() {
  if (EXTERNAL) return ORDERERS[0];
  const pids = readPids();
  return ORDERERS.find((o) => running(pids[o.name])) ?? ORDERERS[0];
}
const ordererClientArgs = () => ['-o', `127.0.0.1:${liveOrderer().port}`, '--tls', '--cafile', ordererTlsCa];
const osnadminArgs = (o = liveOrderer()) => [
  '-o', `127.0.0.1:${o.adminPort}`,
  '--ca-file', ordererTlsCa,
  '--client-cert', path.join(ordererAdminTls, 'client.crt'),
  '--client-key', path.join(ordererAdminTls, 'client.key'),
];

// ── commands ───────────────────────────────────────────────────────────────────────────────────────────────────
function generateCrypto() {
  if (existsSync(path.join(CRYPTO, 'ordererOrganizations'))) {
    // Material from before the chaincode server had its own TLS pair: cryptogen adds what is missing, keeps the rest.
    // Likewise from before the second and third orderer.
    if (!existsSync(ccServerTls()) || ALL_ORDERERS.some((o) => !existsSync(ordererNode(o)))) fabric('cryptogen', ['extend', `--config=${path.join(NETWORK, 'crypto-config.yaml')}`, `--input=${CRYPTO}`]);
    return;
  }
  console.log('› crypto material (cryptogen, network/crypto-config.yaml) → data/fabric/crypto');
  fabric('cryptogen', ['generate', `--config=${path.join(NETWORK, 'crypto-config.yaml')}`, `--output=${CRYPTO}`]);
}

/** data/fabric/configtx.yaml: network/configtx.yaml with the batch settings from the environment. */
function writeConfigtx() {
  const timeoutMs = positiveInt('BATCH_TIMEOUT_MS', 2000);
  const count = positiveInt('BATCH_MAX_MESSAGE_COUNT', 10);
  const preferred = positiveInt('BATCH_PREFERRED_MAX_BYTES', 2 * 1024 * 1024);
  let text = readFileSync(path.join(NETWORK, 'configtx.yaml'), 'utf8');
  const set = (re, value) => {
    if (!re.test(text)) throw new Error(`network/configtx.yaml: expected ${re}`);
    text = text.replace(re, `$1${value}`);
  };
  set(/^(\s*BatchTimeout: ).*$/m, `${timeoutMs}ms`);
  set(/^(\s*MaxMessageCount: ).*$/m, count);
  set(/^(\s*PreferredMaxBytes: ).*$/m, preferred);
  // The orderer endpoints and Raft consenters of the orderers this network runs (network/configtx.yaml lists all three).
  for (const o of ALL_ORDERERS.slice(ORDERERS.length)) {
    const endpoint = new RegExp(`^\\s*- 127\\.0\\.0\\.1:${o.port}\\n`, 'm');
    const consenter = new RegExp(`^\\s*- Host: 127\\.0\\.0\\.1\\n\\s*Port: ${o.port}\\n.*\\n.*\\n`, 'm');
    for (const re of [endpoint, consenter]) {
      if (!re.test(text)) throw new Error(`network/configtx.yaml: expected ${o.name}'s entry ${re}`);
      text = text.replace(re, '');
    }
  }
  writeFileSync(path.join(DATA, 'configtx.yaml'), text);
  return { timeoutMs, count, preferred };
}

async function up() {
  const pids = readPids();
  const live = Object.entries(pids).filter(([, e]) => running(e));
  if (live.length > 0) {
    console.log(`The network is already up (${live.map(([n]) => n).join(', ')}); \`npm run network -- down\` first to start afresh.`);
    return;
  }
  ORDERERS = ALL_ORDERERS.slice(0, askedOrderers() ?? 3);
  await ensureFabricTools();
  mkdirSync(DATA, { recursive: true });
  writeFileSync(SHAPE_FILE, JSON.stringify({ orderers: ORDERERS.length }, null, 2) + '\n');
  generateCrypto();

  // The orderers: Fabric's orderer.yaml as is, everything specific to each node through ORDERER_* variables.
  const orderers = ORDERERS.map((o) => {
    configFrom('orderer.yaml', path.join(ordererHome(o), 'orderer.yaml'));
    const entry = startProcess(o.name, bin('orderer'), [], { env: ordererEnv(o), ports: ordererPorts(o) });
    console.log(`› ${o.host} (pid ${entry.pid}) on 127.0.0.1:${o.port}, admin :${o.adminPort}, operations :${o.opsPort}`);
    return [o, entry];
  });

  // The peers: Fabric's core.yaml with no Docker (vm.endpoint empty) and the ccaas builder at our path;
  // per-peer identity, ports and folders through CORE_PEER_* variables.
  const peers = PEERS.map((p) => {
    configFrom('core.yaml', path.join(peerHome(p), 'core.yaml'), [
      [/^(\s*endpoint:) unix:\/\/\/var\/run\/docker\.sock$/m, '$1'],
      [/^(\s*path:) \/opt\/hyperledger\/ccaas_builder$/m, `$1 ${CCAAS_BUILDER}`],
    ]);
    const entry = startProcess(`peer-${p.name}`, bin('peer'), ['node', 'start'], {
      env: peerNodeEnv(p),
      ports: { listen: p.port, chaincode: p.ccPort, operations: p.opsPort },
    });
    console.log(`› peer0.${p.domain} (${p.mspId}, pid ${entry.pid}) on 127.0.0.1:${p.port}, operations :${p.opsPort}`);
    return [p, entry];
  });

  const started = Date.now();
  for (const [o, entry] of orderers) await waitHealthy(o.host, entry, o.opsPort);
  for (const [p, entry] of peers) await waitHealthy(`peer0.${p.domain}`, entry, p.opsPort);
  console.log(`✓ ${orderers.length} orderer${orderers.length === 1 ? '' : 's'} and ${peers.length} peers answer (${((Date.now() - started) / 1000).toFixed(1)} s); logs in data/fabric/logs. Next: npm run network -- createChannel`);
}

const ordererPorts = (o) => ({ listen: o.port, admin: o.adminPort, operations: o.opsPort });

/** The channels an orderer (default: the first that runs) has joined. */
function ordererChannels(o) {
  const out = fabric('osnadmin', ['channel', 'list', ...osnadminArgs(o)]);
  const json = JSON.parse(out.slice(out.indexOf('{')));
  return (json.channels ?? []).map((c) => c.name);
}

/** Business channels first (business, business2, … in set order), then the others, routing last. */
function channelOrder(channels) {
  const rank = (c) => (c === ROUTING ? [2, 0, c] : /^business(\d*)$/.test(c) ? [0, Number(c.slice(8) || 1), c] : [1, 0, c]);
  return [...channels].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
}

/** The channels the network has (the first running orderer's), in channelOrder. */
function networkChannels() {
  return channelOrder(ordererChannels());
}

/**
 * Creates `channel` unless the orderers have it (genesis block from data/fabric/configtx.yaml), joins every orderer
 * that has not joined it (osnadmin: each is a consenter of the genesis block, so each joins as a Raft member), and
 * every peer that has not joined it yet.
 */
function joinChannel(channel, onOrderer) {
  const block = path.join(CHANNEL_BLOCKS, `${channel}.block`);
  if (!onOrderer.has(channel)) {
    fabric('configtxgen', ['-profile', PROFILE, '-outputBlock', block, '-channelID', channel], { env: { FABRIC_CFG_PATH: DATA } });
    console.log(`› ${channel}: genesis block made`);
  }
  for (const o of ORDERERS) {
    if (onOrderer.has(channel) && ordererChannels(o).includes(channel)) continue;
    if (!existsSync(block)) fabric('peer', ['channel', 'fetch', '0', block, '-c', channel, ...ordererClientArgs()], { env: peerAdminEnv(PEERS[0]) });
    const out = fabric('osnadmin', ['channel', 'join', '--channelID', channel, '--config-block', block, ...osnadminArgs(o)]);
    const status = JSON.parse(out.slice(out.indexOf('{')));
    console.log(`  ${o.host} joined ${channel} (${status.status}, ${status.consensusRelation})`);
  }
  if (!existsSync(block)) {
    // Created earlier but the block file is gone: the peers can join from the orderers' copy of block 0.
    fabric('peer', ['channel', 'fetch', '0', block, '-c', channel, ...ordererClientArgs()], { env: peerAdminEnv(PEERS[0]) });
  }
  for (const p of PEERS) {
    const joined = fabric('peer', ['channel', 'list'], { env: peerAdminEnv(p) });
    if (joined.split('\n').some((l) => l.trim() === channel)) continue;
    fabric('peer', ['channel', 'join', '-b', block], { env: peerAdminEnv(p) });
    console.log(`  peer0.${p.domain} joined ${channel}`);
  }
}

/** The peers pull block 0 from the orderers once the channel's Raft group has a leader: waits until every peer has it. */
async function waitForGenesis(channels) {
  const deadline = Date.now() + 60_000;
  for (const channel of channels) {
    for (const p of PEERS) {
      while (channelHeight(p, channel) < 1) {
        if (Date.now() > deadline) throw new Error(`peer0.${p.domain} has no block of ${channel} after 60 s; see data/fabric/logs`);
        await sleep(500);
      }
    }
  }
}

/** The batch settings go into each channel's genesis block: they apply to the channels created from now on. */
function batchSettingsFor(channels) {
  const batch = writeConfigtx();
  console.log(`› batch settings for ${channels.join(', ')}: BatchTimeout ${batch.timeoutMs} ms, MaxMessageCount ${batch.count}, PreferredMaxBytes ${batch.preferred}`);
}

async function createChannel() {
  await ensureFabricTools();
  await requireUp();
  mkdirSync(CHANNEL_BLOCKS, { recursive: true });
  const onOrderer = new Set(ordererChannels());
  const missing = CHANNELS.filter((c) => !onOrderer.has(c));
  if (missing.length) batchSettingsFor(missing);
  for (const channel of CHANNELS) joinChannel(channel, onOrderer);
  await waitForGenesis(CHANNELS);
  writeConnectionProfiles(networkChannels());
  console.log(`✓ channels ${CHANNELS.join(', ')}: ${ORDERERS.length} orderer${ORDERERS.length === 1 ? '' : 's'} and ${PEERS.length} peers joined`);
}

/**
 * One more channel on a running network, as an operator adds a set: created with the batch settings of the
 * environment, joined by every peer, written into the connection profiles, and every chaincode whose server this
 * network runs deployed on it (pressure only when it is a business channel). The app sees it once its configuration
 * names it (LEDGER_SETS or LEDGER_CHANNELS).
 */
async function addChannel(channel) {
  // Fabric's rule for channel names, less the upper case it refuses anyway.
  if (!/^[a-z][a-z0-9.-]{0,248}$/.test(channel ?? '')) throw new Error(`name the channel: lower-case letters, digits, '.' and '-', starting with a letter, not ${JSON.stringify(channel ?? '')}`);
  await ensureFabricTools();
  await requireUp();
  mkdirSync(CHANNEL_BLOCKS, { recursive: true });
  const onOrderer = new Set(ordererChannels());
  if (!onOrderer.has(channel)) batchSettingsFor([channel]);
  joinChannel(channel, onOrderer);
  await waitForGenesis([channel]);
  writeConnectionProfiles(networkChannels());
  console.log(`✓ channel ${channel}: ${ORDERERS.length} orderer${ORDERERS.length === 1 ? '' : 's'} and ${PEERS.length} peers joined`);
  const pids = readPids();
  const serving = Object.keys(CHAINCODES).filter((key) => running(pids[`chaincode-${CHAINCODES[key].name}`]) && CHAINCODES[key].on([channel]).length > 0);
  if (EXTERNAL || serving.length === 0) {
    console.log(`  no chaincode server runs here: npm run network -- deployCC deploys on it`);
    return;
  }
  for (const key of serving) await deployCC(key, [channel]);
}

/**
 * data/fabric/connection-<org>.json: a common connection profile for applications acting for one organisation (what
 * fabric-network's Gateway reads): the organisation, every peer and every orderer with their TLS CA certificates inline,
 * and the channels. Peers are addressed as localhost, the name discovery reports them under with asLocalhost (their
 * TLS certificates carry localhost). Two project-specific entries under the organisation, `x-fund`, point (relative
 * to data/fabric) at what the app's Fabric adapter needs besides: the organisation's CA certificate and key, which
 * issue the users' attribute certificates (cryptogen wrote them), and cryptogen's User1 (OU client, no role
 * attribute), the adapter's own identity for reading blocks and events.
 */
function writeConnectionProfiles(channelNames) {
  const pem = (file) => readFileSync(file, 'utf8');
  const peerName = (p) => `peer0.${p.domain}`;
  const peers = Object.fromEntries(
    PEERS.map((p) => [
      peerName(p),
      { url: `grpcs://localhost:${p.port}`, tlsCACerts: { pem: pem(peerTlsCa(p)) }, grpcOptions: { 'ssl-target-name-override': peerName(p), hostnameOverride: peerName(p) } },
    ]),
  );
  // Every orderer: a client broadcasts to any of them (fabric-common tries them in a random order, the next when one
  // fails or refuses). With several, a dead one is given up after 1 s instead of fabric-common's 3 s, which a submit
  // otherwise waits twice over (a first pass and a reconnecting pass) when it tries the dead one first.
  const failover = ORDERERS.length > 1 ? { 'grpc-wait-for-ready-timeout': 1000 } : {};
  const orderers = Object.fromEntries(
    ORDERERS.map((o) => [o.host, { url: `grpcs://localhost:${o.port}`, tlsCACerts: { pem: pem(ordererTlsCa) }, grpcOptions: { 'ssl-target-name-override': o.host, hostnameOverride: o.host, ...failover } }]),
  );
  const organizations = Object.fromEntries(
    PEERS.map((p) => {
      const org = underData(peerOrgDir(p));
      const user = `${org}/users/User1@${p.domain}/msp`;
      return [
        p.mspId,
        {
          mspid: p.mspId,
          peers: [peerName(p)],
          'x-fund': {
            name: p.name,
            ca: { certificate: `${org}/ca/ca.${p.domain}-cert.pem`, privateKey: `${org}/ca/priv_sk` },
            user: { certificate: `${user}/signcerts/User1@${p.domain}-cert.pem`, privateKey: `${user}/keystore/priv_sk` },
          },
        },
      ];
    }),
  );
  const channels = Object.fromEntries(
    channelNames.map((c) => [c, { orderers: ORDERERS.map((o) => o.host), peers: Object.fromEntries(PEERS.map((p) => [peerName(p), { endorsingPeer: true, chaincodeQuery: true, ledgerQuery: true, eventSource: true }])) }]),
  );
  for (const p of PEERS) {
    const profile = {
      name: `fund-${p.name}`,
      version: '1.0.0',
      client: { organization: p.mspId, connection: { timeout: { peer: { endorser: '300' }, orderer: '300' } } },
      organizations,
      peers,
      orderers,
      channels,
    };
    writeFileSync(path.join(DATA, `connection-${p.name}.json`), JSON.stringify(profile, null, 2) + '\n');
  }
  console.log(`› connection profiles: ${PEERS.map((p) => `data/fabric/connection-${p.name}.json`).join(', ')}`);
}
/** A path under data/fabric, as written into the connection profiles. */
const underData = (p) => path.relative(DATA, p).split(path.sep).join('/');

/** The peer's block height on a channel (0 when it has not joined). */
function channelHeight(p, channel) {
  try {
    const out = fabric('peer', ['channel', 'getinfo', '-c', channel], { env: peerAdminEnv(p) });
    return JSON.parse(out.slice(out.indexOf('{'))).height ?? 0;
  } catch {
    return 0;
  }
}

/**
 * FABRIC_NODES=external: the orderers and peers were started by something else at the same addresses (the containers
 * of network/compose), on crypto material from `npm run network -- crypto`; createChannel and deployCC then check
 * the nodes' /healthz instead of pids.json, and deployCC leaves the chaincode server to that something else.
 */
const EXTERNAL = process.env.FABRIC_NODES === 'external';

async function requireUp() {
  if (EXTERNAL) {
    const nodes = [...ORDERERS.map((o) => [o.host, o.opsPort]), ...PEERS.map((p) => [`peer0.${p.domain}`, p.opsPort])];
    const down = [];
    for (const [name, port] of nodes) if ((await httpStatus(`http://127.0.0.1:${port}/healthz`)) !== 200) down.push(`${name} (:${port}/healthz)`);
    if (down.length) throw new Error(`FABRIC_NODES=external, and these do not answer: ${down.join(', ')}`);
    return;
  }
  const pids = readPids();
  const down = [...ORDERERS.map((o) => o.name), ...PEERS.map((p) => `peer-${p.name}`)].filter((n) => !running(pids[n]));
  if (down.length) throw new Error(`not running: ${down.join(', ')}; start the network with npm run network -- up`);
}

/**
 * Only the crypto material (data/fabric/crypto), for nodes started elsewhere (network/compose), and the number of
 * orderers those nodes are (FABRIC_ORDERERS, default 3; compose runs one) for the channels createChannel makes.
 */
async function crypto() {
  await ensureFabricTools();
  mkdirSync(DATA, { recursive: true });
  ORDERERS = ALL_ORDERERS.slice(0, askedOrderers() ?? recordedOrderers() ?? 3);
  writeFileSync(SHAPE_FILE, JSON.stringify({ orderers: ORDERERS.length }, null, 2) + '\n');
  generateCrypto();
  console.log(`✓ crypto material in ${rel(CRYPTO)}`);
}

async function status() {
  const pids = readPids();
  if (Object.keys(pids).length === 0) {
    console.log('The network is down (no data/fabric/pids.json).');
    return;
  }
  console.log('Processes:');
  for (const [name, e] of Object.entries(pids)) {
    const ports = Object.entries(e.ports ?? {}).map(([k, v]) => `${k} :${v}`).join(', ');
    console.log(`  ${running(e) ? '●' : '○'} ${name.padEnd(16)} pid ${String(e.pid).padEnd(7)} ${running(e) ? 'running' : 'stopped'}  ${ports}  ${e.log}`);
  }
  console.log('Orderers (Raft):');
  for (const o of await ordererInfo()) {
    if (!o.running) console.log(`  ${o.host}: not running`);
    else if (o.error) console.log(`  ${o.host}: ${o.error}`);
    else console.log(`  ${o.host}: ${o.channels.length ? o.channels.map((c) => `${c.name} ${c.status}, ${c.consensusRelation}, height ${c.height}${c.leader ? ', leader' : ''}`).join('; ') : 'no channels'}`);
  }
  console.log('Peer heights:');
  for (const p of PEERS) {
    if (!running(pids[`peer-${p.name}`])) {
      console.log(`  peer0.${p.domain}: not running`);
      continue;
    }
    const list = fabric('peer', ['channel', 'list'], { env: peerAdminEnv(p) });
    const joined = list.split('\n').map((l) => l.trim()).filter((l) => l && !/:/.test(l));
    const heights = channelOrder(joined).map((c) => `${c} ${channelHeight(p, c)}`);
    console.log(`  peer0.${p.domain} (${p.mspId}): ${heights.length ? heights.join(', ') : 'no channels'}`);
  }
  if (!ORDERERS.some((o) => running(pids[o.name]))) return;
  const channels = networkChannels();
  for (const cc of Object.values(CHAINCODES)) {
    if (!pids[`chaincode-${cc.name}`]) continue;
    for (const channel of cc.on(channels)) {
      const current = committed(cc.name, channel);
      console.log(`Chaincode ${cc.name} on ${channel}: ${current ? `version ${current.version}, sequence ${current.sequence}, approved by ${approvers(current).join(', ')}` : 'not committed'}`);
    }
  }
}

/** Signals a process we started: its process group (detached, so the group is the process and its children). */
function signal(entry, sig) {
  try {
    process.kill(-entry.pid, sig);
  } catch {
    process.kill(entry.pid, sig);
  }
}

/** Signals the processes, waits up to 15 s for them to exit, then SIGKILLs what is left. */
async function stopAll(entries, sig = 'SIGTERM') {
  for (const [name, e] of entries) {
    signal(e, sig);
    console.log(`› stopping ${name} (pid ${e.pid}${sig === 'SIGTERM' ? '' : `, ${sig}`})`);
  }
  const deadline = Date.now() + 15_000;
  while (entries.some(([, e]) => running(e)) && Date.now() < deadline) await sleep(200);
  for (const [name, e] of entries.filter(([, e]) => running(e))) {
    console.log(`  ${name} (pid ${e.pid}) still running after 15 s: SIGKILL`);
    signal(e, 'SIGKILL');
  }
  const killed = Date.now() + 5_000;
  while (entries.some(([, e]) => running(e)) && Date.now() < killed) await sleep(100);
}

async function down() {
  const live = Object.entries(readPids()).filter(([, e]) => running(e));
  await stopAll(live);
  rmSync(DATA, { recursive: true, force: true });
  console.log(`✓ network down${live.length ? ` (${live.length} processes stopped)` : ''}; data/fabric removed`);
}

/** One of PEERS by organisation name (province, county, bank) or MSP id. */
function peerOf(org) {
  const p = PEERS.find((x) => x.name === org || x.mspId === org);
  if (!p) throw new Error(`which peer? name one of ${PEERS.map((x) => x.name).join(', ')} (or its MSP id), not ${JSON.stringify(org ?? '')}`);
  return p;
}

/**
 * Stops one organisation's peer, by the pid `up` recorded; its ledger, configuration and pids.json entry stay, so
 * startPeer runs it again on the same data. --kill sends SIGKILL (a crash) instead of SIGTERM (an orderly stop).
 */
async function stopPeer(org, ...flags) {
  const p = peerOf(org);
  const name = `peer-${p.name}`;
  const entry = readPids()[name];
  if (!running(entry)) {
    console.log(`peer0.${p.domain} is not running.`);
    return;
  }
  await stopAll([[name, entry]], flags.includes('--kill') ? 'SIGKILL' : 'SIGTERM');
  recordPid(name, { ...entry, stopped: new Date().toISOString() });
  console.log(`✓ peer0.${p.domain} stopped; its ledger stays in ${rel(peerHome(p))}. npm run network -- startPeer ${p.name} starts it again`);
}

/** Starts a stopped peer again with the environment and configuration `up` gave it, and waits until it answers. */
async function startPeer(org) {
  const p = peerOf(org);
  const name = `peer-${p.name}`;
  const pids = readPids();
  if (running(pids[name])) {
    console.log(`peer0.${p.domain} is already running (pid ${pids[name].pid}).`);
    return;
  }
  if (!pids[name] || !existsSync(path.join(peerHome(p), 'core.yaml'))) throw new Error(`peer0.${p.domain} was never started here; npm run network -- up first`);
  await ensureFabricTools();
  const entry = startProcess(name, bin('peer'), ['node', 'start'], { env: peerNodeEnv(p), ports: { listen: p.port, chaincode: p.ccPort, operations: p.opsPort } });
  const started = Date.now();
  await waitHealthy(`peer0.${p.domain}`, entry, p.opsPort);
  console.log(`✓ peer0.${p.domain} (pid ${entry.pid}) answers again (${((Date.now() - started) / 1000).toFixed(1)} s); it pulls the blocks it missed from the orderer`);
}

/**
 * Each orderer of the network: whether it runs and, per channel it has joined, osnadmin's status, consensus relation
 * and height, and whether it is that channel's Raft leader (consensus_etcdraft_is_leader on its operations endpoint).
 */
async function ordererInfo() {
  const pids = readPids();
  const result = [];
  for (const o of ORDERERS) {
    const row = { name: o.name, host: o.host, port: o.port, adminPort: o.adminPort, opsPort: o.opsPort, pid: pids[o.name]?.pid, running: EXTERNAL || running(pids[o.name]), channels: [] };
    result.push(row);
    if (!row.running) continue;
    try {
      const leaders = await raftLeaderFlags(o);
      for (const name of channelOrder(ordererChannels(o))) {
        const out = fabric('osnadmin', ['channel', 'list', '--channelID', name, ...osnadminArgs(o)]);
        const info = JSON.parse(out.slice(out.indexOf('{')));
        row.channels.push({ name, status: info.status, consensusRelation: info.consensusRelation, height: info.height, leader: leaders.get(name) === true });
      }
    } catch (err) {
      row.error = err.message.split('\n')[0];
    }
  }
  return result;
}

/** channel → is this orderer its Raft leader, from the orderer's Prometheus metrics. */
function raftLeaderFlags(o) {
  return new Promise((resolve) => {
    const flags = new Map();
    const req = http.get(`http://127.0.0.1:${o.opsPort}/metrics`, { timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        for (const m of text.matchAll(/^consensus_etcdraft_is_leader\{channel="([^"]+)"\} (\S+)$/gm)) flags.set(m[1], Number(m[2]) === 1);
        resolve(flags);
      });
    });
    req.on('error', () => resolve(flags));
    req.on('timeout', () => req.destroy());
  });
}

/** `orderers [--json]`: ordererInfo() as a table, or as JSON for the tests. */
async function orderers(...flags) {
  const info = await ordererInfo();
  if (flags.includes('--json')) {
    console.log(JSON.stringify(info));
    return;
  }
  for (const o of info) {
    console.log(`${o.host} (127.0.0.1:${o.port}, admin :${o.adminPort}, operations :${o.opsPort}): ${o.running ? `running, pid ${o.pid}` : 'not running'}${o.error ? `; ${o.error}` : ''}`);
    for (const c of o.channels) console.log(`  ${c.name}: ${c.status}, ${c.consensusRelation}, height ${c.height}${c.leader ? ', Raft leader' : ''}`);
  }
}

/** One of ORDERERS by name (orderer, orderer2, orderer3, or its host name); `leader`: the first channel's Raft leader. */
async function ordererOf(name) {
  if (name === 'leader') {
    const channel = CHANNELS[0];
    const leader = (await ordererInfo()).find((o) => o.channels.some((c) => c.name === channel && c.leader));
    if (!leader) throw new Error(`no orderer reports itself the Raft leader of ${channel} (an election under way?)`);
    return ORDERERS.find((o) => o.name === leader.name);
  }
  const o = ORDERERS.find((x) => x.name === name || x.host === name);
  if (!o) throw new Error(`which orderer? name one of ${ORDERERS.map((x) => x.name).join(', ')} or leader, not ${JSON.stringify(name ?? '')}`);
  return o;
}

/**
 * Stops one orderer by the pid `up` recorded (SIGTERM, or SIGKILL with --kill: a crash); its ledger and Raft log stay,
 * so startOrderer runs it again on the same data. With three, the other two keep a Raft majority and go on ordering.
 */
async function stopOrderer(name, ...flags) {
  const o = await ordererOf(name);
  const entry = readPids()[o.name];
  if (!running(entry)) {
    console.log(`${o.host} is not running.`);
    return;
  }
  await stopAll([[o.name, entry]], flags.includes('--kill') ? 'SIGKILL' : 'SIGTERM');
  recordPid(o.name, { ...entry, stopped: new Date().toISOString() });
  console.log(`✓ ${o.host} stopped; its ledger stays in ${rel(ordererHome(o))}. npm run network -- startOrderer ${o.name} starts it again`);
}

/** Starts a stopped orderer again with the environment `up` gave it, and waits until it answers. */
async function startOrderer(name) {
  const o = await ordererOf(name);
  const pids = readPids();
  if (running(pids[o.name])) {
    console.log(`${o.host} is already running (pid ${pids[o.name].pid}).`);
    return;
  }
  if (!pids[o.name] || !existsSync(path.join(ordererHome(o), 'orderer.yaml'))) throw new Error(`${o.host} was never started here; npm run network -- up first`);
  await ensureFabricTools();
  const entry = startProcess(o.name, bin('orderer'), [], { env: ordererEnv(o), ports: ordererPorts(o) });
  const started = Date.now();
  await waitHealthy(o.host, entry, o.opsPort);
  console.log(`✓ ${o.host} (pid ${entry.pid}) answers again (${((Date.now() - started) / 1000).toFixed(1)} s); it catches up from the Raft leader`);
}

// ── chaincode as a service ─────────────────────────────────────────────────────────────────────────────────────
const CC_DIR = path.join(DATA, 'chaincode');

/**
 * A chaincode's ccaas package: metadata.json (type ccaas) and code.tar.gz holding connection.json, the address every
 * peer dials. The chaincode's code is not in it: it is whatever the server at that address runs.
 */
function packageChaincode(cc) {
  const label = `${cc.name}_${cc.version}`;
  const work = path.join(CC_DIR, `package-${cc.name}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const pem = (dir, file) => readFileSync(path.join(dir, file), 'utf8');
  const connection = {
    address: cc.address,
    dial_timeout: '10s',
    tls_required: true,
    client_auth_required: true,
    root_cert: pem(ccServerTls(), 'ca.crt'),
    client_key: pem(ccClientTls(), 'client.key'),
    client_cert: pem(ccClientTls(), 'client.crt'),
  };
  writeFileSync(path.join(work, 'connection.json'), JSON.stringify(connection, null, 2) + '\n');
  writeFileSync(path.join(work, 'metadata.json'), JSON.stringify({ type: 'ccaas', label }, null, 2) + '\n');
  // Fixed owner and time, so the same inputs give the same package id.
  const tarArgs = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', work];
  const gz = { ...process.env, GZIP: '-n' };
  const run = (args) => {
    const r = spawnSync('tar', args, { env: gz, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
  };
  run([...tarArgs, '-czf', path.join(work, 'code.tar.gz'), 'connection.json']);
  const pkg = path.join(CC_DIR, `${label}.tar.gz`);
  run([...tarArgs, '-czf', pkg, 'metadata.json', 'code.tar.gz']);
  return { label, pkg };
}

function chaincodeServerCli() {
  // fabric-chaincode-node is hoisted to the root node_modules by the workspaces; the chaincode's own folder otherwise.
  for (const base of [path.join(CHAINCODE_DIR, 'node_modules'), path.join(ROOT, 'node_modules')]) {
    const cli = path.join(base, 'fabric-shim', 'cli.js');
    if (existsSync(cli)) return cli;
  }
  throw new Error('fabric-shim is not installed (npm ci)');
}

/**
 * The module fabric-chaincode-node loads for `cc` (--module-path: a folder whose package.json `main` exports
 * `contracts`). The fund chaincode is the chaincode package itself. Another contract list of the same package gets a
 * two-line module under data/fabric that hands that export on as `contracts`, so chaincode/ needs no entry file per
 * chaincode.
 */
function chaincodeModule(cc) {
  if (!existsSync(path.join(CHAINCODE_DIR, 'dist', 'index.js'))) build();
  if (!cc.contractsExport) return CHAINCODE_DIR;
  // Read from the compiled declarations: loading the package here would run its decorators and logging for nothing.
  const declarations = readFileSync(path.join(CHAINCODE_DIR, 'dist', 'index.d.ts'), 'utf8');
  if (!new RegExp(`\\b${cc.contractsExport}\\b`).test(declarations)) {
    throw new Error(`the chaincode package (chaincode/dist) exports no ${cc.contractsExport}; build it (npm run build) once it has the ${cc.name} contract`);
  }
  const dir = path.join(CC_DIR, `module-${cc.name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: cc.name, version: `${cc.version}.0`, private: true, main: 'index.js' }, null, 2) + '\n');
  writeFileSync(path.join(dir, 'index.js'), `// Written by scripts/network.mjs: the ${cc.name} chaincode is the chaincode package's ${cc.contractsExport}.\nexports.contracts = require(${JSON.stringify(CHAINCODE_DIR)}).${cc.contractsExport};\n`);
  return dir;
}

async function startChaincodeServer(cc, packageId) {
  const name = `chaincode-${cc.name}`;
  const pids = readPids();
  if (running(pids[name]) && pids[name].packageId === packageId) return pids[name];
  if (running(pids[name])) process.kill(-pids[name].pid, 'SIGTERM');
  const modulePath = chaincodeModule(cc);
  // What `npm run server -w chaincode` runs (fabric-chaincode-node server), without npm in between,
  // so the recorded pid is the server itself.
  const tls = ccServerTls();
  const tlsArgs = ['--chaincode-tls-cert-file', path.join(tls, 'server.crt'), '--chaincode-tls-key-file', path.join(tls, 'server.key'), '--chaincode-tls-client-cacert-file', path.join(tls, 'ca.crt')];
  const entry = startProcess(name, process.execPath, [chaincodeServerCli(), 'server', '--chaincode-address', cc.address, '--chaincode-id', packageId, '--module-path', modulePath, ...tlsArgs], {
    cwd: CHAINCODE_DIR,
    env: { CORE_CHAINCODE_LOGGING_LEVEL: process.env.CORE_CHAINCODE_LOGGING_LEVEL ?? 'info' },
    packageId,
    ports: { listen: Number(cc.address.split(':')[1]) },
  });
  // The server is up when its port accepts connections.
  const deadline = Date.now() + 30_000;
  const [host, port] = cc.address.split(':');
  for (;;) {
    if (!running(entry)) throw new Error(`the ${cc.name} chaincode server exited; the end of ${entry.log}:\n${tail(entry.log)}`);
    const ok = await new Promise((resolve) => {
      const s = new net.Socket();
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
      s.connect(Number(port), host);
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`the ${cc.name} chaincode server did not listen on ${cc.address} within 30 s; see ${entry.log}`);
    await sleep(300);
  }
  console.log(`› ${cc.name} chaincode server (pid ${entry.pid}) on ${cc.address} as ${packageId}`);
  return entry;
}

/** A chaincode's committed definition on a channel, as the province's peer reports it; undefined when there is none. */
function committed(name, channel) {
  try {
    const out = fabric('peer', ['lifecycle', 'chaincode', 'querycommitted', '-C', channel, '-n', name, '-O', 'json'], { env: peerAdminEnv(PEERS[0]) });
    return JSON.parse(out.slice(out.indexOf('{')));
  } catch {
    return undefined;
  }
}
/** The organisations whose approval a definition (querycommitted or checkcommitreadiness output) carries. */
const approvers = (definition) => Object.entries(definition?.approvals ?? {}).filter(([, yes]) => yes).map(([msp]) => msp).sort();

/**
 * One chaincode definition on one channel: each organisation approves (side by side; one transaction each), the
 * province's peer must then report every organisation's approval (checkcommitreadiness), the definition is
 * committed with every peer endorsing, and the committed definition must carry the sequence and every approval.
 * A definition this script committed before with the same version, package and policy is kept.
 */
async function defineOn(cc, channel, packageId) {
  const policy = policyOf(channel);
  const current = committed(cc.name, channel);
  // What this script committed last (the committed definition carries the policy only as protobuf bytes).
  const recordFile = path.join(CC_DIR, `definition-${cc.name}-${channel}.json`);
  const record = existsSync(recordFile) ? JSON.parse(readFileSync(recordFile, 'utf8')) : undefined;
  // A ccaas package id changes with the address and the TLS material, not with the code (the code is whatever the
  // server runs): a committed definition with the same version, package and policy is kept.
  if (current && record?.sequence === current.sequence && record.version === cc.version && record.packageId === packageId && record.policy === policy) {
    console.log(`› ${channel}: ${cc.name} ${current.version} already committed (sequence ${current.sequence}, endorsement ${policy})`);
    return;
  }
  const sequence = String((current?.sequence ?? 0) + 1);
  const definition = ['--channelID', channel, '--name', cc.name, '--version', cc.version, '--sequence', sequence, '--signature-policy', policy];
  await Promise.all(PEERS.map((p) => fabricAsync('peer', ['lifecycle', 'chaincode', 'approveformyorg', ...ordererClientArgs(), ...definition, '--package-id', packageId], { env: peerAdminEnv(p) })));
  // Each approval waited for its own organisation's peer; the province's may be a block behind.
  const everyone = PEERS.map((p) => p.mspId).sort();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const out = await fabricAsync('peer', ['lifecycle', 'chaincode', 'checkcommitreadiness', ...definition, '-O', 'json'], { env: peerAdminEnv(PEERS[0]) });
    const approved = approvers(JSON.parse(out.slice(out.indexOf('{'))));
    if (approved.join() === everyone.join()) break;
    if (Date.now() > deadline) throw new Error(`${channel}: ${cc.name} sequence ${sequence} approved only by ${approved.join(', ') || 'nobody'} after 30 s`);
    await sleep(300);
  }
  const endorsers = PEERS.flatMap((p) => ['--peerAddresses', `127.0.0.1:${p.port}`, '--tlsRootCertFiles', peerTlsCa(p)]);
  await fabricAsync('peer', ['lifecycle', 'chaincode', 'commit', ...ordererClientArgs(), ...definition, ...endorsers], { env: peerAdminEnv(PEERS[0]) });
  const now = committed(cc.name, channel);
  if (String(now?.sequence) !== sequence || approvers(now).join() !== everyone.join()) {
    throw new Error(`${channel}: ${cc.name} committed, but the province's peer reports ${JSON.stringify(now)}`);
  }
  writeFileSync(recordFile, JSON.stringify({ version: cc.version, sequence: Number(sequence), packageId, policy }, null, 2) + '\n');
  console.log(`› ${channel}: ${cc.name} ${cc.version} approved by ${approvers(now).join(', ')} and committed (sequence ${sequence}, endorsement ${policy})`);
}

/**
 * `deployCC [fund|pressure|all]`: the chaincode (default fund) on every channel of the network it belongs on, or on
 * `only` (addChannel's new channel). The configured channels must exist (createChannel); channels added since
 * (addChannel) are included.
 */
async function deployCC(which = 'fund', only) {
  const keys = which === 'all' ? Object.keys(CHAINCODES) : [which];
  for (const key of keys) if (!CHAINCODES[key]) throw new Error(`which chaincode? ${Object.keys(CHAINCODES).join(', ')} or all, not ${JSON.stringify(which)}`);
  await ensureFabricTools();
  await requireUp();
  mkdirSync(CC_DIR, { recursive: true });
  const created = networkChannels();
  const missing = (only ?? CHANNELS).filter((c) => !created.includes(c));
  if (missing.length) throw new Error(`channel ${missing.join(', ')} not created: npm run network -- createChannel first`);
  for (const key of keys) {
    const cc = CHAINCODES[key];
    const channels = cc.on(only ?? created);
    if (channels.length === 0) throw new Error(`${cc.name} belongs on no channel of this network (${created.join(', ')})`);
    const { label, pkg } = packageChaincode(cc);
    const packageId = `${label}:${createHash('sha256').update(readFileSync(pkg)).digest('hex')}`;
    for (const p of PEERS) {
      fabric('peer', ['lifecycle', 'chaincode', 'install', pkg], { env: peerAdminEnv(p), allow: /chaincode already successfully installed/ });
    }
    console.log(`› installed ${label} on ${PEERS.length} peers: ${packageId}`);
    if (!EXTERNAL) await startChaincodeServer(cc, packageId);

    // The channels side by side: each waits for two blocks of its own (approvals, commit).
    await Promise.all(channels.map((channel) => defineOn(cc, channel, packageId)));

    if (EXTERNAL) {
      console.log(`✓ ${cc.name} committed on ${channels.join(', ')}; start its server as ${packageId} at ${cc.address} (network/compose: CHAINCODE_ID=${packageId} docker compose --profile chaincode up -d)`);
      continue;
    }
    // End to end: a query the contracts answer without any identity attribute (contract metadata).
    for (const channel of channels) {
      const out = fabric('peer', ['chaincode', 'query', '-C', channel, '-n', cc.name, '-c', JSON.stringify({ function: 'org.hyperledger.fabric:GetMetadata', Args: [] })], { env: peerAdminEnv(PEERS[0]) });
      const metadata = JSON.parse(out.slice(out.indexOf('{')));
      console.log(`✓ ${channel}: ${cc.name} answers a peer chaincode query; contracts ${Object.keys(metadata.contracts ?? {}).join(', ')}`);
    }
  }
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────────────────────
const COMMANDS = { up, down, createChannel, addChannel, deployCC: (which) => deployCC(which), status, stopPeer, startPeer, stopOrderer, startOrderer, orderers, crypto };

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...args] = process.argv.slice(2);
  const fn = COMMANDS[command];
  if (!fn) {
    console.error(`usage: npm run network -- ${Object.keys(COMMANDS).join(' | ')}  (deployCC [fund|pressure|all], addChannel <name>, stopPeer <org> [--kill], startPeer <org>, stopOrderer <name|leader> [--kill], startOrderer <name>, orderers [--json])`);
    process.exit(2);
  }
  Promise.resolve(fn(...args)).catch((err) => {
    console.error(`✗ network ${command}: ${err.message}`);
    process.exit(1);
  });
}
