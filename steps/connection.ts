// Copyright 2026 the sockfsm authors. MIT license.
import type { SocketAddr } from "../machine/address.ts";

/** The TCP options a connection's own API sets (`Deno.TcpConn`, `node:net`). */
export interface TcpControls {
  /** `TCP_NODELAY` */
  setNoDelay(on: boolean): void;
  /** `SO_KEEPALIVE` */
  setKeepAlive(on: boolean): void;
}

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
  /** For a TCP connection: the options its API sets. */
  readonly tcp?: TcpControls;
  /** Frees the connection. Never throws; idempotent. */
  close(): void;
}
