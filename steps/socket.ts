// Copyright 2026 the sockfsm authors. MIT license.
import {
  type AddrOf,
  article,
  checkAddr,
  type Domain,
  formatAddr,
  type SocketAddr,
  unboundAddr,
} from "../machine/address.ts";
import {
  Disconnection,
  type Readiness,
  type ShutdownHow,
  type SysSocket,
  type SysSocketKind,
} from "../machine/effects.ts";
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
  unknownOption,
} from "../machine/options.ts";
import {
  ANY_KERNEL,
  type KernelBehaviour,
  type KernelName,
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
import { type SysCall, sysCalls, sysEffects } from "./sys_effects.ts";

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
   *
   * A tracer that throws never leaves the socket between states: the call
   * completes in full (the transition is taken, the system call made, the
   * socket consistent), then rejects with the tracer's error, unchanged
   * (`close()` throws it once the socket is closed); if the tracer threw
   * several times, with its first error. An error of the call itself is
   * then dropped.
   */
  onTransition?: (change: StateChange) => void;
}

/**
 * Options for a call that can wait: {@linkcode Socket.connect},
 * {@linkcode Socket.recv}, {@linkcode Socket.recvInto},
 * {@linkcode Socket.recvfrom}, {@linkcode Socket.send} and
 * {@linkcode Socket.sendto}. Checked in full before any system call: an
 * unknown key is `EINVAL`.
 */
export interface CallOptions {
  /**
   * Stops the call when it aborts: it rejects at once with
   * {@linkcode SocketError} `ECANCELED` (`ETIMEDOUT` when the reason is a
   * `DOMException` named `"TimeoutError"`, as `AbortSignal.timeout(ms)`
   * gives), with the signal's reason as `cause` and the state at the call
   * as `state`. The socket is left as Linux leaves it after an interrupted
   * call: nothing is received (bytes or a datagram that come stay queued
   * for the next read); bytes already handed to the kernel go out, the rest
   * does not; a TCP `connect()` goes on (the socket stays `"connecting"`, a
   * later `connect()` waits for the same attempt, `close()` ends it). A signal
   * already aborted rejects before any system call, and changes nothing.
   */
  signal?: AbortSignal;
}

