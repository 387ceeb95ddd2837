// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The exact backend: every effect is the one matching libc call, made
 * through Deno's FFI on a real, non-blocking socket descriptor. Needs
 * `--allow-ffi` and Linux (`libc.so.6`). FFI would bypass Deno's sandbox, so
 * before each `bind`, `connect`, `sendto` and `listen` the backend asks
 * Deno's permissions for what `Deno.listen()` and `Deno.connect()` would
 * need (net access to `host:port`; for a unix path, read and write access
 * to it and net access to `unix:<path>`), and refuses with the same `EACCES` as the Deno backend: `--allow-ffi`
 * does not widen `--allow-net`.
 *
 * - `socket` makes a `SOCK_STREAM` or `SOCK_DGRAM` socket of the kind's
 *   domain; the descriptor is always non-blocking, and the kind's
 *   `nonblocking` says what a call that would wait does.
 * - `bind`, `listen`, `shutdown` are `bind(2)`, `listen(2)` (backlog
 *   `SOMAXCONN` by default) and `shutdown(2)`, on any type: the kernel
 *   answers for a datagram socket. A bound socket that does not listen
 *   refuses connections, and closing a unix listener leaves its socket file
 *   in place, as in C.
 * - `connect` is `connect(2)`. On a blocking socket `EINPROGRESS` is waited
 *   out (`POLLOUT`, then `connect(2)` again, which reports the outcome and,
 *   on failure, resets the socket as a blocking `connect` does), and so is
 *   a unix `EAGAIN` (a full backlog); an aborted attempt is stopped with
 *   `connect(AF_UNSPEC)`. On a non-blocking socket each `connect` is one
 *   `connect(2)`: `EINPROGRESS` starts an attempt that goes on in the
 *   kernel, `EALREADY` while it does, then 0 once connected (the next one
 *   is `EISCONN`) or the attempt's error, once. A datagram socket's
 *   `connect` sets its peer (a UDP one is bound to a port the kernel
 *   picks), and a second one changes it; `disconnect` is
 *   `connect(AF_UNSPEC)`, which forgets the peer (and gives back a port the
 *   kernel chose).
 * - `accept`, `read`, `readFrom`, `write` and `writeTo` are `accept4(2)`,
 *   `recv(2)`, `recvfrom(2)`, `send(2)` and `sendto(2)` (with
 *   `MSG_NOSIGNAL`). On `EAGAIN` a blocking socket waits for readiness and
 *   tries again; a non-blocking one rejects with `EAGAIN` at once. A
 *   datagram read takes one datagram, truncated to the buffer. An accepted
 *   socket is blocking, whatever its listener, as Linux's `accept()` makes
 *   it (its descriptor is non-blocking, as every descriptor here is).
 * - `setOption` and `getOption` are `setsockopt(2)` and `getsockopt(2)`
 *   (see `socket_options_libc.ts`); `ready` is `poll(2)` for `POLLIN` or
 *   `POLLOUT` (`POLLERR` and `POLLHUP` count too: a call answers then).
 * - `local` and `remote` are what `getsockname(2)` and `getpeername(2)` say
 *   after each call that can change them.
 *
 * Waiting never blocks Deno's event loop: `poll(2)` runs on a thread of
 * Deno's pool (an FFI call declared `nonblocking`) over the socket, the
 * socket's own `eventfd`, which `close()` signals so that every pending
 * wait returns at once, and, for a wait with an `AbortSignal`, an `eventfd`
 * of that wait's, which the abort signals. Nothing polls while nothing
 * waits. `close()` closes the socket's descriptor at once; its `eventfd` and
 * the socket's share of libc (see `libc_lease.ts`) are freed when the last
 * pending poll has returned, before the call that waited rejects.
 *
 * @module
 */
