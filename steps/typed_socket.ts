// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The typed API (typestate): a thin layer over the runtime {@linkcode Socket}
 * in which each state of a socket's life is its own type, with only the
 * calls that state allows. The compiler then rejects the commonest illegal
 * orderings: `accept()` on a socket that does not listen, `send()` on one
 * that is not connected, `listen()` or `bind()` on a connected one, any call
 * after `close()`.
 *
 * Every typed call awaits the runtime call and resolves to the same object,
 * re-typed for the state it leads to (only `accept()` makes a new one, for
 * the new socket). The runtime still checks every call, so code that casts
 * around the types still gets the runtime {@linkcode SocketError}.
 *
 * TypeScript cannot retire a variable: after
 * `const bound = await created.bind(addr)`, `created` still has the type
 * {@linkcode CreatedSocket}, and a second `created.bind()` compiles. The
 * runtime refuses it (`EINVAL`). Use the handle each step returns and drop
 * the old one.
 *
 * @module
 */
import { describe } from "../machine/options.ts";
import { SocketError } from "../machine/errors.ts";
import type {
  AddrOf,
  Domain,
  DomainOfAddr,
  SocketAddr,
} from "../machine/address.ts";
import type { ShutdownHow } from "../machine/effects.ts";
import type { SocketState } from "../machine/socket_machine.ts";
import type { AcceptOptions, CallOptions, Socket } from "./socket.ts";
import {
  streamConnection,
  type StreamConnectionOptions,
} from "./stream_connection.ts";

/**
 * What every open socket of the typed API has: its runtime socket, its
 * state, its local address, and `close()`. Disposing it closes the socket
 * if it is still open, so `using` on the first handle closes the socket
 * whatever handle the chain has reached.
 *
 * @example The runtime socket beneath
 * ```ts
 * import { socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const raw = socket({ domain: "inet" });
 * using sock = typed(raw);
 * assert.equal(sock.socket, raw);
 * assert.equal(sock.domain, "inet");
 * assert.equal(sock.state, "created");
 * ```
 */
export interface TypedSocket<D extends Domain = Domain> extends Disposable {
  /**
   * The runtime socket beneath. Its calls are checked by the machine at
   * runtime only; the types of this API no longer apply to it.
   */
  readonly socket: Socket<D>;
  /** The address family. */
  readonly domain: D;
  /**
   * The socket's state in the machine, read at runtime. It can be a later
   * state than the handle's type says (an old handle, or after `shutdown()`).
   */
  readonly state: SocketState;
  /**
   * The local address (`getsockname(2)`): port 0 or an empty path when not
   * bound.
   *
   * @returns The local address.
   */
  getsockname(): AddrOf<D>;
  /**
   * Closes the socket (`close(2)`). The returned {@linkcode ClosedSocket}
   * has no calls; this handle must not be used again (the runtime refuses
   * it with `EBADF`).
   *
   * @returns The same socket, typed as closed.
   * @throws {SocketError} `EBADF` when already closed through another
   * handle.
   */
  close(): ClosedSocket;
}

/**
 * A socket just created: it can be bound, listen (an inet or inet6 socket
 * is bound to an ephemeral port first, as Linux does), or connect. It has no
 * `accept()`, `send()`, `recv()`, `shutdown()` or `getpeername()`.
 *
 * @example Bind, then listen
 * ```ts
 * import { type BoundSocket, socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using created = typed(socket({ domain: "inet" }));
 * const bound: BoundSocket = await created.bind({
 *   hostname: "127.0.0.1",
 *   port: 0,
 * });
 * const listening = await bound.listen();
 * assert.equal(listening.state, "listening");
 *
 * if (false as boolean) {
 *   // @ts-expect-error A socket that does not listen cannot accept.
 *   await created.accept();
 * }
 * ```
 */