/** Options for {@linkcode Socket.accept}. */
export interface AcceptOptions {
  /**
   * Stops waiting when it aborts, as {@linkcode CallOptions.signal}: the
   * socket keeps listening, and a connection that comes stays queued for
   * the next `accept()`.
   */
  signal?: AbortSignal;
  /**
   * Traces the accepted socket's changes of state. When it throws (on the
   * accepted socket's first change, `"created"` to `"connected"`), the
   * accepted socket is closed and `accept()` rejects with its error,
   * unchanged; see {@linkcode SocketOptions.onTransition}.
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
   * @param options A `signal` to stop waiting, and a tracer for the
   * accepted socket.
   * @throws {SocketError} `EINVAL` when the socket is not listening, or for
   * bad options (checked before `accept(2)`); `ECANCELED` or `ETIMEDOUT`
   * when `signal` aborts.
   */
  accept(options?: AcceptOptions): Promise<Socket<D>>;
  /**
   * Connects to a listening socket (`connect(2)`), from the bound address if
   * there is one.
   *
   * @example Bound a connect with a timeout
   * ```ts
   * import { socket } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using server = socket({ domain: "inet" });
   * await server.bind({ hostname: "127.0.0.1", port: 0 });
   * await server.listen();
   * using client = socket({ domain: "inet" });
   * await client.connect(server.getsockname(), {
   *   signal: AbortSignal.timeout(1000), // ETIMEDOUT if it takes longer
   * });
   * assert.equal(client.state, "connected");
   * ```
   *
   * @param options A `signal` to stop waiting (see
   * {@linkcode CallOptions.signal}: a TCP attempt goes on, and the socket
   * stays `"connecting"` until it ends or `close()`).
   * @throws {SocketError} `EISCONN` when connected, `ECONNREFUSED` when
   * nothing listens there, `ECANCELED` or `ETIMEDOUT` when `signal` aborts.
   */
  connect(addr: SocketAddr, options?: CallOptions): Promise<void>;
  /**
   * Sends all of `data` (`send(2)` until done); resolves to its length.
   * Concurrent sends on one socket queue: each call's bytes go out whole, one
   * call after another, in the order of the calls (as Node's
   * `socket.write()` and a Web Streams writer do), never interleaved.
   *
   * @param options A `signal` to stop the send: the bytes already handed
   * to the kernel go out, the rest does not, and the error's message says
   * how many had gone out; later sends keep their order.
   * @throws {SocketError} `EPIPE` when never connected (TCP) or after
   * `shutdown("write")`; `ECANCELED` or `ETIMEDOUT` when `signal` aborts.
   */
  send(data: Uint8Array, options?: CallOptions): Promise<number>;
  /**
   * Receives up to `max` bytes (`recv(2)`); an empty array is end of stream.
   * The array holds only the bytes received: its `buffer` is exactly as
   * long (a right-sized copy).
   *
   * @example Stop waiting for data
   * ```ts
   * import { streamConnection } from "@sockfsm/sockfsm";
   * import assert from "node:assert/strict";
   *
   * using pair = await streamConnection({
   *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
   * });
   * await assert.rejects(
   *   pair.srvrS.recv(100, { signal: AbortSignal.timeout(50) }),
   *   { code: "ETIMEDOUT", state: "connected" },
   * );
   * await pair.clntS.send(new TextEncoder().encode("late"));
   * assert.equal(new TextDecoder().decode(await pair.srvrS.recv()), "late");
   * ```
   *
   * @param max The most bytes to return, at most 64 MiB (`MAX_RECV`):
   * one `recv(2)` never returns more than the socket's receive queue holds,
   * which Linux bounds by `tcp_rmem` (6 MiB by default) or `rmem_max` for
   * datagrams, so a larger buffer would only be allocated to stay empty.
   * For more, use {@linkcode Socket.recvInto} with a buffer of your own.
   * @default {65536}
   * @param options A `signal` to stop waiting; nothing is consumed.
   * @throws {SocketError} `ENOTCONN` when not connected (TCP); `EINVAL`
   * when `max` is not an integer from 1 to 64 MiB; `ECANCELED` or
   * `ETIMEDOUT` when `signal` aborts.
   */
  recv(max?: number, options?: CallOptions): Promise<Uint8Array>;
  /**
   * Receives into `buffer` and resolves to the count; 0 is end of stream.
   * The same as {@linkcode Socket.recv} without allocating: the kernel
   * writes into `buffer` (with a `signal`, the deno backend reads through
   * its read-ahead, one copy, so that an abort leaves the data queued).
   *
   * @param options A `signal` to stop waiting; nothing is consumed, and
   * `buffer` is not written once the call has rejected.
   */
  recvInto(buffer: Uint8Array, options?: CallOptions): Promise<number>;
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
   * @param options A `signal` to stop the send, as for
   * {@linkcode Socket.send}.
   * @throws {SocketError} `EISCONN` on a connected unix stream socket,
   * `EOPNOTSUPP` on an unconnected one, `EPIPE` after `shutdown("write")`;
   * `ECANCELED` or `ETIMEDOUT` when `signal` aborts.
   */
  sendto(
    data: Uint8Array,
    addr: SocketAddr,
    options?: CallOptions,
  ): Promise<number>;
  /**
   * Receives as {@linkcode Socket.recv} does (one datagram, truncated to
   * `max`, on a datagram socket), with the sender's address (`recvfrom(2)`);
   * `addr` is `undefined` where the kernel gives none (TCP).
   *
   * @param max The most bytes to return, at most 64 MiB (as for
   * {@linkcode Socket.recv}); `data` holds only the bytes received.
   * @default {65536}
   * @param options A `signal` to stop waiting; nothing is consumed (a
   * datagram that comes stays queued).
   */
  recvfrom(
    max?: number,
    options?: CallOptions,
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
/**
 * The most bytes one `recv()` or `recvfrom()` may ask for: 64 MiB, above
 * what one `recv(2)` can return (see {@linkcode Socket.recv}).
 */
export const MAX_RECV: number = 64 * 1024 * 1024;
/** The keys of each options object, for the error naming an unknown one. */
const CALL_KEYS: readonly string[] = ["signal"];
/** The options of socket(), as `SocketOptions` names them. */
const SOCKET_KEYS: readonly string[] = [
  "domain",
  "type",
  "protocol",
  "backend",
  "nonblocking",
  "onTransition",
];
const ACCEPT_KEYS: readonly string[] = ["signal", "onTransition"];
/** What `orAbort()` resolves to when the signal aborted first. */
const ABORTED: unique symbol = Symbol("aborted");
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
const INTERRUPT: SocketEvent = { type: "INTERRUPT" };
const SEEN_END: SocketEvent = { type: "SEEN_END" };
const SEEN_RESET: SocketEvent = { type: "SEEN_RESET" };
const EMPTY = new Uint8Array(0);

let graph: SocketGraph | undefined;

/**
 * The node an accepted socket starts in, for a listener at `listening`:
 * born connected, with the listener's domain, type, kernel and
 * environment. Nodes are canonical, so one answer serves every accept.
 */
function acceptedStart(listening: SocketNode): SocketNode {
  let node = ACCEPTED_STARTS.get(listening);
  if (node === undefined) {
    const { domain, type, kernel, environment } = listening.facts;
    node = socketGraph().start({
      domain,
      type,
      accepted: true,
      kernel,
      environment,
    });
    ACCEPTED_STARTS.set(listening, node);
  }
  return node;
}

const ACCEPTED_STARTS = new Map<SocketNode, SocketNode>();

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
  const checked = checkSocketOptions(options);
  return socketOver(checked, createSysSocket(checked.backend, checked.kind));
}

/** `socket()`'s options, checked, with the kind of system socket to make. */
export interface CheckedSocketOptions {
  readonly domain: Domain;
  readonly type: SocketType;
  readonly backend: Backend;
  readonly nonblocking: boolean;
  readonly onTransition: ((change: StateChange) => void) | undefined;
  readonly kind: SysSocketKind;
}

/**
 * Checks `socket()`'s options before any socket exists.
 *
 * @throws {SocketError} As `socket()` does for bad options.
 */
export function checkSocketOptions(options: unknown): CheckedSocketOptions {
  if (typeof options !== "object" || options === null) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot create a socket with options ${
        describe(options)
      }: give an object, such as { domain: "inet" }`,
    );
  }
  const unknown = unknownOption(options, SOCKET_KEYS);
  if (unknown !== undefined) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot create a socket: ${unknown}`,
    );
  }
  const { domain, type = "stream", protocol = 0, nonblocking = false } =
    options as SocketOptions;
  checkSocketArgs(domain, type, protocol);
  const backend = checkBackend((options as SocketOptions).backend, "socket");
  if (typeof nonblocking !== "boolean") {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot create a socket with nonblocking ${
        describe(nonblocking)
      }: use true or false`,
    );
  }
  const { onTransition } = options as SocketOptions;
  if (onTransition !== undefined && typeof onTransition !== "function") {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot create a socket with onTransition ${
        describe(onTransition)
      }: give a function, or leave it out`,
    );
  }
  return {
    domain,
    type,
    backend,
    nonblocking,
    onTransition,
    kind: sysKind(domain, type, nonblocking),
  };
}

/**
 * A new socket of `checked`'s kind over `sys`, its system side: made by the
 * backend here, or by the agent of another PCO, whose kernel (`remote`, as
 * its agent detected it) then answers for it.
 */
