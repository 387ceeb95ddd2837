// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The exact backend: every effect is the one matching libc call, made
 * through Deno's FFI on a real, non-blocking socket descriptor. Needs
 * `--allow-ffi` and Linux (`libc.so.6`); with FFI, Deno's `--allow-net`,
 * `--allow-read` and `--allow-write` checks no longer apply to these calls.
 *
 * - `bind`, `listen`, `shutdown` are `bind(2)`, `listen(2)` (backlog
 *   `SOMAXCONN` by default) and `shutdown(2)`. A bound socket that does not
 *   listen refuses connections, and closing a unix listener leaves its socket
 *   file in place, as in C.
 * - `connect` is `connect(2)`. `EINPROGRESS` is waited out (`POLLOUT`, then
 *   `connect(2)` again, which reports the outcome and, on failure, resets
 *   the socket as a blocking `connect` does), and so is a unix `EAGAIN` (a
 *   full backlog). An aborted attempt is stopped with `connect(AF_UNSPEC)`.
 * - `accept`, `read` and `write` are `accept4(2)`, `recv(2)` and `send(2)`
 *   with `MSG_NOSIGNAL`; `EAGAIN` waits for readiness and tries again.
 * - `local` and `remote` are what `getsockname(2)` and `getpeername(2)` say
 *   after each call that can change them.
 *
 * Waiting never blocks Deno's event loop: `poll(2)` runs on a thread of
 * Deno's pool (an FFI call declared `nonblocking`) over the socket and the
 * socket's own `eventfd`, which `close()` (or an aborted `connect`) signals
 * so that a pending wait returns at once. Nothing polls while nothing waits.
 * `close()` closes the socket's descriptor at once; the `eventfd` and the
 * socket's share of libc (see `libc_lease.ts`) are freed when the last
 * pending poll has returned, before the call that waited rejects.
 *
 * @module
 */
import {
  type Domain,
  formatAddr,
  type SocketAddr,
} from "../machine/address.ts";
import type { ShutdownHow, SysSocket } from "../machine/effects.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
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
  pollRevents,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SOCK_CLOEXEC,
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
  sysRead,
  sysRecv,
  type SysResult,
  sysSend,
  sysShutdown,
  sysSocket,
  sysWrite,
} from "./libc.ts";
import { leaseLibc, type LibcLease } from "./libc_lease.ts";
import { libcUnavailable, osError } from "./os_error.ts";

const FAMILY: Readonly<Record<Domain, number>> = {
  inet: AF_INET,
  inet6: AF_INET6,
  unix: AF_UNIX,
};

const HOW: Readonly<Record<ShutdownHow, number>> = {
  read: SHUT_RD,
  write: SHUT_WR,
  both: SHUT_RDWR,
};

/** How long a unix `connect` waits before trying a full backlog again. */
const BACKLOG_RETRY_MS = 5;

/**
 * Creates the system side of a socket with the posix backend:
 * `socket(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`.
 *
 * @param domain The socket's address family.
 * @throws {SocketError} `EOPNOTSUPP` when this is not Linux, `EACCES`
 * without `--allow-ffi`, or the errno of `socket(2)` (such as `EMFILE`).
 */
export function posixSocket(domain: Domain): SysSocket {
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
  const type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const created = sysSocket(lease.libc, FAMILY[domain], type, 0);
  if (!created.ok) {
    lease.release();
    throw sysError(created.errno, "socket", `create ${domain} socket`);
  }
  return new PosixSysSocket(domain, created.value, lease);
}

/** One socket: one descriptor, and an `eventfd` to wake its waits. */
class PosixSysSocket implements SysSocket {
  local: SocketAddr | undefined;
  remote: SocketAddr | undefined;
  readonly #domain: Domain;
  readonly #fd: number;
  readonly #lease: LibcLease;
  readonly #libc: Libc;
  /** The `eventfd` that wakes pending polls, made by the first wait. */
  #wakeFd: number | undefined;
  /** Polls running on Deno's pool now. */
  #polls = 0;
  #closed = false;

  constructor(domain: Domain, fd: number, lease: LibcLease) {
    this.#domain = domain;
    this.#fd = fd;
    this.#lease = lease;
    this.#libc = lease.libc;
  }

