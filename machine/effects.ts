// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The contract between the socket machine and the backends in `steps/`.
 *
 * A backend keeps, for each socket, a `SysSocket`: the system side
 * of the socket, as an fd is in C. It holds the addresses and OS handles,
 * which the machine never sees. The machine decides whether a call may run;
 * the `SysSocket` runs it.
 *
 * @module
 */
import type { PromiseActorLogic } from "xstate";
import type { Domain, SocketAddr } from "./address.ts";
import type { SocketError } from "./errors.ts";
import type {
  SettableOptionName,
  SocketOptionName,
  SocketOptionValues,
} from "./options.ts";

/** Which side of a connection `shutdown()` shuts: `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`. */
export type ShutdownHow = "read" | "write" | "both";

/**
 * What a readiness wait waits for, as `poll(2)` says it: `"read"`
 * (`POLLIN`: data, a datagram, a connection to accept, end of stream or an
 * error) or `"write"` (`POLLOUT`: room to send, a connection made, or an
 * error).
 */
export type Readiness = "read" | "write";

/** What the system side of a socket is made with. */
export interface SysSocketKind {
  readonly domain: Domain;
  readonly type: "stream" | "dgram";
  /**
   * `O_NONBLOCK`: a call that would wait rejects at once with a
   * `SocketError` instead (`EAGAIN`; `EINPROGRESS` for a TCP `connect`,
   * whose attempt goes on in the kernel).
   */
  readonly nonblocking: boolean;
}

/** One datagram (or stream read) with the address it came from. */
export interface Received {
  /**
   * The bytes received into the buffer: for a stream, `null` is end of
   * stream; a datagram is truncated to the buffer, and may be empty (0).
   */
  readonly count: number | null;
  /** The sender's address, where the kernel gives one (not for TCP). */
  readonly from: SocketAddr | undefined;
}

/**
 * One socket on the system side. Methods are called only when the machine
 * allows the call; on failure they reject with a `SocketError` carrying the
 * errno, and leave the socket as the kernel would (a failed `connect()`
 * frees a port the kernel chose).
 */