export interface CreatedSocket<D extends Domain = Domain>
  extends TypedSocket<D> {
  /**
   * Binds the socket to a local address (`bind(2)`); port 0 lets the kernel
   * choose, and `getsockname()` tells which.
   *
   * @param addr `{ hostname, port }` for inet and inet6, `{ path }` for unix.
   * @returns The same socket, typed as bound.
   * @throws {SocketError} `EAFNOSUPPORT` for an address of another family,
   * `EADDRINUSE` when taken.
   */
  bind(addr: SocketAddr): Promise<BoundSocket<D>>;
  /**
   * Listens for connections (`listen(2)`); an unbound inet or inet6 socket
   * gets an ephemeral port.
   *
   * @param backlog The queue length; the default is the backend's.
   * @returns The same socket, typed as listening.
   * @throws {SocketError} `EINVAL` for an unbound unix socket.
   */
  listen(backlog?: number): Promise<ListeningSocket<D>>;
  /**
   * Connects to a listening socket (`connect(2)`).
   *
   * @param addr The listening socket's address.
   * @param options A `signal` to stop waiting (see `Socket.connect()`).
   * @returns The same socket, typed as connected.
   * @throws {SocketError} `ECONNREFUSED` when nothing listens there.
   */
  connect(
    addr: SocketAddr,
    options?: CallOptions,
  ): Promise<ConnectedSocket<D>>;
}

/**
 * A bound socket: it can listen, or connect from its address. It has no
 * `bind()` (a second bind is `EINVAL`), and none of the calls of a connected
 * or listening socket.
 *
 * @example Bind a client before it connects
 * ```ts
 * import { socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using server = typed(socket({ domain: "inet" }));
 * const listening = await server.listen();
 *
 * using client = typed(socket({ domain: "inet" }));
 * const bound = await client.bind({ hostname: "127.0.0.1", port: 0 });
 * const accepting = listening.accept();
 * const connected = await bound.connect(listening.getsockname());
 * using peer = await accepting;
 * assert.deepEqual(peer.getpeername(), connected.getsockname());
 *
 * if (false as boolean) {
 *   // @ts-expect-error A bound socket cannot be bound again.
 *   await bound.bind({ hostname: "127.0.0.1", port: 0 });
 * }
 * ```
 */
export interface BoundSocket<D extends Domain = Domain> extends TypedSocket<D> {
  /**
   * Listens for connections on the bound address (`listen(2)`).
   *
   * @param backlog The queue length; the default is the backend's.
   * @returns The same socket, typed as listening.
   */
  listen(backlog?: number): Promise<ListeningSocket<D>>;
  /**
   * Connects to a listening socket from the bound address (`connect(2)`).
   *
   * @param addr The listening socket's address.
   * @param options A `signal` to stop waiting (see `Socket.connect()`).
   * @returns The same socket, typed as connected.
   * @throws {SocketError} `ECONNREFUSED` when nothing listens there.
   */
  connect(
    addr: SocketAddr,
    options?: CallOptions,
  ): Promise<ConnectedSocket<D>>;
}

/**
 * A listening socket: it accepts connections. It has no `connect()`,
 * `send()`, `recv()`, `bind()` or `shutdown()`.
 *
 * @example Accept a connection
 * ```ts
 * import { socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using server = typed(socket({ domain: "inet" }));
 * const listening = await server.listen(); // an ephemeral port
 *
 * using client = typed(socket({ domain: "inet" }));
 * const accepting = listening.accept();
 * await client.connect(listening.getsockname());
 * using peer = await accepting;
 * assert.equal(peer.state, "connected");
 *
 * if (false as boolean) {
 *   // @ts-expect-error A listening socket cannot send.
 *   await listening.send(new Uint8Array(1));
 * }
 * ```
 */
export interface ListeningSocket<D extends Domain = Domain>
  extends TypedSocket<D> {
  /**
   * Waits for a connection and returns it as a new, connected socket
   * (`accept(2)`). Close it too: it is a socket of its own.
   *
   * @param options Optionally, a `signal` to stop waiting and a tracer for
   * the accepted socket.
   * @returns The accepted socket.
   * @throws {SocketError} `EBADF` when the socket is closed while waiting.
   */
  accept(options?: AcceptOptions): Promise<ConnectedSocket<D>>;
}