export function socketOver<D extends Domain>(
  checked: CheckedSocketOptions,
  sys: SysSocket,
  remote?: { readonly kernel: KernelName | undefined },
): Socket<D> {
  const { domain, type, backend, nonblocking, onTransition } = checked;
  const graph = socketGraph();
  // The runtime is not told what the peer does: rules whose answer depends
  // on it let the call through to the kernel.
  const start = graph.start({
    domain,
    type,
    kernel: kernelOf(backend, remote),
    environment: "unseen",
  });
  return new StreamSocket(start, sys, { backend, nonblocking, onTransition });
}

/**
 * What a backend's sockets take the kernel to do where kernel builds
 * differ. The posix backend lets the kernel answer wherever profiles differ,
 * so it refuses a call before any system call only when every profile does.
 * The Deno backend cannot ask the kernel (it realises some calls with other
 * sockets), so it answers as the running kernel's profile when `--allow-ffi`
 * lets it detect it, and as the default profile otherwise; for a socket of
 * another PCO, as the profile its agent detected.
 */
function kernelOf(
  backend: Backend,
  remote: { readonly kernel: KernelName | undefined } | undefined,
): KernelBehaviour {
  if (backend === "posix") return ANY_KERNEL;
  if (remote !== undefined) return kernelProfile(remote.kernel).behaviour;
  const name = runningKernel();
  if (running === undefined || running.name !== name) {
    running = { name, behaviour: kernelProfile(name).behaviour };
  }
  return running.behaviour;
}

/** The running kernel's behaviour, as last looked up. */
let running:
  | { readonly name: string | undefined; readonly behaviour: KernelBehaviour }
  | undefined;

/**
 * What the system side of a socket is made with, one constant object per
 * kind (every socket of a kind shares it).
 */
function sysKind(
  domain: Domain,
  type: SocketType,
  nonblocking: boolean,
): SysSocketKind {
  const key = `${domain} ${type} ${nonblocking}`;
  let kind = KINDS.get(key);
  if (kind === undefined) {
    kind = Object.freeze({ domain, type, nonblocking });
    KINDS.set(key, kind);
  }
  return kind;
}

const KINDS = new Map<string, SysSocketKind>();

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

/**
 * An effect in flight: what stops it, for one that takes a signal. Its
 * identity tells the call whether it was stopped meanwhile.
 */
interface RunningEffect {
  readonly stop: AbortController | undefined;
  /** Set once `close()` or an abort stopped it. */
  stopped: boolean;
  /**
   * Made only when a call waits for the effect: resolves once it has
   * settled and the socket moved to the state it leaves (or closed).
   */
  settled: { promise: Promise<void>; resolve(): void } | undefined;
  /**
   * How it ended, once it has: `error` is the call's own. Read by the calls
   * that joined it (a TCP connect() during another's attempt).
   */
  ended: { readonly error?: SocketError } | undefined;
  /**
   * Whether a call already took the effect's error: the call that made it,
   * unless its caller stopped waiting (an interrupted connect()), or the
   * first call that joined it.
   */
  errorTaken: boolean;
  /** Set once the call that made it no longer waits for it. */
  abandoned: boolean;
  /**
   * The call that stopped it, and the errno its own call then fails with
   * (a shutdown() that disconnected a TCP attempt), if one did.
   */
  stoppedBy: { readonly op: SocketOp; readonly errno: Errno } | undefined;
}

/** What `#change()` tells its caller of a call it made. */
interface ChangeCall {
  /** The effect the call started, if it started one. */
  started: RunningEffect | undefined;
  /** The effect in flight that it joined, if it joined one. */
  joined: RunningEffect | undefined;
}

/** A socket's backend and blocking mode. */
interface SocketMode {
  readonly backend: Backend;
  readonly nonblocking: boolean;
}

/** The constant `SocketMode` of `backend` and `nonblocking`. */
function modeOf(backend: Backend, nonblocking: boolean): SocketMode {
  const index = (backend === "posix" ? 2 : 0) + (nonblocking ? 1 : 0);
  return MODES[index] ??= Object.freeze({ backend, nonblocking });
}

