// Copyright 2026 the sockfsm authors. MIT license.
import { type AnyActorRef, createActor, toPromise } from "xstate";
import {
  type AddrOf,
  checkAddr,
  type Domain,
  formatAddr,
  type SocketAddr,
  unboundAddr,
} from "../machine/address.ts";
import type { Readiness, ShutdownHow, SysSocket } from "../machine/effects.ts";
import { type Errno, isErrno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import { SocketGraph, type SocketNode, type Step } from "../machine/graph.ts";
import {
  checkOptionName,
  checkOptionValue,
  describe,
  type SettableOptionName,
  type SocketOptionName,
  type SocketOptionValues,
} from "../machine/options.ts";
import {
  ANY_KERNEL,
  type KernelBehaviour,
  kernelProfile,
} from "../machine/kernel.ts";
import {
  type PortChoice,
  type SocketEvent,
  socketMachine,
  type SocketState,
  type SocketType,
} from "../machine/socket_machine.ts";
import { type Backend, checkBackend, createSysSocket } from "./backend.ts";
import { runningKernel } from "./detect_kernel.ts";
import { Turns } from "./_turns.ts";
import { osError, withState } from "./os_error.ts";
import { socketReadable, socketWritable } from "./socket_streams.ts";
import { effectSettled, sysEffects } from "./sys_effects.ts";

/** A change of a socket's state, as reported to `onTransition`. */
export interface StateChange {
  /** The state before. */
  readonly from: SocketState;
  /** The state after. */
  readonly to: SocketState;
  /** The call that caused it. */
  readonly op: SocketOp;
}

/**
 * Options for {@linkcode socket}.
 *
 * @typeParam D The address family, which types the socket's addresses.
 */
export interface SocketOptions<D extends Domain = Domain> {
  /** The address family: `"inet"` (IPv4), `"inet6"` (IPv6) or `"unix"`. */
  domain: D;
  /**
   * The socket type: `"stream"` (`SOCK_STREAM`: TCP, or a unix stream) or
   * `"dgram"` (`SOCK_DGRAM`: UDP, or unix datagrams).
   *
   * @default {"stream"}
   */
  type?: SocketType;
  /**
   * The protocol, as for `socket(2)`: 0, or `IPPROTO_TCP` (6) for inet and
   * inet6 streams, `IPPROTO_UDP` (17) for their datagrams.
   *
   * @default {0}
   */
  protocol?: number;
  /**
   * What performs the socket's system calls: `"deno"`, Deno's network API
   * (needs only `--allow-net`), or `"posix"`, each call the matching libc
   * call through FFI (needs `--allow-ffi` and Linux). A socket that
   * `accept()` returns uses its listener's backend.
   *
   * @default {"deno"}
   */
  backend?: Backend;
  /**
   * `O_NONBLOCK`: a call that would wait answers at once, as Linux does,
   * with `EAGAIN` (`accept`, `recv`, a full `send`), or `EINPROGRESS` for a
   * TCP `connect` (the attempt goes on; a later `connect()` says
   * `EALREADY` while it does, then 0 once, or the attempt's error). Wait
   * for readiness with {@linkcode Socket.wait}. A socket that `accept()`
   * returns is blocking, whatever its listener, as Linux's `accept()` makes
   * it.
   *
   * @default {false}
   */
  nonblocking?: boolean;
  /**
   * Called after every change of state, to trace a socket's life. Data calls
   * do not change the state, so this costs nothing on the data path.
   */
  onTransition?: (change: StateChange) => void;
}

/** Options for {@linkcode Socket.accept}. */
export interface AcceptOptions {
  /**
   * Traces the accepted socket's changes of state.
   *
   * @default {the listening socket's `onTransition`}
   */
  onTransition?: (change: StateChange) => void;
}

/**
 * A socket whose every call is checked against the socket machine before it
 * reaches the operating system. A call the machine refuses throws
 * {@linkcode SocketError} with the errno Linux would give, and makes no
 * system call. Create one with {@linkcode socket}.
 *
 * Calls may overlap, as from two tasks. As in the kernel, whose socket lock
 * is held only for the instant of each system call, a call made while
 * `bind()`, `listen()` or `shutdown()` is in flight waits for it and is
 * answered by the state it leaves (`getsockname()` and `getpeername()`
 * answer at once, as the state before); `send()` and `recv()` during
 * `connect()` wait for the connection; a second `connect()` is `EALREADY`.
 *
 * @typeParam D The address family. It types the socket's addresses:
 * `getsockname()` and `getpeername()` of a `Socket<"inet">` are
 * `{ hostname, port }`, of a `Socket<"unix">` `{ path }`.
 */
export interface Socket<D extends Domain = Domain> extends Disposable {
  /** The address family. */
  readonly domain: D;
  /** The socket type. */
  readonly type: SocketType;
  /**
   * What performs the socket's system calls (`socket()`'s `backend`; an
   * accepted socket's is its listener's).
   */
  readonly backend: Backend;
  /** Whether the socket is `O_NONBLOCK` (see `socket()`'s `nonblocking`). */
  readonly nonblocking: boolean;
  /** The socket's state in the machine. */
  readonly state: SocketState;
  /**
   * Binds the socket to a local address (`bind(2)`); port 0 lets the kernel
   * choose, and {@linkcode Socket.getsockname} tells which.
   *
   * @param addr `{ hostname, port }` for inet and inet6, `{ path }` for unix.
   * @throws {SocketError} `EINVAL` when already bound, `EAFNOSUPPORT` for an
   * address of another family, `EADDRINUSE` when taken.
   */
  bind(addr: SocketAddr): Promise<void>;
  /**
   * Starts listening for connections (`listen(2)`). An unbound TCP socket is
   * bound to an ephemeral port first, as Linux does.
   *
   * @param backlog The queue length; the default is the backend's.
   * @throws {SocketError} `EINVAL` when connected, or for an unbound unix
   * socket.
   */
  listen(backlog?: number): Promise<void>;
  /**
   * Waits for a connection and returns it as a new, connected socket
   * (`accept(2)`). Several accepts may wait at once; each gets its own
   * connection, in the order of the calls.
   *
   * @throws {SocketError} `EINVAL` when the socket is not listening.
   */
  accept(options?: AcceptOptions): Promise<Socket<D>>;
  /**
   * Connects to a listening socket (`connect(2)`), from the bound address if
   * there is one.
   *
   * @throws {SocketError} `EISCONN` when connected, `ECONNREFUSED` when
   * nothing listens there.
   */
  connect(addr: SocketAddr): Promise<void>;
  /**
   * Sends all of `data` (`send(2)` until done); resolves to its length.
   * Concurrent sends on one socket queue: each call's bytes go out whole, one
   * call after another, in the order of the calls (as Node's
   * `socket.write()` and a Web Streams writer do), never interleaved.
   *
   * @throws {SocketError} `EPIPE` when never connected (TCP) or after
   * `shutdown("write")`.
   */
  send(data: Uint8Array): Promise<number>;
  /**
   * Receives up to `max` bytes (`recv(2)`); an empty array is end of stream.
   *
   * @param max The most bytes to return.
   * @default {65536}
   * @throws {SocketError} `ENOTCONN` when not connected (TCP).
   */
  recv(max?: number): Promise<Uint8Array>;
  /**
   * Receives into `buffer` and resolves to the count; 0 is end of stream.
   * The same as {@linkcode Socket.recv} without allocating.
   */
  recvInto(buffer: Uint8Array): Promise<number>;
  /**
   * Shuts down one or both sides of a connection (`shutdown(2)`):
   * `"read"` is `SHUT_RD`, `"write"` `SHUT_WR`, `"both"` `SHUT_RDWR`.
   *
   * @throws {SocketError} `ENOTCONN` on a TCP socket that is not connected,
   * or whose connection is over.
   */
  shutdown(how: ShutdownHow): Promise<void>;
  /**
   * The bytes the peer sends, as a byte stream (as `Deno.Conn` has): each
   * read is a {@linkcode Socket.recvInto}, into the caller's buffer with a
   * BYOB reader, into a new 64 KiB buffer with a default reader. End of
   * stream, also after `shutdown("read")`, closes it; a refused or failed
   * read errors it with that {@linkcode SocketError} (`EBADF` when the
   * socket is closed during a read). `cancel()` is `shutdown("read")` when
   * the socket has a peer, and does nothing otherwise (closed, listening,
   * connection over); it never rejects with a `SocketError`. With the posix
   * backend it resolves once a read in flight is over (the kernel ends it);
   * the Deno backend cannot end it, and it waits on until data, end of
   * stream or `close()`. The stream never closes the socket. Made on first
   * use, then the same stream.
   *
   * @example Read until the peer shuts down its write side
   * ```ts
   * import { streamConnection } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using pair = await streamConnection({
   *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
   * });
   * await pair.clntS.send(new TextEncoder().encode("hello"));
   * await pair.clntS.shutdown("write");
   * const text = await new Response(pair.srvrS.readable).text();
   * assert.equal(text, "hello");
   * ```
   */
  readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  /**
   * A writable that sends each chunk with {@linkcode Socket.send} (so each
   * chunk goes out whole, in order with the socket's other sends). Its
   * `close()` is `shutdown("write")`: the peer reads end of stream, and the
   * socket can still receive. A refused or failed send errors it with that
   * {@linkcode SocketError} (`EPIPE` after `shutdown("write")`, `EBADF`
   * when the socket is closed during a send), and so does a chunk that is
   * not a `Uint8Array` (`EINVAL`). `abort()` is `shutdown("write")` when
   * the socket has a peer, and does nothing otherwise; it never rejects
   * with a `SocketError`. Made on first use, then the same stream.
   *
   * @example Pipe text to the peer
   * ```ts
   * import { streamConnection } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using pair = await streamConnection({
   *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
   * });
   * await ReadableStream.from(["ping"])
   *   .pipeThrough(new TextEncoderStream())
   *   .pipeTo(pair.clntS.writable); // closes it: shutdown("write")
   * assert.equal(pair.clntS.state, "shutWr");
   * assert.equal(await new Response(pair.srvrS.readable).text(), "ping");
   * ```
   */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Closes the socket and frees everything behind it (`close(2)`). A call in
   * flight fails with `EBADF`.
   *
   * @throws {SocketError} `EBADF` when already closed.
   */
  close(): void;
  /**
   * The local address (`getsockname(2)`): port 0 or an empty path when not
   * bound.
   */
  getsockname(): AddrOf<D>;
  /**
   * The peer's address (`getpeername(2)`). On a TCP connection, whether it
   * is over only the kernel knows: the posix backend asks it, the Deno
   * backend answers as for a live connection until the socket's own calls
   * saw it end.
   *
   * @throws {SocketError} `ENOTCONN` when not connected, or once the TCP
   * connection is over (both ends sent FIN, or it was reset).
   */
  getpeername(): AddrOf<D>;
  /**
   * Sends `data` to `addr` (`sendto(2)`): one datagram on a datagram socket
   * (connected or not); a TCP socket ignores the address and sends as
   * {@linkcode Socket.send} does. Resolves to the count sent.
   *
   * @example Datagrams without a connection
   * ```ts
   * import { socket } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using server = socket({ domain: "inet", type: "dgram" });
   * await server.bind({ hostname: "127.0.0.1", port: 0 });
   * using client = socket({ domain: "inet", type: "dgram" });
   * await client.sendto(new TextEncoder().encode("ping"), server.getsockname());
   * const { data, addr } = await server.recvfrom();
   * assert.equal(new TextDecoder().decode(data), "ping");
   * assert.equal(addr?.port, client.getsockname().port); // sendto() bound it
   * ```
   *
   * @throws {SocketError} `EISCONN` on a connected unix stream socket,
   * `EOPNOTSUPP` on an unconnected one, `EPIPE` after `shutdown("write")`.
   */
  sendto(data: Uint8Array, addr: SocketAddr): Promise<number>;
  /**
   * Receives as {@linkcode Socket.recv} does (one datagram, truncated to
   * `max`, on a datagram socket), with the sender's address (`recvfrom(2)`);
   * `addr` is `undefined` where the kernel gives none (TCP).
   *
   * @param max The most bytes to return.
   * @default {65536}
   */
  recvfrom(
    max?: number,
  ): Promise<{ data: Uint8Array; addr: AddrOf<D> | undefined }>;
  /**
   * Dissolves the socket's association (`connect(2)` with `AF_UNSPEC`): a
   * datagram socket forgets its peer and receives from anyone again (UDP
   * gives back a port the kernel chose); a TCP connection is reset (the
   * peer reads `ECONNRESET`), and the socket is fresh again.
   *
   * @example Forget a datagram peer
   * ```ts
   * import { socket } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using peer = socket({ domain: "inet", type: "dgram" });
   * await peer.bind({ hostname: "127.0.0.1", port: 0 });
   * using sock = socket({ domain: "inet", type: "dgram" });
   * await sock.connect(peer.getsockname());
   * assert.equal(sock.state, "connected");
   * await sock.disconnect();
   * assert.equal(sock.state, "created"); // the kernel's port went back
   * ```
   *
   * @throws {SocketError} `EINVAL` on a unix stream socket, which takes
   * only unix addresses.
   */
  disconnect(): Promise<void>;
  /**
   * Sets a socket option (`setsockopt(2)`).
   *
   * @example Turn off Nagle's algorithm
   * ```ts
   * import { socket } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using sock = socket({ domain: "inet", backend: "posix" });
   * await sock.setsockopt("TCP_NODELAY", true);
   * assert.equal(await sock.getsockopt("TCP_NODELAY"), true);
   * await assert.rejects(sock.setsockopt("TCP_NODELAY", 1 as never), {
   *   code: "EINVAL",
   * });
   * ```
   *
   * @throws {SocketError} `ENOPROTOOPT` for an option sockfsm does not know
   * or one of another protocol (a TCP option on UDP, an IPv6 option on
   * inet); `EOPNOTSUPP` for a TCP or IPv6 option on a unix socket; `EINVAL`
   * for a value of the wrong type, or `IPV6_V6ONLY` once the socket has a
   * port; `EBADF` when closed.
   */
  setsockopt<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): Promise<void>;
  /**
   * Reads a socket option (`getsockopt(2)`), as the kernel reports it:
   * `SO_RCVBUF` and `SO_SNDBUF` are double what was set; `SO_ERROR` is the
   * pending error, which reading clears, or `null`.
   *
   * @throws {SocketError} As {@linkcode Socket.setsockopt}.
   */
  getsockopt<N extends SocketOptionName>(
    name: N,
  ): Promise<SocketOptionValues[N]>;
  /**
   * Waits until the socket is ready (`poll(2)`): `"read"` when a `recv()`
   * or `accept()` would not wait (data, a datagram, a connection, end of
   * stream or an error), `"write"` when a `send()` would not (room, or a
   * connection made). With `signal`, stop waiting when it aborts.
   *
   * @throws {SocketError} `EBADF` when the socket is closed, before or
   * while it waits.
   */
  wait(what: Readiness, options?: WaitOptions): Promise<void>;
}

