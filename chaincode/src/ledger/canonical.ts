// Canonical JSON: keys sorted at every level, so every endorser writes byte-identical state
// and a signature over a draft's content can be re-checked by anyone.
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/**
 * The value with every object's keys in sorted order and undefined members dropped. Objects and
 * arrays that are already so are returned as they are, not copied: most values are built with
 * their keys in order, and copying them was most of canonicalJson's time and garbage.
 */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = sortKeys(value[i]);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // An object with toJSON (a Date, a Buffer) becomes a plain copy of its own keys, as it always has.
  let canonical = typeof obj.toJSON !== 'function';
  const children: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const child = obj[keys[i]];
    children[i] = child === undefined ? undefined : sortKeys(child);
    if (child === undefined || children[i] !== child || (i > 0 && keys[i - 1] > keys[i])) canonical = false;
  }
  if (canonical) return value;
  const order = keys.map((key, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const i of order) if (children[i] !== undefined) out[keys[i]] = children[i];
  return out;
}
