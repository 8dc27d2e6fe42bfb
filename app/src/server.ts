/**
 * Starts the web platform: ledger, MongoDB, first-start bootstrap (and demo data when asked), the
 * projector, the unmatched-transfer sweep, and the HTTP server (HTTPS when a certificate is
 * configured). Used by `npm start` and by the tests.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import mongoose from 'mongoose';
import { openLedger, type LedgerGateway } from './blockchain';
import { appConfig, type AppConfig } from './config';
import { createApp } from './app';
import { Chain } from './services/chain';
import { Projectors } from './services/projector';
import { bootstrap, bootstrapRouting, levelRegistries } from './services/bootstrap';
import { Relay } from './blockchain/relay';
import { serveRoutedSets } from './services/sets';
import { RelayRequests } from './services/relay-requests';
import { ParkedRecords } from './services/parked-records';
import { seedDemo } from './services/demo';
import { loadSecrets } from './services/secrets';
import { LoginGuard } from './services/login-guard';
import { readTls } from './security';
import type { Platform } from './platform';

export interface RunningPlatform {
  url: string;
  platform: Platform;
  gateway: LedgerGateway;
  close(): Promise<void>;
}

export interface StartOptions {
  config?: AppConfig;
  demo?: boolean;
  log?: (line: string) => void;
}

export async function startPlatform({ config = appConfig(), demo = false, log = console.log }: StartOptions = {}): Promise<RunningPlatform> {
  if (!config.mongodbUri) throw new Error('MONGODB_URI is not set (npm start runs the bundled MongoDB-protocol server and sets it)');
  // A certificate that cannot be used stops the start before anything is opened.
  const tls = config.security.tls ? readTls(config.security.tls) : undefined;
  const secrets = loadSecrets(config.dataDir);
  const gateway = await openLedger(config.ledger);
  // The driver's monitor check shares the connect timeout; a busy server answering it late must not make the driver
  // drop the pool and break the operations in flight (seen with the bundled server under 50 users).
  await mongoose.connect(config.mongodbUri, { serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 60_000, heartbeatFrequencyMS: 20_000 });
  await mongoose.connection.syncIndexes();
  const relay = new Relay(gateway, { routingChannel: config.routingChannel, sets: config.businessChannels, platformAddress: config.platformAddress });
  const chain = new Chain(relay, secrets.walletKey, config.platformAddress);
  const system = await bootstrap(chain, [...new Set([...config.businessChannels, config.routingChannel])], { log });
  await bootstrapRouting(chain, system, config.businessChannels, config.setCapacity, { log });
  await levelRegistries(chain, system, config.businessChannels);
  await relay.start(await chain.identityOf(system));
  const projector = new Projectors(chain, system, config.businessChannels);
  await projector.start();
  await serveRoutedSets({ chain, projector, system, config }, log);
  const requests = new RelayRequests(chain, config.callbackRetryMs);
  await requests.start();
  const parked = new ParkedRecords(chain, requests, system);
  parked.start();
  if (demo) await seedDemo(chain, system, log);

  const loginGuard = new LoginGuard(config.security.login, mongoose.connection.db!);
  const platform: Platform = { config, chain, projector, requests, parked, system, loginGuard, startedAt: new Date() };
  const app = createApp(platform, secrets.sessionSecret);
  const server = tls ? https.createServer(tls, app) : http.createServer(app);
  await new Promise<void>((resolve) => server.listen(config.port, '127.0.0.1', resolve));
  const address = server.address();
  const url = `${tls ? 'https' : 'http'}://localhost:${typeof address === 'object' && address ? address.port : config.port}`;

  // Registrations and bank records left unmatched past the threshold become discrepancies.
  const sweep = setInterval(() => {
    chain.submit(system, 'Reconciliation:sweepUnmatched').catch((err: Error) => log(`unmatched sweep failed: ${err.message}`));
  }, 3600_000);
  sweep.unref();

  return {
    url,
    platform,
    gateway,
    async close() {
      clearInterval(sweep);
      loginGuard.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await parked.stop();
      await requests.stop();
      await projector.stop();
      await relay.stop();
      await mongoose.disconnect();
      await gateway.close();
    },
  };
}
