import { invalid } from './errors';

// Money is an integer number of fen (分) carried as a decimal string; arithmetic in BigInt, never floats.
export const FEN_PATTERN = /^(0|[1-9][0-9]{0,17})$/;

export function toFen(field: string, value: string): bigint {
  if (typeof value !== 'string' || !FEN_PATTERN.test(value)) {
    throw invalid(`${field} must be a whole number of fen (分) written as digits, got ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

export function sumFen(values: string[]): string {
  return values.reduce((acc, v) => acc + BigInt(v), 0n).toString();
}
