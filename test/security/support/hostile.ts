/**
 * Hostile input for the fuzz tests (fast-check arbitraries), shared by the chaincode and the web fuzzers so both try
 * the same things: wrong types, huge strings, unicode that breaks naive code (NUL, right-to-left override, zero width,
 * emoji, lone surrogates), amounts that are negative, fractional, overflowing or in exponent form, ids that look like
 * path traversal or injection, deeply nested JSON, prototype-pollution keys and markup.
 */
import fc from 'fast-check';

/** What a failed fuzz run prints: the seed (and fast-check's path) that replays it. */
export const FUZZ = {
  /** Inputs per function or endpoint; `npm run soak` raises it. */
  runs: Number(process.env.FUZZ_RUNS ?? 0) || undefined,
  seed: Number(process.env.FUZZ_SEED ?? 20261219),
  /** fast-check's replay path of one failing case, printed with the failure. */
  path: process.env.FUZZ_PATH,
  /** The largest "huge" string: 256 kB in `npm test`, 1 MB in a soak run. */
  huge: Number(process.env.FUZZ_HUGE ?? 256 * 1024),
};

/**
 * fast-check's options for one property: the fixed seed and the count, FUZZ_RUNS (or `defaultRuns`) times `scale` for
 * a property whose one run is worth several of the others' (one per GET route) or costs many (a whole workflow).
 */
export function fuzzOptions<T>(defaultRuns: number, scale = 1): fc.Parameters<T> {
  return { seed: FUZZ.seed, numRuns: Math.max(1, Math.round((FUZZ.runs ?? defaultRuns) * scale)), ...(FUZZ.path ? { path: FUZZ.path } : {}), endOnFailure: true };
}

/** Runs a property; a failure names FUZZ_SEED and FUZZ_PATH to replay exactly that case. */
export async function fuzz<T>(property: fc.IAsyncProperty<T>, defaultRuns: number, scale = 1): Promise<number> {
  const options = fuzzOptions<T>(defaultRuns, scale);
  const details = await fc.check(property, options);
  if (details.failed) {
    throw new Error(
      `${String(details.errorInstance instanceof Error ? details.errorInstance.message : details.errorInstance)}\n${fc.defaultReportMessage(details)}\nreplay: FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''}`,
    );
  }
  return details.numRuns;
}

export const XSS = ['<script>alert(1)</script>', '"onmouseover="alert(1)', "'><img src=x onerror=alert(1)>", '</textarea><svg onload=alert(1)>'];

/** Strings every parser should refuse or keep as plain text. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\t\r\n',
  '../../../../etc/passwd',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '....//....//etc/hosts',
  'C:\\Windows\\win.ini',
  '/dev/zero',
  '$where',
  '{"$where":"sleep(100)"}',
  '{"$gt":""}',
  '$ne',
  "' OR '1'='1",
  '; DROP TABLE projects; --',
  ...XSS,
  '\u0000',
  'PRJ-1\u0000',
  'a\u0000b',
  '\u202Efdp.exe',
  'ab\u200Bcd',
  '\uFEFF',
  '💰🙂👨‍👩‍👧',
  '\uD800',
  'a\uDFFFb',
  'undefined',
  'null',
  'NaN',
  'true',
  '[object Object]',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '{}',
  '[]',
  '%s%n%x',
  '${7*7}',
  '{{7*7}}',
  '\\',
  '"',
  "'",
];

/** Money as people and programs get it wrong: signs, fractions, exponents, overflow, other digits, separators. */
export const NASTY_AMOUNTS = [
  '-1',
  '0',
  '-0',
  '00',
  '1.5',
  '0.001',
  '1e3',
  '1E21',
  '1e309',
  '+100',
  '100 ',
  ' 100',
  '１００',
  '٣٠٠',
  '100,00',
  '1_000',
  '0x64',
  'Infinity',
  '9007199254740993',
  '99999999999999999999999999999999999999999999',
  '1'.repeat(400),
];

