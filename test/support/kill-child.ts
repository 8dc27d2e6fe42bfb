/** Crash tests: a child process reports progress line by line until the test SIGKILLs it. */
import { spawn } from 'node:child_process';

/**
 * Runs `node script …args`, handing each stdout line to `onLine` together with a `kill(afterMs)`
 * that SIGKILLs the child (later lines, already written, are still delivered). Resolves once
 * the child is dead by SIGKILL; rejects if it exits in any other way.
 */
export function runUntilKilled(script: string, args: string[], onLine: (line: string, kill: (afterMs?: number) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: 'ERROR' } });
    const kill = (afterMs = 0) => setTimeout(() => child.kill('SIGKILL'), afterMs);
    let pending = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line, kill);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`${script} exited with ${code ?? signal} before being killed: ${stderr}`));
    });
  });
}
