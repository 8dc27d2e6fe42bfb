/** The relay layer between the platform and the chains (thesis 4.3): admission, routing, forwarding, digests. */
export * from './relay';
export * from './business-route';
