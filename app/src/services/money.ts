/** Money on the platform is integer fen (分); people type and read yuan (元) with at most two decimals. */
import { FormError } from '../controllers/act';

const YUAN_INPUT = /^(0|[1-9][0-9]{0,13})(\.[0-9]{1,2})?$/;

/** "1234.5" yuan → "123450" fen; negative, fractional-fen, non-numeric or absurd amounts are refused. */
export function parseYuan(field: string, input: unknown): string {
  const text = typeof input === 'string' ? input.trim().replace(/,/g, '') : '';
  if (!YUAN_INPUT.test(text)) throw new FormError(`${field}: enter an amount in yuan, e.g. 1234.56 (no sign, at most two decimals)`, { key: 'refusal.yuan', field });
  const [whole, cents = ''] = text.split('.');
  const fen = BigInt(whole) * 100n + BigInt(cents.padEnd(2, '0'));
  if (fen <= 0n) throw new FormError(`${field}: the amount must be more than zero`, { key: 'refusal.positive', field });
  return fen.toString();
}

/** fen (string, bigint or number) → "1,234.56" */
export function formatYuan(fen: string | number | bigint | null | undefined): string {
  if (fen === null || fen === undefined || fen === '') return '—';
  const value = BigInt(typeof fen === 'number' ? Math.round(fen) : fen);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/**
 * An amount in a table (export rows): kept as exact fen so each writer renders it its own way — the CSV as the
 * text "1234.56", the Excel workbook as a number cell with two decimals.
 */
export class Money {
  constructor(readonly fen: bigint) {}

  static of(fen: string | number | bigint | null | undefined): Money | '' {
    return fen === null || fen === undefined || fen === '' ? '' : new Money(BigInt(typeof fen === 'number' ? Math.round(fen) : fen));
  }

  /** "1234.56": no thousands separators, so a spreadsheet reads it as a number. */
  toString(): string {
    const abs = this.fen < 0n ? -this.fen : this.fen;
    return `${this.fen < 0n ? '-' : ''}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
  }

  /** Yuan as a number: exact to the fen below 2^53 fen (90 trillion yuan). */
  get yuan(): number {
    return Number(this.toString());
  }
}