/** Options for {@linkcode Socket.wait}. */
export interface WaitOptions {
  /** Stops the wait when it aborts. */
  signal?: AbortSignal;
}

const DEFAULT_RECV = 65536;
// The events of the calls that carry nothing, made once.
const ACCEPT: SocketEvent = { type: "ACCEPT" };
const ACCEPT_NOW: SocketEvent = { type: "ACCEPT", nonblocking: true };
const RECV_NOW: SocketEvent = { type: "RECV", nonblocking: true };
const SEEN_CONNECTING: SocketEvent = { type: "SEEN_CONNECTING" };
const SEEN_CONNECTED: SocketEvent = { type: "SEEN_CONNECTED" };
const SEEN_CONNECT_FAILED: SocketEvent = { type: "SEEN_CONNECT_FAILED" };
const SEND: SocketEvent = { type: "SEND" };
const RECV: SocketEvent = { type: "RECV" };
const CLOSE: SocketEvent = { type: "CLOSE" };
const GETSOCKNAME: SocketEvent = { type: "GETSOCKNAME" };
const GETPEERNAME: SocketEvent = { type: "GETPEERNAME" };
const DISCONNECT: SocketEvent = { type: "DISCONNECT" };
/** The signal of a connect() that is never stopped. */
const NEVER_ABORTED = new AbortController().signal;
const POLL: SocketEvent = { type: "POLL" };
const SEEN_END: SocketEvent = { type: "SEEN_END" };
const SEEN_RESET: SocketEvent = { type: "SEEN_RESET" };
const EMPTY = new Uint8Array(0);

