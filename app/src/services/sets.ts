/**
 * Sets in service: the platform serves the business channels of its configuration (LEDGER_SETS) and every set the
 * routing chain lists, since the routing chain is where an operator adds one. Serving a set opens its channel (the
 * embedded ledger does it at once; on Fabric the channel must have been created and joined, `npm run network --
 * addChannel`), initialises it, copies the registry onto it, and starts its projector.
 */
import type { Platform } from '../platform';
import { bootstrap, levelRegistries } from './bootstrap';

export async function serveSet(platform: Pick<Platform, 'chain' | 'projector' | 'system' | 'config'>, channel: string): Promise<void> {
  const { chain, projector, system, config } = platform;
  if (chain.relay.setChannels.includes(channel)) return;
  if (!chain.gateway.channels().includes(channel)) {
    if (!chain.gateway.addChannel) throw new Error(`channel ${channel} is not open on this Fabric network: create and join it with "npm run network -- addChannel ${channel}", then restart the platform with it in LEDGER_CHANNELS`);
    await chain.gateway.addChannel(channel);
  }
  await bootstrap(chain, [channel]);
  await levelRegistries(chain, system, [config.businessChannels[0], channel]);
  chain.relay.serve(channel);
  if (!config.businessChannels.includes(channel)) config.businessChannels.push(channel);
  await projector.add(channel);
}

/** Serves the sets the routing chain lists that the configuration did not name; a set that cannot be opened is reported, not fatal. */
export async function serveRoutedSets(platform: Pick<Platform, 'chain' | 'projector' | 'system' | 'config'>, log: (line: string) => void): Promise<void> {
  for (const set of platform.chain.relay.unservedSets()) {
    await serveSet(platform, set.channel).catch((err: Error) => log(`set ${set.setId} (channel ${set.channel}) is not served: ${err.message}`));
  }
}
