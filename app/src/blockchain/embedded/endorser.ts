/**
 * The endorsing peer's work on one proposal: check it (signature, MSP, txId binding, channel,
 * chaincode), then run the chaincode against committed state in a TxSimulator. The ledger's
 * thread checks; the simulation runs there too, or on an endorsement worker (endorser-worker.ts).
 */
import type { peer } from '@hyperledger/fabric-protos';
import type { ChaincodeConnection, ChaincodeResult, ExecuteRequest } from './chaincode-support';
import { verifyProposal, type VerifiedProposal } from './proposal';
import { TxSimulator, type SimulationResults, type VersionedState } from './simulator';

/** What the orderer and committer need to know about a proposal. */
export interface ProposalSummary {
  txId: string;
  channel: string;
  chaincode: string;
  creator: { mspId: string; certificate: string };
  timestamp: Date;
}

/** A simulation's outcome (plain data: it crosses threads). */
export interface Simulation {
  /** Last block of the state the simulation started from (see validator's readHeight). */
  readHeight: number;
  response: ChaincodeResult;
  results: SimulationResults;
}

export interface EndorsedProposal extends Simulation {
  proposal: ProposalSummary;
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

/** Where a proposal is simulated: the chaincode and a channel's committed state. */
export interface SimulationTarget {
  namespace: string;
  chaincode: ChaincodeConnection;
  state: VersionedState;
  /** The state's last committed block. */
  height: number;
}

/**
 * The endorser's checks of a proposal for `channel`, whose chaincode owns `namespace`: creator
 * (a trusted MSP's valid certificate), signature, txId binding, channel and chaincode.
 */
export function checkProposal(channel: string, namespace: string, signedProposal: peer.SignedProposal, roots: Record<string, string>): VerifiedProposal {
  let verified: VerifiedProposal;
  try {
    verified = verifyProposal(signedProposal, { msps: roots });
  } catch (err) {
    throw new ProposalError('', (err as Error).message);
  }
  if (verified.channel !== channel) throw new ProposalError(verified.txId, `proposal is for channel ${verified.channel}, not ${channel}`);
  if (verified.chaincode !== namespace) throw new ProposalError(verified.txId, `chaincode ${verified.chaincode} is not installed on channel ${channel}`);
  return verified;
}

/** Runs a checked proposal's chaincode against committed state: its response and read/write set. */
export async function simulateProposal(target: SimulationTarget, proposal: ExecuteRequest): Promise<Simulation> {
  const readHeight = target.height;
  const simulator = new TxSimulator(target.state, target.namespace);
  const response = await target.chaincode.execute(proposal, simulator);
  return { readHeight, response, results: await simulator.results() };
}

export function summaryOf(v: VerifiedProposal): ProposalSummary {
  return { txId: v.txId, channel: v.channel, chaincode: v.chaincode, creator: v.creator, timestamp: v.timestamp };
}
