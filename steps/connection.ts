// Copyright 2026 the sockfsm authors. MIT license.
import type { SocketAddr } from "../machine/address.ts";

/** A connected stream, whichever API holds it (Deno or `node:net`). */
export interface Connection {
  /** The local address. */
  readonly local: SocketAddr;
  /** The peer's address. */
  readonly remote: SocketAddr;
  /** Reads into `buffer`; resolves to the count, or `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes from `data`; resolves to the count written (maybe fewer). */
  write(data: Uint8Array): Promise<number>;
  /** Shuts down the write side: the peer reads end of stream. */
  closeWrite(): Promise<void>;
  /** Frees the connection. Never throws; idempotent. */
  close(): void;
}