const MODES: SocketMode[] = [];

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
  /** The backend and blocking mode: one constant object for each pair. */
  readonly #mode: SocketMode;
  readonly #sys: SysSocket;
  readonly #onTransition: ((change: StateChange) => void) | undefined;
  #node: SocketNode;
  /** The effect in flight, if any. */
  #effect: RunningEffect | undefined;
  /**
   * send() calls take turns, so that each call's bytes go out whole (made
   * by the first send).
   */
  #sends: Turns | undefined;
  /** The Web Streams, made on first use. */
  #streams:
    | {
      readable?: ReadableStream<Uint8Array<ArrayBuffer>>;
      writable?: WritableStream<Uint8Array>;
    }
    | undefined;
  /**
   * The first error a tracer threw since the last call reported one: the
   * call that made the change completes, then rethrows it.
   */
  #traced: { error: unknown } | undefined;
  /**
   * What `recv()` and `recvfrom()` read into (64 KiB, made on first use),
   * so that a result costs only its own bytes; `#scratchBusy` while a read
   * uses it (another read at the same time gets a new buffer).
   */
  #scratch: Uint8Array<ArrayBuffer> | undefined;
  #scratchBusy = false;

  constructor(node: SocketNode, sys: SysSocket, setup: SocketSetup) {
    this.#mode = modeOf(setup.backend, setup.nonblocking);
    this.#node = node;
    this.#sys = sys;
    this.#onTransition = setup.onTransition;
  }

  get state(): SocketState {
    return this.#node.state;
  }

  get backend(): Backend {
    return this.#mode.backend;
  }

  get nonblocking(): boolean {
    return this.#mode.nonblocking;
  }

  /** The domain the machine started from, which types the socket. */
  get domain(): D {
    return this.#node.facts.domain as D;
  }

  get type(): SocketType {
    return this.#node.facts.type;
  }

  /** The graph every socket steps in (made before the first socket). */
  get #graph(): SocketGraph {
    return graph!;
  }

  /** The events of accept() and recv(), as the blocking mode asks them. */
  get #accept(): SocketEvent {
    return this.nonblocking ? ACCEPT_NOW : ACCEPT;
  }

  get #recv(): SocketEvent {
    return this.nonblocking ? RECV_NOW : RECV;
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return (this.#streams ??= {}).readable ??= socketReadable(this);
  }

  get writable(): WritableStream<Uint8Array> {
    return (this.#streams ??= {}).writable ??= socketWritable(this);
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
        `"backlog" must be a non-negative integer, got ${describe(backlog)}`,
      );
    }
    await this.#change("listen", {
      type: "LISTEN",
      io: { sys: this.#sys, backlog },
    });
  }

  async connect(addr: SocketAddr, options?: CallOptions): Promise<void> {
    const signal = options === undefined
      ? undefined
      : this.#signalOf("connect", options, CALL_KEYS);
    const checked = this.#checkAddr(addr, "connect");
    const family = checked.domain;
    const io = { sys: this.#sys, addr: checked.addr };
    const event: SocketEvent = this.nonblocking
      ? { type: "CONNECT", family, nonblocking: true, io }
      : { type: "CONNECT", family, io };
    if (signal === undefined) return await this.#change("connect", event);
    const from = this.state;
    if (signal.aborted) throw this.#cancelled("connect", signal, from, false);
    const call: ChangeCall = { started: undefined, joined: undefined };
    const running = this.#change("connect", event, signal, call);
    if (await orAbort(running, signal) !== ABORTED) return;
    const own = call.started;
    if (own === undefined || own !== this.#effect) {
      // It waited for another call, or joined another's attempt (which the
      // machine says an interrupt does not stop): it started nothing.
      const left = call.joined
        ? this.#allow("connect", INTERRUPT).why
        : "nothing was done";
      throw this.#cancelled("connect", signal, from, true, left);
    }
    // The machine says what an interrupted connect() leaves: an attempt
    // that stops (the effect's signal tells the backend) settles as a
    // failed one before this rejects; one that goes on settles when it ends,
    // and a connect() that joins it then takes its error.
    const interrupted = this.#allow("connect", INTERRUPT);
    if (interrupted.stops) {
      this.#stopEffect();
      await running.catch(() => {});
    } else own.abandoned = true;
    throw this.#cancelled("connect", signal, from, true, interrupted.why);
  }

  async accept(options?: AcceptOptions): Promise<Socket<D>> {
    // Checked in full before accept(2): nothing is accepted for bad options.
    const signal = options === undefined
      ? undefined
      : this.#signalOf("accept", options, ACCEPT_KEYS);
    const from = this.state;
    if (signal?.aborted) throw this.#cancelled("accept", signal, from, false);
    const event = this.#accept;
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) {
      await (signal === undefined
        ? step
        : this.#waitOrAbort(step, "accept", signal, from));
    }
    this.#decide("accept", event, step);
    let sys: SysSocket;
    try {
      sys = await this.#sys.accept(signal);
    } catch (error) {
      throw signal?.aborted
        ? this.#cancelled("accept", signal, from, true)
        : this.#ioError("accept", error);
    }
    const onTransition = options?.onTransition ?? this.#onTransition;
    const node = acceptedStart(this.#node);
    if (onTransition !== undefined) {
      try {
        // Born connected: the machine went created -> connected at once.
        onTransition({ from: "created", to: node.state, op: "accept" });
      } catch (error) {
        // Nobody will hold the new socket: it is closed, not leaked.
        sys.close();
        throw error;
      }
    }
    // Linux's accept() makes a blocking socket, whatever the listener.
    return new StreamSocket<D>(node, sys, {
      backend: this.backend,
      nonblocking: false,
      onTransition,
    });
  }

  send(data: Uint8Array, options?: CallOptions): Promise<number> {
    // Not async: a send that need not wait hands on #write()'s promise
    // (one promise less per call, on the data path); errors still reject.
    try {
      this.#checkBytes("send", data);
      const signal = options === undefined
        ? undefined
        : this.#signalOf("send", options, CALL_KEYS);
      const from = this.state;
      if (signal?.aborted) throw this.#cancelled("send", signal, from, false);
      const step = this.#stepOrWait(SEND);
      if (step instanceof Promise) {
        return this.#sendAfter(step, data, signal, from);
      }
      if (bindsAndFails(step, this.#node)) return this.#sendBinding(step, data);
      this.#decide("send", SEND, step);
      return this.#write("send", data, undefined, signal, from);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A send() that waits for the call in flight first (see `send()`). */
  async #sendAfter(
    wait: Promise<void>,
    data: Uint8Array,
    signal: AbortSignal | undefined,
    from: SocketState,
  ): Promise<number> {
    let step: Step | Promise<void> = wait;
    do {
      await (signal === undefined
        ? step
        : this.#waitOrAbort(step, "send", signal, from));
    } while ((step = this.#stepOrWait(SEND)) instanceof Promise);
    if (bindsAndFails(step, this.#node)) {
      return await this.#sendBinding(step, data);
    }
    this.#decide("send", SEND, step);
    return await this.#write("send", data, undefined, signal, from);
  }

  /**
   * A send() that the machine answers with an errno after the kernel bound
   * the socket (UDP without a peer: `EDESTADDRREQ`, after an ephemeral
   * port). The machine's errno is refused before any call elsewhere; here
   * the call is made, so that the kernel's socket is bound as the machine
   * says, and its answer stands. A refusal that reached no kernel (Deno's
   * permissions) binds nothing: the state stays.
   */
  async #sendBinding(
    step: Step & { allowed: true },
    data: Uint8Array,
  ): Promise<never> {
    try {
      await this.#sys.write(data);
    } catch (error) {
      const failure = osError(error, "send", "send()", { state: this.state });
      if (failure.code !== step.outcome) throw failure;
      this.#decide("send", SEND, step);
    }
    throw new Error(
      `The kernel sent a datagram from a ${this.state} socket that the socket machine says has no peer`,
    );
  }

  async recv(
    max: number = DEFAULT_RECV,
    options?: CallOptions,
  ): Promise<Uint8Array> {
    const buffer = this.#recvBuffer("recv", max);
    let n: number;
    try {
      n = await this.recvInto(buffer, options);
    } finally {
      this.#release(buffer);
    }
    return this.#received(buffer, n);
  }

  async recvInto(buffer: Uint8Array, options?: CallOptions): Promise<number> {
    if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
      throw this.#badInput(
        "recv",
        `the buffer must be a non-empty Uint8Array, got ${
          buffer instanceof Uint8Array ? "an empty one" : describe(buffer)
        }`,
      );
    }
    const signal = options === undefined
      ? undefined
      : this.#signalOf("recv", options, CALL_KEYS);
    const from = this.state;
    if (signal?.aborted) throw this.#cancelled("recv", signal, from, false);
    const event = this.#recv;
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) {
      await (signal === undefined
        ? step
        : this.#waitOrAbort(step, "recv", signal, from));
    }
    if (this.#decide("recv", event, step).outcome === "ok:eof") return 0;
    let n: number | null;
    try {
      n = await this.#sys.read(buffer, signal);
    } catch (error) {
      throw signal?.aborted
        ? this.#cancelled("recv", signal, from, true)
        : this.#ioError("recv", error);
    }
    if (n !== null) return n;
    this.#see(SEEN_END, "recv");
    this.#throwTraced();
    return 0;
  }

  async shutdown(how: ShutdownHow): Promise<void> {
    if (how !== "read" && how !== "write" && how !== "both") {
      throw this.#badInput(
        "shutdown",
        `"how" must be "read", "write" or "both", got ${describe(how)}`,
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
    this.#stopEffect();
    this.#sys.close();
    // A tracer that threw has its error reported once the socket is closed.
    this.#throwTraced();
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

  async sendto(
    data: Uint8Array,
    addr: SocketAddr,
    options?: CallOptions,
  ): Promise<number> {
    this.#checkBytes("sendto", data);
    const signal = options === undefined
      ? undefined
      : this.#signalOf("sendto", options, CALL_KEYS);
    const checked = this.#checkAddr(addr, "sendto");
    const from = this.state;
    if (signal?.aborted) throw this.#cancelled("sendto", signal, from, false);
    const event: SocketEvent = { type: "SENDTO", family: checked.domain };
    let admitted = false;
    for (;;) {
      let step;
      while ((step = this.#stepOrWait(event)) instanceof Promise) {
        await (signal === undefined
          ? step
          : this.#waitOrAbort(step, "sendto", signal, from));
      }
      const decided = this.#decide("sendto", event, step);
      if (!admitted && bindsSocket(decided, this.#node)) {
        // UDP binds a port first, in the kernel; a sendto() that Deno's
        // permissions refuse reaches no kernel, and binds nothing.
        const asked = this.#sys.sendtoRefusal(checked.addr);
        const refusal = asked instanceof Promise ? await asked : asked;
        if (refusal !== undefined) throw withState(refusal, this.state);
        admitted = true;
        // The state may have moved while another PCO answered: step again.
        if (asked instanceof Promise) continue;
      }
      this.#moveOn("sendto", decided);
      break;
    }
    this.#throwTraced();
    return await this.#write("sendto", data, checked.addr, signal, from);
  }

  async recvfrom(
    max: number = DEFAULT_RECV,
    options?: CallOptions,
  ): Promise<{ data: Uint8Array; addr: AddrOf<D> | undefined }> {
    checkMax(max, (why) => this.#badInput("recvfrom", why));
    const signal = options === undefined
      ? undefined
      : this.#signalOf("recvfrom", options, CALL_KEYS);
    const from = this.state;
    if (signal?.aborted) {
      throw this.#cancelled("recvfrom", signal, from, false);
    }
    const event = this.#recv;
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) {
      await (signal === undefined
        ? step
        : this.#waitOrAbort(step, "recvfrom", signal, from));
    }
    if (this.#decide("recvfrom", event, step).outcome === "ok:eof") {
      return { data: EMPTY, addr: undefined };
    }
    const buffer = this.#recvBuffer("recvfrom", max);
    let got;
    try {
      got = await this.#sys.readFrom(buffer, signal);
    } catch (error) {
      throw signal?.aborted
        ? this.#cancelled("recvfrom", signal, from, true)
        : this.#ioError("recvfrom", error);
    } finally {
      this.#release(buffer);
    }
    const addr = got.from && this.#own(got.from);
    if (got.count === null) {
      this.#see(SEEN_END, "recvfrom");
      this.#throwTraced();
      return { data: EMPTY, addr };
    }
    return { data: this.#received(buffer, got.count), addr };
  }

  async disconnect(): Promise<void> {
    let step;
    while ((step = this.#stepOrWait(DISCONNECT)) instanceof Promise) {
      await step;
    }
    const decided = this.#decide("disconnect", DISCONNECT, step);
    if (decided.stops !== undefined) {
      return await this.#disconnectInFlight("disconnect", decided);
    }
    const { next } = decided;
    try {
      await this.#sys.disconnect();
    } catch (error) {
      throw this.#ioError("disconnect", error);
    }
    this.#move(next, "disconnect");
    this.#throwTraced();
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
      await this.#sys.setOption(option as N, checked);
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
      value = await this.#sys.getOption(option);
    } catch (error) {
      throw this.#ioError("getsockopt", error);
    }
    // SO_ERROR took the pending error, in the kernel and in the machine.
    this.#move(next, "getsockopt");
    this.#throwTraced();
    return value;
  }

  async wait(what: Readiness, options?: WaitOptions): Promise<void> {
    if (what !== "read" && what !== "write") {
      throw this.#badInput(
        "wait",
        `"what" must be "read" or "write", got ${describe(what)}`,
      );
    }
    const signal = options === undefined
      ? undefined
      : this.#signalOf("wait", options, CALL_KEYS);
    const from = this.state;
    if (signal?.aborted) throw this.#cancelled("wait", signal, from, false);
    this.#allow("wait", POLL);
    try {
      await this.#sys.ready(what, signal);
    } catch (error) {
      if (signal?.aborted && this.state !== "closed") {
        throw this.#cancelled("wait", signal, from, true, "nothing was done");
      }
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
    if (step.allowed || !step.waits || step.joins) return step;
    const effect = this.#effect;
    if (effect === undefined) {
      throw new Error(
        `The socket machine makes "${event.type}" wait in state "${this.state}", where no call is in flight`,
      );
    }
    return this.#settledOf(effect);
  }

  /** Resolves once `effect` has settled and the socket moved on. */
  #settledOf(effect: RunningEffect): Promise<void> {
    if (effect.settled === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => resolve = done);
      effect.settled = { promise, resolve };
    }
    return effect.settled.promise;
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
      this.#throwTraced();
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

  /**
   * Takes a state-changing step and runs the effect it starts, if any. A
   * tracer's error is thrown once the call is over, in place of its own.
   * `signal` is only looked at after a wait for the call in flight: an
   * aborted call does nothing (the caller has rejected already).
   */
  async #change(
    op: SocketOp,
    event: SocketEvent,
    signal?: AbortSignal,
    tracked?: ChangeCall,
  ): Promise<void> {
    // A call that need not wait changes the state before this returns.
    let step;
    while ((step = this.#stepOrWait(event)) instanceof Promise) {
      await step;
      if (signal?.aborted) {
        throw this.#cancelled(op, signal, this.state, true, "nothing was done");
      }
    }
    if (!step.allowed && step.waits && step.joins) {
      return await this.#join(op, signal, tracked);
    }
    const decided = this.#decide(op, event, step);
    if (decided.asks) return this.#ask(op, event);
    if (decided.stops !== undefined) {
      return await this.#disconnectInFlight(op, decided);
    }
    const { next } = decided;
    const from = this.state;
    this.#move(next, op);
    if (!next.inFlight) return this.#throwTraced();
    const { src, input } = this.#graph.effect(next, event);
    const call = sysCalls[src as keyof typeof sysCalls] as
      | SysCall<unknown>
      | undefined;
    if (call === undefined) {
      throw new Error(
        `The socket machine invokes "${src}", which no backend runs`,
      );
    }
    const stop = call.stoppable ? new AbortController() : undefined;
    const effect: RunningEffect = {
      stop,
      stopped: false,
      settled: undefined,
      ended: undefined,
      errorTaken: false,
      abandoned: false,
      stoppedBy: undefined,
    };
    this.#effect = effect;
    if (tracked !== undefined) tracked.started = effect;
    try {
      let failure: { error: unknown } | undefined;
      try {
        await call.run(input, stop?.signal);
      } catch (error) {
        failure = { error };
      }
      if (this.#node.state !== next.state) {
        // Only close() leaves an in-flight state from outside (what a read
        // saw meanwhile may change its facts, not its state). It stopped
        // the effect, and the backend has wound it down.
        throw closedDuring(op, from);
      }
      const by = effect.stoppedBy;
      if (by !== undefined) {
        // Another call disconnected the attempt: it failed as in Linux.
        failure = {
          error: new SocketError(
            by.errno,
            op,
            `Cannot finish ${op}(): ${by.errno}, ${by.op}() disconnected the socket while the attempt was in progress, as Linux does; connect() again`,
            { state: from },
          ),
        };
      } else if (effect.stopped) {
        // An abort stopped the attempt (a unix connect()): it failed.
        failure ??= { error: new Error(`${op}() was aborted`) };
      }
      this.#move(
        this.#graph.settle(this.#node, failure ? "error" : "done"),
        op,
      );
      if (!failure) effect.ended = {};
      else {
        const error = osError(failure.error, op, `${op}()`);
        // The kernel's answer, given the state the call was made in.
        effect.ended = {
          error: error.state !== undefined ? error : new SocketError(
            error.code,
            error.op,
            error.message,
            { state: from, step: error.step, cause: error.cause ?? error },
          ),
        };
        if (!effect.abandoned) effect.errorTaken = true;
      }
      this.#throwTraced();
      if (effect.ended.error) throw effect.ended.error;
    } finally {
      // The calls that waited for this one go on from the state it left.
      this.#effect = undefined;
      effect.settled?.resolve();
    }
  }

  /**
   * A call that joins the call in flight (a TCP connect() during
   * another's attempt, as the machine says): it waits for it and answers as
   * it ended. Its error goes to one call, the one that made it if that one
   * still waits, else the first that joined; Linux gives each other waiter
   * `EPIPE` (the socket was disconnected meanwhile).
   */
  async #join(
    op: SocketOp,
    signal: AbortSignal | undefined,
    tracked: ChangeCall | undefined,
  ): Promise<void> {
    const effect = this.#effect;
    if (effect === undefined) {
      throw new Error(
        `The socket machine makes ${op}() join the call in flight in state "${this.state}", where none is`,
      );
    }
    const from = this.state;
    if (tracked !== undefined) tracked.joined = effect;
    await this.#settledOf(effect);
    // An interrupted call has rejected already: it takes nothing.
    if (signal?.aborted) return;
    const ended = effect.ended;
    if (ended === undefined) {
      // Only close() ends an effect with no outcome.
      throw closedDuring(op, from);
    }
    if (ended.error === undefined) return this.#throwTraced();
    if (!effect.errorTaken) {
      effect.errorTaken = true;
      throw withState(ended.error, from);
    }
    throw new SocketError(
      "EPIPE",
      op,
      `Cannot ${op}(): EPIPE, the attempt this call waited for failed, and another connect() took its error (${ended.error.code}); connect() again`,
      { state: from },
    );
  }

  /**
   * A call that disconnects the attempt in flight, as the machine says (a
   * `shutdown()` or `connect(AF_UNSPEC)` during a TCP `connect()`): the
   * backend ends the attempt as that call does in the kernel, the waiting
   * `connect()` fails with the machine's errno, and this call answers 0
   * once the socket has settled.
   */
  async #disconnectInFlight(
    op: SocketOp,
    step: Step & { allowed: true },
  ): Promise<void> {
    const effect = this.#effect;
    if (effect === undefined || op !== "shutdown" && op !== "disconnect") {
      throw new Error(
        `The socket machine makes ${op}() stop the call in flight in state "${this.state}", which no backend does`,
      );
    }
    this.#move(step.next, op);
    if (!effect.stopped) effect.stoppedBy = { op, errno: step.stops! };
    this.#stopEffect(new Disconnection(op));
    await this.#settledOf(effect);
    this.#throwTraced();
  }

  /** Stops the effect in flight, if any (its call then fails). */
  #stopEffect(reason?: Disconnection): void {
    const effect = this.#effect;
    if (effect === undefined || effect.stopped) return;
    effect.stopped = true;
    effect.stop?.abort(reason);
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
    const refusal = await this.#sys.connectRefusal(event.io.addr);
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
      this.#throwTraced();
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
      this.#throwTraced();
      throw failure.state !== undefined ? failure : new SocketError(
        code,
        op,
        failure.message,
        { state: from, cause: failure.cause ?? failure },
      );
    }
    this.#throwTraced();
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
    if (next.state !== from && this.#onTransition !== undefined) {
      try {
        this.#onTransition({ from, to: next.state, op });
      } catch (error) {
        // The change is made; the call reports the error once it is over.
        this.#traced ??= { error };
      }
    }
  }

  /** Throws the first error a tracer threw, if any (then forgets it). */
  #throwTraced(): void {
    const traced = this.#traced;
    if (traced === undefined) return;
    this.#traced = undefined;
    throw traced.error;
  }

  /**
   * The signal of a call's options, checked in full first (before any
   * system call): an object or `undefined`, only the keys `keys`, a
   * `signal` that is an `AbortSignal`, an `onTransition` that is a
   * function.
   */
  #signalOf(
    op: SocketOp,
    options: unknown,
    keys: readonly string[],
  ): AbortSignal | undefined {
    if (typeof options !== "object" || options === null) {
      throw this.#badInput(
        op,
        `the options must be an object or undefined, got ${describe(options)}`,
      );
    }
    const unknown = unknownOption(options, keys);
    if (unknown !== undefined) throw this.#badInput(op, unknown);
    const { signal, onTransition } = options as AcceptOptions;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw this.#badInput(
        op,
        `"signal" must be an AbortSignal, got ${describe(signal)}`,
      );
    }
    if (onTransition !== undefined && typeof onTransition !== "function") {
      throw this.#badInput(
        op,
        `"onTransition" must be a function, got ${describe(onTransition)}`,
      );
    }
    return signal;
  }

  /**
   * The error of a call that `signal` stopped: `ETIMEDOUT` for a timeout
   * (`AbortSignal.timeout()`), else `ECANCELED`; `state` is the state at the
   * call, `cause` the signal's reason. `waited`: the call had begun (else
   * it was aborted before, and nothing was done).
   */
  #cancelled(
    op: SocketOp,
    signal: AbortSignal,
    from: SocketState,
    waited: boolean,
    detail?: string,
  ): SocketError {
    const reason: unknown = signal.reason;
    const timeout = reason instanceof DOMException &&
      reason.name === "TimeoutError";
    const code = timeout ? "ETIMEDOUT" : "ECANCELED";
    const what = !waited
      ? `its signal was already aborted, so nothing was done`
      : `${timeout ? "its signal timed out" : "its signal aborted it"}; ${
        detail ?? LEFT[op] ?? "nothing was done"
      }`;
    return new SocketError(
      code,
      op,
      `Cannot ${waited ? "finish " : ""}${op}(): ${code}, ${what}`,
      { state: from, cause: reason },
    );
  }

  /**
   * Waits for `promise` (the call in flight before this one), or rejects
   * with the call's cancellation when `signal` aborts first.
   */
  async #waitOrAbort(
    promise: Promise<void>,
    op: SocketOp,
    signal: AbortSignal,
    from: SocketState,
  ): Promise<void> {
    if (await orAbort(promise, signal) === ABORTED) {
      throw this.#cancelled(op, signal, from, true, "nothing was done");
    }
  }

  #ioError(op: SocketOp, error: unknown): SocketError {
    if (this.state === "closed") return closedDuring(op, this.state);
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
    signal: AbortSignal | undefined,
    from: SocketState,
  ): Promise<number> {
    const sends = this.#sends ??= new Turns();
    const turn = sends.take();
    if (turn) {
      if (signal === undefined) await turn;
      else if (await orAbort(turn, signal) === ABORTED) {
        // The turn still comes; it is handed on at once.
        turn.then(() => sends.done());
        throw this.#cancelled(op, signal, from, true, "nothing was sent");
      }
    }
    const sys = this.#sys;
    const dgram = this.type === "dgram";
    let written = 0;
    /** A write that an abort left going on, which later sends wait for. */
    let left: Promise<number> | undefined;
    try {
      // A datagram goes out in one call, even an empty one; a stream's
      // bytes in as many as it takes (none for no bytes).
      for (
        let calls = 0;
        dgram ? calls === 0 : written < data.length;
        calls++
      ) {
        const rest = written === 0 ? data : data.subarray(written);
        const writing = addr
          ? sys.writeTo(rest, addr, signal)
          : sys.write(rest, signal);
        if (signal === undefined) written += await writing;
        else {
          const n = await orAbort(writing, signal);
          if (n === ABORTED) {
            left = writing;
            throw this.#cancelled(
              op,
              signal,
              from,
              true,
              sentSoFar(written, data.length, dgram, sys.stopsWrites),
            );
          }
          written += n;
        }
      }
      return written;
    } catch (error) {
      if (left !== undefined || !signal?.aborted) {
        throw left ? error : this.#ioError(op, error);
      }
      throw this.#cancelled(
        op,
        signal,
        from,
        true,
        sentSoFar(written, data.length, dgram, true),
      );
    } finally {
      if (left === undefined) sends.done();
      else {
        // Later sends go out after what the write in progress sends.
        const done = () => sends.done();
        left.then(done, done);
      }
    }
  }

  /**
   * A buffer for a receive of at most `max` bytes (checked first): the
   * socket's scratch buffer when free and large enough (the result is
   * copied out of it; `#release()` it once the read is over), else a new
   * one.
   */
  #recvBuffer(op: SocketOp, max: number): Uint8Array<ArrayBuffer> {
    checkMax(max, (why) => this.#badInput(op, why));
    if (max > DEFAULT_RECV || this.#scratchBusy) return new Uint8Array(max);
    this.#scratchBusy = true;
    const scratch = this.#scratch ??= new Uint8Array(DEFAULT_RECV);
    return max === DEFAULT_RECV ? scratch : scratch.subarray(0, max);
  }

  /** Frees the scratch buffer for the next read, if `buffer` is it. */
  #release(buffer: Uint8Array<ArrayBuffer>): void {
    if (buffer.buffer === this.#scratch?.buffer) this.#scratchBusy = false;
  }

  /**
   * What a receive into `buffer` returns: only the `n` bytes received, in
   * an array whose `buffer` is exactly as long: a copy out of the scratch
   * buffer, or out of a buffer not filled; a new buffer filled is itself.
   */
  #received(buffer: Uint8Array<ArrayBuffer>, n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const own = n === buffer.length && buffer.buffer !== this.#scratch?.buffer;
    return own ? buffer : buffer.slice(0, n);
  }

  /** Throws `EINVAL` naming `data` unless it is a `Uint8Array`. */
  #checkBytes(op: SocketOp, data: unknown): asserts data is Uint8Array {
    if (data instanceof Uint8Array) return;
    throw this.#badInput(
      op,
      `data must be a Uint8Array, got ${describe(data)}`,
    );
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

