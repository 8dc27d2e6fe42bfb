/**
 * Issue 5: "The browser end-to-end test of the web platform also passes with LEDGER=fabric." Brings a fresh native
 * network up (npm run network -- up, createChannel with 200 ms blocks as the embedded test platform, deployCC), runs
 * the unchanged browser test (test/e2e/workflow.e2e.test.ts) in its own test process with TEST_LEDGER=fabric, so
 * the platform it starts uses the Fabric adapter on this network, and takes the network down, also after a failure.
 * Skipped when a network is already running (it would be torn down) or with FABRIC_TEST=skip.
 */
import '../embedded/support/quiet';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { appendFileSync, writeFileSync } from 'node:fs';
import { ROOT, SuiteNetwork, Timings, skipReason } from './support';

const E2E = path.join(ROOT, 'dist-test', 'e2e', 'workflow.e2e.test.js');

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ignored, ...rest } = env;
  return rest;
}

describe('the browser end-to-end test on a real Fabric network', { skip: skipReason() }, () => {
  const timings = new Timings();
  const network = new SuiteNetwork(timings);
  /** The browser test's process: stopped with the suite, or it would go on against a network that is down. */
  let child: ReturnType<typeof spawn> | undefined;

  before(() => network.up());

  after(async () => {
    child?.kill('SIGKILL');
    await network.down();
    console.log(timings.report('Browser test on Fabric timings'));
  });

  it('passes with the platform on the Fabric adapter (TEST_LEDGER=fabric)', { timeout: 1_500_000 }, async () => {
    const { status, output } = await timings.time('browser workflow (TEST_LEDGER=fabric)', () =>
      new Promise<{ status: number | null; output: string }>((resolve, reject) => {
        child = spawn(process.execPath, ['--test', '--test-reporter=tap', E2E], {
          cwd: ROOT,
          // Without NODE_TEST_CONTEXT: the runner that started this file set it, and a child test process that
          // inherits it refuses to run its file ("run() is being called recursively").
          env: { ...withoutTestContext(process.env), TEST_LEDGER: 'fabric', CORE_CHAINCODE_LOGGING_LEVEL: process.env.CORE_CHAINCODE_LOGGING_LEVEL ?? 'warning' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        // Also as it comes, to a file: a run cut short by the timeout still shows how far it got.
        const log = path.join(ROOT, 'dist-test', 'browser-fabric.log');
        writeFileSync(log, '');
        const keep = (chunk: Buffer) => {
          output += chunk;
          appendFileSync(log, chunk);
        };
        child.stdout!.on('data', keep);
        child.stderr!.on('data', keep);
        child.on('error', reject);
        child.on('close', (code) => resolve({ status: code, output }));
      }),
    );
    assert.equal(status, 0, `the browser test failed on Fabric:\n${output}`);
    assert.match(output, /^# fail 0$/m);
    assert.doesNotMatch(output, /^# pass 0$/m, 'no test ran');
  });
});