let graph: SocketGraph | undefined;

/** The graph of the socket machine with its effects provided, made once. */
function socketGraph(): SocketGraph {
  return graph ??= new SocketGraph(
    socketMachine.provide({ actors: sysEffects }),
  );
}

/**
 * Creates a socket (`socket(2)`) in state `"created"`.
 *
 * @example Listen, connect, accept, talk
 * ```ts
 * import { socket } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using server = socket({ domain: "inet" });
 * await server.bind({ hostname: "127.0.0.1", port: 0 });
 * await server.listen();
 * assert.equal(server.state, "listening");
 *
 * using client = socket({ domain: "inet" });
 * const accepting = server.accept();
 * await client.connect(server.getsockname());
 * using peer = await accepting;
 *
 * await client.send(new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(await peer.recv()), "ping");
 * assert.equal(peer.state, "connected");
 * ```
 *
 * @typeParam D The address family, which types the socket's addresses.
 * @param options The domain, and optionally type, protocol, backend and a
 * tracer.
 * @returns The new socket.
 * @throws {SocketError} `EAFNOSUPPORT`, `ESOCKTNOSUPPORT` or
 * `EPROTONOSUPPORT` for a domain, type or protocol sockfsm does not model;
 * `EINVAL` for options that are not an object, or an unknown backend; for
 * the posix backend, `EACCES` without `--allow-ffi`, `EOPNOTSUPP` off
 * Linux, or the errno of `socket(2)`.
 */
