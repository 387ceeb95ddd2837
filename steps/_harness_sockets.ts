// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The sockets and files of one harness scenario: what the single-socket and
 * the connection harnesses both need. Every descriptor it makes is closed,
 * and its temporary directory removed, when it is disposed of.
 *
 * @module
 */
import type { Domain, SocketAddr } from "../machine/address.ts";
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
  sysAccept4,
  sysBind,
  sysClose,
  sysFcntl,
  sysGetsockname,
  type SysResult,
  sysSocket,
} from "./libc.ts";

const FAMILY = { inet: AF_INET, inet6: AF_INET6, unix: AF_UNIX } as const;

/** The loopback address of each IP domain. */
export const LOOPBACK = { inet: "127.0.0.1", inet6: "::1" } as const;

/** A scenario's descriptors and unix socket files. */
export class HarnessSockets implements Disposable {
  readonly libc: Libc;
  readonly domain: Domain;
  /** Every descriptor still open, closed on dispose. */
  readonly open: Set<number> = new Set();
  readonly #type: number;
  readonly #dir: string | undefined;
  #paths = 0;

  /**
   * @param libc An open libc.
   * @param domain The domain of every socket.
   * @param type `SOCK_STREAM` or `SOCK_DGRAM`.
   */
  constructor(libc: Libc, domain: Domain, type: number) {
    this.libc = libc;
    this.domain = domain;
    this.#type = type;
    this.#dir = domain === "unix"
      ? Deno.makeTempDirSync({ prefix: "sockfsm-" })
      : undefined;
  }

  /** A new socket of the scenario's domain and type, with extra `flags`. */
  socket(flags = 0): number {
    const type = this.#type | SOCK_CLOEXEC | flags;
    const fd = must(
      sysSocket(this.libc, FAMILY[this.domain], type, 0),
      "socket",
    );
    this.open.add(fd);
    return fd;
  }

  /**
   * Moves `fd` to the lowest free number of `above` or more, so that no
   * harness socket made later takes its number once it is closed.
   */
  park(fd: number, above: number): number {
    const high = must(
      sysFcntl(this.libc, fd, F_DUPFD_CLOEXEC, above),
      "fcntl",
    );
    this.close(fd);
    this.open.add(high);
    return high;
  }

  /** `close(fd)`, as the kernel answers it. */
  close(fd: number): SysResult<void> {
    this.open.delete(fd);
    return sysClose(this.libc, fd);
  }

  /** Loopback port 0, or a new path in the scenario's directory. */
  freshAddr(): SocketAddr {
    if (this.#dir) return { path: `${this.#dir}/s${++this.#paths}` };
    return { hostname: LOOPBACK[this.domain as "inet"], port: 0 };
  }

  /** A loopback port with nothing bound, or a stale unix socket file. */
  refusingAddr(): SocketAddr {
    const stale = this.socket();
    must(sysBind(this.libc, stale, this.freshAddr()), "bind");
    const name = this.nameOf(stale)!;
    this.close(stale);
    return name;
  }

  /** `getsockname(fd)`, or `undefined` when it fails. */
  nameOf(fd: number): SocketAddr | undefined {
    const name = sysGetsockname(this.libc, fd);
    return name.ok ? name.value : undefined;
  }

  /** `accept()` that must not wait: `fd` is made `O_NONBLOCK` for it. */
  acceptNow(fd: number): SysResult<number> {
    const flags = sysFcntl(this.libc, fd, F_GETFL, 0);
    if (!flags.ok) return flags;
    sysFcntl(this.libc, fd, F_SETFL, flags.value | O_NONBLOCK);
    const accepted = sysAccept4(this.libc, fd, SOCK_CLOEXEC);
    sysFcntl(this.libc, fd, F_SETFL, flags.value);
    if (accepted.ok) this.open.add(accepted.value);
    return accepted;
  }

  [Symbol.dispose](): void {
    for (const fd of this.open) sysClose(this.libc, fd);
    this.open.clear();
    if (this.#dir) Deno.removeSync(this.#dir, { recursive: true });
  }
}

/** A `getsockname`/`getpeername` result in `predict()`'s words. */
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
  return (typeof errno === "string" ? errno : `E${errno}`) as Result;
}

/**
 * The value of a call the harness itself needs to succeed.
 *
 * @throws {Error} With the call's errno as `code`, when it failed.
 */
export function must<T>(result: SysResult<T>, what: string): T {
  if (result.ok) return result.value;
  throw Object.assign(
    new Error(`The harness could not ${what}: ${result.errno}`),
    { code: result.errno },
  );
}
