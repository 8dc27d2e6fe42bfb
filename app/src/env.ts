/** The one parser for whole-number environment variables; a bad value names the variable. */
export function envInteger(env: NodeJS.ProcessEnv, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'positive ' : '') + 'whole number' : `whole number from ${min} to ${max}`;
    throw new Error(`${name} must be a ${range}, not ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}