import {
  article,
  type Domain,
  formatAddr,
  type SocketAddr,
  wildcardAddr,
} from "../machine/address.ts";
import type {
  Readiness,
  Received,
  ShutdownHow,
  SysSocket,
  SysSocketKind,
} from "../machine/effects.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import type {
  SettableOptionName,
  SocketOptionName,
  SocketOptionValues,
} from "../machine/options.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  type Libc,
  MSG_NOSIGNAL,
  pollFds,
  POLLIN,
  POLLOUT,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOMAXCONN,
  sysAccept4,
  sysBind,
  sysClose,
  sysConnect,
  sysConnectUnspec,
  sysEventfd,
  sysGetpeername,
  sysGetsockname,
  sysListen,
  sysPoll,
  sysPollAsync,
  sysRecv,
  sysRecvfrom,
  type SysResult,
  sysSend,
  sysSendto,
  sysShutdown,
  sysSocket,
  sysWrite,
} from "./libc.ts";
import { leaseLibc, type LibcLease } from "./libc_lease.ts";
import { Turns } from "./_turns.ts";
import {
  checkPermission,
  granted,
  libcUnavailable,
  osError,
  permissionDenied,
} from "./os_error.ts";
import {
  getOptionLibc,
  optionError,
  setOptionLibc,
} from "./socket_options_libc.ts";

const FAMILY: Readonly<Record<Domain, number>> = {
  inet: AF_INET,
  inet6: AF_INET6,
  unix: AF_UNIX,
};

const TYPE: Readonly<Record<SysSocketKind["type"], number>> = {
  stream: SOCK_STREAM,
  dgram: SOCK_DGRAM,
};

const HOW: Readonly<Record<ShutdownHow, number>> = {
  read: SHUT_RD,
  write: SHUT_WR,
  both: SHUT_RDWR,
};

/**
 * What a non-blocking `connect(2)` that has not connected yet says, and
 * what to do (`EAGAIN`: a unix listener's full backlog).
 */
const NOT_YET: Partial<Record<Errno, string>> = {
  EINPROGRESS:
    'the attempt goes on in the kernel: wait with ready("write"), then connect() again (or read SO_ERROR) for the outcome',
  EALREADY:
    'an attempt is still in progress: wait with ready("write"), then connect() again for the outcome',
  EAGAIN:
    "the listener's backlog is full: connect() again once it has accepted a connection",
};

/** How long a unix `connect` waits before trying a full backlog again. */
const BACKLOG_RETRY_MS = 5;

/**
 * Creates the system side of a socket with the posix backend:
 * `socket(2)` with `SOCK_STREAM` or `SOCK_DGRAM`, and always
 * `SOCK_NONBLOCK | SOCK_CLOEXEC` (a socket that is not `kind.nonblocking`
 * waits with `poll(2)`, as a blocking call would).
 *
 * @param kind The socket's address family, type and `O_NONBLOCK`.
 * @throws {SocketError} `EOPNOTSUPP` when this is not Linux, `EACCES`
 * without `--allow-ffi`, or the errno of `socket(2)` (such as `EMFILE`).
 */
export function posixSocket(kind: SysSocketKind): SysSocket {
  let lease: LibcLease;
  try {
    lease = leaseLibc();
  } catch (error) {
    throw libcUnavailable(
      error,
      "Cannot create a socket with the posix backend",
      'use backend "deno"',
    );
  }
  const type = TYPE[kind.type] | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const created = sysSocket(lease.libc, FAMILY[kind.domain], type, 0);
  if (!created.ok) {
    lease.release();
    throw sysError(
      created.errno,
      "socket",
      `create ${article(kind.domain)} ${kind.type} socket`,
    );
  }
  return new PosixSysSocket(kind, created.value, lease);
}

/** One socket: one descriptor, and an `eventfd` to wake its waits. */
class PosixSysSocket implements SysSocket {
  local: SocketAddr | undefined;
  remote: SocketAddr | undefined;
  readonly #kind: SysSocketKind;
  readonly #fd: number;
  readonly #lease: LibcLease;
  readonly #libc: Libc;
  /** Reads take turns, so that they receive in the order they were made. */
  readonly #reads = new Turns();
  /**
   * The `eventfd` that close() signals, made by the first wait. Nothing
   * reads it: once signalled, every poll on it returns.
   */
  #closedFd: number | undefined;
  /** Polls running on Deno's pool now. */
  #polls = 0;
  #closed = false;
  /** An aborted write never reached `send(2)`: nothing of it went out. */
  readonly stopsWrites = true;

  constructor(kind: SysSocketKind, fd: number, lease: LibcLease) {
    this.#kind = kind;
    this.#fd = fd;
    this.#lease = lease;
    this.#libc = lease.libc;
  }

