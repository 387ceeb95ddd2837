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
import type { Domain } from "../machine/address.ts";
import type { Op, Result } from "../machine/predict.ts";
import type { SocketType } from "../machine/socket_machine.ts";
import {
  answerOf,
  describeName,
  errnoResult,
  HarnessSockets,
  LOOPBACK,
  must,
} from "./_harness_sockets.ts";
import {
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  type Libc,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_ERROR,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  sysAccept4,
  sysBind,
  sysBindAutobind,
  sysConnect,
  sysConnectUnspec,
  sysGetpeername,
  sysGetsockname,
  sysGetsockoptInt,
  sysListen,
  sysRecv,
  sysSend,
  sysSendto,
  sysSetsockoptInt,
  sysShutdown,
  TCP_NODELAY,
} from "./libc.ts";
import { errnoName } from "../machine/errno.ts";

/** Options for `runScenario()`. */
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

/** One scenario: the socket under test, its live peer, and its peers. */
class Scenario implements Disposable {
  readonly #sockets: HarnessSockets;
  readonly #dgram: boolean;
  /** The socket's peers: the live listener's end, and peer_connect sockets. */
  readonly #peers = new Set<number>();
  readonly #fd: number;
  /** The live peer: a listener (stream) or a bound socket (datagram). */
  #live: number;
  #closed = false;

