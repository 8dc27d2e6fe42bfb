/**
 * The browser end-to-end test with the platform on two sets (multi-chain routing): the unchanged workflow test run
 * in its own test process with TEST_SETS=2, where the demo's projects fill set 1 and spill onto set 2 and the
 * test's own project is filed, approved, paid, accepted and reported on set 2.
 */
import '../embedded/support/quiet';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const E2E = path.join(__dirname, 'workflow.e2e.test.js');

describe('the browser end-to-end test on two sets', () => {
  it('passes with projects on both sets (TEST_SETS=2)', { timeout: 600_000 }, async () => {
    // Without NODE_TEST_CONTEXT: a child test process that inherits it refuses to run its file.
    const { NODE_TEST_CONTEXT: _ignored, ...env } = process.env;
    const { status, output } = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--test', '--test-reporter=tap', E2E], { env: { ...env, TEST_SETS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ status: code, output }));
    });
    assert.equal(status, 0, output.slice(-4000));
    assert.match(output, /# fail 0/);
  });
});
