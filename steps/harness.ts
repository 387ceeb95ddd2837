// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The kernel's answer to a scenario: every op of {@linkcode predict}'s
 * vocabulary performed as the matching libc call on one fresh socket under
 * test, with the harness peers the vocabulary describes, on loopback or in a
 * temporary directory. What {@linkcode predict} says without I/O, this does
 * for real; the conformance check compares the two.
 *
 * The socket under test is moved to a descriptor number of 1000 or more, so
 * that after `close` no other socket of the harness gets its number: every
 * later call on it is answered `EBADF` by the kernel itself.
 *
 * @module
 */
import type { Domain, SocketAddr } from "../machine/address.ts";
import { errnoName } from "../machine/errno.ts";
import type { Op, Result } from "../machine/predict.ts";
import type { SocketType } from "../machine/socket_machine.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  F_DUPFD_CLOEXEC,
  F_GETFL,
  F_SETFL,
  type Libc,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  O_NONBLOCK,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  sysAccept4,
  sysBind,
  sysBindAutobind,
  sysClose,
  sysConnect,
  sysFcntl,
  sysGetpeername,
  sysGetsockname,
  sysListen,
  sysRecv,
  type SysResult,
  sysSend,
  sysShutdown,
  sysSocket,
} from "./libc.ts";

/** Options for {@linkcode runScenario}. */
export interface ScenarioOptions {
  /** The socket's address family. */
  domain: Domain;
  /**
   * The socket type.
   *
   * @default {"stream"}
   */
  type?: SocketType;
  /** Whether the socket under test is `O_NONBLOCK` from creation. */
  nonblocking?: boolean;
}

const FAMILY = { inet: AF_INET, inet6: AF_INET6, unix: AF_UNIX } as const;
const LOOPBACK = { inet: "127.0.0.1", inet6: "::1" } as const;
const WILDCARD = { inet: "0.0.0.0", inet6: "::" } as const;
/** Where the socket under test lives: above every harness descriptor. */
const HIGH_FD = 1000;
/** The backlog of every listen() in a scenario. */
const BACKLOG = 8;

/**
 * Runs `ops` on a fresh socket under test and returns the kernel's result
 * for each, in {@linkcode predict}'s vocabulary. Everything it opens is
 * closed before it returns.
 *
 * @param libc An open libc (see `openLibc()`), reused across scenarios.
 * @param ops The scenario.
 * @param options The domain and blocking mode.
 * @returns One result per op.
 */
export function runScenario(
  libc: Libc,
  ops: readonly Op[],
  options: ScenarioOptions,
): Result[] {
  using scenario = new Scenario(libc, options);
  return ops.map((op) => scenario.run(op));
}

/** One scenario's sockets and files. */
class Scenario implements Disposable {
  readonly #libc: Libc;
  readonly #domain: Domain;
  readonly #type: number;
  readonly #dir: string | undefined;
  /** Every harness descriptor, closed at the end. */
  readonly #owned = new Set<number>();
  /** The socket's peers: the live listener's end, and peer_connect sockets. */
  readonly #peers = new Set<number>();
  readonly #fd: number;
  /** The live peer: a listener (stream) or a bound socket (datagram). */
  #live: number;
  #paths = 0;
  #closed = false;
  /** The socket's address while it was last open. */
  #lastName: SocketAddr | undefined;