export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1024, max: FUZZ.huge }), fc.constantFrom('A', '汉', '💰', '\u0000', '<'))
  .map(([n, c]) => c.repeat(Math.ceil(n / c.length)));

/** One hostile string. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_AMOUNTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NASTY_STRINGS), fc.constantFrom(...NASTY_STRINGS)).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: hugeString },
);

/** JSON nested `depth` levels deep, as text (built as text: a value that deep would overflow JSON.stringify). */
export const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean())
  .map(([depth, arrays]) => (arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)));

/** Objects whose keys try to reach Object.prototype or a query operator. */
export const pollutingJson: fc.Arbitrary<string> = fc.constantFrom(
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"$where":"this.amount > 0"}',
  '{"amount":{"$gt":"0"}}',
  '[{"__proto__":{"polluted":true}}]',
);

/** A JSON value of the wrong kind wherever one is expected. */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, -0, 1.5, 1e21, 2 ** 53 + 1, Number.MAX_VALUE, -Number.MAX_VALUE) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null, [], {}) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom({ __proto__: null, polluted: true }, JSON.parse('{"__proto__":{"polluted":true}}') as unknown, { constructor: { prototype: { polluted: true } } }, { $gt: '' }) },
);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path inside a JSON value, the root included. */
function pathsOf(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const here = [prefix];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => pathsOf(v, [...prefix, i]))];
  if (value !== null && typeof value === 'object') return [...here, ...Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
  return here;
}

type Mutation = 'replace' | 'delete' | 'add' | 'duplicate' | 'truncate' | 'double';

/**
 * A valid JSON argument with one thing wrong somewhere inside it: a value replaced by a hostile one, a field
 * dropped, an unexpected (or prototype-polluting) field added, a key sent twice, the text cut short or the whole
 * argument encoded twice.
 */
export function mutatedJson(example: unknown): fc.Arbitrary<string> {
  const paths = pathsOf(example);
  return fc
    .record({
      at: fc.nat({ max: paths.length - 1 }),
      how: fc.constantFrom<Mutation>('replace', 'replace', 'replace', 'delete', 'add', 'duplicate', 'truncate', 'double'),
      value: hostileJsonValue,
      key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', '$where', 'id', 'amount', 'extra'), fc.string({ maxLength: 10 })),
    })
    .map(({ at, how, value, key }) => {
      const text = JSON.stringify(example);
      if (how === 'truncate') return text.slice(0, Math.max(0, Math.floor(text.length / 2)));
      if (how === 'double') return JSON.stringify(text);
      const path = paths[at];
      const copy = structuredClone(example) as Json;
      const parentPath = path.slice(0, -1);
      const last = path.at(-1);
      let parent: Json = copy;
      for (const p of parentPath) parent = (parent as Record<string | number, Json>)[p];
      if (how === 'duplicate') {
        // JSON.stringify cannot write a key twice: the text is edited instead.
        return text.replace(/^\{"([^"]+)":/, (m, k: string) => `{"${k}":${JSON.stringify(value) ?? 'null'},"${k}":`);
      }
      if (how === 'add') {
        const target = (last === undefined ? copy : (parent as Record<string | number, Json>)[last]) as Json;
        if (target === null || typeof target !== 'object' || Array.isArray(target)) return JSON.stringify(value) ?? 'null';
        // Defined as an own property, so that "__proto__" is written out as a key rather than setting the prototype.
        Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
        return JSON.stringify(copy);
      }
      if (last === undefined) return how === 'delete' ? '' : (JSON.stringify(value) ?? 'null');
      const container = parent as Record<string | number, Json>;
      if (how === 'delete') {
        if (Array.isArray(container)) container.splice(last as number, 1);
        else delete container[last];
      } else {
        container[last] = value as Json;
      }
      return JSON.stringify(copy);
    });
}