export interface SysSocket {
  /** The local address, once bound (by `bind()` or by the kernel). */
  readonly local: SocketAddr | undefined;
  /** The peer's address, while connected. */
  readonly remote: SocketAddr | undefined;
  /**
   * `bind(2)`. `connectionOver` says that the machine knows the socket's TCP
   * connection is over (a backend that cannot ask the kernel reads it).
   */
  bind(addr: SocketAddr, connectionOver: boolean): Promise<void>;
  /** `listen(2)`; `undefined` is the backend's default backlog. */
  listen(backlog: number | undefined): Promise<void>;
  /** `connect(2)`; stop trying and free everything when `signal` aborts. */
  connect(addr: SocketAddr, signal: AbortSignal): Promise<void>;
  /**
   * `accept(2)`: the next connection, as a connected socket. When `signal`
   * aborts while it waits, it rejects (see `read()`) and
   * takes no connection: one a background accept brings later stays
   * queued for the next `accept()`.
   */
  accept(signal?: AbortSignal): Promise<SysSocket>;
  /**
   * `recv(2)` into `buffer`: the count, or `null` at end of stream (a
   * stream). A datagram socket receives one datagram, truncated to the
   * buffer (the rest is discarded, as the kernel does); its count may be 0.
   *
   * When `signal` aborts while the call waits, it rejects at once with a
   * `SocketError` `EINTR` whose `cause` is the signal's reason, as an
   * interrupted `recv(2)` does, and nothing is consumed: bytes or a
   * datagram a background read brings after the abort stay queued for the
   * next read, and `buffer` is not written after the call has rejected.
   */
  read(buffer: Uint8Array, signal?: AbortSignal): Promise<number | null>;
  /** `recvfrom(2)`: as `read()`, with the sender. */
  readFrom(buffer: Uint8Array, signal?: AbortSignal): Promise<Received>;
  /**
   * `send(2)` from `data`: the count written, maybe fewer (a stream). A
   * datagram socket sends `data` as one datagram, whole. When `signal`
   * aborts while it waits, it rejects with `EINTR` (the signal's reason as
   * `cause`); see `stopsWrites` for what of `data` went
   * out. Later writes go out after it, in order.
   */
  write(data: Uint8Array, signal?: AbortSignal): Promise<number>;
  /**
   * `sendto(2)`: one datagram to `addr` (a datagram socket); a stream socket
   * answers as the kernel does (TCP ignores the address). `signal` as for
   * `write()`.
   */
  writeTo(
    data: Uint8Array,
    addr: SocketAddr,
    signal?: AbortSignal,
  ): Promise<number>;
  /**
   * Whether a write that `signal` aborted has sent none of its `data`
   * (`true`: the abort came before `send(2)`, as with the posix backend),
   * or may still send it (`false`: the write was handed on and cannot be
   * stopped, as Deno's stream writes; later writes wait for it).
   */
  readonly stopsWrites: boolean;
  /**
   * `connect(2)` with `AF_UNSPEC`: a datagram socket forgets its peer (and
   * gives back a port the kernel chose); a TCP socket's connection is reset.
   */
  disconnect(): Promise<void>;
  /**
   * `setsockopt(2)`, with a value already checked for its type. A socket in
   * another PCO answers with a promise (so do `getOption()` and
   * `connectRefusal()`); one in this process answers at once.
   */
  setOption<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): void | Promise<void>;
  /** `getsockopt(2)`: the value as the kernel reports it. */
  getOption<N extends SocketOptionName>(
    name: N,
  ): SocketOptionValues[N] | Promise<SocketOptionValues[N]>;
  /**
   * Resolves once the socket is ready (`poll(2)`), or rejects with
   * `EBADF` when it is closed meanwhile, or when `signal` aborts (with the
   * signal's reason as `cause`).
   */
  ready(what: Readiness, signal: AbortSignal | undefined): Promise<void>;
  /**
   * `shutdown(2)`. On a listener, `"read"` and `"both"` stop it listening;
   * it keeps its address only when `keepAddress` (the caller chose the port).
   */
  shutdown(how: ShutdownHow, keepAddress: boolean): Promise<void>;
  /** `close(2)`: frees every system resource. Never throws; idempotent. */
  close(): void;
  /**
   * `getpeername(2)` as the kernel answers it now, for a connection whose
   * end the machine cannot see: the peer's address, or a `SocketError`
   * (`ENOTCONN` once the connection is over). A socket in another PCO
   * answers as its agent last reported (with each call's answer).
   */
  peerName(): SocketAddr;
  /**
   * `connect(2)` on a socket that the kernel will not connect (it is
   * connected, or listening), which looks the target up first: a
   * `SocketError` with the kernel's answer (`ECONNREFUSED` for a stale
   * socket file, `ENOENT` for a missing path, the socket's own `EISCONN` or
   * `EINVAL` for a live target), or `undefined` when the target is live and
   * the socket's own state answers, as the machine says.
   */
  connectRefusal(
    addr: SocketAddr,
  ): SocketError | undefined | Promise<SocketError | undefined>;
  /**
   * What refuses a `sendto()` to `addr` before it reaches the kernel (Deno's
   * permissions: the target's, and the bind's that a socket not bound yet
   * needs first), or `undefined`. Asked before a `sendto()` that binds the
   * socket (UDP binds a port first, in the kernel), so that a refused one
   * binds nothing.
   */
  sendtoRefusal(
    addr: SocketAddr,
  ): SocketError | undefined | Promise<SocketError | undefined>;
}

/** What the `bind` effect receives. */
export interface BindInput {
  readonly sys: SysSocket;
  /** The validated address to bind to (port 0: the kernel picks one). */
  readonly addr: SocketAddr;
  /**
   * For a connected TCP socket: the machine knows the connection is over
   * (its own calls saw both FINs, or a reset).
   */
  readonly connectionOver?: boolean;
}

/** What the `listen` effect receives. */
export interface ListenInput {
  readonly sys: SysSocket;
  /** The requested backlog; `undefined` for the default. */
  readonly backlog: number | undefined;
}

/** What the `connect` effect receives. */
export interface ConnectInput {
  readonly sys: SysSocket;
  /** The validated address to connect to. */
  readonly addr: SocketAddr;
}

/** What the `shutdown` effect receives. */
export interface ShutdownInput {
  readonly sys: SysSocket;
  readonly how: ShutdownHow;
  /** For a listener: whether the caller chose the port, so it stays bound. */
  readonly keepAddress: boolean;
}

/**
 * The effects `steps/` provides to the socket machine, one actor per
 * effectful transition. They resolve with nothing: what a call establishes is
 * a fact of the machine, and its data stays in the `SysSocket`.
 */
export interface SocketEffects {
  readonly bind: PromiseActorLogic<void, BindInput>;
  readonly listen: PromiseActorLogic<void, ListenInput>;
  readonly connect: PromiseActorLogic<void, ConnectInput>;
  readonly shutdown: PromiseActorLogic<void, ShutdownInput>;
}

/**
 * The reason a connect effect's signal aborts with when another call of the
 * socket disconnects the attempt in flight, as Linux lets `shutdown()` and
 * `connect()` with `AF_UNSPEC` do: the backend ends the attempt as that call
 * does in the kernel (the two leave different `SO_ERROR`s). Any other
 * reason is an interruption.
 */
export class Disconnection {
  /** @param by The call that disconnects the attempt. */
  constructor(readonly by: "shutdown" | "disconnect") {}
}
