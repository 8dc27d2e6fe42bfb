/** Embedded Fabric peer pieces: identities, proposals, simulation, and the chaincode protocol. */
export * from './identity';
export * from './proposal';
export * from './simulator';
export * from './memory-state';
export * from './chaincode-support';
export * from './ledger';
export * from './membership';
export * from './channel-ledger';
export * from './embedded-ledger';
export * from './endorser';
export * from './endorser-pool';
export * from './chaincode-module';
export * from './channel-peer';
export * from './channel-thread';
