/**
 * The endorsing peer's work on one proposal: check it (signature, MSP, txId binding, channel,
 * chaincode), then run the chaincode against committed state in a TxSimulator. Used on the main
 * thread and by the endorsement workers (endorser-worker.ts) alike.
 */
import type { peer } from '@hyperledger/fabric-protos';
import type { ChaincodeConnection, ChaincodeResult } from './chaincode-support';
import { verifyProposal } from './proposal';
import { TxSimulator, type SimulationResults, type VersionedState } from './simulator';

/** What the orderer and committer need to know about a proposal (plain data: it crosses threads). */
export interface ProposalSummary {
  txId: string;
  channel: string;
  chaincode: string;
  creator: { mspId: string; certificate: string };
  timestamp: Date;
}

export interface EndorsedProposal {
  proposal: ProposalSummary;
  /** Last block of the state the simulation started from (see validator's readHeight). */
  readHeight: number;
  response: ChaincodeResult;
  results: SimulationResults;
}

/** A proposal the endorser refuses outright (bad signature, wrong channel…): nothing ran. */
export class ProposalError extends Error {
  constructor(
    readonly txId: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProposalError';
  }
}

export interface EndorsementTarget {
  channel: string;
  namespace: string;
  chaincode: ChaincodeConnection;
  state: VersionedState;
  /** The state's last committed block. */
  height: number;
  /** mspId → root CA certificate. */
  roots: Record<string, string>;
}

/** `authenticated`: the caller has already checked the proposal's creator and signature (see VerifyOptions). */
export async function endorseProposal(target: EndorsementTarget, signedProposal: peer.SignedProposal, authenticated = false): Promise<EndorsedProposal> {
  let verified;
  try {
    verified = verifyProposal(signedProposal, { msps: target.roots, authenticated });
  } catch (err) {
    throw new ProposalError('', (err as Error).message);
  }
  const { txId, channel, chaincode, creator, timestamp, input } = verified;
  if (channel !== target.channel) throw new ProposalError(txId, `proposal is for channel ${channel}, not ${target.channel}`);
  if (chaincode !== target.namespace) throw new ProposalError(txId, `chaincode ${chaincode} is not installed on channel ${target.channel}`);
  const readHeight = target.height;
  const simulator = new TxSimulator(target.state, target.namespace);
  const response = await target.chaincode.execute({ channel, txId, signedProposal, input }, simulator);
  return { proposal: { txId, channel, chaincode, creator, timestamp }, readHeight, response, results: await simulator.results() };
}