  bind(addr: SocketAddr): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("bind");
      const what = `bind to ${formatAddr(addr)}`;
      checkPermission("bind", what, addr);
      const bound = sysBind(this.#libc, this.#fd, addr);
      if (!bound.ok) throw sysError(bound.errno, "bind", what, addr);
      this.#readLocal();
    });
  }

  listen(backlog: number | undefined): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("listen");
      const at = this.#listensAt();
      if (at !== undefined) {
        checkPermission("listen", `listen on ${formatAddr(at)}`, at);
      }
      // An i32 for FFI: -0 is 0, and Linux caps a backlog at SOMAXCONN's
      // sysctl anyway.
      const n = Math.min(backlog ?? SOMAXCONN, 0x7fffffff) || 0;
      const listening = sysListen(this.#libc, this.#fd, n);
      if (!listening.ok) {
        throw sysError(listening.errno, "listen", "listen");
      }
      this.#readLocal();
    });
  }

  async connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    this.#ensureOpen("connect");
    const what = `connect to ${formatAddr(addr)}`;
    checkPermission("connect", what, addr);
    try {
      if (this.#kind.nonblocking) this.#connectOnce(addr, what);
      else await this.#connectWaiting(addr, signal, what);
    } catch (error) {
      // A failed connect() gives back a port the kernel chose; one in
      // progress has bound the socket.
      if (!this.#closed) this.#readLocal();
      throw error;
    }
    this.#ensureOpen("connect", true);
    this.#readLocal();
    this.#readRemote();
  }

  async accept(signal?: AbortSignal): Promise<SysSocket> {
    const fd = await this.#whenReady(
      "accept",
      POLLIN,
      "accept a connection",
      () => sysAccept4(this.#libc, this.#fd, SOCK_NONBLOCK | SOCK_CLOEXEC),
      signal,
    );
    // Linux's accept() makes a blocking socket, whatever the listener.
    const sock = new PosixSysSocket(
      { ...this.#kind, nonblocking: false },
      fd,
      leaseLibc(),
    );
    sock.#readLocal();
    sock.#readRemote();
    return sock;
  }

  async read(
    buffer: Uint8Array,
    signal?: AbortSignal,
  ): Promise<number | null> {
    await this.#readTurn("recv", signal);
    try {
      const count = await this.#whenReady(
        "recv",
        POLLIN,
        "receive",
        () => sysRecv(this.#libc, this.#fd, buffer, 0),
        signal,
      );
      return this.#received(count);
    } finally {
      this.#reads.done();
    }
  }

  async readFrom(
    buffer: Uint8Array,
    signal?: AbortSignal,
  ): Promise<Received> {
    await this.#readTurn("recvfrom", signal);
    try {
      const got = await this.#whenReady(
        "recvfrom",
        POLLIN,
        "receive",
        () => sysRecvfrom(this.#libc, this.#fd, buffer, 0),
        signal,
      );
      return { count: this.#received(got.count), from: got.from };
    } finally {
      this.#reads.done();
    }
  }

  /**
   * Takes this read's turn: reads of a socket go on one at a time, in the
   * order they were made (the kernel wakes every waiting reader, and which
   * one reads first would be chance). A read aborted while it waits for its
   * turn gives the turn on when it comes. Every turn taken ends with
   * `this.#reads.done()`.
   */
  async #readTurn(
    op: SocketOp,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    throwIfAborted(op, signal);
    const turn = this.#reads.take();
    if (turn === undefined) return;
    if (signal === undefined) await turn;
    else await this.#turnOrAbort(op, turn, signal);
    // The socket may have been closed while this read waited its turn.
    if (this.#closed) {
      this.#reads.done();
      this.#ensureOpen(op, true);
    }
  }

  /** Waits for `turn`, or gives it on when it comes if `signal` aborts. */
  async #turnOrAbort(
    op: SocketOp,
    turn: Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        try {
          throwIfAborted(op, signal);
        } catch (error) {
          reject(error);
        }
      };
    });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([turn, aborted]);
    } catch (error) {
      turn.then(() => this.#reads.done());
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  write(data: Uint8Array, signal?: AbortSignal): Promise<number> {
    return this.#whenReady(
      "send",
      POLLOUT,
      "send",
      () => sysSend(this.#libc, this.#fd, data, MSG_NOSIGNAL),
      signal,
    );
  }

  async writeTo(
    data: Uint8Array,
    addr: SocketAddr,
    signal?: AbortSignal,
  ): Promise<number> {
    checkPermission("sendto", `send to ${formatAddr(addr)}`, addr);
    try {
      return await this.#whenReady(
        "sendto",
        POLLOUT,
        `send to ${formatAddr(addr)}`,
        () => sysSendto(this.#libc, this.#fd, data, MSG_NOSIGNAL, addr),
        signal,
      );
    } finally {
      // UDP binds an ephemeral port on its first sendto(), even one that
      // fails (EPIPE after shutdown).
      if (!this.#closed && this.#portless()) this.#readLocal();
    }
  }

  /**
   * The address `listen(2)` makes the socket listen on, as Deno's
   * permissions name it: the bound one, or for an unbound inet socket the
   * wildcard address and port 0 (the kernel binds an ephemeral port);
   * `undefined` for a unix socket with no path (an abstract name, which
   * touches no file).
   */
  #listensAt(): SocketAddr | undefined {
    const local = this.local;
    if (local !== undefined && "path" in local) {
      return local.path === "" ? undefined : local;
    }
    if (local !== undefined && local.port !== 0) return local;
    if (this.#isUnix()) return undefined;
    return wildcardAddr(this.#kind.domain === "inet6" ? "inet6" : "inet", 0);
  }

  /** Whether the socket has no port of its own (an inet socket unbound). */
  #portless(): boolean {
    const local = this.local;
    return local === undefined || ("port" in local && local.port === 0);
  }

  disconnect(): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("disconnect");
      const done = sysConnectUnspec(this.#libc, this.#fd);
      if (!done.ok) {
        throw sysError(done.errno, "disconnect", "connect to AF_UNSPEC");
      }
      this.#readLocal();
      this.#readRemote();
    });
  }

  setOption<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): void {
    this.#ensureOpen("setsockopt");
    const set = setOptionLibc(this.#libc, this.#fd, name, value);
    if (!set.ok) throw optionError(set.errno, "setsockopt", name);
  }

  getOption<N extends SocketOptionName>(name: N): SocketOptionValues[N] {
    this.#ensureOpen("getsockopt");
    const got = getOptionLibc(this.#libc, this.#fd, name);
    if (!got.ok) throw optionError(got.errno, "getsockopt", name);
    return got.value;
  }

  async ready(what: Readiness, signal: AbortSignal | undefined): Promise<void> {
    this.#ensureOpen("wait");
    throwIfAborted("wait", signal);
    const events = what === "read" ? POLLIN : POLLOUT;
    // poll(2) may return for an interruption (EINTR): look again.
    while (!this.#ready(events)) await this.#wait("wait", events, -1, signal);
  }

  shutdown(how: ShutdownHow, _keepAddress: boolean): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("shutdown");
      const shut = sysShutdown(this.#libc, this.#fd, HOW[how]);
      if (!shut.ok) {
        throw sysError(shut.errno, "shutdown", `shut down (${how})`);
      }
      this.#readLocal();
    });
  }

  peerName(): SocketAddr {
    this.#ensureOpen("getpeername");
    const name = sysGetpeername(this.#libc, this.#fd);
    if (!name.ok) {
      throw sysError(name.errno, "getpeername", "get the peer's address");
    }
    return name.value ?? this.remote!;
  }

  connectRefusal(addr: SocketAddr): SocketError {
    this.#ensureOpen("connect");
    // Connected or listening, the socket never waits here: Linux answers at
    // once (a full queue at a live target would be EAGAIN on this fd).
    const what = `connect to ${formatAddr(addr)}`;
    if (!granted(addr)) return permissionDenied("connect", what, addr);
    const tried = sysConnect(this.#libc, this.#fd, addr);
    if (tried.ok) {
      return new SocketError(
        "EIO",
        "connect",
        `Cannot ${what}: the kernel connected a socket that was connected or listening`,
      );
    }
    return sysError(tried.errno, "connect", what);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closedFd !== undefined) signalEventfd(this.#libc, this.#closedFd);
    sysClose(this.#libc, this.#fd);
    if (this.#polls === 0) this.#release();
  }

  /**
   * `connect(2)` once, as on a non-blocking socket: 0 resolves; anything
   * else is the kernel's errno (`EINPROGRESS` for an attempt that goes on,
   * then `EALREADY` until it is over, then its outcome once).
   */
  #connectOnce(addr: SocketAddr, what: string): void {
    const tried = sysConnect(this.#libc, this.#fd, addr);
    if (tried.ok) return;
    const why = typeof tried.errno === "string"
      ? NOT_YET[tried.errno]
      : undefined;
    if (why === undefined || (tried.errno === "EAGAIN" && !this.#isUnix())) {
      throw sysError(tried.errno, "connect", what);
    }
    throw new SocketError(
      tried.errno as Errno,
      "connect",
      `Cannot ${what} at once: ${tried.errno}; the socket is non-blocking and ${why}`,
    );
  }

  #isUnix(): boolean {
    return this.#kind.domain === "unix";
  }

  /**
   * `connect(2)`, waiting out `EINPROGRESS` and a full unix backlog. Once
   * the socket is writable, `connect(2)` is called again: it answers 0 when
   * connected, or the attempt's error (as `SO_ERROR` holds it), and like a
   * blocking `connect` it resets a failed socket so that it can connect
   * again (after reading `SO_ERROR` alone, the next `connect` would give
   * `ECONNABORTED`). An aborted attempt is stopped with `connect(AF_UNSPEC)`.
   */
  async #connectWaiting(
    addr: SocketAddr,
    signal: AbortSignal,
    what: string,
  ): Promise<void> {
    for (let waited = false;; waited = true) {
      this.#ensureOpen("connect", waited);
      const tried = sysConnect(this.#libc, this.#fd, addr);
      if (tried.ok || tried.errno === "EISCONN") return;
      if (tried.errno === "EAGAIN" && this.#isUnix()) {
        // The listener's backlog is full: a blocking connect() would sleep.
        await this.#wait("connect", 0, BACKLOG_RETRY_MS, signal);
        continue;
      }
      if (tried.errno !== "EINPROGRESS" && tried.errno !== "EALREADY") {
        throw sysError(tried.errno, "connect", what);
      }
      // The kernel has bound the socket: getsockname() shows it meanwhile.
      if (tried.errno === "EINPROGRESS") this.#readLocal();
      if (this.#ready(POLLOUT)) continue;
      try {
        await this.#wait("connect", POLLOUT, -1, signal);
      } catch (error) {
        // Stop the attempt in the kernel too, unless close() did.
        if (!this.#closed) sysConnectUnspec(this.#libc, this.#fd);
        throw error;
      }
    }
  }

  /**
   * Makes a call that may have to wait, such as `recv(2)`: again after each
   * wait for `events` while it answers `EAGAIN`, or, on a non-blocking
   * socket, never: `EAGAIN` rejects at once. When `signal` aborts, the
   * wait rejects with `EINTR` before the call is made again: nothing is
   * taken (an aborted signal is seen before the first call too).
   */
  async #whenReady<T>(
    op: SocketOp,
    events: number,
    what: string,
    call: () => SysResult<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    for (let waited = false;; waited = true) {
      this.#ensureOpen(op, waited);
      if (signal !== undefined) throwIfAborted(op, signal);
      const done = call();
      if (done.ok) return done.value;
      if (done.errno !== "EAGAIN") throw sysError(done.errno, op, what);
      if (this.#kind.nonblocking) throw wouldWait(op, what, events);
      await this.#wait(op, events, -1, signal);
    }
  }

  /** A received count as the contract has it: 0 on a stream is its end. */
  #received(count: number): number | null {
    return count === 0 && this.#kind.type === "stream" ? null : count;
  }

  /** Whether the socket is ready for `events` now, without waiting. */
  #ready(events: number): boolean {
    const fds = pollFds([{ fd: this.#fd, events }]);
    const polled = sysPoll(this.#libc, fds, 0);
    return polled.ok && polled.value > 0;
  }

  /**
   * Waits until the socket may be ready for `events` (none: only sleep for
   * `timeout` ms), or until close() or `signal` wakes the wait. A wait is a
   * `poll(2)` on Deno's pool, so the event loop goes on; it is over, and the
   * libc handle free of it, before this resolves or rejects.
   *
   * @throws {SocketError} `EBADF` when the socket was closed meanwhile,
   * `EINTR` when `signal` aborted.
   */
  async #wait(
    op: SocketOp,
    events: number,
    timeout = -1,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#ensureOpen(op, true);
    throwIfAborted(op, signal);
    const closedFd = this.#closedFdFor(op);
    const aborted = signal && abortWake(this.#libc, op, signal);
    const fds = pollFds([
      { fd: closedFd, events: POLLIN },
      { fd: aborted?.fd ?? -1, events: POLLIN },
      { fd: events === 0 ? -1 : this.#fd, events },
    ]);
    this.#polls++;
    let polled: SysResult<number>;
    try {
      polled = await sysPollAsync(this.#libc, fds, timeout);
    } finally {
      this.#polls--;
      aborted?.[Symbol.dispose]();
    }
    if (this.#closed) {
      if (this.#polls === 0) this.#release();
      this.#ensureOpen(op, true);
    }
    throwIfAborted(op, signal);
    if (!polled.ok && polled.errno !== "EINTR") {
      throw sysError(polled.errno, op, `wait to ${op}`);
    }
  }

  /** The `eventfd` that close() signals, made on first use. */
  #closedFdFor(op: SocketOp): number {
    if (this.#closedFd !== undefined) return this.#closedFd;
    this.#closedFd = makeEventfd(this.#libc, op);
    return this.#closedFd;
  }

  /** Frees what close() had to keep until the last poll returned. */
  #release(): void {
    if (this.#closedFd !== undefined) sysClose(this.#libc, this.#closedFd);
    this.#closedFd = undefined;
    this.#lease.release();
  }

  /**
   * Throws `EBADF` once close() has run: before a call, or, when `waited`,
   * while the call was in progress. Every system call on the descriptor
   * comes after this check, in the same turn: a closed descriptor's number
   * may belong to another file by then.
   */
  #ensureOpen(op: SocketOp, waited = false): void {
    if (!this.#closed) return;
    throw new SocketError(
      "EBADF",
      op,
      waited
        ? `Cannot finish ${op}(): EBADF; the socket was closed while the call was in progress`
        : `Cannot ${op}(): EBADF; the socket's descriptor is closed`,
    );
  }

  #readLocal(): void {
    const name = sysGetsockname(this.#libc, this.#fd);
    if (name.ok) this.local = name.value;
  }

  #readRemote(): void {
    const name = sysGetpeername(this.#libc, this.#fd);
    this.remote = name.ok ? name.value : undefined;
  }
}

/** A new non-blocking `eventfd`, for `op` to wait on. */
function makeEventfd(libc: Libc, op: SocketOp): number {
  const made = sysEventfd(libc, 0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!made.ok) throw sysError(made.errno, op, `make an eventfd to ${op}`);
  return made.value;
}

/** Adds 1 to an `eventfd`'s count: a poll on it returns. */
function signalEventfd(libc: Libc, fd: number): void {
  const one = new Uint8Array(8);
  new DataView(one.buffer).setBigUint64(0, 1n, true);
  sysWrite(libc, fd, one);
}

/**
 * An `eventfd` of one wait's own, which `signal`'s abort signals (a shared
 * one, read by whichever wait woke first, could leave another aborted wait
 * asleep). Dispose of it once the poll is over.
 */
function abortWake(
  libc: Libc,
  op: SocketOp,
  signal: AbortSignal,
): { readonly fd: number } & Disposable {
  const fd = makeEventfd(libc, op);
  const onAbort = () => signalEventfd(libc, fd);
  signal.addEventListener("abort", onAbort, { once: true });
  return {
    fd,
    [Symbol.dispose]() {
      signal.removeEventListener("abort", onAbort);
      sysClose(libc, fd);
    },
  };
}

/** `EAGAIN` for a call that would wait on a non-blocking socket. */
function wouldWait(op: SocketOp, what: string, events: number): SocketError {
  const readiness: Readiness = events === POLLIN ? "read" : "write";
  return new SocketError(
    "EAGAIN",
    op,
    `Cannot ${what} now: EAGAIN; the call would wait on a non-blocking socket: wait with ready("${readiness}"), then call again`,
  );
}

/** Throws `EINTR` when `signal` has aborted the call. */
function throwIfAborted(op: SocketOp, signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new SocketError(
    "EINTR",
    op,
    `Cannot finish ${op}(): EINTR; the call was aborted (its signal's reason is the cause)`,
    { cause: signal.reason },
  );
}

/** A failed system call as a {@linkcode SocketError} that names its errno. */
function sysError(
  errno: Errno | number,
  op: SocketOp,
  what: string,
  addr?: SocketAddr,
): SocketError {
  if (typeof errno === "number") {
    return new SocketError(
      "EIO",
      op,
      `Cannot ${what}: the kernel answered errno ${errno}, which sockfsm does not name`,
    );
  }
  // EACCES is the kernel's here (Deno's permissions were asked first).
  return osError(
    Object.assign(new Error(`${op}(2) failed`), { code: errno }),
    op,
    what,
    { addr },
  );
}