export function socket<D extends Domain>(options: SocketOptions<D>): Socket<D> {
  if (typeof options !== "object" || options === null) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot create a socket with options ${
        describe(options)
      }: give an object, such as { domain: "inet" }`,
    );
  }
  const { domain, type = "stream", protocol = 0, nonblocking = false } =
    options;
  checkSocketArgs(domain, type, protocol);
  const backend = checkBackend(options.backend, "socket");
  if (typeof nonblocking !== "boolean") {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot create a socket with nonblocking ${
        describe(nonblocking)
      }: use true or false`,
    );
  }
  const graph = socketGraph();
  // The runtime is not told what the peer does: rules whose answer depends
  // on it let the call through to the kernel.
  const start = graph.start({
    domain,
    type,
    kernel: kernelOf(backend),
    environment: "unseen",
  });
  return new StreamSocket(
    graph,
    start,
    createSysSocket(backend, { domain, type, nonblocking }),
    { backend, nonblocking, onTransition: options.onTransition },
  );
}

/**
 * What a backend's sockets take the kernel to do where kernel builds
 * differ. The posix backend lets the kernel answer wherever profiles differ,
 * so it refuses a call before any system call only when every profile does.
 * The Deno backend cannot ask the kernel (it realises some calls with other
 * sockets), so it answers as the running kernel's profile when `--allow-ffi`
 * lets it detect it, and as the default profile otherwise.
 */
function kernelOf(backend: Backend): KernelBehaviour {
  if (backend === "posix") return ANY_KERNEL;
  return kernelProfile(runningKernel()).behaviour;
}

/** Checks `socket()`'s arguments as `socket(2)` does, with its errnos. */
export function checkSocketArgs(
  domain: unknown,
  type: unknown,
  protocol: unknown,
): asserts domain is Domain {
  if (domain !== "inet" && domain !== "inet6" && domain !== "unix") {
    throw new SocketError(
      "EAFNOSUPPORT",
      "socket",
      `Cannot create a socket in domain ${
        describe(domain)
      }: use "inet", "inet6" or "unix"`,
    );
  }
  if (type !== "stream" && type !== "dgram") {
    throw new SocketError(
      "ESOCKTNOSUPPORT",
      "socket",
      `Cannot create a socket of type ${
        describe(type)
      }: use "stream" or "dgram"`,
    );
  }
  const ip = domain !== "unix" &&
    protocol === (type === "stream" ? 6 : 17);
  if (protocol !== 0 && !ip) {
    throw new SocketError(
      "EPROTONOSUPPORT",
      "socket",
      `Cannot create ${article(domain)} ${type} socket with protocol ${
        describe(protocol)
      }: use 0${
        domain === "unix"
          ? ""
          : type === "stream"
          ? " or 6 (IPPROTO_TCP)"
          : " or 17 (IPPROTO_UDP)"
      }`,
    );
  }
}

