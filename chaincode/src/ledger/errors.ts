// Every failure a caller can cause carries a stable code prefix, so the web platform can map it to a
// message and tests can tell an authorisation failure from a validation failure.
export type ErrorCode = 'AUTHORISATION' | 'VALIDATION' | 'NOT_FOUND' | 'CONFLICT' | 'STATE' | 'NOT_INITIALISED';

export class ContractError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ContractError';
  }
}

export const denied = (message: string) => new ContractError('AUTHORISATION', message);
export const invalid = (message: string) => new ContractError('VALIDATION', message);
export const notFound = (what: string, id: string) => new ContractError('NOT_FOUND', `${what} ${id} does not exist`);
export const conflict = (message: string) => new ContractError('CONFLICT', message);
export const badState = (message: string) => new ContractError('STATE', message);
