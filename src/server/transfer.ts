/**
 * Moving bytes over a data connection: one function per direction, with
 * backpressure (stream.pipeline), optional TYPE A conversion, and abort.
 */
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Socket } from 'node:net';
import { AsciiUploadDecoder, toNetworkAscii } from '../protocol/ascii.js';

function asciiEncoder(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, toNetworkAscii(chunk));
    },
  });
}

function asciiDecoder(): Transform {
  const decoder = new AsciiUploadDecoder();
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, decoder.push(chunk));
    },
    flush(done) {
      const rest = decoder.end();
      done(null, rest.length > 0 ? rest : undefined);
    },
  });
}

/** Sends `source` to the client; resolves once every byte is handed to the kernel. */
export async function sendToClient(source: Readable, socket: Socket, ascii: boolean, signal: AbortSignal): Promise<void> {
  if (ascii) await pipeline(source, asciiEncoder(), socket, { signal });
  else await pipeline(source, socket, { signal });
  // Data sockets start paused (pauseOnConnect) and a download never reads them:
  // read on to the client's FIN so the socket closes, or its fd stays open until dataTimeout.
  socket.resume();
}

/** Receives the client's bytes into `target` until the client closes the data connection. */
export async function receiveFromClient(socket: Socket, target: Writable, ascii: boolean, signal: AbortSignal): Promise<void> {
  if (ascii) await pipeline(socket, asciiDecoder(), target, { signal });
  else await pipeline(socket, target, { signal });
}
