/**
 * Server-sent events for the pages (thesis 4.3.2 step 4, the relay's callback to the client): every asynchronous
 * request the user may see, as it settles. Banks see their own bank's requests; oversight sees all.
 */
import type { Router } from 'express';
import { ApiClient } from '../models/activity';
import type { RelayRequestView } from '../services/relay-requests';
import { platformOf } from '../platform';
import { ANY_USER, OVERSIGHT, route } from './route';

export function register(router: Router): void {
  route(router, 'GET', '/relay/events', ANY_USER, async (req, res) => {
    // A stream only for a client that asks for one (EventSource does); anyone else gets a word on what this is.
    if (!(req.get('accept') ?? '').includes('text/event-stream')) {
      return res.type('text/plain').send('Server-sent events of the relay (settled asynchronous requests): open with EventSource, Accept: text/event-stream.\n');
    }
    const user = req.user!;
    const everything = OVERSIGHT.includes(user.role);
    const ownClients = everything ? undefined : new Set((await ApiClient.find({ bankId: user.orgId }).select('_id').lean()).map((c) => String(c._id)));
    const { requests } = platformOf(req);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': relay events\n\n');
    const send = (r: RelayRequestView) => {
      if (ownClients && !(r.clientId && ownClients.has(r.clientId))) return;
      res.write(`event: settled\nid: ${r.digest}\ndata: ${JSON.stringify(r)}\n\n`);
    };
    const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
    requests.on('settled', send);
    req.on('close', () => {
      clearInterval(ping);
      requests.off('settled', send);
    });
  });
}
