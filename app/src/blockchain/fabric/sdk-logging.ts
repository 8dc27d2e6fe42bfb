/**
 * fabric-network's SDK (fabric-common) logs through winston to the console, and logs as errors the chaincode's
 * ordinary refusals ("No valid responses from any peers…"), which this adapter turns into EndorsementErrors anyway.
 * Unless HFC_LOGGING configures the SDK's own logger, its warnings go to the console and the rest nowhere. Imported
 * before fabric-common: the SDK picks its logger when its modules load.
 */
type Log = (...args: unknown[]) => void;
const globals = globalThis as { hfc?: { logger?: Record<'debug' | 'info' | 'warn' | 'error', Log> } };
if (!process.env.HFC_LOGGING && !globals.hfc?.logger) {
  const drop: Log = () => undefined;
  globals.hfc = { ...globals.hfc, logger: { debug: drop, info: drop, warn: (...args) => console.warn(...args), error: drop } };
}
export {};
