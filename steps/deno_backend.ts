// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The default backend: every effect performed with Deno's own network API,
 * so it needs only `--allow-net` (and `--allow-read --allow-write` for unix
 * paths). Where Deno's API cannot perform a step as one system call, this is
 * how the backend realises it, and what differs from the real call:
 *
 * - `bind()` is `Deno.listen()` on the address, held as a reservation. It
 *   fails as `bind()` does (`EADDRINUSE`, `EADDRNOTAVAIL`) and learns the
 *   kernel's port, but the kernel already accepts connections on a bound
 *   socket, where a real bound socket would refuse them.
 * - `listen()` after `bind()` keeps the reservation as the listener. With a
 *   backlog it listens again on the same address with `tcpBacklog` (a short
 *   window in which another process could take the port). Deno fixes the
 *   backlog of unix listeners, so a unix backlog is not applied.
 * - `connect()` after `bind()` frees the reservation and connects from that
 *   address: TCP through `node:net` (`localAddress`, `localPort`), unix
 *   through libc's `socket`/`bind`/`connect`, adopted by `node:net` (this one
 *   case needs `--allow-ffi`; Deno cannot bind a unix client).
 * - `shutdown("read")` is not told to the kernel (Deno has no such call): the
 *   model answers every later `recv()` with end of stream.
 * - Closing a unix listener removes its socket file (Deno does); closing a
 *   real one leaves the file in place.
 * - `bind()` on a connected unix socket that has no address, which Linux
 *   allows, fails with `EOPNOTSUPP`: Deno exposes no file descriptor to bind.
 * - The kernel cannot be asked how a TCP connection stands: `bind()`,
 *   `getpeername()` and `shutdown()` answer as for a live connection, until
 *   the machine knows it is over (the socket's own calls saw both FINs, or a
 *   reset) and answers them itself. A peer's FIN that no read has seen yet
 *   is not known.
 * - `connect()` from a connected or listening unix socket looks the target
 *   up as Linux does: a missing path is `ENOENT`, a file with no listener
 *   behind it `ECONNREFUSED`. Telling a stale socket file from a live one
 *   takes a libc look-up (`--allow-ffi`); without it, a socket file is taken
 *   to be live.
 * - A blocking unix `connect()` to a listener whose backlog is full waits,
 *   as on Linux, by trying again (`Deno.connect()` answers `EAGAIN` at
 *   once) after 1 ms, doubling to 50 ms, until it connects, fails otherwise,
 *   or `close()` stops it: the connection is made up to 50 ms after the
 *   listener accepts, where the kernel wakes the `connect()` at once.
 * - `connect()` to port 0 is `ECONNREFUSED`, as Linux answers, without a
 *   call: neither Deno nor `node:net` takes port 0.
 * - When the `connect()` of a unix client bound before it fails, the socket
 *   file that its libc socket made is removed: `listen()` then listens at
 *   the path, as the kernel's socket, still bound to it, would.
 *
 * Datagram sockets:
 *
 * - A unix datagram socket is the posix backend's (libc's `socket(2)` and
 *   the rest) when `--allow-ffi` is granted: neither Deno nor `node:dgram`
 *   has one. Without it, `socket()` is refused with `EOPNOTSUPP`.
 * - A UDP socket is a `node:dgram` socket (see `deno_dgram.ts`), made by
 *   `bind()`, or by `connect()` and `sendto()` on an unbound socket, which
 *   bind the wildcard address and an ephemeral port first, as the kernel
 *   does.
 * - `connect()` records the peer in the backend: Deno's `node:dgram` never
 *   calls `connect(2)`, so the kernel's socket stays unconnected. Datagrams
 *   from other senders reach the process, and the backend drops them; an
 *   ICMP error (a datagram to a port with nothing bound) is not reported as
 *   `ECONNREFUSED`. `getsockname()` shows the source address Linux picks:
 *   the loopback address for a loopback peer; for another peer, what the
 *   kernel says for a libc socket connected there (`--allow-ffi`), else the
 *   wildcard address.
 * - A second `connect()` changes the peer at once; datagrams queued from the
 *   old one stay queued, as on Linux.
 * - `disconnect()` forgets the peer, and `getsockname()` shows the bound
 *   address again. A port the kernel chose (port 0 in `bind()`, or none) is
 *   given back by closing the `node:dgram` socket; the next call that needs
 *   a port makes a new one, with the options set so far.
 * - Received datagrams are queued by the backend, at most 212992 bytes and
 *   1024 datagrams (a datagram that finds it full is dropped); the kernel's
 *   `SO_RCVBUF` does not bound this queue.
 * - `close()` frees the port an event-loop turn later (`node:dgram` closes
 *   asynchronously); a `bind()` of this process to that port waits for it.
 * - `shutdown()` is kept by the backend: after `SHUT_RD` a read with nothing
 *   queued returns 0 (datagrams still queue), after `SHUT_WR` a send fails
 *   with `EPIPE`; without a peer the bits are set and the call fails with
 *   `ENOTCONN`, as on Linux.
 *
 * Socket options (`deno_options.ts`):
 *
 * - Set with Deno's and Node's own calls: `TCP_NODELAY` and `SO_KEEPALIVE` of
 *   a TCP connection (`Deno.TcpConn`, `node:net`); `SO_BROADCAST` of a UDP
 *   socket; `SO_REUSEADDR` and `IPV6_V6ONLY` of a UDP socket before it is
 *   bound (`createSocket()`); `SO_REUSEPORT` of a TCP socket before it is
 *   bound, with `--unstable-net` only (`Deno.listen()`'s `reusePort`).
 * - Read from what the backend knows: Linux's value for a new socket, what
 *   was set, and what Deno set itself: `Deno.listen()` sets `SO_REUSEADDR`
 *   on every TCP listener (and so on what it accepts), `node:net` on a
 *   client it binds; Deno and `node:dgram` set `IPV6_V6ONLY` on a socket
 *   bound to a specific IPv6 address (not `::` nor a v4-mapped one), which
 *   Linux leaves off. `SO_RCVBUF` and `SO_SNDBUF`, which the kernel doubles
 *   and clamps, are always read from the kernel.
 * - Through libc (`--allow-ffi`), everything else: `setsockopt(2)` and
 *   `getsockopt(2)` on the descriptor that has the socket's addresses
 *   (`deno_fd.ts`), refused with `EOPNOTSUPP` when several descriptors have
 *   them (unix connections accepted from one listener). Without
 *   `--allow-ffi` these are refused with `EOPNOTSUPP`: setting `SO_LINGER`,
 *   `SO_RCVBUF`, `SO_SNDBUF`, any option Deno has no call for on this
 *   socket (every option of a unix socket, `SO_BROADCAST` of a TCP one), and
 *   reading `SO_RCVBUF` and `SO_SNDBUF`. Setting an option to the value the
 *   backend knows it has is done without a call.
 * - What was set is applied again to each object that comes to hold the
 *   socket (a bind reservation, a listener, a connection, a new
 *   `node:dgram` socket), except `IPV6_V6ONLY`, which only the maker sets.
 *   An option set before `bind()`, `connect()` or `accept()` makes the first
 *   is kept until then; options set before `connect()` are applied once
 *   connected (`SO_RCVBUF` does not size the window offered in the SYN).
 *   Before that, `getsockopt()` asks a new libc socket of the same kind
 *   given the same options.
 * - Refused with `EOPNOTSUPP`, as Deno cannot honour them: `SO_REUSEADDR`
 *   `false` on a TCP socket before `bind()` (`Deno.listen()` always sets it;
 *   once bound, libc clears it); `SO_REUSEPORT` `true` before `bind()` on a
 *   TCP socket without `--unstable-net`, and on a UDP socket.
 * - `IPV6_V6ONLY` `true` on a TCP socket is had only where Deno sets it
 *   itself, on a specific IPv6 address: `bind()` of a socket with it to `::`
 *   or a v4-mapped address is refused with `EOPNOTSUPP`, and `connect()`
 *   without `bind()` makes a socket without it (`Deno.connect()` takes no
 *   such option; `getsockopt()` then says `false`).
 * - `TCP_NODELAY` and `SO_KEEPALIVE` of a bound or listening TCP socket are
 *   kept by the backend (`getsockopt()` reports them) and set on each
 *   connection it makes or accepts; the kernel's listener does not have
 *   them. TCP copies a listener's options to the connections it accepts, and
 *   so does the backend with the options set on the listener.
 * - `close()` with `SO_LINGER` on and 0 seconds resets the connection with
 *   libc's `connect(AF_UNSPEC)` (Deno's close sends FIN first); a linger
 *   time does not make `close()` wait.
 * - `SO_ERROR` holds the errors the backend sees: a non-blocking connect's
 *   failure, a failed background send, a `node:dgram` error.
 * - `disconnect()` of a TCP socket resets the connection with libc's
 *   `connect(AF_UNSPEC)` (`--allow-ffi`), else closes it (FIN). A port the
 *   caller chose is kept (bound again with `Deno.listen()`, a short window
 *   in which another process could take it); another is given back, and
 *   `getsockname()` still shows it, as on Linux.
 *
 * Non-blocking sockets (`O_NONBLOCK`, see `deno_ahead.ts`):
 *
 * - `accept()`: the listener accepts in the background as connections come
 *   (at most 128 ahead, whatever the backlog), and `accept()` takes the
 *   first, or says `EAGAIN` when none has come yet: a connection is seen an
 *   event-loop turn after it is made. The accepted socket is blocking, as
 *   Linux's `accept()` makes it.
 * - `recv()` on a TCP socket: the socket reads ahead from the start (one
 *   read of up to 64 KiB at a time) and `recv()` takes what that brought, or
 *   says `EAGAIN`: data is seen an event-loop turn after it arrives.
 * - `send()` on a TCP socket takes all the bytes at once and writes them in
 *   the background; it says `EAGAIN` while an earlier send is still being
 *   written (not when the kernel's buffer is full), and a failure of the
 *   background write is reported by the next `send()` and by `SO_ERROR`.
 * - `connect()` on a TCP socket says `EINPROGRESS` and connects in the
 *   background; while that goes on, `connect()` says `EALREADY` and
 *   `getsockname()` shows no port (Linux shows the one it bound). Then one
 *   `connect()` answers 0, or the attempt's error (`ECONNABORTED` if
 *   `SO_ERROR` took it first). A unix `connect()` is made at once, as on
 *   Linux; a full backlog is waited out instead of `EAGAIN`.
 * - A UDP `recv()` takes from the backend's queue or says `EAGAIN`; a UDP
 *   `send()` says `EAGAIN` only while an earlier send is still being made.
 * - `ready()` (`poll(2)`) waits for the backend's own events, not the
 *   kernel's: a queued datagram or connection, read-ahead data, end of
 *   stream or an error for `"read"`; for `"write"`, a connected socket with
 *   no background send (an unconnected one is ready at once, as Linux's
 *   `POLLHUP` says; a listener never), a datagram socket with no send being
 *   made. A failed non-blocking connect is ready for both. A blocking
 *   socket asked `ready("read")` starts reading or accepting ahead, and its
 *   reads and accepts take what that brought first.
 *
 * Cancellation (a `signal` on a blocking call): Deno cannot stop a read, an
 * accept or a write it has started, so a blocking `recv()` or `accept()`
 * with a signal reads or accepts through the read-ahead or accept-ahead
 * above, which keeps what comes after an abort for the next call (a `recv()`
 * with a signal is then one copy, not zero); a `send()` with a signal stops
 * between writes, and a write in progress at the abort goes on (later sends
 * wait for it). A blocking TCP `connect()` goes on after an abort, as
 * Linux's does, until it ends or `close()`.
 *
 * @module
 */
