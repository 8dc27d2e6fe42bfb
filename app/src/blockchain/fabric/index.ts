/** The Fabric adapter: fabric-network against a real Fabric network (scripts/network.mjs). */
export * from './fabric-ledger';
export * from './profile';
export * from './blocks';
export * from './channels';