/** What a runtime socket is made with, besides its node and system side. */
interface SocketSetup {
  readonly backend: Backend;
  readonly nonblocking: boolean;
  readonly onTransition: ((change: StateChange) => void) | undefined;
}

/**
 * A socket: where it is in the machine's graph, and its system side. Every
 * call first takes a step in the graph, which refuses it or says where it
 * leads; state-changing calls then run the effect that the state they lead
 * to invokes, and data calls go straight to the system side.
 */
class StreamSocket<D extends Domain> implements Socket<D> {
  readonly domain: D;
  readonly type: SocketType;
  readonly backend: Backend;
  readonly #graph: SocketGraph;
  readonly #sys: SysSocket;
  readonly #onTransition: ((change: StateChange) => void) | undefined;
  #node: SocketNode;
  /** The effect in flight, if any. */
  #effect: AnyActorRef | undefined;
  /** Whether an effect is in flight (its state invokes one). */
  #inFlight = false;
  /**
   * Made only when a call waits for the effect in flight: resolves once it
   * has settled and the socket moved to the state it leaves (or closed).
   */
  #settled: { promise: Promise<void>; resolve(): void } | undefined;
  /** send() calls take turns, so that each call's bytes go out whole. */
  readonly #sends = new Turns();
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  readonly nonblocking: boolean;
  /** The events of accept() and recv(), as the blocking mode asks them. */
  readonly #accept: SocketEvent;
  readonly #recv: SocketEvent;

  constructor(
    graph: SocketGraph,
    node: SocketNode,
    sys: SysSocket,
    setup: SocketSetup,
  ) {
    // The machine started from the domain that types the socket.
    this.domain = node.facts.domain as D;
    this.type = node.facts.type;
    this.backend = setup.backend;
    this.nonblocking = setup.nonblocking;
    this.#accept = setup.nonblocking ? ACCEPT_NOW : ACCEPT;
    this.#recv = setup.nonblocking ? RECV_NOW : RECV;
    this.#graph = graph;
    this.#node = node;
    this.#sys = sys;
    this.#onTransition = setup.onTransition;
  }

  get state(): SocketState {
    return this.#node.state;
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= socketReadable(this);
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= socketWritable(this);
  }