/**
 * A connected socket, from `connect()` or `accept()`: it sends, receives
 * (also as Web Streams: `readable`, `writable`), shuts down and knows its
 * peer. It has no `bind()`, `listen()`, `accept()` or `connect()`.
 *
 * `shutdown()` keeps the type: the runtime refuses `send()` after
 * `shutdown("write")` with `EPIPE`, and `recv()` after `shutdown("read")`
 * returns end of stream.
 *
 * @example Talk, then shut down
 * ```ts
 * import { socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using server = typed(socket({ domain: "inet" }));
 * const listening = await server.listen();
 * using client = typed(socket({ domain: "inet" }));
 * const accepting = listening.accept();
 * const connected = await client.connect(listening.getsockname());
 * using peer = await accepting;
 *
 * await connected.send(new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(await peer.recv()), "ping");
 * await connected.shutdown("write");
 * assert.equal((await peer.recv()).length, 0); // end of stream
 *
 * if (false as boolean) {
 *   // @ts-expect-error A connected socket cannot listen.
 *   await connected.listen();
 * }
 * ```
 */
export interface ConnectedSocket<D extends Domain = Domain>
  extends TypedSocket<D> {
  /**
   * Sends all of `data` (`send(2)` until done).
   *
   * @param data The bytes to send.
   * @param options A `signal` to stop the send (see `Socket.send()`).
   * @returns The number of bytes sent: `data.length`.
   * @throws {SocketError} `EPIPE` after `shutdown("write")`.
   */
  send(data: Uint8Array, options?: CallOptions): Promise<number>;
  /**
   * Receives up to `max` bytes (`recv(2)`); an empty array is end of stream.
   *
   * @param max The most bytes to return.
   * @param options A `signal` to stop waiting; nothing is consumed.
   * @default {65536}
   * @returns The bytes received.
   */
  recv(max?: number, options?: CallOptions): Promise<Uint8Array>;
  /**
   * Receives into `buffer` (`recv(2)`) without allocating.
   *
   * @param buffer Where to put the bytes; not empty.
   * @param options A `signal` to stop waiting; nothing is consumed.
   * @returns The number of bytes received; 0 is end of stream.
   */
  recvInto(buffer: Uint8Array, options?: CallOptions): Promise<number>;
  /**
   * Shuts down one or both sides of the connection (`shutdown(2)`):
   * `"read"` is `SHUT_RD`, `"write"` `SHUT_WR`, `"both"` `SHUT_RDWR`.
   *
   * @param how Which side to shut down.
   */
  shutdown(how: ShutdownHow): Promise<void>;
  /**
   * The peer's address (`getpeername(2)`).
   *
   * @returns The peer's address.
   */
  getpeername(): AddrOf<D>;
  /**
   * The runtime socket's {@linkcode Socket.readable}: the bytes the peer
   * sends, as a byte stream that reads with `recvInto()`; `cancel()` is
   * `shutdown("read")`.
   */
  readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  /**
   * The runtime socket's {@linkcode Socket.writable}: each chunk is a
   * `send()`; `close()` is `shutdown("write")`.
   */
  readonly writable: WritableStream<Uint8Array>;
}

/**
 * A closed socket: what `close()` returns. It has no calls. Its state is
 * `"closed"` for good.
 *
 * @example Nothing after close
 * ```ts
 * import { socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const closed = typed(socket({ domain: "inet" })).close();
 * assert.equal(closed.state, "closed");
 *
 * if (false as boolean) {
 *   // @ts-expect-error A closed socket cannot be closed again.
 *   closed.close();
 * }
 * ```
 */
export interface ClosedSocket {
  /** Always `"closed"`. */
  readonly state: "closed";
}

/**
 * The connected pair {@linkcode typedStreamConnection} returns.
 *
 * @typeParam D The sockets' address family, which types their addresses.
 */
export interface TypedStreamConnection<D extends Domain = Domain>
  extends Disposable {
  /** The server's end: the socket accepted from the listener. */
  readonly srvrS: ConnectedSocket<D>;
  /** The client's end. */
  readonly clntS: ConnectedSocket<D>;
  /** `srvrAddr` with the port the server really listened on. */
  readonly srvrAddr: AddrOf<D>;
}

/**
 * Types a socket fresh from `socket()` as a {@linkcode CreatedSocket}, the
 * start of the typed API. The socket stays the caller's: close it, or
 * `using` the returned handle.
 *
 * @example Server and client, each step typed
 * ```ts
 * import { socket, typed } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using server = typed(socket({ domain: "inet" }));
 * const listening = await (await server.bind({
 *   hostname: "127.0.0.1",
 *   port: 0,
 * })).listen();
 *
 * using client = typed(socket({ domain: "inet" }));
 * const accepting = listening.accept();
 * const connected = await client.connect(listening.getsockname());
 * using peer = await accepting;
 *
 * await connected.send(new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(await peer.recv()), "ping");
 * assert.equal(connected.close().state, "closed");
 * ```
 *
 * @typeParam D The socket's address family.
 * @param sock A socket in state `"created"`.
 * @returns The same socket, typed as created.
 * @throws {SocketError} `EINVAL` when `sock` is not in state `"created"`.
 */