  constructor(
    libc: Libc,
    { domain, type = "stream", nonblocking = false }: ScenarioOptions,
  ) {
    this.#dgram = type === "dgram";
    this.#sockets = new HarnessSockets(
      libc,
      domain,
      this.#dgram ? SOCK_DGRAM : SOCK_STREAM,
    );
    this.#live = this.#livePeer();
    this.#fd = this.#sockets.park(
      this.#sockets.socket(nonblocking ? SOCK_NONBLOCK : 0),
      HIGH_FD,
    );
  }

  run(op: Op): Result {
    const sockets = this.#sockets;
    const { libc, domain } = sockets;
    const fd = this.#fd;
    switch (op) {
      case "bind":
        return answerOf(sysBind(libc, fd, sockets.freshAddr()));
      case "bind_wild":
        return answerOf(
          domain === "unix"
            ? sysBindAutobind(libc, fd)
            : sysBind(libc, fd, { hostname: WILDCARD[domain], port: 0 }),
        );
      case "listen":
        return answerOf(sysListen(libc, fd, BACKLOG));
      case "connect":
        return this.#connect();
      case "connect_refused":
        return answerOf(sysConnect(libc, fd, sockets.refusingAddr()));
      case "accept": {
        const accepted = sockets.acceptNow(fd);
        return accepted.ok ? "ok" : errnoResult(accepted.errno);
      }
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
        this.#closed = true;
        // The kernel answers, EBADF included: the number is never reused.
        return answerOf(sockets.close(fd));
      }
      case "getsockname":
        return describeName(sysGetsockname(libc, fd));
      case "getpeername":
        return describeName(sysGetpeername(libc, fd));
      case "peer_connect":
        return this.#peerConnect();
      case "peer_close":
        return this.#peerClose();
      case "sendto":
        return answerOf(
          sysSendto(
            libc,
            fd,
            new Uint8Array([3]),
            MSG_NOSIGNAL,
            sockets.nameOf(this.#livePeerNow())!,
          ),
        );
      case "disconnect":
        return answerOf(sysConnectUnspec(libc, fd));
      case "set_reuseaddr":
        return answerOf(
          sysSetsockoptInt(libc, fd, SOL_SOCKET, SO_REUSEADDR, 1),
        );
      case "set_nodelay":
        return answerOf(
          sysSetsockoptInt(libc, fd, IPPROTO_TCP, TCP_NODELAY, 1),
        );
      case "set_v6only":
        return answerOf(
          sysSetsockoptInt(libc, fd, IPPROTO_IPV6, IPV6_V6ONLY, 1),
        );
      case "get_error": {
        const got = sysGetsockoptInt(libc, fd, SOL_SOCKET, SO_ERROR);
        if (!got.ok) return errnoResult(got.errno);
        if (got.value === 0) return "ok:none";
        return `ok:${errnoResult(errnoName(got.value) ?? got.value)}` as Result;
      }
    }
  }

  [Symbol.dispose](): void {
    this.#sockets[Symbol.dispose]();
  }

  /**
   * The live peer, open: a datagram live peer closed by peer_close is
   * replaced by a new one.
   */
  #livePeerNow(): number {
    if (this.#dgram && !this.#sockets.open.has(this.#live)) {
      this.#live = this.#livePeer();
    }
    return this.#live;
  }

  /** connect() to the live peer, which (for a stream) accepts at once. */
  #connect(): Result {
    const sockets = this.#sockets;
    const live = this.#livePeerNow();
    const result = answerOf(
      sysConnect(sockets.libc, this.#fd, sockets.nameOf(live)!),
    );
    if (this.#dgram) {
      if (result === "ok") this.#peers.add(this.#live);
      return result;
    }
    // The live peer accepts at once and keeps its end open.
    const accepted = sysAccept4(sockets.libc, this.#live, SOCK_NONBLOCK);
    if (accepted.ok) {
      sockets.open.add(accepted.value);
      this.#peers.add(accepted.value);
    }
    return result;
  }

  /**
   * A new peer connects to the socket's address, if it has one: a closed
   * descriptor has none.
   */
  #peerConnect(): Result {
    const sockets = this.#sockets;
    if (this.#closed) return "noop";
    const name = sockets.nameOf(this.#fd);
    if (name === undefined) return "noop";
    let target = name;
    if ("path" in name) {
      if (name.path === "") return "noop";
    } else {
      if (name.port === 0) return "noop";
      if (name.hostname === "0.0.0.0" || name.hostname === "::") {
        target = {
          hostname: LOOPBACK[sockets.domain as "inet"],
          port: name.port,
        };
      }
    }
    let peer = sockets.socket();
    if (this.#dgram === (sockets.domain === "unix")) {
      // A unix datagram sender gets a name of its own, as a peer has. A TCP
      // peer binds its port first: connect() alone may pick the very port it
      // connects to (one held by a closing socket), and connect to itself.
      must(sysBind(sockets.libc, peer, sockets.freshAddr()), "bind peer");
      const port = (sockets.nameOf(peer) as { port?: number } | undefined)
        ?.port;
      if ("port" in target && port === target.port) {
        // The port was free (the socket gave it back) and came to the peer:
        // take another while this one is held, so the peer is not itself.
        const other = sockets.socket();
        must(sysBind(sockets.libc, other, sockets.freshAddr()), "bind peer");
        sockets.close(peer);
        peer = other;
      }
    }
    const connected = sysConnect(sockets.libc, peer, target);
    if (!connected.ok) return errnoResult(connected.errno);
    if (this.#dgram) {
      // A datagram peer sends one datagram to the socket.
      const sent = sysSend(
        sockets.libc,
        peer,
        new Uint8Array([2]),
        MSG_NOSIGNAL,
      );
      if (!sent.ok) return errnoResult(sent.errno);
    }
    this.#peers.add(peer);
    return "ok";
  }

  /** A live peer: a listener that accepts at once, or a bound datagram socket. */
  #livePeer(): number {
    const sockets = this.#sockets;
    // Non-blocking, so that accepting "at once" never waits.
    const live = sockets.socket(SOCK_NONBLOCK);
    must(sysBind(sockets.libc, live, sockets.freshAddr()), "bind live");
    if (!this.#dgram) {
      must(sysListen(sockets.libc, live, BACKLOG), "listen live");
    }
    return live;
  }

  /**
   * Every peer the harness made for the socket closes, in an orderly way: the
   * live listener's end, and each peer_connect client. A closed descriptor
   * has no peers.
   */
  #peerClose(): Result {
    if (this.#closed || this.#peers.size === 0) return "noop";
    for (const peer of this.#peers) this.#sockets.close(peer);
    this.#peers.clear();
    return "ok";
  }
}
