/** The embedded ledger's storage: blocks, world state with history, recovery and audit. */
export * from './block';
export * from './block-store';
export * from './state-db';
export * from './channel-store';
export * from './verify';