export function typed<D extends Domain>(sock: Socket<D>): CreatedSocket<D> {
  if (!(sock instanceof Object) || !("state" in sock)) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot type ${
        describe(sock)
      }: typed() takes a socket fresh from socket()`,
    );
  }
  if (sock.state !== "created") {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot type a socket in state "${sock.state}" as created: pass typed() a socket fresh from socket()`,
      { state: sock.state },
    );
  }
  return new Typed(sock);
}

/**
 * `streamConnection()` with both ends typed as {@linkcode ConnectedSocket}.
 *
 * @example A typed pair
 * ```ts
 * import { typedStreamConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using pair = await typedStreamConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 * });
 * await pair.clntS.send(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode(await pair.srvrS.recv()), "hello");
 *
 * if (false as boolean) {
 *   // @ts-expect-error A connected socket cannot accept.
 *   await pair.srvrS.accept();
 * }
 * ```
 *
 * @typeParam A The type of `srvrAddr`, as for `streamConnection()`.
 * @param options As for `streamConnection()`.
 * @returns The accepted server socket, the client socket, and the server's
 * real address.
 * @throws {SocketError} As `streamConnection()`: bad options, or the failed
 * step.
 */
export async function typedStreamConnection<A extends SocketAddr>(
  options: StreamConnectionOptions<A>,
): Promise<TypedStreamConnection<DomainOfAddr<A>>> {
  const pair = await streamConnection(options);
  return {
    srvrS: new Typed(pair.srvrS),
    clntS: new Typed(pair.clntS),
    srvrAddr: pair.srvrAddr,
    [Symbol.dispose]() {
      pair[Symbol.dispose]();
    },
  };
}

/**
 * One handle for every state: each call runs the runtime call and resolves
 * to `this`, which the interfaces re-type. A cast to another state's type
 * therefore reaches the runtime socket, which refuses what its state does
 * not allow.
 */
class Typed<D extends Domain>
  implements
    CreatedSocket<D>,
    BoundSocket<D>,
    ListeningSocket<D>,
    ConnectedSocket<D> {
  readonly #sock: Socket<D>;

  constructor(sock: Socket<D>) {
    this.#sock = sock;
  }

  get socket(): Socket<D> {
    return this.#sock;
  }

  get domain(): D {
    return this.#sock.domain;
  }

  get state(): SocketState {
    return this.#sock.state;
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#sock.readable;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#sock.writable;
  }

  async bind(addr: SocketAddr): Promise<BoundSocket<D>> {
    await this.#sock.bind(addr);
    return this;
  }

  async listen(backlog?: number): Promise<ListeningSocket<D>> {
    await this.#sock.listen(backlog);
    return this;
  }

  async connect(
    addr: SocketAddr,
    options?: CallOptions,
  ): Promise<ConnectedSocket<D>> {
    await this.#sock.connect(addr, options);
    return this;
  }

  async accept(options?: AcceptOptions): Promise<ConnectedSocket<D>> {
    return new Typed(await this.#sock.accept(options));
  }

  send(data: Uint8Array, options?: CallOptions): Promise<number> {
    return this.#sock.send(data, options);
  }

  recv(max?: number, options?: CallOptions): Promise<Uint8Array> {
    return this.#sock.recv(max, options);
  }

  recvInto(buffer: Uint8Array, options?: CallOptions): Promise<number> {
    return this.#sock.recvInto(buffer, options);
  }

  shutdown(how: ShutdownHow): Promise<void> {
    return this.#sock.shutdown(how);
  }

  getsockname(): AddrOf<D> {
    return this.#sock.getsockname();
  }

  getpeername(): AddrOf<D> {
    return this.#sock.getpeername();
  }

  close(): ClosedSocket {
    this.#sock.close();
    return this as ClosedSocket;
  }

  [Symbol.dispose](): void {
    this.#sock[Symbol.dispose]();
  }
}