  bind(addr: SocketAddr): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("bind");
      const bound = sysBind(this.#libc, this.#fd, addr);
      if (!bound.ok) {
        throw sysError(bound.errno, "bind", `bind to ${formatAddr(addr)}`);
      }
      this.#readLocal();
    });
  }

  listen(backlog: number | undefined): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("listen");
      const listening = sysListen(this.#libc, this.#fd, backlog ?? SOMAXCONN);
      if (!listening.ok) {
        throw sysError(listening.errno, "listen", "listen");
      }
      this.#readLocal();
    });
  }

  async connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    this.#ensureOpen("connect");
    const what = `connect to ${formatAddr(addr)}`;
    const onAbort = () => this.#wake();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#connect(addr, signal, what);
    } catch (error) {
      // A failed connect() gives back a port the kernel chose.
      if (!this.#closed) this.#readLocal();
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    this.#ensureOpen("connect", true);
    this.#readLocal();
    this.#readRemote();
  }

  async accept(): Promise<SysSocket> {
    const flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    for (let waited = false;; waited = true) {
      this.#ensureOpen("accept", waited);
      const accepted = sysAccept4(this.#libc, this.#fd, flags);
      if (accepted.ok) {
        const sock = new PosixSysSocket(
          this.#domain,
          accepted.value,
          leaseLibc(),
        );
        sock.#readLocal();
        sock.#readRemote();
        return sock;
      }
      if (accepted.errno !== "EAGAIN") {
        throw sysError(accepted.errno, "accept", "accept a connection");
      }
      await this.#wait("accept", POLLIN);
    }
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    for (let waited = false;; waited = true) {
      this.#ensureOpen("recv", waited);
      const got = sysRecv(this.#libc, this.#fd, buffer, 0);
      if (got.ok) return got.value === 0 ? null : got.value;
      if (got.errno !== "EAGAIN") throw sysError(got.errno, "recv", "receive");
      await this.#wait("recv", POLLIN);
    }
  }

  async write(data: Uint8Array): Promise<number> {
    for (let waited = false;; waited = true) {
      this.#ensureOpen("send", waited);
      const sent = sysSend(this.#libc, this.#fd, data, MSG_NOSIGNAL);
      if (sent.ok) return sent.value;
      if (sent.errno !== "EAGAIN") throw sysError(sent.errno, "send", "send");
      await this.#wait("send", POLLOUT);
    }
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
    const tried = sysConnect(this.#libc, this.#fd, addr);
    const what = `connect to ${formatAddr(addr)}`;
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
    this.#wake();
    sysClose(this.#libc, this.#fd);
    if (this.#polls === 0) this.#release();
  }

  /**
   * `connect(2)`, waiting out `EINPROGRESS` and a full unix backlog. Once
   * the socket is writable, `connect(2)` is called again: it answers 0 when
   * connected, or the attempt's error (as `SO_ERROR` holds it), and like a
   * blocking `connect` it resets a failed socket so that it can connect
   * again (after reading `SO_ERROR` alone, the next `connect` would give
   * `ECONNABORTED`).
   */
  async #connect(
    addr: SocketAddr,
    signal: AbortSignal,
    what: string,
  ): Promise<void> {
    for (let waited = false;; waited = true) {
      this.#ensureOpen("connect", waited);
      const tried = sysConnect(this.#libc, this.#fd, addr);
      if (tried.ok || tried.errno === "EISCONN") return;
      if (tried.errno === "EAGAIN" && this.#domain === "unix") {
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
    const wakeFd = this.#wakeFdFor(op);
    const fds = pollFds([
      { fd: wakeFd, events: POLLIN },
      { fd: events === 0 ? -1 : this.#fd, events },
    ]);
    this.#polls++;
    let polled: SysResult<number>;
    try {
      polled = await sysPollAsync(this.#libc, fds, timeout);
    } finally {
      this.#polls--;
    }
    if (this.#closed) {
      if (this.#polls === 0) this.#release();
      this.#ensureOpen(op, true);
    }
    // Not closed: the wake was an abort, spent now.
    if (pollRevents(fds, 0) & POLLIN) {
      sysRead(this.#libc, wakeFd, new Uint8Array(8));
    }
    throwIfAborted(op, signal);
    if (!polled.ok && polled.errno !== "EINTR") {
      throw sysError(polled.errno, op, `wait to ${op}`);
    }
  }

  /** The socket's `eventfd`, made on first use. */
  #wakeFdFor(op: SocketOp): number {
    if (this.#wakeFd !== undefined) return this.#wakeFd;
    const made = sysEventfd(this.#libc, 0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!made.ok) throw sysError(made.errno, op, `make an eventfd to ${op}`);
    this.#wakeFd = made.value;
    return made.value;
  }

  /** Signals the `eventfd`: every pending poll returns. */
  #wake(): void {
    if (this.#wakeFd === undefined) return;
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 1n, true);
    sysWrite(this.#libc, this.#wakeFd, one);
  }

  /** Frees what close() had to keep until the last poll returned. */
  #release(): void {
    if (this.#wakeFd !== undefined) sysClose(this.#libc, this.#wakeFd);
    this.#wakeFd = undefined;
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
        ? `Cannot finish ${op}(): the socket was closed while the call was in progress`
        : `Cannot ${op}(): the socket's descriptor is closed`,
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

/** Throws `EINTR` when `signal` has aborted the call. */
function throwIfAborted(op: SocketOp, signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new SocketError(
    "EINTR",
    op,
    `Cannot finish ${op}(): the call was aborted`,
    { cause: signal.reason },
  );
}

/** A failed system call as a {@linkcode SocketError} that names its errno. */
function sysError(
  errno: Errno | number,
  op: SocketOp,
  what: string,
): SocketError {
  if (typeof errno === "number") {
    return new SocketError(
      "EIO",
      op,
      `Cannot ${what}: the kernel answered errno ${errno}, which sockfsm does not name`,
    );
  }
  if (errno === "EACCES") {
    // Not Deno's permission: the kernel's (a port below 1024, a unix path).
    return new SocketError(
      errno,
      op,
      `Cannot ${what}: EACCES; the kernel denied it (ports below 1024 need privileges, a unix path needs write access to its directory)`,
    );
  }
  return osError(
    Object.assign(new Error(`${op}(2) failed`), { code: errno }),
    op,
    what,
  );
}