/** Throws `bad(why)` unless `max` is an integer from 1 to `MAX_RECV`. */
function checkMax(max: number, bad: (why: string) => SocketError): void {
  if (Number.isInteger(max) && max >= 1 && max <= MAX_RECV) return;
  throw bad(
    `"max" must be an integer from 1 to ${MAX_RECV} (64 MiB), got ${
      describe(max)
    }; to receive more at once, use recvInto() with a buffer of your own`,
  );
}

/** What an aborted call leaves, for its error's message. */
const LEFT: Partial<Record<SocketOp, string>> = {
  accept:
    "the socket still listens, and a connection that comes stays queued for the next accept()",
  recv: "nothing was received: data that comes stays queued for the next read",
  recvfrom:
    "nothing was received: a datagram that comes stays queued for the next read",
};

/**
 * What an aborted send left: how many of `total` bytes had gone out, and
 * whether the write in progress may still send more (`stops`: it does not).
 */
function sentSoFar(
  written: number,
  total: number,
  dgram: boolean,
  stops: boolean,
): string {
  if (dgram) {
    return stops
      ? "the datagram was not sent"
      : "the datagram had been handed to the backend, and may still go out";
  }
  const rest = total - written;
  return `${written} of ${total} bytes had gone out; ${
    stops
      ? `the other ${rest} were not sent`
      : `the deno backend cannot stop the write in progress, so up to ${rest} more may follow them`
  }; later sends go out after them, in order`;
}

