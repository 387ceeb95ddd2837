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
  AF_INET,
  AF_INET6,
  AF_UNIX,
  F_DUPFD_CLOEXEC,
  F_GETFL,
  F_SETFL,
  type Libc,
  O_NONBLOCK,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  sysAccept4,
  sysBind,
  sysClose,
  sysConnect,
  sysFcntl,
  sysGetpeername,
  sysGetsockname,
  sysListen,
  sysSocket,
} from "./libc.ts";
import { answerOf, describeName, errnoResult, must } from "./harness.ts";

const FAMILY = { inet: AF_INET, inet6: AF_INET6, unix: AF_UNIX } as const;
const LOOPBACK = { inet: "127.0.0.1", inet6: "::1" } as const;
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
  readonly #libc: Libc;
  readonly #domain: Domain;
  readonly #dir: string | undefined;
  readonly #listener: number;
  readonly #client: number;
  #accepted: number | undefined;
  readonly #open = new Set<number>();
  /** The listener's address while it was last open. */
  #listenerName: SocketAddr | undefined;
  #paths = 0;

  constructor(libc: Libc, domain: Domain) {
    this.#libc = libc;
    this.#domain = domain;
    this.#dir = domain === "unix"
      ? Deno.makeTempDirSync({ prefix: "sockfsm-" })
      : undefined;
    this.#listener = this.#high(this.#socket(), "listener");
    this.#client = this.#high(this.#socket(), "client");
  }

  run(op: ConnectionOp): Result {
    const libc = this.#libc;
    switch (op) {
      case "listener.bind":
        return answerOf(sysBind(libc, this.#listener, this.#freshAddr()));
      case "listener.listen":
        return answerOf(sysListen(libc, this.#listener, 8));
      case "listener.accept":
        return this.#accept();
      case "listener.close":
        this.#listenerName = this.#nameOf(this.#listener) ??
          this.#listenerName;
        return this.#close(this.#listener);
      case "client.bind":
        return answerOf(sysBind(libc, this.#client, this.#freshAddr()));
      case "client.connect":
        return answerOf(sysConnect(libc, this.#client, this.#target()));
      case "client.getpeername":
        return describeName(sysGetpeername(libc, this.#client));
      case "client.close":
        return this.#close(this.#client);
      case "accepted.getpeername":
        if (this.#accepted === undefined) return "noop";
        return describeName(sysGetpeername(libc, this.#accepted));
      case "accepted.close":
        if (this.#accepted === undefined) return "noop";
        return this.#close(this.#accepted);
    }
  }

  [Symbol.dispose](): void {
    for (const fd of this.#open) sysClose(this.#libc, fd);
    if (this.#dir) Deno.removeSync(this.#dir, { recursive: true });
  }

  /** The listener's address, or one with nothing bound while it has none. */
  #target(): SocketAddr {
    const open = this.#open.has(this.#listener);
    const name = open ? this.#nameOf(this.#listener) : this.#listenerName;
    const named = name !== undefined &&
      ("path" in name ? name.path !== "" : name.port !== 0);
    if (named) {
      const mine = this.#nameOf(this.#client);
      // A client bound to the port the listener gave back would connect to
      // itself: aim at another port with nothing bound instead.
      const self = mine !== undefined && "port" in mine && "port" in name &&
        mine.port === name.port;
      if (!self) return name;
    }
    const stale = this.#socket();
    must(sysBind(this.#libc, stale, this.#freshAddr()), "bind");
    const dead = this.#nameOf(stale)!;
    sysClose(this.#libc, stale);
    this.#open.delete(stale);
    return dead;
  }

  #accept(): Result {
    const libc = this.#libc;
    const fd = this.#listener;
    const flags = sysFcntl(libc, fd, F_GETFL, 0);
    if (!flags.ok) return errnoResult(flags.errno);
    sysFcntl(libc, fd, F_SETFL, flags.value | O_NONBLOCK);
    const accepted = sysAccept4(libc, fd, SOCK_CLOEXEC);
    sysFcntl(libc, fd, F_SETFL, flags.value);
    if (!accepted.ok) return errnoResult(accepted.errno);
    this.#open.add(accepted.value);
    // The model has one accepted socket: the client's.
    if (this.#accepted === undefined) {
      this.#accepted = this.#high(accepted.value, "accepted");
    }
    return "ok";
  }

  #close(fd: number): Result {
    const result = answerOf(sysClose(this.#libc, fd));
    this.#open.delete(fd);
    return result;
  }

  #socket(): number {
    const fd = must(
      sysSocket(
        this.#libc,
        FAMILY[this.#domain],
        SOCK_STREAM | SOCK_CLOEXEC,
        0,
      ),
      "socket",
    );
    this.#open.add(fd);
    return fd;
  }

  /** Moves a descriptor to its role's range, so no other takes its number. */
  #high(fd: number, role: keyof typeof HIGH_FD): number {
    const high = must(
      sysFcntl(this.#libc, fd, F_DUPFD_CLOEXEC, HIGH_FD[role]),
      "fcntl",
    );
    sysClose(this.#libc, fd);
    this.#open.delete(fd);
    this.#open.add(high);
    return high;
  }

  #freshAddr(): SocketAddr {
    if (this.#dir) return { path: `${this.#dir}/s${++this.#paths}` };
    return { hostname: LOOPBACK[this.#domain as "inet"], port: 0 };
  }

  #nameOf(fd: number): SocketAddr | undefined {
    const name = sysGetsockname(this.#libc, fd);
    return name.ok ? name.value : undefined;
  }
}
