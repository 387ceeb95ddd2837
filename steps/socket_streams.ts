// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Web Streams over a socket, as `Deno.Conn` has them: a byte stream that
 * reads with `recvInto()` and a writable that writes with `send()`, so that
 * the socket machine checks every read and write. The streams never close
 * the socket; it stays its owner's to close.
 *
 * Where `Deno.Conn` closes the whole connection (end of stream, `close()`,
 * `cancel()`, `abort()`), these shut down only their own side:
 *
 * - the readable closes at end of stream (`recv` returns 0, also after
 *   `shutdown("read")`) and errors with the very `SocketError` a read
 *   rejected with; `cancel()` is `shutdown("read")`;
 * - the writable's `close()` is `shutdown("write")` (the peer reads end of
 *   stream); a chunk that is not a `Uint8Array`, or a refused `send()`,
 *   errors it with that `SocketError`; `abort()` is `shutdown("write")`.
 *
 * `cancel()` and `abort()` shut their side down only when the socket has a
 * peer, and never reject with a `SocketError`: when the machine refuses the
 * shutdown (the socket is closed, or its connection is over), there is
 * nothing left to stop.
 *
 * @module
 */
import { SocketError } from "../machine/errors.ts";
import type { Socket } from "./socket.ts";

/** What a default reader's read asks the socket for, as `Deno.Conn` does. */
const CHUNK_SIZE = 64 * 1024;

/**
 * The bytes `sock` receives, as a byte stream that reads with `recvInto()`:
 * into the caller's buffer with a BYOB reader, into a new 64 KiB buffer
 * with a default reader. Nothing is read until a reader asks.
 *
 * @param sock The socket to read.
 * @returns A new byte stream.
 */
export function socketReadable(
  sock: Socket,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let cancelled = false;
  /** The read in flight, if any: settles, never rejects. */
  let reading: Promise<unknown> | undefined;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK_SIZE,
    async pull(controller) {
      // With autoAllocateChunkSize there is always a request, and its view
      // is a Uint8Array.
      const request = controller.byobRequest!;
      let n: number;
      const read = sock.recvInto(request.view as Uint8Array<ArrayBuffer>);
      reading = read.catch(() => {});
      try {
        n = await read;
      } catch (error) {
        controller.error(error);
        return;
      } finally {
        reading = undefined;
      }
      // A read that cancel() left behind: its bytes go nowhere.
      if (cancelled) return;
      if (n === 0) controller.close();
      request.respond(n);
    },
    async cancel() {
      cancelled = true;
      const waiting = reading;
      await shutSide(sock, "read");
      // The kernel ends a recv() that waits when the read side is shut
      // down: cancel() resolves once the read is over, so nothing is left
      // in flight. The Deno backend does not tell the kernel (Deno has no
      // such call): its read waits on, until data, end of stream or close.
      if (sock.backend === "posix") await waiting;
    },
  });
}

/**
 * A writable that sends each chunk with `send()`, in order with the
 * socket's other sends; `close()` is `shutdown("write")`.
 *
 * @param sock The socket to write.
 * @returns A new writable stream.
 */
export function socketWritable(sock: Socket): WritableStream<Uint8Array> {
  return new WritableStream({
    async write(chunk) {
      if (!(chunk instanceof Uint8Array)) throw notBytes(sock, chunk);
      await sock.send(chunk);
    },
    close() {
      return sock.shutdown("write");
    },
    abort() {
      return shutSide(sock, "write");
    },
  });
}

/**
 * Shuts down one side of `sock` if it has a peer. A listening socket has
 * none, and is not stopped listening. A refusal by the machine means the
 * side is already over.
 */
async function shutSide(sock: Socket, how: "read" | "write"): Promise<void> {
  if (!hasPeer(sock)) return;
  try {
    await sock.shutdown(how);
  } catch (error) {
    if (!(error instanceof SocketError)) throw error;
  }
}

/**
 * Whether `sock` is connected to a peer: `getpeername()` answers at once,
 * even while another call is in flight, as the state before it.
 */
function hasPeer(sock: Socket): boolean {
  try {
    sock.getpeername();
    return true;
  } catch (error) {
    if (error instanceof SocketError) return false;
    throw error;
  }
}

function notBytes(sock: Socket, chunk: unknown): SocketError {
  const kind = chunk === null
    ? "null"
    : typeof chunk === "object"
    ? chunk.constructor?.name ?? "object"
    : typeof chunk;
  return new SocketError(
    "EINVAL",
    "send",
    `Cannot write a chunk of type ${kind} to the socket's writable: write Uint8Array chunks (encode text with a TextEncoderStream first)`,
    { state: sock.state },
  );
}
