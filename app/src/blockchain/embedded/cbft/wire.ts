/**
 * CBFT's loopback wire: length-prefixed frames over TCP, each a JSON header and the request
 * payloads it refers to as raw bytes after it (no base64 on the hot path). A Link is an outgoing
 * connection that reconnects with back-off and queues while it is down; a frame that cannot be
 * parsed closes the connection (the other side is broken or hostile), which loses nothing that
 * matters: every protocol message is retransmitted or superseded on a timer.
 */
import * as net from 'node:net';
import type { Envelope, RequestRef } from './messages';

/** What travels in a frame. */
export type Frame =
  | { kind: 'hello'; role: 'replica'; id: number }
  | { kind: 'hello'; role: 'client'; channel: string; certificate: string }
  | { kind: 'envelope'; channel: string; envelope: Envelope }
  /** A client's request, with its payload and the replicas it was sent to (which need not pass it to each other). */
  | { kind: 'request'; channel: string; ref: RequestRef; payload: Uint8Array; sentTo?: number[] }
  /** A closing client asks for what it sent to be cut now. */
  | { kind: 'flush'; channel: string };

/** Frames bigger than this are refused (a block of MaxMessageCount requests at PreferredMaxBytes fits easily). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

interface Header {
  frame: Omit<Frame, 'payload'> & { envelope?: Omit<Envelope, 'payloads'> };
  /** Digest and length of each payload after the header, in order. */
  payloads: Array<[string, number]>;
}

export function encodeFrame(frame: Frame): Buffer[] {
  const blobs: Array<[string, Uint8Array]> = [];
  let header: Header;
  if (frame.kind === 'envelope') {
    const { payloads, ...envelope } = frame.envelope;
    if (payloads) for (const [d, p] of payloads) blobs.push([d, p]);
    header = { frame: { ...frame, envelope }, payloads: blobs.map(([d, p]) => [d, p.byteLength]) };
  } else if (frame.kind === 'request') {
    const { payload, ...rest } = frame;
    blobs.push([frame.ref.digest, payload]);
    header = { frame: rest as Header['frame'], payloads: [[frame.ref.digest, payload.byteLength]] };
  } else {
    header = { frame, payloads: [] };
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const total = 4 + json.length + blobs.reduce((s, [, p]) => s + p.byteLength, 0);
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(total, 0);
  prefix.writeUInt32BE(json.length, 4);
  return [prefix, json, ...blobs.map(([, p]) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))];
}

function decodeFrame(body: Buffer): Frame {
  const jsonLength = body.readUInt32BE(0);
  if (jsonLength > body.length - 4) throw new Error('frame header longer than the frame');
  const header = JSON.parse(body.subarray(4, 4 + jsonLength).toString('utf8')) as Header;
  if (!header || typeof header !== 'object' || !header.frame || !Array.isArray(header.payloads)) throw new Error('malformed frame header');
  let at = 4 + jsonLength;
  const payloads = new Map<string, Uint8Array>();
  for (const [digest, length] of header.payloads) {
    if (typeof digest !== 'string' || !Number.isInteger(length) || length < 0 || at + length > body.length) throw new Error('malformed frame payloads');
    payloads.set(digest, body.subarray(at, at + length));
    at += length;
  }
  const frame = header.frame as Frame;
  if (frame.kind === 'envelope') return { ...frame, envelope: { ...frame.envelope, ...(payloads.size > 0 ? { payloads } : {}) } };
  if (frame.kind === 'request') {
    const payload = payloads.get(frame.ref?.digest);
    if (!payload) throw new Error('request frame without its payload');
    return { ...frame, payload };
  }
  return frame;
}

const corked = new WeakSet<net.Socket>();

/**
 * Writes a frame's parts; everything written to the socket in this pass of the event loop (every
 * request endorsed since the last pass, say) goes out together in one writev once the pass's I/O
 * callbacks are done, instead of a system call per frame.
 */
export function writeCorked(socket: net.Socket, parts: Buffer[]): void {
  if (socket.destroyed) return;
  if (!corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    setImmediate(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  for (const p of parts) socket.write(p);
}

/** Calls `onFrame` for each frame read from the socket; a malformed one destroys the socket. */
export function readFrames(socket: net.Socket, onFrame: (frame: Frame) => void): void {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let need = -1;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    try {
      for (;;) {
        if (need < 0) {
          if (buffered < 4) return;
          const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          chunks = [head];
          need = head.readUInt32BE(0);
          if (need < 4 || need > MAX_FRAME_BYTES) throw new Error(`frame of ${need} bytes refused`);
        }
        if (buffered < 4 + need) return;
        const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        const body = all.subarray(4, 4 + need);
        const rest = all.subarray(4 + need);
        chunks = rest.length > 0 ? [rest] : [];
        buffered = rest.length;
        need = -1;
        onFrame(decodeFrame(body));
      }
    } catch {
      socket.destroy();
    }
  });
}

/**
 * An outgoing connection to one address that reconnects (100 ms, doubling to 2 s) and queues
 * frames while it is down, up to a bound past which the oldest are dropped (the protocol resends).
 */
export class Link {
  private socket: net.Socket | undefined;
  private connected = false;
  private queue: Buffer[][] = [];
  private queuedBytes = 0;
  private backoff = 100;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly port: number,
    /** Sent first on every (re)connection. */
    private readonly hello: Frame,
    private readonly onFrame: (frame: Frame) => void = () => undefined,
    private readonly maxQueuedBytes = 64 * 1024 * 1024,
  ) {
    this.connect();
  }

  /** Sends a frame; `parts` is it already encoded (encodeFrame), when it goes to several links. */
  send(frame: Frame, parts = encodeFrame(frame)): void {
    if (this.closed) return;
    if (this.connected && this.socket) {
      writeCorked(this.socket, parts);
      return;
    }
    this.queue.push(parts);
    this.queuedBytes += parts.reduce((s, p) => s + p.length, 0);
    while (this.queuedBytes > this.maxQueuedBytes && this.queue.length > 1) {
      this.queuedBytes -= this.queue.shift()!.reduce((s, p) => s + p.length, 0);
    }
  }

  get up(): boolean {
    return this.connected;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
  }

  private connect(): void {
    if (this.closed) return;
    const socket = net.connect({ host: '127.0.0.1', port: this.port });
    socket.setNoDelay(true);
    this.socket = socket;
    socket.on('connect', () => {
      this.connected = true;
      this.backoff = 100;
      for (const p of encodeFrame(this.hello)) socket.write(p);
      const queued = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      for (const parts of queued) for (const p of parts) socket.write(p);
    });
    readFrames(socket, this.onFrame);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.connected = false;
      if (this.closed) return;
      this.timer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 2000);
    });
  }
}
