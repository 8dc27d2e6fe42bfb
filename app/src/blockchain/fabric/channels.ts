/**
 * Which channels the platform runs on: the business channels ("sets", thesis chapter 4) and the routing channel.
 * One rule for the app, the network scripts (scripts/network.mjs imports the compiled file) and the tests: set 1 is
 * `business`, set k > 1 is `business<k>`, beside one `routing` channel. No Fabric dependency, so the embedded
 * ledger's configuration may use it too.
 */

export const ROUTING_CHANNEL = 'routing';

/** The business channel of set `set` (1-based): business, business2, business3, … */
export function businessChannel(set: number): string {
  if (!Number.isInteger(set) || set < 1) throw new Error(`a set number is a positive integer, not ${JSON.stringify(set)}`);
  return set === 1 ? 'business' : `business${set}`;
}

export interface ChannelLayout {
  /** The business channels, set 1 first. */
  business: string[];
  /** The routing channel. */
  routing: string;
  /** Every channel: the business channels, then the routing channel. */
  all: string[];
}

/**
 * The channels of the configuration: LEDGER_CHANNELS (comma-separated: the business channels, then the routing
 * channel last; one channel alone serves as both) when given, as before sets existed; otherwise LEDGER_SETS business
 * channels (default 1) and `routing`.
 */
export function channelLayout(env: { LEDGER_CHANNELS?: string; LEDGER_SETS?: string } = process.env): ChannelLayout {
  const listed = env.LEDGER_CHANNELS?.split(',').map((c) => c.trim()).filter(Boolean);
  if (listed?.length === 0) throw new Error('LEDGER_CHANNELS must name at least one channel');
  if (listed) {
    if (new Set(listed).size !== listed.length) throw new Error(`LEDGER_CHANNELS names a channel twice: ${listed.join(',')}`);
    return { business: listed.length === 1 ? listed : listed.slice(0, -1), routing: listed[listed.length - 1], all: listed };
  }
  const raw = env.LEDGER_SETS?.trim();
  const sets = raw ? Number(raw) : 1;
  if (!Number.isInteger(sets) || sets < 1) throw new Error(`LEDGER_SETS must be a positive integer, not ${JSON.stringify(env.LEDGER_SETS)}`);
  const business = Array.from({ length: sets }, (_, i) => businessChannel(i + 1));
  return { business, routing: ROUTING_CHANNEL, all: [...business, ROUTING_CHANNEL] };
}
