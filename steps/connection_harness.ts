// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The kernel's answer to a scenario of the three sockets of a connection
 * (`predictConnection()`'s vocabulary), as libc calls: a listener, a client
 * that connects to the listener's address (or, while the listener has none,
 * to one with nothing bound), and the socket the listener accepts. Every
 * socket is moved to a descriptor number of 1000 or more, so that after
 * `close` no other socket gets its number.
 *
 * @module
 */
import type { Domain, SocketAddr } from "../machine/address.ts";
import type { ConnectionOp } from "../machine/connection.ts";
import type { Result } from "../machine/predict.ts";
import {
  answerOf,
  describeName,
  errnoResult,
  HarnessSockets,
} from "./_harness_sockets.ts";
import {
  type Libc,
  SO_LINGER,
  SOCK_STREAM,
  SOL_SOCKET,
  sysBind,
  sysConnect,
  sysGetpeername,
  sysListen,
  type SysResult,
  sysSetsockopt,
} from "./libc.ts";

/** `setsockopt(fd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 })`. */
function lingerZero(libc: Libc, fd: number): SysResult<void> {
  const linger = new Uint8Array(new Int32Array([1, 0]).buffer);
  return sysSetsockopt(libc, fd, SOL_SOCKET, SO_LINGER, linger);
}

/** Each role's descriptors live in a range of their own, above the harness's. */
const HIGH_FD = { listener: 1000, client: 2000, accepted: 3000 } as const;

/**
 * Runs `ops` on a fresh listener and client and returns the kernel's result
 * for each. Everything it opens is closed before it returns.
 *
 * @param libc An open libc, reused across scenarios.
 * @param ops The scenario.
 * @param domain The domain of the sockets.
 * @returns One result per op.
 */
export function runConnection(
  libc: Libc,
  ops: readonly ConnectionOp[],
  domain: Domain,
): Result[] {
  using scenario = new ConnectionScenario(libc, domain);
  return ops.map((op) => scenario.run(op));
}

class ConnectionScenario implements Disposable {
  readonly #sockets: HarnessSockets;
  readonly #listener: number;
  readonly #client: number;
  #accepted: number | undefined;
  /** The listener's address while it was last open. */
  #listenerName: SocketAddr | undefined;

  constructor(libc: Libc, domain: Domain) {
    const sockets = this.#sockets = new HarnessSockets(
      libc,
      domain,
      SOCK_STREAM,
    );
    this.#listener = sockets.park(sockets.socket(), HIGH_FD.listener);
    this.#client = sockets.park(sockets.socket(), HIGH_FD.client);
  }

  run(op: ConnectionOp): Result {
    const sockets = this.#sockets;
    const libc = sockets.libc;
    switch (op) {
      case "listener.bind":
        return answerOf(sysBind(libc, this.#listener, sockets.freshAddr()));
      case "listener.listen":
        return answerOf(sysListen(libc, this.#listener, 8));
      case "listener.accept":
        return this.#accept();
      case "listener.close":
        this.#listenerName = sockets.nameOf(this.#listener) ??
          this.#listenerName;
        return answerOf(sockets.close(this.#listener));
      case "client.bind":
        return answerOf(sysBind(libc, this.#client, sockets.freshAddr()));
      case "client.connect":
        return answerOf(sysConnect(libc, this.#client, this.#target()));
      case "client.getpeername":
        return describeName(sysGetpeername(libc, this.#client));
      case "client.close":
        return answerOf(sockets.close(this.#client));
      case "client.set_linger0":
        return answerOf(lingerZero(libc, this.#client));
      case "accepted.getpeername":
        if (this.#accepted === undefined) return "noop";
        return describeName(sysGetpeername(libc, this.#accepted));
      case "accepted.close":
        if (this.#accepted === undefined) return "noop";
        return answerOf(sockets.close(this.#accepted));
      case "accepted.set_linger0":
        if (this.#accepted === undefined) return "noop";
        return answerOf(lingerZero(libc, this.#accepted));
    }
  }

  [Symbol.dispose](): void {
    this.#sockets[Symbol.dispose]();
  }

  /** The listener's address, or one with nothing bound while it has none. */
  #target(): SocketAddr {
    const sockets = this.#sockets;
    const open = sockets.open.has(this.#listener);
    const name = open ? sockets.nameOf(this.#listener) : this.#listenerName;
    const named = name !== undefined &&
      ("path" in name ? name.path !== "" : name.port !== 0);
    if (named) {
      const mine = sockets.nameOf(this.#client);
      // A client bound to the port the listener gave back would connect to
      // itself: aim at another port with nothing bound instead.
      const self = mine !== undefined && "port" in mine && "port" in name &&
        mine.port === name.port;
      if (!self) return name;
    }
    return sockets.refusingAddr();
  }

  #accept(): Result {
    const accepted = this.#sockets.acceptNow(this.#listener);
    if (!accepted.ok) return errnoResult(accepted.errno);
    // The model has one accepted socket: the client's.
    if (this.#accepted === undefined) {
      this.#accepted = this.#sockets.park(accepted.value, HIGH_FD.accepted);
    }
    return "ok";
  }
}