import net from "node:net";
import {
  formatAddr,
  type InetAddr,
  isWildcard,
  type SocketAddr,
  type UnixAddr,
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
import { SocketError, type SocketOp } from "../machine/errors.ts";
import type {
  SettableOptionName,
  SocketOptionName,
  SocketOptionValues,
} from "../machine/options.ts";
import type { Connection } from "./connection.ts";
import { AcceptAhead, ReadAhead } from "./deno_ahead.ts";
import { DenoConnection, DenoListener } from "./deno_connection.ts";
import { DenoDgramSocket } from "./deno_dgram.ts";
import { type FdIdentity, ffiGranted, findSocketFd } from "./deno_fd.ts";
import { DenoOptions, type OptionHolder, unstableNet } from "./deno_options.ts";
import { Changes, closedError, wouldBlock } from "./deno_wait.ts";
import {
  AF_UNIX,
  type Libc,
  openLibc,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  sysBind,
  sysBindAutobind,
  sysClose,
  sysConnect,
  sysConnectUnspec,
  sysListen,
  type SysResult,
  sysSocket,
} from "./libc.ts";
import { NodeConnection } from "./node_connection.ts";
import { posixSocket } from "./posix_backend.ts";
import { Turns } from "./_turns.ts";
import {
  checkPermission,
  errnoOf,
  granted,
  libcUnavailable,
  osError,
  permissionDenied,
} from "./os_error.ts";

/**
 * Creates the system side of a socket of `kind` with the Deno backend: a
 * stream socket held by Deno's objects, a UDP socket by `node:dgram`'s
 * (`deno_dgram.ts`), a unix datagram socket by the posix backend (with
 * `--allow-ffi`).
 *
 * @param kind The socket's domain, type and `O_NONBLOCK`.
 * @throws {SocketError} `EOPNOTSUPP` for a unix datagram socket without
 * `--allow-ffi`.
 */
export function denoSocket(kind: SysSocketKind): SysSocket {
  if (kind.type === "stream") return new DenoSysSocket(kind, undefined);
  if (kind.domain !== "unix") return new DenoDgramSocket(kind);
  if (ffiGranted()) return posixSocket(kind);
  throw new SocketError(
    "EOPNOTSUPP",
    "socket",
    'Cannot create a unix datagram socket with the deno backend: EOPNOTSUPP, neither Deno nor node:dgram has unix datagram sockets; run with --allow-ffi (the backend then makes it with libc, as the posix backend does), or use backend: "posix"',
  );
}

/** How the object that holds a stream socket was made. */
type Made =
  /** `Deno.listen()`: a bind reservation or a listener. */
  | "listener"
  /** A Deno listener's `accept()`. */
  | "accepted"
  /** `Deno.connect()`. */
  | "client"
  /** `node:net` from a bound address (TCP), or libc's socket (unix). */
  | "bound client";

/** A connection accepted by a listener, for the socket that will hold it. */
interface Accepted {
  readonly connection: Connection;
  /** The listener's options (TCP copies them to what it accepts). */
  readonly options: DenoOptions | undefined;
  /** What the listener's maker set, which the connection inherits. */
  readonly made: Partial<SocketOptionValues>;
}

/** A non-blocking connect() going on in the background. */
interface Attempt {
  readonly addr: SocketAddr;
  readonly controller: AbortController;
  done: boolean;
  error: SocketError | undefined;
}

/** One stream socket, held as whatever Deno object stands for it right now. */
class DenoSysSocket implements SysSocket {
  /**
   * The addresses; `HELD` while they are those of the object held (a
   * connection works its own out only when asked).
   */
  #local: SocketAddr | undefined | typeof HELD;
  #remote: SocketAddr | undefined | typeof HELD;
  readonly #kind: SysSocketKind;
  /**
   * The socket's options, made on first use (a socket whose options are
   * never touched pays nothing for them); `#inherited` are its listener's.
   */
  #options: DenoOptions | undefined;
  readonly #inherited: DenoOptions | undefined;
  /** Who made the Deno object held now, for its options. */
  #heldBy: Made | undefined;
  /** The waits for the socket's changes, made by the first. */
  #waits: Changes | undefined;
  /** A bind reservation, a listener, or a connection. */
  #held: DenoListener | Connection | undefined;
  /** What the holder's maker set, beyond Linux's defaults. */
  #made: Partial<SocketOptionValues> = NOTHING_MADE;
  /** The address bind() was given (then connect() starts there). */
  #bindAddr: SocketAddr | undefined;
  /** The socket's yes-or-no facts (`BOUND`, `LISTENING`, ...), as bits. */
  #flags = 0;
  /** accept() calls take turns at Deno's listener (made by the first). */
  #accepts: Turns | undefined;
  /** Non-blocking, or asked ready(): the read or accept kept going. */
  #readAhead: ReadAhead | undefined;
  #acceptAhead: AcceptAhead | undefined;
  /** A non-blocking connect() going on. */
  #attempt: Attempt | undefined;
  /** Reads straight from the connection going on now. */
  #directReads = 0;
  /** A non-blocking send() still being written. */
  #writing: Promise<void> | undefined;
  /** Counts a direct read down (made by the first read). */
  #directDone: (() => void) | undefined;

  get local(): SocketAddr | undefined {
    const local = this.#local;
    return local === HELD ? this.#held!.local : local;
  }

  set local(addr: SocketAddr | undefined) {
    this.#local = addr;
  }

  get remote(): SocketAddr | undefined {
    const remote = this.#remote;
    return remote === HELD ? (this.#held as Connection).remote : remote;
  }

  set remote(addr: SocketAddr | undefined) {
    this.#remote = addr;
  }

  #is(flag: number): boolean {
    return (this.#flags & flag) !== 0;
  }

  #set(flag: number, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag;
  }

  /** Deno cannot stop a write it has started: an aborted one goes on. */
  get stopsWrites(): boolean {
    return false;
  }

  constructor(kind: SysSocketKind, accepted: Accepted | undefined) {
    this.#kind = kind;
    this.#inherited = accepted?.options;
    if (accepted === undefined) return;
    this.#made = accepted.made;
    this.#hold(accepted.connection, "accepted");
    this.#remote = HELD;
  }

  bind(addr: SocketAddr, connectionOver: boolean): Promise<void> {
    return Promise.try(() => {
      if (this.remote !== undefined && this.#kind.domain !== "unix") {
        // A TCP connection: Linux lets the socket bind once it is over.
        if (!connectionOver) {
          throw new SocketError(
            "EINVAL",
            "bind",
            `Cannot bind to ${
              formatAddr(addr)
            }: EINVAL, as Linux answers while the connection is up (connect() bound the socket); the deno backend cannot ask the kernel, and this socket's own calls have not seen the connection end`,
          );
        }
        this.#release();
        this.#hold(this.#listenAt(addr, undefined, "bind"), "listener");
        this.#set(BOUND, true);
        this.#bindAddr = addr;
        return;
      }
      if (this.remote !== undefined) {
        throw new SocketError(
          "EOPNOTSUPP",
          "bind",
          `Cannot bind a connected unix socket to ${
            formatAddr(addr)
          } with the deno backend: Linux allows it, but Deno gives no access to the socket's file descriptor`,
        );
      }
      this.#hold(this.#listenAt(addr, undefined, "bind"), "listener");
      this.#set(BOUND, true);
      this.#bindAddr = addr;
    });
  }

  listen(backlog: number | undefined): Promise<void> {
    return Promise.try(() => {
      const held = this.#held;
      const keep = backlog === undefined || this.#kind.domain === "unix";
      if (!(held instanceof DenoListener && keep)) {
        this.#release();
        // An unbound TCP socket listens on the wildcard address (autobind).
        const addr = this.local ??
          wildcardAddr(this.#kind.domain === "inet6" ? "inet6" : "inet", 0);
        try {
          this.#hold(this.#listenAt(addr, backlog, "listen"), "listener");
        } catch (error) {
          if (!this.#is(BOUND)) this.local = undefined;
          throw error;
        }
      }
      this.#set(LISTENING, true);
      // A non-blocking listener takes connections as they come.
      if (this.#kind.nonblocking) this.#acceptAheadFor().fill();
    });
  }

  connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    const attempt = this.#attempt;
    if (attempt !== undefined) {
      return Promise.try(() => this.#connectAgain(attempt));
    }
    if (this.remote !== undefined) {
      return Promise.reject(
        new SocketError(
          "EISCONN",
          "connect",
          `Cannot connect to ${
            formatAddr(addr)
          }: EISCONN, the socket is connected`,
        ),
      );
    }
    if (this.#kind.nonblocking && this.#kind.domain !== "unix") {
      return Promise.reject(this.#startConnect(addr));
    }
    return this.#connect(addr, signal);
  }

  /**
   * `accept(2)`. Deno's listener takes one accept at a time, where the
   * kernel lets many wait: each waits here for the one before it, so that
   * all wait and each gets its own connection.
   */
  async accept(signal?: AbortSignal): Promise<SysSocket> {
    // Deno cannot stop an accept it has started: with a signal, the accept
    // goes on in the background, and what it brings after an abort stays
    // queued for the next accept().
    if (this.#kind.nonblocking || this.#acceptAhead || signal) {
      return this.#acceptQueued(signal);
    }
    const listener = this.#held as DenoListener;
    const turn = (this.#accepts ??= new Turns()).take();
    if (turn) await turn;
    let connection: Connection;
    try {
      if (this.#held !== listener) {
        throw this.#is(CLOSED) ? closedMeanwhile() : new SocketError(
          "EINVAL",
          "accept",
          "Cannot finish accept(): shutdown() stopped the socket listening meanwhile",
        );
      }
      connection = await listener.accept();
    } catch (error) {
      throw osError(error, "accept", "accept a connection");
    } finally {
      this.#accepts!.done();
    }
    if (this.#is(CLOSED)) {
      connection.close();
      throw closedMeanwhile();
    }
    return this.#accepted(connection);
  }

  read(
    buffer: Uint8Array,
    signal?: AbortSignal,
  ): Promise<number | null> {
    const conn = this.#held as Connection;
    if (this.#kind.nonblocking) return Promise.try(() => this.#readNow(buffer));
    // Deno cannot stop a read it has started: with a signal, the read-ahead
    // reads, and keeps what comes after an abort for the next read.
    if (signal !== undefined) return this.#readAbortable(conn, buffer, signal);
    const ahead = this.#readAhead;
    if (ahead === undefined) return this.#readDirect(conn, buffer);
    return this.#readAfter(ahead, conn, buffer);
  }

  async readFrom(
    buffer: Uint8Array,
    signal?: AbortSignal,
  ): Promise<Received> {
    const count = await this.read(buffer, signal);
    // A unix stream gives the sender's name; TCP gives none.
    const unix = this.#kind.domain === "unix" && count !== null;
    return { count, from: unix ? this.remote : undefined };
  }

  write(data: Uint8Array, _signal?: AbortSignal): Promise<number> {
    // A write Deno has started cannot be stopped (see stopsWrites).
    const conn = this.#held as Connection;
    if (!this.#kind.nonblocking) return conn.write(data);
    return Promise.try(() => this.#writeNow(conn, data));
  }

  writeTo(
    data: Uint8Array,
    addr: SocketAddr,
    signal?: AbortSignal,
  ): Promise<number> {
    if (this.#kind.domain !== "unix") return this.write(data, signal);
    // The machine refuses sendto() on a unix stream (EISCONN, EOPNOTSUPP)
    // before any call: reaching here is a defect of the caller.
    return Promise.reject(
      new Error(
        `Cannot sendto ${
          formatAddr(addr)
        } on a unix stream socket: the socket machine refuses it first`,
      ),
    );
  }

  disconnect(): Promise<void> {
    return Promise.try(() => this.#disconnect());
  }

  #disconnect(): void {
    this.#ensureOpen("disconnect");
    if (this.#kind.domain === "unix") {
      throw new SocketError(
        "EINVAL",
        "disconnect",
        "Cannot disconnect() a unix stream socket: EINVAL, as Linux answers connect() with AF_UNSPEC on it",
      );
    }
    const held = this.#held;
    const port = this.local && "port" in this.local ? this.local.port : 0;
    if (held !== undefined && !(held instanceof DenoListener)) {
      resetConnection(held);
    }
    this.#release();
    this.#attempt?.controller.abort();
    this.#attempt = undefined;
    this.remote = undefined;
    this.#set(LISTENING, false);
    this.#set(SHUT_RD, false);
    this.#set(SHUT_WR, false);
    // Linux keeps a port the caller chose; it shows the port either way.
    const bindAddr = this.#bindAddr as InetAddr | undefined;
    const callerPort = this.#is(BOUND) && bindAddr !== undefined &&
      bindAddr.port !== 0;
    this.#set(BOUND, callerPort);
    if (callerPort) {
      this.#hold(this.#listenAt(bindAddr, undefined, "disconnect"), "listener");
      return;
    }
    const host = bindAddr && !isWildcard(bindAddr)
      ? bindAddr.hostname
      : wildcardAddr(this.#kind.domain === "inet6" ? "inet6" : "inet", 0)
        .hostname;
    this.local = port === 0 ? undefined : { hostname: host, port };
    this.#options?.attach(undefined);
  }

  setOption<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): void {
    this.#ensureOpen("setsockopt");
    this.#opts().set(name, value);
  }

  getOption<N extends SocketOptionName>(name: N): SocketOptionValues[N] {
    this.#ensureOpen("getsockopt");
    return this.#opts().get(name);
  }

  ready(what: Readiness, signal: AbortSignal | undefined): Promise<void> {
    return (this.#waits ??= new Changes()).until(
      "wait",
      () => this.#isReady(what),
      () => this.#is(CLOSED),
      signal,
    );
  }

  peerName(): SocketAddr {
    // The kernel cannot be asked: the connection is taken to be up (the
    // machine answers ENOTCONN itself once this socket saw it end).
    return this.remote!;
  }

  sendtoRefusal(): undefined {
    // Its sendto() never binds: a stream's is a send, or refused first.
    return undefined;
  }

  connectRefusal(addr: SocketAddr): SocketError | undefined {
    if (!("path" in addr)) return undefined;
    // The look-up below is libc's, past Deno's sandbox: ask first.
    if (!granted(addr)) {
      return permissionDenied(
        "connect",
        `connect to ${formatAddr(addr)}`,
        addr,
      );
    }
    const what = `Cannot connect to ${formatAddr(addr)}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(addr.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return new SocketError(
          "ENOENT",
          "connect",
          `${what}: ENOENT, there is no socket file at that path`,
        );
      }
      return undefined;
    }
    const found = info.isSocket === true
      ? lookUpUnixTarget(addr.path)
      : "ECONNREFUSED";
    if (found === "ENOENT" || found === "ECONNREFUSED") {
      return new SocketError(
        found,
        "connect",
        `${what}: ${found}, ${
          found === "ENOENT"
            ? "there is no socket file at that path"
            : "nothing listens at that file (a stale socket file)"
        }`,
      );
    }
    return undefined;
  }

  async shutdown(how: ShutdownHow, keepAddress: boolean): Promise<void> {
    const held = this.#held;
    if (held instanceof DenoListener) {
      // SHUT_RD stops a TCP listener; a port the caller chose stays bound.
      this.#release();
      this.#set(LISTENING, false);
      if (keepAddress) {
        this.#hold(
          this.#listenAt(held.local, undefined, "shutdown"),
          "listener",
        );
      } else this.local = undefined;
      return;
    }
    if (how !== "write") this.#set(SHUT_RD, true);
    if (how !== "read") this.#set(SHUT_WR, true);
    this.#waits?.notify();
    if (how === "read" || held === undefined) return;
    try {
      // The kernel sends what is queued before the FIN.
      await this.#writing;
      await (held as Connection).closeWrite();
    } catch (error) {
      throw osError(error, "shutdown", "shut down the write side");
    }
  }

  close(): void {
    this.#set(CLOSED, true);
    this.#attempt?.controller.abort();
    const held = this.#held;
    if (
      held !== undefined && !(held instanceof DenoListener) && this.#resets()
    ) {
      resetConnection(held);
    }
    this.#release();
    this.#waits?.notify();
  }

  /** A blocking connect(), waited out. */
  async #connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    const from = this.#is(BOUND) ? this.local : undefined;
    // Connecting binds the address itself: free the bind() reservation.
    this.#release();
    let connection: Connection;
    try {
      connection = await connectFrom(from, addr, signal);
    } catch (error) {
      // Linux gives back a port that the kernel chose for a failed connect.
      if (!this.#is(BOUND)) this.local = undefined;
      // Disconnected by connect(AF_UNSPEC), Linux leaves ECONNRESET pending.
      const reason: unknown = signal.reason;
      if (reason instanceof Disconnection && reason.by === "disconnect") {
        this.#opts().fail("ECONNRESET");
      }
      throw error;
    }
    if (signal.aborted || this.#is(CLOSED)) {
      connection.close();
      throw new SocketError(
        "EBADF",
        "connect",
        "Cannot finish connect(): the socket was closed meanwhile",
      );
    }
    this.#hold(connection, from ? "bound client" : "client");
    this.#remote = HELD;
  }

  /**
   * A non-blocking TCP connect(): the connection is made in the background;
   * the call says `EINPROGRESS`.
   */
  #startConnect(addr: SocketAddr): SocketError {
    const from = this.#is(BOUND) ? this.local : undefined;
    this.#release();
    const attempt: Attempt = {
      addr,
      controller: new AbortController(),
      done: false,
      error: undefined,
    };
    this.#attempt = attempt;
    connectFrom(from, addr, attempt.controller.signal).then(
      (connection) => {
        if (this.#is(CLOSED) || this.#attempt !== attempt) {
          connection.close();
          return;
        }
        this.#hold(connection, from ? "bound client" : "client");
        this.#remote = HELD;
      },
      (error: SocketError) => {
        if (this.#attempt !== attempt) return;
        if (!this.#is(BOUND)) this.local = undefined;
        attempt.error = error;
        this.#opts().fail(error.code);
      },
    ).finally(() => {
      attempt.done = true;
      this.#waits?.notify();
    });
    return new SocketError(
      "EINPROGRESS",
      "connect",
      `Cannot connect to ${
        formatAddr(addr)
      } at once: EINPROGRESS, the socket is non-blocking and the connection is being made; wait with ready("write"), then connect() again or read SO_ERROR`,
    );
  }

  /**
   * connect() again after a non-blocking one: `EALREADY` while it goes on;
   * then, once, 0 if it connected, or its error (`ECONNABORTED` if
   * `SO_ERROR` took the error first).
   */
  #connectAgain(attempt: Attempt): void {
    const what = `connect to ${formatAddr(attempt.addr)}`;
    if (!attempt.done) {
      throw new SocketError(
        "EALREADY",
        "connect",
        `Cannot ${what}: EALREADY, the non-blocking connect() is still in progress; wait with ready("write")`,
      );
    }
    this.#attempt = undefined;
    const error = attempt.error;
    if (error === undefined) return;
    if (this.#options?.pending === error.code) {
      this.#options.takeError();
      throw error;
    }
    throw new SocketError(
      "ECONNABORTED",
      "connect",
      `Cannot ${what}: ECONNABORTED, the non-blocking connect() failed, and SO_ERROR has taken its error`,
    );
  }

  /**
   * accept() through the accept-ahead (non-blocking, asked ready(), or
   * given a signal, which stops the wait).
   */
  async #acceptQueued(signal?: AbortSignal): Promise<SysSocket> {
    const ahead = this.#acceptAheadFor();
    if (this.#kind.nonblocking) {
      this.#ensureOpen("accept");
      if (!ahead.ready) {
        ahead.fill();
        throw wouldBlock("accept", "no connection is queued");
      }
    } else {
      await (this.#waits ??= new Changes()).until(
        "accept",
        () => {
          ahead.fill();
          return ahead.ready || this.#acceptAhead !== ahead;
        },
        () => this.#is(CLOSED),
        signal,
      );
      if (this.#acceptAhead !== ahead) {
        throw new SocketError(
          "EINVAL",
          "accept",
          "Cannot finish accept(): shutdown() stopped the socket listening meanwhile",
        );
      }
    }
    let connection: Connection;
    try {
      connection = ahead.take();
    } catch (error) {
      throw osError(error, "accept", "accept a connection");
    } finally {
      ahead.fill();
    }
    return this.#accepted(connection);
  }

  /**
   * The socket for an accepted connection. It is blocking, as `accept()`
   * makes it on Linux whatever the listener's `O_NONBLOCK`; TCP copies the
   * listener's options to it.
   */
  #accepted(connection: Connection): SysSocket {
    const kind = this.#kind.nonblocking
      ? { ...this.#kind, nonblocking: false }
      : this.#kind;
    const tcp = this.#kind.domain !== "unix";
    return new DenoSysSocket(kind, {
      connection,
      options: tcp ? this.#options : undefined,
      made: tcp ? this.#made : NOTHING_MADE,
    });
  }

  /** A non-blocking recv(): what the read-ahead has, else `EAGAIN`. */
  #readNow(buffer: Uint8Array): number | null {
    this.#ensureOpen("recv");
    const ahead = this.#readAheadFor(this.#held as Connection);
    if (!ahead.ready) {
      ahead.fill();
      throw wouldBlock("recv", "no data has arrived");
    }
    try {
      return ahead.take(buffer);
    } finally {
      ahead.fill();
    }
  }

  /** A blocking recv() once a read-ahead exists: it comes first. */
  async #readAfter(
    ahead: ReadAhead,
    conn: Connection,
    buffer: Uint8Array,
  ): Promise<number | null> {
    await (this.#waits ??= new Changes()).until(
      "recv",
      () => ahead.ready || !ahead.reading || this.#readAhead !== ahead,
      () => this.#is(CLOSED),
    );
    return ahead.ready ? ahead.take(buffer) : this.#readDirect(conn, buffer);
  }

  /**
   * A blocking recv() with a signal: through the read-ahead, so that an
   * abort consumes nothing (what the read brings stays there). A read
   * straight from the connection going on takes what comes first.
   */
  async #readAbortable(
    conn: Connection,
    buffer: Uint8Array,
    signal: AbortSignal,
  ): Promise<number | null> {
    const ahead = this.#readAheadFor(conn);
    await (this.#waits ??= new Changes()).until(
      "recv",
      () => {
        if (!ahead.ready && this.#directReads === 0) ahead.fill();
        return ahead.ready;
      },
      () => this.#is(CLOSED) || this.#readAhead !== ahead,
      signal,
    );
    return ahead.take(buffer);
  }

  /**
   * A read straight from the connection. While one goes on, no read-ahead
   * starts (it would race it for the data).
   */
  #readDirect(
    conn: Connection,
    buffer: Uint8Array,
  ): Promise<number | null> {
    this.#directReads++;
    const read = conn.read(buffer);
    // Counted down without wrapping the read: this is the data path.
    const done = this.#directDone ??= () => {
      // A direct read is over: a readiness wait may be answered now.
      this.#directReads--;
      if (this.#readAhead) this.#waits?.notify();
    };
    read.then(done, done);
    return read;
  }

  /**
   * A non-blocking send(): all of `data` is taken, and written in the
   * background; `EAGAIN` while an earlier send is still being written.
   */
  #writeNow(conn: Connection, data: Uint8Array): number {
    this.#ensureOpen("send");
    const failed = this.#options?.takeError();
    if (failed !== undefined) {
      throw new SocketError(
        failed,
        "send",
        `Cannot send(): ${failed}, an earlier send() failed in the background`,
      );
    }
    if (this.#writing) {
      throw wouldBlock("send", "an earlier send() is still being written");
    }
    const copy = data.slice();
    this.#writing = writeAll(conn, copy).catch((error) => {
      if (!this.#is(CLOSED)) this.#opts().fail(errnoOf(error));
    }).finally(() => {
      this.#writing = undefined;
      this.#waits?.notify();
    });
    return data.length;
  }

  /** Whether a call of `what` kind would not wait now (`poll(2)`). */
  #isReady(what: Readiness): boolean {
    const attempt = this.#attempt;
    // Connecting: neither; failed: both (POLLERR); connected: as below.
    if (attempt !== undefined && (!attempt.done || attempt.error)) {
      return attempt.done;
    }
    const held = this.#held;
    if (held instanceof DenoListener && this.#is(LISTENING)) {
      if (what === "write") return false;
      const ahead = this.#acceptAheadFor();
      ahead.fill();
      return ahead.ready;
    }
    // Not connected: every call fails at once (POLLHUP).
    if (held === undefined || held instanceof DenoListener) return true;
    if (what === "write") {
      return this.#writing === undefined || this.#is(SHUT_WR);
    }
    if (this.#is(SHUT_RD)) return true;
    const ahead = this.#readAheadFor(held);
    // A read going on takes what comes: it is ready once that read is done.
    if (this.#directReads > 0 && !ahead.ready) return false;
    ahead.fill();
    return ahead.ready;
  }

  #readAheadFor(conn: Connection): ReadAhead {
    return this.#readAhead ??= new ReadAhead(
      conn,
      () => this.#waits?.notify(),
    );
  }

  #acceptAheadFor(): AcceptAhead {
    return this.#acceptAhead ??= new AcceptAhead(
      this.#held as DenoListener,
      this.#accepts ??= new Turns(),
      () => this.#waits?.notify(),
    );
  }

  /** `Deno.listen()` with the options that must be there before bind. */
  #listenAt(
    addr: SocketAddr,
    backlog: number | undefined,
    op: SocketOp,
  ): DenoListener {
    // Without --unstable-net, asking Deno for reusePort ends the process.
    const reusePort = this.#options?.value("SO_REUSEPORT") === true &&
      unstableNet();
    const v6only = this.#options?.value("IPV6_V6ONLY") === true;
    if (
      v6only && this.#kind.domain === "inet6" && !specificIpv6(addr as InetAddr)
    ) {
      throw new SocketError(
        "EOPNOTSUPP",
        op,
        `Cannot ${op === "bind" ? "bind to" : "listen on"} ${
          formatAddr(addr)
        } with IPV6_V6ONLY with the deno backend: EOPNOTSUPP, Deno.listen() cannot set it, and sets it itself only on a specific IPv6 address; bind to one such as ::1, or use backend: "posix"`,
      );
    }
    const listener = listenAt(addr, backlog, op, reusePort);
    const tcp = this.#kind.domain !== "unix";
    const local = listener.local as InetAddr;
    this.#made = tcp
      ? listenerMade(
        reusePort,
        this.#kind.domain === "inet6" && specificIpv6(local),
      )
      : NOTHING_MADE;
    return listener;
  }

  #hold(held: DenoListener | Connection, made: Made): void {
    this.#held = held;
    this.#local = HELD;
    if (!(held instanceof DenoListener)) {
      if (made === "client") this.#made = NOTHING_MADE;
      if (made === "bound client") {
        // node:net binds with SO_REUSEADDR, and IPV6_V6ONLY on a v6 address.
        const from = this.#bindAddr as InetAddr;
        this.#made = this.#kind.domain === "unix" ? NOTHING_MADE : {
          SO_REUSEADDR: true,
          IPV6_V6ONLY: this.#kind.domain === "inet6" && specificIpv6(from),
        };
      }
      // A non-blocking connection reads ahead from the start.
      if (this.#kind.nonblocking) this.#readAheadFor(held).fill();
    }
    this.#heldBy = made;
    // What the caller set (or the listener, for an accepted socket) is
    // applied to the new object; untouched options cost nothing.
    if (this.#options !== undefined || this.#inherited?.anySet) {
      this.#opts().attach(this.#holder(held, made));
    }
  }

  /** The socket's options, made (for what is held now) on first use. */
  #opts(): DenoOptions {
    if (this.#options !== undefined) return this.#options;
    const options = new DenoOptions(this.#kind, this.#inherited);
    this.#options = options;
    const held = this.#held;
    if (held !== undefined) options.attach(this.#holder(held, this.#heldBy!));
    return options;
  }

  /** The holder's side of the socket's options. */
  #holder(held: DenoListener | Connection, made: Made): OptionHolder {
    const listener = held instanceof DenoListener;
    const tcp = listener ? undefined : held.tcp;
    const inet = this.#kind.domain !== "unix";
    return {
      what: listener ? "Deno.listen() listener" : `${made} connection`,
      made: this.#made,
      identity: () => ({
        type: "stream",
        local: held.local,
        remote: listener ? undefined : held.remote,
      }),
      setNative: (name, value) => {
        if (name !== "TCP_NODELAY" && name !== "SO_KEEPALIVE") return false;
        // A listener's are kept for the connections it accepts.
        if (listener) return inet;
        if (tcp === undefined) return false;
        if (name === "TCP_NODELAY") tcp.setNoDelay(value as boolean);
        else tcp.setKeepAlive(value as boolean);
        return true;
      },
    };
  }

  #release(): void {
    const held = this.#held;
    if (held !== undefined) {
      // The addresses stay what they were, once nothing holds them.
      if (this.#local === HELD) this.#local = held.local;
      if (this.#remote === HELD) this.#remote = (held as Connection).remote;
    }
    this.#readAhead?.stop();
    this.#readAhead = undefined;
    this.#acceptAhead?.stop();
    this.#acceptAhead = undefined;
    this.#held?.close();
    this.#held = undefined;
  }

  /** Whether close() resets the connection: `SO_LINGER` on, time 0. */
  #resets(): boolean {
    const linger = this.#options?.value("SO_LINGER");
    if (linger === undefined || !linger.onoff || linger.linger !== 0) {
      return false;
    }
    return ffiGranted();
  }

  #ensureOpen(op: SocketOp): void {
    if (this.#is(CLOSED)) throw closedError(op, false);
  }
}

// The bits of a stream socket's `#flags`.
/** bind() chose the local address (then connect() starts there). */
const BOUND = 1;
/** The held listener listens (else it is a bind reservation). */
const LISTENING = 2;
const CLOSED = 4;
/** `shutdown()` shut the read side (`SHUT_RD`), the write side (`SHUT_WR`). */
const SHUT_RD = 8;
const SHUT_WR = 16;

/** An address that is the held object's (see `DenoSysSocket`). */
const HELD: unique symbol = Symbol("held");

/** What a maker that set nothing beyond Linux's defaults set. */
const NOTHING_MADE: Partial<SocketOptionValues> = Object.freeze({});

/**
 * What `Deno.listen()` set on a TCP listener (one constant object for each
 * of the four, shared by every listener and what it accepts).
 */
function listenerMade(
  reusePort: boolean,
  v6only: boolean,
): Partial<SocketOptionValues> {
  const index = (reusePort ? 2 : 0) + (v6only ? 1 : 0);
  return LISTENER_MADE[index] ??= Object.freeze({
    SO_REUSEADDR: true,
    SO_REUSEPORT: reusePort,
    IPV6_V6ONLY: v6only,
  });
}

const LISTENER_MADE: Partial<SocketOptionValues>[] = [];

/** Whether Deno sets `IPV6_V6ONLY` on this address: a specific IPv6 one. */
function specificIpv6(addr: InetAddr): boolean {
  return !isWildcard(addr) && !addr.hostname.startsWith("::ffff:");
}

/** Writes all of `data`, as many writes as it takes. */
async function writeAll(conn: Connection, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/**
 * Resets a TCP connection, as `connect(AF_UNSPEC)` does and as `close()`
 * does with `SO_LINGER` 0: through libc, `connect(AF_UNSPEC)` on its
 * descriptor (Deno's close() would send FIN first). Without `--allow-ffi`
 * nothing happens here, and closing the connection sends FIN.
 */
function resetConnection(conn: Connection): void {
  if (!ffiGranted() || conn.tcp === undefined) return;
  let libc: Libc;
  try {
    libc = openLibc();
  } catch {
    return; // No libc: the connection is closed with FIN.
  }
  try {
    const id = { type: "stream", local: conn.local, remote: conn.remote };
    const fd = findSocketFd(libc, id as FdIdentity);
    if (typeof fd === "number") sysConnectUnspec(libc, fd);
  } finally {
    libc.close();
  }
}

function listenAt(
  addr: SocketAddr,
  backlog: number | undefined,
  op: SocketOp,
  reusePort: boolean,
): DenoListener {
  try {
    const listener = "path" in addr
      ? Deno.listen({ transport: "unix", path: addr.path })
      : Deno.listen({
        transport: "tcp",
        hostname: addr.hostname,
        port: addr.port,
        ...(backlog === undefined ? {} : { tcpBacklog: backlog }),
        // Only asked for with --unstable-net (see deno_options.ts).
        ...(reusePort ? { reusePort } : {}),
      });
    return new DenoListener(listener);
  } catch (error) {
    const verb = op === "bind" ? "bind to" : "listen on";
    throw osError(error, op, `${verb} ${formatAddr(addr)}`, { addr });
  }
}

async function connectFrom(
  local: SocketAddr | undefined,
  remote: SocketAddr,
  signal: AbortSignal,
): Promise<Connection> {
  // Worded only for an error: this is every connect's path.
  const what = () =>
    `connect to ${formatAddr(remote)}${
      local ? ` from ${formatAddr(local)}` : ""
    }`;
  if ("port" in remote && remote.port === 0) {
    // Neither Deno nor node:net takes port 0; Linux sends the SYN, and
    // nothing can listen on port 0 to answer it.
    throw new SocketError(
      "ECONNREFUSED",
      "connect",
      `Cannot ${what()}: ECONNREFUSED, nothing can listen on port 0 (Linux refuses the connection); connect to the port the server's getsockname() shows`,
    );
  }
  try {
    if (local !== undefined) {
      return "path" in local
        ? await connectUnixFrom(local, remote as UnixAddr, signal)
        : await connectTcpFrom(local, remote as InetAddr, signal);
    }
    const conn = "path" in remote
      ? await connectUnix(remote, signal)
      : await Deno.connect({
        hostname: remote.hostname,
        port: remote.port,
        signal,
      });
    return new DenoConnection(conn);
  } catch (error) {
    throw osError(error, "connect", what(), { addr: remote });
  }
}

/**
 * `Deno.connect()` to a unix path, waiting out a full backlog as a blocking
 * `connect(2)` would (Deno's non-blocking connect answers `EAGAIN` at once):
 * again after a backoff of 1 ms, doubling up to 50 ms, until it connects,
 * fails otherwise, or `signal` (close()) stops it.
 */
async function connectUnix(
  remote: UnixAddr,
  signal: AbortSignal,
): Promise<Deno.UnixConn> {
  for (let delay = 1;; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
    try {
      return await Deno.connect({ transport: "unix", path: remote.path });
    } catch (error) {
      if (errnoOf(error) !== "EAGAIN") throw error;
    }
    await retryDelay(signal, delay);
  }
}

/** The longest wait between two tries at a full unix backlog. */
const MAX_RETRY_MS = 50;

/** A TCP connection from a chosen local address, through `node:net`. */
function connectTcpFrom(
  local: InetAddr,
  remote: InetAddr,
  signal: AbortSignal,
): Promise<NodeConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: remote.hostname,
      port: remote.port,
      localAddress: local.hostname,
      localPort: local.port,
    });
    const abort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", abort);
      socket.removeAllListeners("error");
      resolve(
        new NodeConnection(
          socket,
          { hostname: socket.localAddress!, port: socket.localPort! },
          { hostname: socket.remoteAddress!, port: socket.remotePort! },
        ),
      );
    });
    socket.once("error", (error) => {
      signal.removeEventListener("abort", abort);
      socket.destroy();
      reject(error);
    });
  });
}

/**
 * A unix connection from a bound path: libc's `socket`, `bind` and
 * `connect` (non-blocking; a full backlog is waited out, as a blocking
 * `connect` would), then adopted by `node:net`.
 */
async function connectUnixFrom(
  local: UnixAddr,
  remote: UnixAddr,
  signal: AbortSignal,
): Promise<NodeConnection> {
  // libc is past Deno's sandbox: ask as Deno.connect() would.
  checkPermission("connect", `connect to ${formatAddr(remote)}`, remote);
  using libc = openUnixClientLibc(local, remote);
  const flags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const fd = orThrow(sysSocket(libc, AF_UNIX, flags, 0), "socket");
  let bound = false;
  try {
    orThrow(sysBind(libc, fd, local), "bind");
    bound = true;
    for (let delay = 1;; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      const connected = sysConnect(libc, fd, remote);
      if (connected.ok) break;
      if (connected.errno !== "EAGAIN") orThrow(connected, "connect");
      await retryDelay(signal, delay);
    }
  } catch (error) {
    sysClose(libc, fd);
    // The socket file this bind made is not the socket's: the socket is
    // bound again as before connect() (listen() makes it anew).
    if (bound) removeSocketFile(local.path);
    throw error;
  }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  return new NodeConnection(socket, local, remote);
}

function orThrow<T>(result: SysResult<T>, call: string): T {
  if (result.ok) return result.value;
  throw Object.assign(new Error(`${call}() failed: ${result.errno}`), {
    code: result.errno,
  });
}

/**
 * libc for a unix client bound before connecting; without `--allow-ffi`,
 * the `EACCES` that asks for that flag alone (the others were granted, or
 * bind() would have failed).
 */
function openUnixClientLibc(local: UnixAddr, remote: UnixAddr): Libc {
  try {
    return openLibc();
  } catch (error) {
    throw libcUnavailable(
      error,
      `Cannot connect to ${formatAddr(remote)} from ${
        formatAddr(local)
      } with the deno backend`,
      'use backend: "posix", or connect() without bind() (Deno cannot bind a unix client)',
      "connect",
    );
  }
}

/** Removes a socket file this backend made, if it is still there. */
function removeSocketFile(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Gone already, or not ours to remove: listen() will say.
  }
}

function retryDelay(signal: AbortSignal, ms: number): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The error of an accept() whose socket was closed while it waited. */
function closedMeanwhile(): SocketError {
  return new SocketError(
    "EBADF",
    "accept",
    "Cannot finish accept(): the socket was closed meanwhile",
  );
}

/**
 * How Linux's look-up of the unix socket file at `path` ends, asked without
 * touching a live target: `connect()` from a listening socket of our own
 * looks the target up first, then fails on our own state (`EINVAL`), so a
 * live listener never sees it. `undefined` without `--allow-ffi` (then only
 * a missing file can be told).
 */
function lookUpUnixTarget(
  path: string,
): "live" | "ENOENT" | "ECONNREFUSED" | undefined {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return undefined;
  }
  using libc = openLibc();
  const made = sysSocket(libc, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!made.ok) return undefined;
  const fd = made.value;
  try {
    if (!sysBindAutobind(libc, fd).ok || !sysListen(libc, fd, 1).ok) {
      return undefined;
    }
    const tried = sysConnect(libc, fd, { path });
    if (tried.ok) return undefined;
    if (tried.errno === "ENOENT" || tried.errno === "ECONNREFUSED") {
      return tried.errno;
    }
    return "live";
  } finally {
    sysClose(libc, fd);
  }
}
