import { z } from 'zod';
import { invalid } from './errors';
import { FEN_PATTERN } from './money';

// Building blocks for transaction arguments. Every schema rejects unknown fields, so a typo in a
// field name is an error rather than silently ignored data.

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/;

export const id = (what: string) =>
  z.string(`${what} must be a string`).regex(ID_PATTERN, `${what} must be 2–64 letters, digits, '.', '_' or '-'`);

export const text = (what: string, max: number, min = 1) =>
  z
    .string(`${what} must be a string`)
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .min(min, min === 1 ? `${what} must not be empty` : `${what} must be at least ${min} characters`)
        .max(max, `${what} must be at most ${max} characters`),
    );

export const fen = (what: string, { positive = true } = {}) =>
  z
    .string(`${what} must be a whole number of fen (分) written as a string of digits`)
    .regex(FEN_PATTERN, `${what} must be a whole number of fen (分) written as digits, without sign, decimals or spaces`)
    .refine((s) => !positive || !FEN_PATTERN.test(s) || BigInt(s) > 0n, `${what} must be greater than zero`);

// ISO 8601 with an explicit time zone, so every endorser reads the same instant.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
export const instant = (what: string) =>
  z
    .string(`${what} must be a date-time string`)
    .regex(ISO_INSTANT, `${what} must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T00:00:00+08:00`)
    .refine((s) => !Number.isNaN(Date.parse(s)), `${what} is not a real date`)
    .transform((s) => new Date(s).toISOString());

export const day = (what: string) =>
  z
    .string(`${what} must be a date string`)
    .regex(/^\d{4}-\d{2}-\d{2}$/, `${what} must be a date written YYYY-MM-DD`)
    .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), `${what} is not a real date`);

export const sha256 = (what: string) =>
  z.string(`${what} must be a string`).regex(/^[0-9a-f]{64}$/, `${what} must be a SHA-256 digest in lower-case hex (64 characters)`);

export const accountNo = (what: string) =>
  z.string(`${what} must be a string`).regex(/^[0-9]{6,32}$/, `${what} must be a bank account number of 6–32 digits`);

export const serialNo = (what: string) =>
  z.string(`${what} must be a string`).regex(/^[A-Za-z0-9][A-Za-z0-9-]{5,39}$/, `${what} must be a bank serial number of 6–40 letters, digits or '-'`);

export const documentRef = z.strictObject({
  name: text('document name', 200),
  sha256: sha256('document sha256'),
  size: z.number('document size must be a number').int('document size must be whole bytes').min(0).max(1024 ** 3).optional(),
  mediaType: text('document media type', 100).optional(),
});

/** Check a transaction argument against a schema; the error names the argument and the field. */
export function parseArg<S extends z.ZodType>(arg: string, value: unknown, schema: S): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = [arg, ...issue.path.map(String)].join('.');
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.join(', ')}`
        : // zod's own words for a field left out are "Invalid input: expected object, received undefined".
          issue.code === 'invalid_type' && missing(value, issue.path)
          ? `${String(issue.path.at(-1) ?? arg)} is required`
          : issue.message;
    throw invalid(`${where}: ${message}`);
  }
  return result.data;
}

/** Whether the value has nothing at all at this path (not even null). */
function missing(value: unknown, path: readonly PropertyKey[]): boolean {
  let at: unknown = value;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.prototype.hasOwnProperty.call(at, key)) return true;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at === undefined;
}

/** A JSON-encoded transaction argument, parsed and then checked against its schema. */
export function parseJsonArg<S extends z.ZodType>(arg: string, json: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw invalid(`${arg} must be valid JSON`);
  }
  const polluting = pollutingPath(value);
  if (polluting) throw invalid(`${[arg, ...polluting.slice(0, -1)].join('.')}: unknown field(s) ${polluting[polluting.length - 1]}`);
  return parseArg(arg, value, schema);
}

/**
 * JSON.parse makes "__proto__" an own key, which a loose schema drops silently instead of refusing as it refuses any
 * other unknown field: the path to the first such key, or undefined.
 */
function pollutingPath(value: unknown, path: string[] = []): string[] | undefined {
  if (!value || typeof value !== 'object' || path.length > 64) return undefined;
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return [...path, key];
    const inner = pollutingPath((value as Record<string, unknown>)[key], [...path, key]);
    if (inner) return inner;
  }
  return undefined;
}
