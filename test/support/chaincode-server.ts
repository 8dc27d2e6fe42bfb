import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { ChaincodeConnection } from '@fund/app/dist/blockchain/embedded';

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A chaincode package run as a service, exactly as Fabric's external builder runs it:
 * `fabric-chaincode-node server --chaincode-address … --chaincode-id … --module-path …`.
 */
export class ChaincodeServerProcess {
  private output = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
    readonly ccid: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(modulePath: string, ccid: string): Promise<ChaincodeServerProcess> {
    const address = `127.0.0.1:${await freePort()}`;
    const cli = path.join(path.dirname(require.resolve('fabric-shim/package.json')), 'cli.js');
    const child = spawn(process.execPath, [cli, 'server', '--chaincode-address', address, '--chaincode-id', ccid, '--module-path', modulePath], {
      env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: 'WARNING' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ChaincodeServerProcess(child, address, ccid);
  }

  /** Dials the server as a peer does, failing fast with the server's output if the process dies first. */
  async connect(ccid = this.ccid): Promise<ChaincodeConnection> {
    const died = this.exited.then((code) => {
      throw new Error(`chaincode server exited (${code}) before accepting a connection:\n${this.output}`);
    });
    return Promise.race([ChaincodeConnection.grpc(this.address, { ccid, connectTimeoutMs: 20_000 }), died]);
  }

  /** Always stops the process: SIGTERM, then SIGKILL after five seconds. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(killer);
  }
}