  async bind(addr: SocketAddr): Promise<void> {
    const checked = this.#checkAddr(addr, "bind");
    await this.#change("bind", {
      type: "BIND",
      family: checked.domain,
      port: portChoice(checked.addr),
      io: { sys: this.#sys, addr: checked.addr },
    });
  }

  async listen(backlog?: number): Promise<void> {
    if (
      backlog !== undefined && (!Number.isInteger(backlog) || backlog < 0)
    ) {
      throw this.#badInput(
        "listen",
        `"backlog" must be a non-negative integer, got ${backlog}`,
      );
    }
    await this.#change("listen", {
      type: "LISTEN",
      io: { sys: this.#sys, backlog },
    });
  }

  async connect(addr: SocketAddr): Promise<void> {
    const checked = this.#checkAddr(addr, "connect");
    const family = checked.domain;
    const io = { sys: this.#sys, addr: checked.addr };
    await this.#change(
      "connect",
      this.nonblocking
        ? { type: "CONNECT", family, nonblocking: true, io }
        : { type: "CONNECT", family, io },
    );
  }

  async accept(options: AcceptOptions = {}): Promise<Socket<D>> {
    const event = this.#accept;
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    this.#decide("accept", event, step);
    let sys: SysSocket;
    try {
      sys = await this.#sys.accept();
    } catch (error) {
      throw this.#ioError("accept", error);
    }
    const onTransition = options.onTransition ?? this.#onTransition;
    const node = this.#graph.start({
      domain: this.domain,
      type: this.type,
      accepted: true,
      kernel: this.#node.facts.kernel,
      environment: this.#node.facts.environment,
    });
    // Born connected: the machine went created -> connected at once.
    onTransition?.({ from: "created", to: node.state, op: "accept" });
    // Linux's accept() makes a blocking socket, whatever the listener.
    return new StreamSocket<D>(this.#graph, node, sys, {
      backend: this.backend,
      nonblocking: false,
      onTransition,
    });
  }

  async send(data: Uint8Array): Promise<number> {
    if (!(data instanceof Uint8Array)) {
      throw this.#badInput("send", "data must be a Uint8Array");
    }
    let step;
    while ((step = this.#stepOrWait(SEND)) instanceof Promise) await step;
    this.#decide("send", SEND, step);
    return await this.#write("send", data, undefined);
  }

  async recv(max: number = DEFAULT_RECV): Promise<Uint8Array> {
    const buffer = this.#recvBuffer("recv", max);
    const n = await this.recvInto(buffer);
    return n === 0 ? EMPTY : buffer.subarray(0, n);
  }

  async recvInto(buffer: Uint8Array): Promise<number> {
    if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
      throw this.#badInput("recv", "the buffer must be a non-empty Uint8Array");
    }
    const event = this.#recv;
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    if (this.#decide("recv", event, step).outcome === "ok:eof") return 0;
    let n: number | null;
    try {
      n = await this.#sys.read(buffer);
    } catch (error) {
      throw this.#ioError("recv", error);
    }
    if (n !== null) return n;
    this.#see(SEEN_END, "recv");
    return 0;
  }

  async shutdown(how: ShutdownHow): Promise<void> {
    if (how !== "read" && how !== "write" && how !== "both") {
      throw this.#badInput(
        "shutdown",
        `"how" must be "read", "write" or "both", got ${JSON.stringify(how)}`,
      );
    }
    await this.#change("shutdown", {
      type: "SHUTDOWN",
      how,
      io: { sys: this.#sys },
    });
  }

  close(): void {
    const step = this.#allow("close", CLOSE);
    this.#move(step.next, "close");
    const effect = this.#effect;
    this.#effect = undefined;
    effect?.stop();
    this.#sys.close();
  }

  [Symbol.dispose](): void {
    if (this.state !== "closed") this.close();
  }

  getsockname(): AddrOf<D> {
    this.#allow("getsockname", GETSOCKNAME);
    return this.#own(this.#sys.local ?? unboundAddr(this.domain));
  }

  getpeername(): AddrOf<D> {
    const step = this.#allow("getpeername", GETPEERNAME);
    // Whether the connection is over, only the kernel knows.
    if (!step.asks) return this.#own(this.#sys.remote!);
    try {
      return this.#own(this.#sys.peerName());
    } catch (error) {
      throw this.#ioError("getpeername", error);
    }
  }

  /** A copy of an address of the socket's own domain, the caller's to keep. */
  #own(addr: SocketAddr): AddrOf<D> {
    return { ...addr } as AddrOf<D>;
  }

  async sendto(data: Uint8Array, addr: SocketAddr): Promise<number> {
    if (!(data instanceof Uint8Array)) {
      throw this.#badInput("sendto", "data must be a Uint8Array");
    }
    const checked = this.#checkAddr(addr, "sendto");
    const event: SocketEvent = { type: "SENDTO", family: checked.domain };
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    // UDP binds an ephemeral port first: the state may change.
    this.#moveOn("sendto", this.#decide("sendto", event, step));
    return await this.#write("sendto", data, checked.addr);
  }

  async recvfrom(
    max: number = DEFAULT_RECV,
  ): Promise<{ data: Uint8Array; addr: AddrOf<D> | undefined }> {
    const buffer = this.#recvBuffer("recvfrom", max);
    const event = this.#recv;
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    if (this.#decide("recvfrom", event, step).outcome === "ok:eof") {
      return { data: EMPTY, addr: undefined };
    }
    let got;
    try {
      got = await this.#sys.readFrom(buffer);
    } catch (error) {
      throw this.#ioError("recvfrom", error);
    }
    const addr = got.from && this.#own(got.from);
    if (got.count === null) {
      this.#see(SEEN_END, "recvfrom");
      return { data: EMPTY, addr };
    }
    return {
      data: got.count === 0 ? EMPTY : buffer.subarray(0, got.count),
      addr,
    };
  }

  async disconnect(): Promise<void> {
    let step;
    while ((step = this.#stepOrWait(DISCONNECT)) instanceof Promise) {
      await step;
    }
    const { next } = this.#decide("disconnect", DISCONNECT, step);
    try {
      await this.#sys.disconnect();
    } catch (error) {
      throw this.#ioError("disconnect", error);
    }
    this.#move(next, "disconnect");
  }

  async setsockopt<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): Promise<void> {
    const option = checkOptionName(name, "setsockopt", this.state);
    const checked = checkOptionValue(
      option as N,
      value,
      this.state,
    );
    const event = setsockoptEvent(option as N, checked);
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    this.#decide("setsockopt", event, step);
    try {
      this.#sys.setOption(option as N, checked);
    } catch (error) {
      throw this.#ioError("setsockopt", error);
    }
  }

  async getsockopt<N extends SocketOptionName>(
    name: N,
  ): Promise<SocketOptionValues[N]> {
    const option = checkOptionName(name, "getsockopt", this.state) as N;
    const event: SocketEvent = { type: "GETSOCKOPT", option };
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    const { next } = this.#decide("getsockopt", event, step);
    let value: SocketOptionValues[N];
    try {
      value = this.#sys.getOption(option);
    } catch (error) {
      throw this.#ioError("getsockopt", error);
    }
    // SO_ERROR took the pending error, in the kernel and in the machine.
    this.#move(next, "getsockopt");
    return value;
  }

  async wait(what: Readiness, options: WaitOptions = {}): Promise<void> {
    if (what !== "read" && what !== "write") {
      throw this.#badInput(
        "wait",
        `"what" must be "read" or "write", got ${describe(what)}`,
      );
    }
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw this.#badInput("wait", '"signal" must be an AbortSignal');
    }
    this.#allow("wait", POLL);
    try {
      await this.#sys.ready(what, signal);
    } catch (error) {
      throw this.#ioError("wait", error);
    }
  }

  /**
   * The machine's step for a call that cannot wait (the machine never makes
   * `close`, `getsockname` and `getpeername` wait), decided as
   * `#decide()` does.
   */
  #allow(op: SocketOp, event: SocketEvent): Step & { allowed: true } {
    return this.#decide(op, event, this.#graph.step(this.#node, event));
  }

  /**
   * The machine's step for `event` now, or, when the call must wait for the
   * call in flight (the kernel's socket lock orders the two), a promise that
   * settles when that call has: then ask again, and the state it left
   * answers. Stepping and deciding happen with no wait in between, so calls
   * that waited together go on in the order they were made.
   */
  #stepOrWait(event: SocketEvent): Step | Promise<void> {
    const step = this.#graph.step(this.#node, event);
    if (step.allowed || !step.waits) return step;
    if (!this.#inFlight) {
      throw new Error(
        `The socket machine makes "${event.type}" wait in state "${this.state}", where no call is in flight`,
      );
    }
    if (this.#settled === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => resolve = done);
      this.#settled = { promise, resolve };
    }
    return this.#settled.promise;
  }

  /**
   * Decides a step: a refusal is thrown before any system call; an errno the
   * facts say the kernel answers is thrown after the step (its side effects,
   * such as shutdown bits, stay, as in the kernel).
   */
  #decide(
    op: SocketOp,
    event: SocketEvent,
    step: Step,
  ): Step & { allowed: true } {
    if (!step.allowed) {
      if (step.waits) {
        throw new Error(
          `Cannot ${op}() now: the socket machine makes it wait for the call in flight, and ${op}() cannot wait`,
        );
      }
      throw this.#error(op, event, step.errno, step.why);
    }
    const { outcome } = step;
    if (outcome !== undefined && isErrno(outcome)) {
      const error = this.#error(op, event, outcome, step.why);
      this.#move(step.next, op);
      throw error;
    }
    return step;
  }

  /** The error for `op` in the current state: what, where, and why. */
  #error(
    op: SocketOp,
    event: SocketEvent,
    errno: Errno,
    why: string | undefined,
  ): SocketError {
    const addr = "io" in event && event.io && "addr" in event.io
      ? ` to ${formatAddr(event.io.addr)}`
      : "";
    return new SocketError(
      errno,
      op,
      `Cannot ${op}()${addr} on ${
        article(this.domain)
      } socket in state "${this.state}": ${errno}, ${why}`,
      { state: this.state },
    );
  }

  /** Takes a state-changing step and runs the effect it starts, if any. */
  async #change(op: SocketOp, event: SocketEvent): Promise<void> {
    // A call that need not wait changes the state before this returns.
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) await step;
    const decided = this.#decide(op, event, step);
    if (decided.asks) return this.#ask(op, event);
    const { next } = decided;
    const from = this.state;
    this.#move(next, op);
    if (!next.inFlight) return;
    const { logic, input } = this.#graph.effect(next, event);
    const effect = createActor(logic, { input });
    this.#effect = effect;
    this.#inFlight = true;
    try {
      let failure: { error: unknown } | undefined;
      try {
        await toPromise(effect.start());
      } catch (error) {
        failure = { error };
      }
      if (this.#node.state !== next.state) {
        // Only close() leaves an in-flight state from outside (what a read
        // saw meanwhile may change its facts, not its state). It stopped
        // the effect; let the backend finish winding it down before
        // answering.
        await effectSettled(this.#sys);
        throw new SocketError(
          "EBADF",
          op,
          `Cannot finish ${op}(): EBADF, the socket was closed while the call was in progress`,
          { state: from },
        );
      }
      this.#effect = undefined;
      this.#move(
        this.#graph.settle(this.#node, failure ? "error" : "done"),
        op,
      );
      if (failure) {
        const error = osError(failure.error, op, `${op}()`);
        // The kernel's answer, given the state the call was made in.
        throw error.state !== undefined ? error : new SocketError(
          error.code,
          error.op,
          error.message,
          { state: from, step: error.step, cause: error.cause ?? error },
        );
      }
    } finally {
      // The calls that waited for this one go on from the state it left.
      this.#inFlight = false;
      const settled = this.#settled;
      this.#settled = undefined;
      settled?.resolve();
    }
  }

  /**
   * A call whose answer depends on what the machine is not told: the
   * backend asks the kernel (or looks, as the Deno backend does). Two calls
   * ask: `connect()` on a connected or listening unix socket (Linux looks
   * the target up first; the state stays), and a non-blocking TCP
   * `connect()`, whose answer tells the machine how the attempt stands.
   */
  async #ask(op: SocketOp, event: SocketEvent): Promise<void> {
    if (event.type !== "CONNECT" || event.io === undefined) {
      throw new Error(`Cannot ask the kernel about ${op}(): nothing to ask`);
    }
    if (event.nonblocking) return await this.#connectNow(op, event.io.addr);
    const refusal = this.#sys.connectRefusal(event.io.addr);
    if (refusal !== undefined) throw withState(refusal, this.state);
    // The target is live: the socket's own state answers.
    const own = this.#graph.step(this.#node, { ...event, target: "live" });
    this.#decide(op, event, own);
    throw new Error(
      `The socket machine lets ${op}() connect a ${this.state} socket to a live target`,
    );
  }

  /**
   * A non-blocking TCP `connect(2)`: one call, whose answer moves the
   * machine. `EINPROGRESS`: the attempt goes on; 0 (or `EISCONN`): it is
   * connected; `EALREADY`: nothing new; anything else: it failed, and the
   * socket is unconnected again, as the kernel leaves it.
   */
  async #connectNow(op: SocketOp, addr: SocketAddr): Promise<void> {
    const from = this.state;
    try {
      await this.#sys.connect(addr, NEVER_ABORTED);
      this.#see(SEEN_CONNECTED, op);
    } catch (error) {
      const failure = osError(error, op, `${op}() to ${formatAddr(addr)}`);
      const code = failure.code;
      // EALREADY tells the machine nothing: the attempt goes on, as it knew.
      if (code !== "EALREADY") {
        this.#see(
          code === "EINPROGRESS"
            ? SEEN_CONNECTING
            : code === "EISCONN"
            ? SEEN_CONNECTED
            : SEEN_CONNECT_FAILED,
          op,
        );
      }
      throw failure.state !== undefined ? failure : new SocketError(
        code,
        op,
        failure.message,
        { state: from, cause: failure.cause ?? failure },
      );
    }
  }

  /** Tells the machine what a read or write of the socket saw. */
  #see(event: SocketEvent, op: SocketOp): void {
    const step = this.#graph.step(this.#node, event);
    if (step.allowed) this.#move(step.next, op);
  }

  /** Takes an allowed step of a data call, if it leads anywhere new. */
  #moveOn(op: SocketOp, step: Step & { allowed: true }): void {
    if (step.next !== this.#node) this.#move(step.next, op);
  }

  #move(next: SocketNode, op: SocketOp): void {
    const from = this.#node.state;
    this.#node = next;
    if (next.state !== from) {
      this.#onTransition?.({ from, to: next.state, op });
    }
  }

  #ioError(op: SocketOp, error: unknown): SocketError {
    if (this.state === "closed") {
      return new SocketError(
        "EBADF",
        op,
        `Cannot finish ${op}(): EBADF, the socket was closed while the call was in progress`,
        { state: this.state },
      );
    }
    const failure = osError(error, op, `${op}() on a ${this.state} socket`, {
      state: this.state,
    });
    if (failure.code === "ECONNRESET" || failure.code === "EPIPE") {
      this.#see(SEEN_RESET, op);
    }
    return failure;
  }

  /** `checkAddr()` for `op`, its error given the socket's state. */
  #checkAddr(addr: SocketAddr, op: SocketOp): ReturnType<typeof checkAddr> {
    try {
      return checkAddr(addr, op, "the address");
    } catch (error) {
      throw error instanceof SocketError ? withState(error, this.state) : error;
    }
  }

  /**
   * Writes all of `data` (to `addr`, with `sendto`), one send at a time, so
   * that each call's bytes go out whole, in call order. A datagram goes out
   * in one call, even an empty one.
   */
  async #write(
    op: SocketOp,
    data: Uint8Array,
    addr: SocketAddr | undefined,
  ): Promise<number> {
    const turn = this.#sends.take();
    if (turn) await turn;
    const sys = this.#sys;
    try {
      if (this.type === "dgram") {
        return await (addr ? sys.writeTo(data, addr) : sys.write(data));
      }
      let written = 0;
      while (written < data.length) {
        const rest = data.subarray(written);
        written += await (addr ? sys.writeTo(rest, addr) : sys.write(rest));
      }
      return written;
    } catch (error) {
      throw this.#ioError(op, error);
    } finally {
      this.#sends.done();
    }
  }

  /** A buffer for a receive of at most `max` bytes. */
  #recvBuffer(op: SocketOp, max: number): Uint8Array<ArrayBuffer> {
    if (!Number.isInteger(max) || max < 1) {
      throw this.#badInput(
        op,
        `"max" must be a positive integer, got ${describe(max)}`,
      );
    }
    return new Uint8Array(max);
  }

  #badInput(op: SocketOp, why: string): SocketError {
    return new SocketError("EINVAL", op, `Cannot ${op}(): ${why}`, {
      state: this.state,
    });
  }
}