/**
 * `promise`, or `ABORTED` once `signal` aborts, whichever comes first. The
 * listener is removed when `promise` settles; a rejection after the abort
 * is handled here.
 */
function orAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    }, (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
  });
}

/**
 * Whether `step`, from `node`, answers with an errno and yet binds the
 * socket (the kernel bound it before it failed).
 */
function bindsAndFails(
  step: Step,
  node: SocketNode,
): step is Step & { allowed: true } {
  return step.allowed && step.outcome !== undefined &&
    isErrno(step.outcome) && bindsSocket(step, node);
}

/** Whether `step`, from `node`, binds the socket (UDP's first send). */
function bindsSocket(step: Step & { allowed: true }, node: SocketNode) {
  return step.next.facts.bound && !node.facts.bound;
}

/** The `EBADF` of a call that `close()` ended; `state` is its call's. */
function closedDuring(op: SocketOp, state: SocketState): SocketError {
  return new SocketError(
    "EBADF",
    op,
    `Cannot finish ${op}(): EBADF, the socket was closed while the call was in progress`,
    { state },
  );
}

/**
 * The machine's errno for an address of `family` given to a `domain` socket,
 * or `undefined` when the families fit.
 */
export function familyMismatch(
  domain: Domain,
  family: Domain,
): Errno | undefined {
  const key = `${domain} ${family}`;
  if (MISMATCHES.has(key)) return MISMATCHES.get(key);
  const graph = socketGraph();
  const step = graph.step(graph.start({ domain, type: "stream" }), {
    type: "BIND",
    family,
    port: family === "unix" ? "path" : "kernel",
  });
  const errno = step.allowed || step.waits ? undefined : step.errno;
  MISMATCHES.set(key, errno);
  return errno;
}

/** The machine's answers of `familyMismatch()`, by domain and family. */
const MISMATCHES = new Map<string, Errno | undefined>();

function portChoice(addr: SocketAddr): PortChoice {
  if ("path" in addr) return "path";
  return addr.port === 0 ? "kernel" : "caller";
}
