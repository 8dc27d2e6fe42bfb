/** What the controllers share: configuration, the chain, the projector and the platform's own service user. */
import type { Request } from 'express';
import type { AppConfig } from './config';
import type { Chain } from './services/chain';
import type { Projectors } from './services/projector';
import type { RelayRequests } from './services/relay-requests';
import type { ParkedRecords } from './services/parked-records';
import type { LoginGuard } from './services/login-guard';
import type { UserDoc } from './models/user';
import { timeZone, type TimeZone } from './services/time';

export interface Platform {
  config: AppConfig;
  chain: Chain;
  /** The projectors of every set (one province). */
  projector: Projectors;
  /** Asynchronous requests through the relay: digests, callbacks, the pages' live feed. */
  requests: RelayRequests;
  /** Bank records no set can take yet (more than one set, their serial not registered), sent once it is. */
  parked: ParkedRecords;
  /** The platform operator's service identity: the projector reads with it, the sweep runs as it. */
  system: UserDoc;
  /** Failed logins counted per account and address, lockouts. */
  loginGuard: LoginGuard;
  startedAt: Date;
}

export function platformOf(req: Request): Platform {
  return req.app.locals.platform as Platform;
}

/** The zone every time is shown and typed in (TIME_ZONE, services/time.ts). */
export function zoneOf(req: Request): TimeZone {
  return timeZone(platformOf(req).config.timeZone);
}
