/**
 * chaincode/src/logging.ts: a message below the chaincode logging level is dropped before winston formats it (the
 * formats cost a fifth of the chaincode server's CPU), and messages at or above the level are still logged. The
 * probe is a getter on the message: winston's metadata format reads every field of a message it formats.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import '@fund/chaincode';

// fabric-shim's own logger module (untyped), as its handler and contract dispatch use it.
const { getLogger, setLevel } = createRequire(require.resolve('fabric-shim'))('./lib/logger') as {
  getLogger(name: string): Record<'debug' | 'info' | 'error', (message: unknown) => void>;
  setLevel(level: string): void;
};

function probe(): { message: string; read: boolean } {
  const m = { message: 'probe', read: false };
  Object.defineProperty(m, 'field', { enumerable: true, configurable: true, get: () => ((m.read = true), 'x') });
  return m;
}

describe('chaincode logging', () => {
  test('below the level nothing is formatted; at the level the message is formatted and written', (t) => {
    const before = process.env.CORE_CHAINCODE_LOGGING_LEVEL;
    const logger = getLogger('logging.test');
    const writes = t.mock.method(process.stdout, 'write', () => true);
    const errWrites = t.mock.method(process.stderr, 'write', () => true);
    try {
      setLevel('ERROR');
      const debug = probe();
      logger.debug(debug);
      const info = probe();
      logger.info(info);
      assert.equal(debug.read || info.read, false, 'a debug or info message at level ERROR was formatted');
      const error = probe();
      logger.error(error);
      assert.equal(error.read, true, 'an error message at level ERROR was not formatted');
      setLevel('DEBUG');
      const later = probe();
      logger.debug(later);
      assert.equal(later.read, true, 'a debug message at level DEBUG was not formatted');
      assert.ok(writes.mock.callCount() + errWrites.mock.callCount() >= 2, 'the messages at the level were written');
    } finally {
      t.mock.restoreAll();
      setLevel(before ?? 'INFO');
    }
  });
});
