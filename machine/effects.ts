// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The contracts between the socket machine and the backends in `steps/`: what
 * each effect receives and returns, and the handles a backend hands back for a
 * live socket. The machine stores handles; it never looks inside them.
 *
 * @module
 */
import type { PromiseActorLogic } from "xstate";
import type { Domain, SocketAddr } from "./address.ts";

/** Something a backend holds open for a socket: closing it frees the socket. */
export interface Endpoint {
  /** The local address the kernel reports for it. */
  readonly local: SocketAddr;
  /** Frees every system resource behind it. Never throws. */
  close(): void;
}

/** A listening socket's handle. */
export interface ListenerHandle extends Endpoint {
  /** Waits for the next connection on the queue and returns its handle. */
  accept(): Promise<ConnectionHandle>;
}

/** A connected stream socket's handle. */
export interface ConnectionHandle extends Endpoint {
  /** The peer's address. */
  readonly remote: SocketAddr;
  /** Reads into `buffer`; resolves to the count, or `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes from `data`; resolves to the count written (maybe fewer). */
  write(data: Uint8Array): Promise<number>;
  /** Shuts down the write side: the peer reads end of stream. */
  closeWrite(): Promise<void>;
}

/** What the `bind` effect receives. */
export interface BindInput {
  readonly domain: Domain;
  /** The validated address to bind to (port 0: the kernel picks one). */
  readonly addr: SocketAddr;
}

/** What the `bind` effect returns. */
export interface BindOutput {
  /** What holds the address until the socket listens, connects or closes. */
  readonly handle: Endpoint;
}

/** What the `listen` effect receives. */
export interface ListenInput {
  readonly domain: Domain;
  /** The local address; absent when the socket was never bound (autobind). */
  readonly local: SocketAddr | undefined;
  /** What the socket holds now (a bind reservation or a listener), if any. */
  readonly handle: Endpoint | undefined;
  /** The requested backlog; `undefined` for the default. */
  readonly backlog: number | undefined;
}

/** What the `listen` effect returns. */
export interface ListenOutput {
  readonly handle: ListenerHandle;
}

/** What the `connect` effect receives. */
export interface ConnectInput {
  readonly domain: Domain;
  /** The validated address to connect to. */
  readonly remote: SocketAddr;
  /** The address given to `bind()` before, if any: connect from there. */
  readonly local: SocketAddr | undefined;
  /** What the socket holds now (a bind reservation), if any. */
  readonly handle: Endpoint | undefined;
}

/** What the `connect` effect returns. */
export interface ConnectOutput {
  readonly handle: ConnectionHandle;
}

/** Which side of a connection `shutdown()` shuts: `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`. */
export type ShutdownHow = "read" | "write" | "both";

/** What the `shutdown` effect receives. */
export interface ShutdownInput {
  readonly domain: Domain;
  readonly how: ShutdownHow;
  /** The socket's handle: a connection, or a listener to stop. */
  readonly handle: Endpoint | undefined;
  /** For a listener: whether the caller chose the port, so it stays bound. */
  readonly keepAddress: boolean;
}

/** What the `shutdown` effect returns. */
export interface ShutdownOutput {
  /** The handle the socket holds afterwards (undefined: none). */
  readonly handle: Endpoint | undefined;
}

/**
 * The effects a backend provides to the socket machine, one actor per
 * effectful transition. On failure an effect rejects with a `SocketError`
 * and leaves nothing open, not even the handle it was given.
 */
export interface SocketEffects {
  readonly bind: PromiseActorLogic<BindOutput, BindInput>;
  readonly listen: PromiseActorLogic<ListenOutput, ListenInput>;
  readonly connect: PromiseActorLogic<ConnectOutput, ConnectInput>;
  readonly shutdown: PromiseActorLogic<ShutdownOutput, ShutdownInput>;
}
