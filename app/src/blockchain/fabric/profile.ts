/**
 * Where the Fabric adapter finds the network: the connection profiles that `npm run network -- createChannel`
 * writes (data/fabric/connection-<org>.json, one per organisation), and in them each organisation's certificate
 * authority (cryptogen's ca/ certificate and priv_sk) and cryptogen's User1, the adapter's own reading identity.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as path from 'node:path';
import type { ChannelNode, SetNode } from '../gateway';
import { certificateHash } from '../embedded/identity';

export interface FabricConfig {
  /** The network's folder: connection profiles and crypto material (FABRIC_DIR, default data/fabric). */
  dir: string;
  /** The organisation whose peer the app reads from and waits on (FABRIC_ORG: province, county or bank, or its MSP id). */
  org: string;
  /** The chaincode's name on every channel (CHAINCODE_NAME, default fund, as scripts/network.mjs deploys it). */
  chaincode: string;
  /** Seconds to wait for endorsement and for the commit event (FABRIC_TIMEOUT_S, default 60). */
  timeoutSeconds: number;
  /**
   * The gateway peers in order of preference (FABRIC_PEERS, comma-separated: peer names, host:port endpoints or
   * organisation names for all of that organisation's peers): discovery, queries and commit events go to the first
   * that answers, and to the next when it stops answering. Only for channels whose set has no nodes on the routing
   * chain (the routing channel, a set registered without nodes): the relay hands the adapter each set's own nodes.
   * Default: FABRIC_ORG's peers.
   */
  nodes?: string[];
}

/** FABRIC_PEERS as FabricConfig.nodes: undefined when unset or empty. */
export function fabricPeers(env: { FABRIC_PEERS?: string } = process.env): string[] | undefined {
  const nodes = env.FABRIC_PEERS?.split(',').map((n) => n.trim()).filter(Boolean);
  return nodes && nodes.length > 0 ? nodes : undefined;
}

export interface OrganisationProfile {
  mspId: string;
  /** The organisation's short name (province, county, bank): the profile file is connection-<name>.json. */
  name: string;
  ca: { certificate: string; privateKey: string };
  user: { certificate: string; privateKey: string };
}

export interface ConnectionProfile {
  /** The profile as fabric-network reads it. */
  json: Record<string, unknown>;
  /** The organisation the profile is for (client.organization). */
  mspId: string;
  /** Every organisation of the network, by MSP id. */
  organisations: Map<string, OrganisationProfile>;
}

interface Endpoint {
  url?: string;
  tlsCACerts?: { pem?: string; path?: string };
}

interface ProfileFile {
  client?: { organization?: string };
  peers?: Record<string, Endpoint>;
  orderers?: Record<string, Endpoint>;
  channels?: Record<string, { peers?: Record<string, unknown>; orderers?: string[] }>;
  organizations?: Record<string, { mspid?: string; peers?: string[]; 'x-fund'?: { name?: string; ca?: { certificate?: string; privateKey?: string }; user?: { certificate?: string; privateKey?: string } } }>;
}

/** Reads data/fabric/connection-<org>.json for `config.org` (a short name or an MSP id). */
export function loadConnectionProfile(config: FabricConfig): ConnectionProfile {
  let names: string[];
  try {
    names = readdirSync(config.dir).filter((f) => /^connection-.+\.json$/.test(f)).sort();
  } catch {
    names = [];
  }
  if (names.length === 0) {
    throw new Error(`no connection profile in ${config.dir} (connection-<org>.json): start the network with npm run network -- up, createChannel and deployCC, or set FABRIC_DIR`);
  }
  const profiles = names.map((file) => ({ file, json: JSON.parse(readFileSync(path.join(config.dir, file), 'utf8')) as ProfileFile & Record<string, unknown> }));
  const chosen = profiles.find(({ file, json }) => file === `connection-${config.org}.json` || json.client?.organization === config.org);
  if (!chosen) throw new Error(`FABRIC_ORG=${config.org}: no such organisation among ${names.join(', ')}`);
  const organisations = new Map<string, OrganisationProfile>();
  for (const [mspId, org] of Object.entries(chosen.json.organizations ?? {})) {
    const x = org['x-fund'];
    if (!x?.ca?.certificate || !x.ca.privateKey || !x.user?.certificate || !x.user.privateKey) continue;
    const read = (p: string) => readFileSync(path.resolve(config.dir, p), 'utf8');
    organisations.set(org.mspid ?? mspId, {
      mspId: org.mspid ?? mspId,
      name: x.name ?? mspId,
      ca: { certificate: read(x.ca.certificate), privateKey: read(x.ca.privateKey) },
      user: { certificate: read(x.user.certificate), privateKey: read(x.user.privateKey) },
    });
  }
  const mspId = chosen.json.client?.organization ?? '';
  if (!organisations.has(mspId)) throw new Error(`${chosen.file}: client.organization ${JSON.stringify(mspId)} is not among its organizations`);
  return { json: chosen.json, mspId, organisations };
}

/**
 * The profile's names of the peers `nodes` (FabricConfig.nodes) designate, in their order, each once: a peer's name
 * (peer0.county.fund.local), its endpoint (localhost:8051, 127.0.0.1:8051, grpcs://…), or an organisation (county,
 * CountyMSP) for all of its peers. A node that designates no peer of the profile is an error.
 */
