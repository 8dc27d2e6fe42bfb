/**
 * fabric-shim and fabric-contract-api log through winston, which runs every message through its formats (timestamp,
 * metadata, colours, printf with the arguments as JSON) and only then lets the transport drop it for its level. With
 * the level at ERROR, fabric-shim's per-transaction debug messages still took 22 % of the chaincode server's busy CPU
 * in the Fabric benchmark. Here a message below its logger's level is dropped before the formats; what is logged is
 * unchanged. Patched on winston's Logger class, so loggers fabric-shim created before this module loaded follow too.
 */
import { createRequire } from 'node:module';

interface WinstonLogger {
  isLevelEnabled(level: string): boolean;
  write(chunk: unknown, ...rest: unknown[]): boolean;
  log(...args: unknown[]): WinstonLogger;
}

const LEVEL = Symbol.for('level');
// The winston instance fabric-shim itself loads.
const winston = createRequire(require.resolve('fabric-shim'))('winston') as { Logger: { prototype: WinstonLogger } };
const proto = winston.Logger.prototype;
const write = proto.write;
proto.write = function writeIfEnabled(this: WinstonLogger, info: unknown, ...rest: unknown[]): boolean {
  const level = (info as Record<symbol, unknown> | null)?.[LEVEL];
  if (typeof level === 'string' && !this.isLevelEnabled(level)) return true;
  return write.call(this, info, ...rest);
};
// logger.debug('…', arg) goes through log(level, message, ...splat), which builds the message's info object
// (splat, metadata) before write: drop it there already.
const log = proto.log;
proto.log = function logIfEnabled(this: WinstonLogger, ...args: unknown[]): WinstonLogger {
  if (args.length >= 2 && typeof args[0] === 'string' && !this.isLevelEnabled(args[0])) return this;
  return log.apply(this, args);
};
