/**
 * canonicalJson: keys sorted at every level, undefined members dropped; already-canonical parts are reused rather
 * than copied, which must not change a single byte of the output (state values and block hashes depend on it).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '@fund/chaincode';

/** The definition: copy every object with its keys sorted. */
function reference(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v).sort()) if ((v as Record<string, unknown>)[key] !== undefined) out[key] = sort((v as Record<string, unknown>)[key]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

class Hop {
  seq = 1;
  amount = '100';
  payer = { name: '省财政厅', id: 'PROV-FIN' };
}

describe('canonicalJson', () => {
  const cases: Record<string, unknown> = {
    'sorted plain object': { a: 1, b: { c: [1, 2, { d: true, e: null }] } },
    'unsorted nested object': { z: 1, a: { y: [{ b: 2, a: 1 }], x: 'x' } },
    'undefined members': { b: undefined, a: 1, c: [undefined, { e: undefined, d: 2 }] },
    'sorted but holding undefined': { a: 1, b: undefined },
    'class instance': { hops: [new Hop(), new Hop()] },
    'dates and buffers (own keys only)': { at: new Date(0), bytes: Buffer.from('ab'), list: [new Date(1)] },
    'unicode keys in code unit order': { 雷山: 1, a: 2, '\u{1F600}': 3, '\uffff': 4, A: 5 },
    'empty things': { a: {}, b: [], c: '' },
    scalars: [1, 'two', null, true, 1.5],
  };
  for (const [name, value] of Object.entries(cases)) {
    test(name, () => {
      const before = JSON.stringify(value);
      assert.equal(canonicalJson(value), reference(value));
      assert.equal(JSON.stringify(value), before, 'the input is not changed');
    });
  }

  test('a top-level scalar or undefined', () => {
    for (const v of [0, 'x', null, undefined, false]) assert.equal(canonicalJson(v), reference(v));
  });
});
