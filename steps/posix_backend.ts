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
 *   (see `socket_options_libc.ts`); `ready` is `poll(2)` with timeout 0 for
 *   `POLLIN` or `POLLOUT` (`POLLERR` and `POLLHUP` count too: a call
 *   answers then), and a wait in the reactor while it says no.
 * - `local` is what `getsockname(2)` says, read when asked after a call
 *   that can change it; `remote` is the peer `accept4(2)` gave, the inet
 *   address a connect reached (what `getpeername(2)` gives), or, for a unix
 *   peer or a wildcard target, what `getpeername(2)` says.
 *
 * Waiting never blocks Deno's event loop: a call that answered `EAGAIN`
 * (or a connect in progress) waits in the process's reactor
 * (`posix_reactor.ts`): one epoll set, one `epoll_wait(2)` on one thread of
 * Deno's pool, however many calls wait. `close()` and an `AbortSignal` end
 * a wait at once. `close()` closes the descriptor at once and gives back
 * the socket's share of libc (`libc_lease.ts`: libc is resolved once per
 * process and held by no Deno resource).
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
import {
  Disconnection,
  type Readiness,
  type Received,
  type ShutdownHow,
  type SysSocket,
  type SysSocketKind,
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
  type Libc,
  MSG_NOSIGNAL,
  pollFds,
  POLLIN,
  POLLOUT,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_ERROR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  SOMAXCONN,
  sysAcceptFrom,
  sysBind,
  sysClose,
  sysConnect,
  sysConnectTo,
  sysConnectUnspec,
  sysGetpeername,
  sysGetsockname,
  sysGetsockoptInt,
  sysListen,
  sysPoll,
  sysRecv,
  sysRecvfrom,
  type SysResult,
  sysSend,
  sysSendto,
  sysShutdown,
  sysSocket,
} from "./libc.ts";
import { leaseLibc, type LibcLease, shareLibc } from "./libc_lease.ts";
import { type Watch, watch } from "./posix_reactor.ts";
import { decodeSockaddr, encodeSockaddr } from "./sockaddr.ts";
import { Turns } from "./_turns.ts";
import {
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

/** One socket: one descriptor, and its watch in the reactor once it waits. */
class PosixSysSocket implements SysSocket {
  remote: SocketAddr | undefined;
  #local: SocketAddr | undefined;
  /** Whether a call may have changed the local address since it was read. */
  #localStale = false;
  /** Whether bind() bound the socket. */
  #bound = false;
  readonly #kind: SysSocketKind;
  /** A UDP socket: its first send(), even one that fails, binds a port. */
  readonly #udp: boolean;
  readonly #fd: number;
  readonly #lease: LibcLease;
  readonly #libc: Libc;
  /** Reads take turns, so that they receive in the order they were made. */
  readonly #reads = new Turns();
  /** The descriptor's place in the reactor, made by the first wait. */
  #watch: Watch | undefined;
  #closed = false;
  /** An aborted write never reached `send(2)`: nothing of it went out. */
  readonly stopsWrites = true;

  constructor(kind: SysSocketKind, fd: number, lease: LibcLease) {
    this.#kind = kind;
    this.#udp = kind.type === "dgram" && kind.domain !== "unix";
    this.#fd = fd;
    this.#lease = lease;
    this.#libc = lease.libc;
  }

  /**
   * What `getsockname(2)` says, read when asked after a call that can
   * change it (never once the descriptor is closed: its number may be
   * another file's by then).
   */
  get local(): SocketAddr | undefined {
    if (this.#localStale && !this.#closed) {
      this.#localStale = false;
      const name = sysGetsockname(this.#libc, this.#fd);
      if (name.ok) this.#local = name.value;
    }
    return this.#local;
  }

  bind(addr: SocketAddr): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("bind");
      const what = `bind to ${formatAddr(addr)}`;
      checkAccess("bind", what, addr);
      const bound = sysBind(this.#libc, this.#fd, addr);
      if (!bound.ok) throw sysError(bound.errno, "bind", what, addr);
      this.#bound = true;
      this.#localChanged();
    });
  }

  listen(backlog: number | undefined): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("listen");
      // A socket bind() bound listens where bind() was allowed (Deno.listen()
      // asks once, for the address it is given); any other listens where
      // listen(2) binds it.
      const at = this.#bound ? undefined : this.#listensAt();
      if (at !== undefined) {
        checkAccess("listen", `listen on ${formatAddr(at)}`, at);
      }
      // An i32 for FFI: -0 is 0, and Linux caps a backlog at SOMAXCONN's
      // sysctl anyway.
      const n = Math.min(backlog ?? SOMAXCONN, 0x7fffffff) || 0;
      const listening = sysListen(this.#libc, this.#fd, n);
      if (!listening.ok) {
        throw sysError(listening.errno, "listen", "listen");
      }
      // Only an unbound socket gets an address from listen(2).
      if (!this.#bound && this.#unnamed()) this.#localChanged();
    });
  }

  async connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    this.#ensureOpen("connect");
    const what = `connect to ${formatAddr(addr)}`;
    checkAccess("connect", what, addr);
    const sa = encodeSockaddr(addr);
    try {
      if (sa === undefined) throw sysError("EINVAL", "connect", what);
      if (this.#kind.nonblocking) this.#connectOnce(sa, what);
      else await this.#connectWaiting(sa, signal, what);
    } finally {
      // Connected, the socket has an address; a failed connect() gives back
      // a port the kernel chose, and one in progress has bound the socket.
      this.#localChanged();
    }
    this.#ensureOpen("connect", true);
    this.#remote(sa!);
  }

  /**
   * The peer once connected to `sa`: an inet address other than a wildcard
   * is the peer as `getpeername(2)` would give it (decoded the same way);
   * the kernel is asked for a unix peer (the name the listener bound) and
   * a wildcard (the address it connected to instead).
   */
  #remote(sa: Uint8Array): void {
    const target = this.#isUnix() ? undefined : decodeSockaddr(sa, sa.length);
    if (target !== undefined && !isKernelWildcard(target)) {
      this.remote = target;
    } else {
      this.#readRemote();
    }
  }

  async accept(signal?: AbortSignal): Promise<SysSocket> {
    const { fd, peer } = await this.#whenReady(
      "accept",
      POLLIN,
      "accept a connection",
      () => sysAcceptFrom(this.#libc, this.#fd, SOCK_NONBLOCK | SOCK_CLOEXEC),
      signal,
      true,
    );
    // Linux's accept() makes a blocking socket, whatever the listener.
    const sock = new PosixSysSocket(
      { ...this.#kind, nonblocking: false },
      fd,
      shareLibc(this.#lease),
    );
    // accept4(2) gave the peer. The local address is the listener's, unless
    // the listener is bound to a wildcard address or has none yet.
    sock.remote = peer;
    const local = this.local;
    if (local === undefined || isKernelWildcard(local)) sock.#localChanged();
    else sock.#local = { ...local };
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
        true,
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
        true,
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
    const sent = this.#whenReady(
      "send",
      POLLOUT,
      "send",
      () => sysSend(this.#libc, this.#fd, data, MSG_NOSIGNAL),
      signal,
    );
    if (!this.#udp || !portless(this.#local)) return sent;
    // UDP binds an ephemeral port on its first send(), even one that fails
    // (EDESTADDRREQ without a peer).
    return sent.finally(() => this.#localChanged());
  }

  async writeTo(
    data: Uint8Array,
    addr: SocketAddr,
    signal?: AbortSignal,
  ): Promise<number> {
    checkAccess("sendto", `send to ${formatAddr(addr)}`, addr);
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
      if (this.#localStale || portless(this.#local)) this.#localChanged();
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

  disconnect(): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("disconnect");
      const done = sysConnectUnspec(this.#libc, this.#fd);
      if (!done.ok) {
        throw sysError(done.errno, "disconnect", "connect to AF_UNSPEC");
      }
      this.#localChanged();
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
    // A wait may end before the socket is ready: look again.
    while (!this.#ready(events)) await this.#wait("wait", events, signal);
  }

  shutdown(how: ShutdownHow, _keepAddress: boolean): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("shutdown");
      const shut = sysShutdown(this.#libc, this.#fd, HOW[how]);
      if (!shut.ok) {
        throw sysError(shut.errno, "shutdown", `shut down (${how})`);
      }
      this.#localChanged();
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

  sendtoRefusal(addr: SocketAddr): SocketError | undefined {
    // The port the kernel binds first is its own choice: Deno's permissions
    // name the target only, as for Deno's own sends.
    return accessRefusal("sendto", `send to ${formatAddr(addr)}`, addr);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Every wait ends at once, and the call that waited sees #closed.
    this.#watch?.close();
    sysClose(this.#libc, this.#fd);
    this.#lease.release();
  }

  /**
   * `connect(2)` once, as on a non-blocking socket: 0 resolves; anything
   * else is the kernel's errno (`EINPROGRESS` for an attempt that goes on,
   * then `EALREADY` until it is over, then its outcome once).
   */
  #connectOnce(sa: Uint8Array, what: string): void {
    const tried = sysConnectTo(this.#libc, this.#fd, sa);
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
   * `connect(2)`, waiting out `EINPROGRESS` and a full unix backlog. While
   * the attempt is in progress, `connect(2)` is called again: at once (on
   * loopback the handshake is usually over by then), then each time the
   * socket is writable. It answers 0 (or `EISCONN`) when connected, or the
   * attempt's error (as `SO_ERROR` holds it), and like a blocking `connect`
   * it resets a failed socket so that it can connect again (after reading
   * `SO_ERROR` alone, the next `connect` would give `ECONNABORTED`). An
   * aborted attempt is stopped with `connect(AF_UNSPEC)`.
   */
  async #connectWaiting(
    sa: Uint8Array,
    signal: AbortSignal,
    what: string,
  ): Promise<void> {
    let again = true;
    for (let waited = false;; waited = true) {
      this.#ensureOpen("connect", waited);
      const tried = sysConnectTo(this.#libc, this.#fd, sa);
      if (tried.ok || tried.errno === "EISCONN") return;
      if (tried.errno === "EAGAIN" && this.#isUnix()) {
        // The listener's backlog is full: a blocking connect() would sleep.
        await this.#wait("connect", 0, signal);
        continue;
      }
      if (tried.errno !== "EINPROGRESS" && tried.errno !== "EALREADY") {
        throw sysError(tried.errno, "connect", what);
      }
      // The kernel has bound the socket: getsockname() shows it meanwhile.
      if (tried.errno === "EINPROGRESS") this.#localChanged();
      if (again) {
        again = false;
        continue;
      }
      try {
        await this.#wait("connect", POLLOUT, signal);
      } catch (error) {
        // Stop the attempt in the kernel too, unless close() did, as the
        // call that stopped it does. Either leaves ECONNRESET pending, which
        // a blocking connect(2) waiting there takes after shutdown(2) (its
        // answer), but not after connect(AF_UNSPEC) (it answers EPIPE).
        if (this.#closed) throw error;
        const reason: unknown = signal.reason;
        if (reason instanceof Disconnection && reason.by === "shutdown") {
          sysShutdown(this.#libc, this.#fd, SHUT_RDWR);
          sysGetsockoptInt(this.#libc, this.#fd, SOL_SOCKET, SO_ERROR);
        } else sysConnectUnspec(this.#libc, this.#fd);
        throw error;
      }
    }
  }

  /**
   * Makes a call that may have to wait, such as `recv(2)`: again after each
   * wait for `events` while it answers `EAGAIN`, or, on a non-blocking
   * socket, never: `EAGAIN` rejects at once. On a blocking socket, a call
   * that `settles` (accept and the reads) first lets the work queued before
   * it run: an `accept()` usually comes just before the connection it takes
   * (the procedure's order), a `recv()` before the data the process sends
   * itself, and both are then taken without a wait. When `signal` aborts,
   * the wait rejects with `EINTR` before the call is made again: nothing is
   * taken (an aborted signal is seen before the first call too).
   */
  async #whenReady<T>(
    op: SocketOp,
    events: number,
    what: string,
    call: () => SysResult<T>,
    signal: AbortSignal | undefined,
    settles = false,
  ): Promise<T> {
    const nonblocking = this.#kind.nonblocking;
    let waited = settles && !nonblocking;
    if (waited) await settled();
    for (;; waited = true) {
      this.#ensureOpen(op, waited);
      if (signal !== undefined) throwIfAborted(op, signal);
      const done = call();
      if (done.ok) return done.value;
      if (done.errno !== "EAGAIN") throw sysError(done.errno, op, what);
      if (nonblocking) throw wouldWait(op, what, events);
      await this.#wait(op, events, signal);
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
   * Waits in the reactor until the socket may be ready for `events` (none:
   * sleep for `BACKLOG_RETRY_MS`), or until close() or `signal` ends the
   * wait. The event loop goes on meanwhile.
   *
   * @throws {SocketError} `EBADF` when the socket was closed meanwhile,
   * `EINTR` when `signal` aborted, or the errno of a reactor call that
   * failed (such as `EMFILE` for its epoll descriptor).
   */
  async #wait(
    op: SocketOp,
    events: number,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#ensureOpen(op, true);
    throwIfAborted(op, signal);
    this.#watch ??= watch(this.#fd);
    const failed = events === 0
      ? await this.#watch.sleep(BACKLOG_RETRY_MS, signal)
      : await this.#watch.wait(events, signal);
    this.#ensureOpen(op, true);
    throwIfAborted(op, signal);
    if (failed !== undefined) throw sysError(failed, op, `wait to ${op}`);
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

  /** Whether the socket has no address of its own yet. */
  #unnamed(): boolean {
    const local = this.local;
    if (local === undefined) return true;
    return "path" in local ? local.path === "" : local.port === 0;
  }

  /** Marks the local address as one to read again when asked. */
  #localChanged(): void {
    this.#localStale = true;
  }

  #readRemote(): void {
    const name = sysGetpeername(this.#libc, this.#fd);
    this.remote = name.ok ? name.value : undefined;
  }
}

/**
 * Throws what the Deno backend throws when Deno's permissions do not grant
 * what a call on `addr` needs. When all of the network is granted (no host
 * denied either), an inet address needs no query of its own: a query of a
 * new host and port costs Deno more (it keeps a status per descriptor).
 */
function checkAccess(op: SocketOp, what: string, addr: SocketAddr): void {
  const refusal = accessRefusal(op, what, addr);
  if (refusal !== undefined) throw refusal;
}

/** `checkAccess()`'s refusal, if any, for a caller that throws it later. */
function accessRefusal(
  op: SocketOp,
  what: string,
  addr: SocketAddr,
): SocketError | undefined {
  if (!("path" in addr)) {
    const net = Deno.permissions.querySync(ALL_NET);
    if (net.state === "granted" && !net.partial) return undefined;
  }
  return granted(addr) ? undefined : permissionDenied(op, what, addr);
}

const ALL_NET: Deno.NetPermissionDescriptor = { name: "net" };

/** Whether `local` is no port of the socket's own (an inet socket unbound). */
function portless(local: SocketAddr | undefined): boolean {
  return local === undefined || ("port" in local && local.port === 0);
}

/**
 * Whether `local` (as `getsockname(2)` decodes it) is a wildcard address:
 * an accepted socket's local address is then the one its peer reached.
 */
function isKernelWildcard(local: SocketAddr): boolean {
  if ("path" in local) return false;
  const { hostname } = local;
  return hostname === "0.0.0.0" || hostname === "::" ||
    hostname === "::ffff:0:0";
}

/**
 * Resolves once the microtasks queued so far have run: work this process
 * started meanwhile (a connect to its own listener, a send to its own
 * socket) has then made its system calls.
 */
async function settled(): Promise<void> {
  for (let i = 0; i < SETTLE_TICKS; i++) await undefined;
}

/** How many turns of the microtask queue `settled()` waits. */
const SETTLE_TICKS = 2;

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