/**
 * The machine's event for `setsockopt(option, value)`: whether a boolean
 * option is turned on, and whether `SO_LINGER` makes close() reset.
 */
function setsockoptEvent<N extends SettableOptionName>(
  option: N,
  value: SocketOptionValues[N],
): SocketEvent {
  if (typeof value === "boolean") {
    return { type: "SETSOCKOPT", option, on: value };
  }
  if (option === "SO_LINGER") {
    const { onoff, linger } = value as SocketOptionValues["SO_LINGER"];
    return { type: "SETSOCKOPT", option, resets: onoff && linger === 0 };
  }
  return { type: "SETSOCKOPT", option };
}

/** "an inet", "an inet6", "a unix". */
export function article(domain: Domain): string {
  return `${domain === "unix" ? "a" : "an"} ${domain}`;
}

/**
 * The machine's errno for an address of `family` given to a `domain` socket,
 * or `undefined` when the families fit.
 */
export function familyMismatch(
  domain: Domain,
  family: Domain,
): Errno | undefined {
  const graph = socketGraph();
  const step = graph.step(graph.start({ domain, type: "stream" }), {
    type: "BIND",
    family,
    port: family === "unix" ? "path" : "kernel",
  });
  return step.allowed || step.waits ? undefined : step.errno;
}

function portChoice(addr: SocketAddr): PortChoice {
  if ("path" in addr) return "path";
  return addr.port === 0 ? "kernel" : "caller";
}
