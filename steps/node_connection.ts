// Copyright 2026 the sockfsm authors. MIT license.
import type { Socket as NodeSocket } from "node:net";
import type { SocketAddr } from "../machine/address.ts";
import type { Connection, TcpControls } from "./connection.ts";

/**
 * A connection held by a `node:net` socket, read by pulling (`read()` in
 * paused mode) so that it behaves like a `Deno.Conn`. The Deno backend needs
 * it where Deno's own API cannot bind a client before connecting.
 */
export class NodeConnection implements Connection {
  readonly local: SocketAddr;
  readonly remote: SocketAddr;
  #socket: NodeSocket;
  #error: Error | undefined;
  #closed = false;
  /** Whether the socket's error was reported (then writes are EPIPE). */
  #reported = false;
  #wake: (() => void) | undefined;

  constructor(socket: NodeSocket, local: SocketAddr, remote: SocketAddr) {
    this.#socket = socket;
    this.local = local;
    this.remote = remote;
    const wake = () => {
      const resolve = this.#wake;
      this.#wake = undefined;
      resolve?.();
    };
    socket.on("readable", wake);
    socket.on("end", wake);
    socket.on("close", wake);
    socket.on("error", (error: Error) => {
      this.#error = error;
      wake();
    });
  }

  get tcp(): TcpControls | undefined {
    if ("path" in this.local) return undefined;
    return {
      setNoDelay: (on) => this.#socket.setNoDelay(on),
      setKeepAlive: (on) => this.#socket.setKeepAlive(on),
    };
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    for (;;) {
      // Closed (before or during the read): EBADF, as a Deno.Conn's read.
      if (this.#closed) throw closedConnection();
      const chunk: Uint8Array | null = this.#socket.read();
      if (chunk !== null) {
        const n = Math.min(chunk.length, buffer.length);
        buffer.set(chunk.subarray(0, n));
        if (n < chunk.length) this.#socket.unshift(chunk.subarray(n));
        return n;
      }
      // A reset is reported once, as the kernel's pending error; then the
      // stream is over.
      const failed = this.#takeError();
      if (failed) throw failed;
      if (this.#socket.readableEnded || this.#socket.destroyed) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  write(data: Uint8Array): Promise<number> {
    // Node.js keeps the buffer until it is flushed: give it its own copy.
    return new Promise((resolve, reject) =>
      this.#socket.write(
        data.slice(),
        (error) =>
          error ? reject(this.#writeError(error)) : resolve(data.length),
      )
    );
  }

  /**
   * Why a write failed. When the socket is destroyed under a pending write
   * (a reset seen by a read, or close()), Node.js answers `ECANCELED` or
   * `ERR_STREAM_DESTROYED`; the kernel answers with the reset itself
   * (`ECONNRESET`) once, then `EPIPE`, and `EBADF` for a closed socket.
   */
  #writeError(error: Error): Error {
    if (this.#closed) return closedConnection();
    if (this.#reported) return brokenPipe();
    return this.#takeError() ?? error;
  }

  /** The socket's error (a reset), the first time it is asked for. */
  #takeError(): Error | undefined {
    if (this.#reported) return undefined;
    const error = this.#error ?? this.#socket.errored ?? undefined;
    if (error) this.#reported = true;
    return error as Error | undefined;
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}

/** A write after the connection's error was reported: `EPIPE`. */
function brokenPipe(): Error {
  return Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
}

/** The error of a read or write whose connection was closed meanwhile. */
function closedConnection(): Error {
  return new Deno.errors.BadResource("The connection was closed (EBADF)");
}