  constructor(
    libc: Libc,
    { domain, type = "stream", nonblocking = false }: ScenarioOptions,
  ) {
    this.#libc = libc;
    this.#domain = domain;
    this.#type = type === "dgram" ? SOCK_DGRAM : SOCK_STREAM;
    this.#dir = domain === "unix"
      ? Deno.makeTempDirSync({ prefix: "sockfsm-" })
      : undefined;
    this.#live = this.#livePeer();
    const low = must(
      sysSocket(
        libc,
        FAMILY[domain],
        this.#type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0),
        0,
      ),
      "socket",
    );
    this.#fd = must(
      sysFcntl(libc, low, F_DUPFD_CLOEXEC, HIGH_FD),
      "fcntl",
    );
    sysClose(libc, low);
  }

  run(op: Op): Result {
    const libc = this.#libc;
    const fd = this.#fd;
    switch (op) {
      case "bind":
        return answerOf(sysBind(libc, fd, this.#freshAddr()));
      case "bind_wild":
        return answerOf(
          this.#domain === "unix"
            ? sysBindAutobind(libc, fd)
            : sysBind(libc, fd, { hostname: WILDCARD[this.#domain], port: 0 }),
        );
      case "listen":
        return answerOf(sysListen(libc, fd, BACKLOG));
      case "connect": {
        if (this.#type === SOCK_DGRAM) {
          // The live peer is a bound socket; if peer_close closed it, a new one.
          if (!this.#owned.has(this.#live)) this.#live = this.#livePeer();
        }
        const result = answerOf(
          sysConnect(libc, fd, this.#nameOf(this.#live)!),
        );
        if (this.#type === SOCK_DGRAM) {
          if (result === "ok") this.#peers.add(this.#live);
          return result;
        }
        // The live peer accepts at once and keeps its end open.
        const accepted = sysAccept4(
          libc,
          this.#live,
          SOCK_NONBLOCK | SOCK_CLOEXEC,
        );
        if (accepted.ok) this.#peer(accepted.value);
        return result;
      }
      case "connect_refused":
        return answerOf(sysConnect(libc, fd, this.#refusingAddr()));
      case "accept":
        return this.#nonblockingAccept();
      case "send":
        return answerOf(
          sysSend(libc, fd, new Uint8Array([1]), MSG_NOSIGNAL),
        );
      case "recv": {
        const got = sysRecv(libc, fd, new Uint8Array(1), MSG_DONTWAIT);
        if (!got.ok) return errnoResult(got.errno);
        return got.value === 0 ? "ok:eof" : "ok:data";
      }
      case "shut_wr":
        return answerOf(sysShutdown(libc, fd, SHUT_WR));
      case "shut_rd":
        return answerOf(sysShutdown(libc, fd, SHUT_RD));
      case "shut_rdwr":
        return answerOf(sysShutdown(libc, fd, SHUT_RDWR));
      case "close": {
        if (!this.#closed) this.#lastName = this.#nameOf(fd);
        const result = answerOf(sysClose(libc, fd));
        this.#closed = true;
        return result;
      }
      case "getsockname":
        return describeName(sysGetsockname(libc, fd));
      case "getpeername":
        return describeName(sysGetpeername(libc, fd));
      case "peer_connect":
        return this.#peerConnect();
      case "peer_close":
        return this.#peerClose();
    }
  }

  [Symbol.dispose](): void {
    if (!this.#closed) sysClose(this.#libc, this.#fd);
    for (const fd of this.#owned) sysClose(this.#libc, fd);
    if (this.#dir) Deno.removeSync(this.#dir, { recursive: true });
  }

  /** accept() that must not wait: the socket is made O_NONBLOCK for it. */
  #nonblockingAccept(): Result {
    const libc = this.#libc;
    const flags = sysFcntl(libc, this.#fd, F_GETFL, 0);
    if (!flags.ok) return errnoResult(flags.errno);
    sysFcntl(libc, this.#fd, F_SETFL, flags.value | O_NONBLOCK);
    const accepted = sysAccept4(libc, this.#fd, SOCK_CLOEXEC);
    sysFcntl(libc, this.#fd, F_SETFL, flags.value);
    if (!accepted.ok) return errnoResult(accepted.errno);
    this.#owned.add(accepted.value);
    return "ok";
  }

  /** A new peer connects to the socket's address, if it has one. */
  #peerConnect(): Result {
    const name = this.#closed ? this.#lastName : this.#nameOf(this.#fd);
    if (name === undefined) return "noop";
    let target = name;
    if ("path" in name) {
      if (name.path === "") return "noop";
    } else {
      if (name.port === 0) return "noop";
      if (name.hostname === "0.0.0.0" || name.hostname === "::") {
        target = {
          hostname: LOOPBACK[this.#domain as "inet"],
          port: name.port,
        };
      }
    }
    let peer = this.#socket(false);
    if (this.#type === SOCK_DGRAM ? this.#dir !== undefined : !this.#dir) {
      // A unix datagram sender gets a name of its own, as a peer has. A TCP
      // peer binds its port first: connect() alone may pick the very port it
      // connects to (one held by a closing socket), and connect to itself.
      must(sysBind(this.#libc, peer, this.#freshAddr()), "bind peer");
      const port = (this.#nameOf(peer) as { port?: number } | undefined)?.port;
      if ("port" in target && port === target.port) {
        // The port was free (the socket gave it back) and came to the peer:
        // take another while this one is held, so the peer is not itself.
        const other = this.#socket(false);
        must(sysBind(this.#libc, other, this.#freshAddr()), "bind peer");
        sysClose(this.#libc, peer);
        this.#owned.delete(peer);
        peer = other;
      }
    }
    const connected = sysConnect(this.#libc, peer, target);
    if (!connected.ok) return errnoResult(connected.errno);
    if (this.#type === SOCK_DGRAM) {
      // A datagram peer sends one datagram to the socket.
      const sent = sysSend(this.#libc, peer, new Uint8Array([2]), MSG_NOSIGNAL);
      if (!sent.ok) return errnoResult(sent.errno);
    }
    this.#peers.add(peer);
    return "ok";
  }

  /** A live peer: a listener that accepts at once, or a bound datagram socket. */
  #livePeer(): number {
    // Non-blocking, so that accepting "at once" never waits.
    const live = this.#socket(true);
    must(sysBind(this.#libc, live, this.#freshAddr()), "bind live");
    if (this.#type === SOCK_STREAM) {
      must(sysListen(this.#libc, live, BACKLOG), "listen live");
    }
    return live;
  }

  /** The socket's peers close, in an orderly way. */
  #peerClose(): Result {
    if (this.#peers.size === 0) return "noop";
    for (const peer of this.#peers) {
      sysClose(this.#libc, peer);
      this.#owned.delete(peer);
    }
    this.#peers.clear();
    return "ok";
  }

  #peer(fd: number): void {
    this.#owned.add(fd);
    this.#peers.add(fd);
  }

  #socket(nonblocking: boolean): number {
    const type = this.#type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    const fd = must(
      sysSocket(this.#libc, FAMILY[this.#domain], type, 0),
      "socket",
    );
    this.#owned.add(fd);
    return fd;
  }

  /** Loopback port 0, or a new path in the scenario's directory. */
  #freshAddr(): SocketAddr {
    if (this.#dir) return { path: `${this.#dir}/s${++this.#paths}` };
    return { hostname: LOOPBACK[this.#domain as "inet"], port: 0 };
  }

  /** A loopback port with nothing bound, or a stale unix socket file. */
  #refusingAddr(): SocketAddr {
    const stale = this.#socket(false);
    must(sysBind(this.#libc, stale, this.#freshAddr()), "bind");
    const name = this.#nameOf(stale)!;
    sysClose(this.#libc, stale);
    this.#owned.delete(stale);
    return name;
  }

  #nameOf(fd: number): SocketAddr | undefined {
    const name = sysGetsockname(this.#libc, fd);
    return name.ok ? name.value : undefined;
  }
}

/** A `getsockname`/`getpeername` result in {@linkcode predict}'s words. */
export function describeName(name: SysResult<SocketAddr | undefined>): Result {
  if (!name.ok) return errnoResult(name.errno);
  const addr = name.value;
  if (addr === undefined) return "ok";
  if ("path" in addr) {
    if (addr.path === "") return "ok:unnamed";
    return addr.path.startsWith("\0") ? "ok:abstract" : "ok:path";
  }
  return addr.port > 0 ? "ok:port>0" : "ok:port=0";
}

/** `"ok"`, or the errno a call set. */
export function answerOf(result: SysResult<unknown>): Result {
  return result.ok ? "ok" : errnoResult(result.errno);
}

/** An errno as a result: its name (or `E` and its number when unknown). */
export function errnoResult(errno: number | string): Result {
  if (typeof errno === "string") return errno as Result;
  return errnoName(errno) ?? (`E${errno}` as Result);
}

/** The value of a call the harness itself needs to succeed. */
export function must<T>(result: SysResult<T>, what: string): T {
  if (result.ok) return result.value;
  throw new Error(`The harness could not ${what}: ${result.errno}`);
}
