import { connect, type Socket } from 'node:net';

export interface RawResult {
  /** the status of the response, when one arrived */
  status?: number;
  /** the socket error, when the connection failed (ECONNREFUSED, ECONNRESET…) */
  error?: string;
  /** bytes of response received */
  received: number;
}

export interface HeldRequest {
  /** connected, and the first part of the request written */
  readonly socket: Socket;
  /** writes the rest of the request */
  release(): void;
  /** the outcome, once the server closed the connection (every request says Connection: close) */
  readonly result: Promise<RawResult>;
}

/**
 * An HTTP/1.1 request over a raw socket, written in two parts: `head` at once, `rest` when the
 * test calls release(). In between, the request is in flight at the server: a GET whose headers
 * are not finished, or a POST whose body is half sent. Resolves once the connection is established
 * and the first part written; a refused connection resolves too, with the error in `result`.
 */
export function holdRequest(port: number, head: string, rest: string): Promise<HeldRequest> {
  return new Promise((resolveHeld) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const result = new Promise<RawResult>((resolve) => {
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
        resolve({ status: status ? Number(status) : undefined, error, received: text.length });
      });
    });
    const held: HeldRequest = { socket, release: () => socket.write(rest), result };
    socket.once('connect', () => socket.write(head, () => resolveHeld(held)));
    socket.once('error', () => resolveHeld(held));
  });
}

/** A whole request over a raw socket (no pooling, no retry: what the server did is what the test sees). */
export async function rawRequest(port: number, request: string): Promise<RawResult> {
  const held = await holdRequest(port, request, '');
  return held.result;
}