export function gatewayPeerNames(nodes: readonly string[], profile: ConnectionProfile): string[] {
  const json = profile.json as ProfileFile;
  const names: string[] = [];
  for (const node of nodes) {
    let found = peerNamed(profile, node);
    if (found.length === 0) {
      const org = Object.entries(json.organizations ?? {}).find(([key, o]) => key === node || o.mspid === node || o['x-fund']?.name === node);
      found = org?.[1].peers ?? [];
    }
    if (found.length === 0) throw new Error(`gateway peer ${JSON.stringify(node)} (FABRIC_PEERS) is no peer or organisation of the connection profile; it has ${Object.keys(json.peers ?? {}).join(', ')}`);
    for (const name of found) if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The profile's names of a set's nodes as the routing chain records them (节点合约, table 4.5), in their order: a
 * node is the peer named by its nodeId, else the peer listening on listenIp:rpcPort. Nodes of no peer of the profile
 * (another platform's, a mistyped port) are returned apart, for the caller to report.
 */
export function setPeerNames(nodes: readonly SetNode[], profile: ConnectionProfile): { names: string[]; unknown: string[] } {
  const names: string[] = [];
  const unknown: string[] = [];
  for (const node of nodes) {
    const host = node.listenIp.includes(':') ? `[${node.listenIp}]` : node.listenIp;
    const [name] = [...peerNamed(profile, node.nodeId), ...peerNamed(profile, `${host}:${node.rpcPort}`)];
    if (!name) unknown.push(`${node.nodeId} (${host}:${node.rpcPort})`);
    else if (!names.includes(name)) names.push(name);
  }
  return { names, unknown };
}

/** The profile's peer named `node`, or listening at the endpoint `node`; [] when none. */
function peerNamed(profile: ConnectionProfile, node: string): string[] {
  const peers = Object.entries((profile.json as ProfileFile).peers ?? {});
  const endpoint = (s: string) => s.trim().replace(/^grpcs?:\/\//, '').replace(/^(127\.0\.0\.1|\[::1\]):/, 'localhost:');
  const named = peers.filter(([name]) => name === node).map(([name]) => name);
  return named.length > 0 ? named : peers.filter(([, p]) => p.url && endpoint(p.url) === endpoint(node)).map(([name]) => name);
}

/**
 * The nodes serving `channel` as the connection profile describes them (table 4.5's fields): the peers it lists for the
 * channel, those `first` names (peer names; default: the profile's own organisation's) at the head in that order, then
 * the channel's orderers. A node's address is its url's host (localhost as 127.0.0.1, a host name looked up), its P2P
 * port the same as its RPC port (a Fabric peer gossips on its one port), its CA hash its TLS CA certificate's, its
 * agency the organisation whose peer it is. Nodes that cannot be described so are returned apart, with the reason.
 */
export async function channelNodesOf(profile: ConnectionProfile, dir: string, channel: string, first?: readonly string[]): Promise<{ nodes: ChannelNode[]; left: string[] }> {
  const json = profile.json as ProfileFile;
  const section = json.channels?.[channel];
  const orgs = Object.values(json.organizations ?? {});
  const own = first ?? orgs.find((o) => o.mspid === profile.mspId)?.peers ?? [];
  const listed = Object.keys(section?.peers ?? {});
  const peers = [...own.filter((name) => listed.includes(name)), ...listed.filter((name) => !own.includes(name))];
  const nodes: ChannelNode[] = [];
  const left: string[] = [];
  const describe = async (name: string, endpoint: Endpoint | undefined, nodeType: ChannelNode['nodeType']) => {
    try {
      if (!endpoint?.url) throw new Error('no url in the connection profile');
      const url = new URL(endpoint.url);
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const listenIp = host === 'localhost' ? '127.0.0.1' : isIP(host) !== 0 ? host : (await lookup(host)).address;
      const pem = endpoint.tlsCACerts?.pem ?? (endpoint.tlsCACerts?.path && readFileSync(path.resolve(dir, endpoint.tlsCACerts.path), 'utf8'));
      if (!pem) throw new Error('no TLS CA certificate in the connection profile');
      const port = Number(url.port);
      const org = orgs.find((o) => o.peers?.includes(name));
      const agencyInfo = nodeType === 'peer' ? (org?.mspid ?? 'unknown organisation') : `ordering service ${name.split('.').slice(1).join('.') || name}`;
      const desc = `Fabric ${nodeType} of channel ${channel}${org?.['x-fund']?.name ? ` (${org['x-fund'].name})` : ''}, as the connection profile names it`;
      nodes.push({ nodeId: name, listenIp, p2pPort: port, rpcPort: port, nodeType, desc, caHash: certificateHash(pem), agencyInfo });
    } catch (err) {
      left.push(`${name}: ${(err as Error).message}`);
    }
  };
  for (const name of peers) await describe(name, json.peers?.[name], 'peer');
  for (const name of section?.orderers ?? []) await describe(name, json.orderers?.[name], 'orderer');
  return { nodes, left };
}
