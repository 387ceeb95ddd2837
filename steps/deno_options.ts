// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Socket options for the deno backend: `setsockopt()` and `getsockopt()`
 * with what Deno and Node.js can do, and libc (`--allow-ffi`) for the rest.
 *
 * A socket keeps what the caller set, and applies it again to each object
 * that comes to hold the socket (a bind reservation, a listener, a
 * connection, a `node:dgram` socket). It also knows what the kernel holds
 * without asking it: Linux's value for a new socket, what the object's maker
 * set (`Deno.listen()` sets `SO_REUSEADDR`), and what was set through Deno's
 * or Node's own calls. `getsockopt()` answers from that; what it cannot know
 * (the buffer sizes, which the kernel doubles and clamps) it asks the kernel
 * through libc, on the socket's descriptor (see `deno_fd.ts`) or, before
 * there is one, on a new socket of the same kind given the same options.
 *
 * @module
 */
import type { Domain } from "../machine/address.ts";
import type { SysSocketKind } from "../machine/effects.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketError } from "../machine/errors.ts";
import {
  describe,
  type Linger,
  OPTION_LEVELS,
  type SettableOptionName,
  type SocketOptionName,
  type SocketOptionValues,
} from "../machine/options.ts";
import {
  type FdIdentity,
  ffiGranted,
  findSocketFd,
  isSocketFd,
} from "./deno_fd.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  type Libc,
  openLibc,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_STREAM,
  sysClose,
  sysSocket,
} from "./libc.ts";
import { libcUnavailable, osError } from "./os_error.ts";
import {
  getOptionLibc,
  optionError,
  setOptionLibc,
} from "./socket_options_libc.ts";

/** The object that holds a socket now, as its options see it. */
export interface OptionHolder {
  /** What it is, for messages (`"Deno.listen() listener"`). */
  readonly what: string;
  /**
   * Values its maker gave the kernel that differ from a new socket's
   * (`Deno.listen()` sets `SO_REUSEADDR`).
   */
  readonly made: Partial<SocketOptionValues>;
  /** Its descriptor's names, to find it with libc. */
  identity(): FdIdentity | undefined;
  /** Sets `name` with Deno's or Node's own call; `false`: there is none. */
  setNative(name: SettableOptionName, value: unknown): boolean;
}

/**
 * Whether Deno runs with `--unstable-net`, which `Deno.listen()`'s
 * `reusePort` needs (without it, asking for it ends the process).
 */
export function unstableNet(): boolean {
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram ===
    "function";
}

/** Linux's values for a new socket (`net.ipv6.bindv6only` taken as 0). */
const NEW_SOCKET: Partial<SocketOptionValues> = {
  SO_REUSEADDR: false,
  SO_REUSEPORT: false,
  SO_KEEPALIVE: false,
  SO_BROADCAST: false,
  TCP_NODELAY: false,
  IPV6_V6ONLY: false,
  SO_LINGER: { onoff: false, linger: 0 },
};

const FAMILY: Readonly<Record<Domain, number>> = {
  inet: AF_INET,
  inet6: AF_INET6,
  unix: AF_UNIX,
};

type Call = "setsockopt" | "getsockopt";

/** The options of one socket of the deno backend. */
export class DenoOptions {
  readonly #kind: SysSocketKind;
  /** What the caller set, in the order set: applied to each new object. */
  readonly #set: Map<SettableOptionName, unknown>;
  /** What the kernel holds now, known without asking it. */
  #known = new Map<SocketOptionName, unknown>();
  #holder: OptionHolder | undefined;
  /** The holder's descriptor, once found. */
  #fd: { holder: OptionHolder; fd: number } | undefined;
  /** `SO_ERROR`: the pending error. */
  #error: Errno | undefined;

  /**
   * @param kind The socket's kind.
   * @param inherited The options of the listener that accepted the socket
   * (TCP copies a listener's options to what it accepts).
   */
  constructor(kind: SysSocketKind, inherited?: DenoOptions) {
    this.#kind = kind;
    this.#set = new Map(inherited ? inherited.#set : undefined);
    this.#know(undefined);
  }

  /** Whether the caller set any option. */
  get anySet(): boolean {
    return this.#set.size > 0;
  }

  /** What the caller set `name` to, if anything. */
  value<N extends SettableOptionName>(
    name: N,
  ): SocketOptionValues[N] | undefined {
    return this.#set.get(name) as SocketOptionValues[N] | undefined;
  }

  /**
   * The socket is now held by `holder` (`undefined`: by nothing): what the
   * caller set is applied to it where it can be. What cannot be applied
   * now is left as the object has it, which `getsockopt()` then reports.
   */
  attach(holder: OptionHolder | undefined): void {
    this.#holder = holder;
    this.#fd = undefined;
    this.#know(holder);
    if (holder === undefined) return;
    for (const [name, value] of this.#set) {
      // Linux takes it only before bind(); the maker has applied it.
      if (name === "IPV6_V6ONLY") continue;
      if (sameValue(this.#known.get(name), value)) continue;
      try {
        this.#apply(name, value);
      } catch {
        // Left as the object has it (getsockopt() tells).
      }
    }
  }

  /** Records a pending error (`SO_ERROR`). */
  fail(errno: Errno): void {
    this.#error = errno;
  }

  /** The pending error, left pending; `undefined` if none. */
  get pending(): Errno | undefined {
    return this.#error;
  }

  /** The pending error, which this clears; `undefined` if none. */
  takeError(): Errno | undefined {
    const error = this.#error;
    this.#error = undefined;
    return error;
  }

  /** `setsockopt(2)`. */
  set<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): void {
    this.#checkLevel(name, "setsockopt", value);
    if (this.#holder === undefined) {
      this.#checkBeforeObject(name, value);
      this.#remember(name, value);
      return;
    }
    if (name === "IPV6_V6ONLY") {
      throw new SocketError(
        "EINVAL",
        "setsockopt",
        "Cannot setsockopt(IPV6_V6ONLY): EINVAL, as Linux answers once the socket is bound; set it before bind() or connect()",
      );
    }
    if (!sameValue(this.#known.get(name), value)) this.#apply(name, value);
    this.#remember(name, value);
  }

  /** `getsockopt(2)`: the value as the kernel reports it. */
  get<N extends SocketOptionName>(name: N): SocketOptionValues[N] {
    if (name === "SO_TYPE") return this.#kind.type as SocketOptionValues[N];
    if (name === "SO_ERROR") {
      return (this.takeError() ?? null) as SocketOptionValues[N];
    }
    const settable = name as SettableOptionName;
    this.#checkLevel(settable, "getsockopt", undefined);
    if (this.#known.has(name)) {
      return this.#known.get(name) as SocketOptionValues[N];
    }
    if (!ffiGranted()) throw noFfi(settable, "getsockopt");
    return this.#withLibc("getsockopt", settable, (libc) => {
      const holder = this.#holder;
      if (holder === undefined) return this.#probe(libc, settable);
      const fd = this.#fdFor(libc, holder, settable, "getsockopt");
      return getFfi(libc, fd, settable);
    }) as SocketOptionValues[N];
  }

  /** What is known once `holder` holds the socket. */
  #know(holder: OptionHolder | undefined): void {
    this.#known = new Map(Object.entries(NEW_SOCKET)) as Map<
      SocketOptionName,
      unknown
    >;
    if (holder === undefined) {
      for (const [name, value] of this.#set) this.#learn(name, value);
      return;
    }
    for (const [name, value] of Object.entries(holder.made)) {
      this.#known.set(name as SocketOptionName, value);
    }
  }

  #remember(name: SettableOptionName, value: unknown): void {
    this.#set.delete(name);
    this.#set.set(name, value);
    this.#learn(name, value);
  }

  /** What the kernel reports after `name` was set to `value`. */
  #learn(name: SettableOptionName, value: unknown): void {
    if (name === "SO_RCVBUF" || name === "SO_SNDBUF") {
      // The kernel doubles and clamps a size: only it can tell.
      this.#known.delete(name);
    } else if (name === "SO_LINGER" && !(value as Linger).onoff) {
      // Turned off, Linux keeps the old time and reports it.
      const old = this.#known.get(name) as Linger | undefined;
      this.#known.set(name, { onoff: false, linger: old?.linger ?? 0 });
    } else {
      this.#known.set(name, value);
    }
  }

  /** Sets `name` on the holder: natively, else with libc. */
  #apply(name: SettableOptionName, value: unknown): void {
    const holder = this.#holder!;
    if (holder.setNative(name, value)) {
      this.#learn(name, value);
      return;
    }
    if (!ffiGranted()) throw noFfi(name, "setsockopt");
    this.#withLibc("setsockopt", name, (libc) => {
      const fd = this.#fdFor(libc, holder, name, "setsockopt");
      const done = setOptionLibc(libc, fd, name, value as never);
      if (!done.ok) throw optionError(done.errno, "setsockopt", name);
    });
    this.#learn(name, value);
  }

  /**
   * Refuses what cannot be applied to the object that bind() or connect()
   * will make, before it is made.
   */
  #checkBeforeObject(name: SettableOptionName, value: unknown): void {
    const { domain, type } = this.#kind;
    const tcp = type === "stream" && domain !== "unix";
    const udp = type === "dgram" && domain !== "unix";
    const refuse = (why: string, instead: string) =>
      new SocketError(
        "EOPNOTSUPP",
        "setsockopt",
        `Cannot setsockopt(${name}, ${
          describe(value)
        }) with the deno backend: EOPNOTSUPP, ${why}; ${instead}`,
      );
    if (tcp && name === "SO_REUSEADDR" && value === false) {
      throw refuse(
        "Deno.listen() always sets SO_REUSEADDR on Linux, and bind() and listen() of this backend are Deno.listen()",
        'use backend: "posix" to bind without it',
      );
    }
    if (tcp && name === "SO_REUSEPORT" && value === true && !unstableNet()) {
      throw refuse(
        "Deno.listen() sets SO_REUSEPORT only with --unstable-net, and Linux takes it only before bind()",
        'run with --unstable-net, or use backend: "posix"',
      );
    }
    if (udp && name === "SO_REUSEPORT" && value === true) {
      throw refuse(
        "node:dgram in Deno cannot set SO_REUSEPORT, and Linux takes it only before bind()",
        'use backend: "posix"',
      );
    }
    // IPV6_V6ONLY: Deno sets it itself on a specific IPv6 address, and
    // bind() refuses the wildcard with it (see deno_backend.ts).
    const native = tcp
      ? [
        "TCP_NODELAY",
        "SO_KEEPALIVE",
        "SO_REUSEADDR",
        "SO_REUSEPORT",
        "IPV6_V6ONLY",
      ]
      : udp
      ? ["SO_REUSEADDR", "IPV6_V6ONLY", "SO_BROADCAST"]
      : [];
    if (native.includes(name) || sameValue(NEW_SOCKET[name], value)) return;
    if (!ffiGranted()) throw noFfi(name, "setsockopt");
  }

  /** The errno Linux gives for an option of another protocol's level. */
  #checkLevel(name: SettableOptionName, call: Call, value: unknown): void {
    const { domain, type } = this.#kind;
    const level = OPTION_LEVELS[name];
    let errno: Errno | undefined;
    if (domain === "unix") {
      // A unix socket has only SOL_SOCKET options, and no SO_REUSEPORT.
      const reusePort = name === "SO_REUSEPORT" && call === "setsockopt" &&
        value === true;
      if (level !== "socket" || reusePort) errno = "EOPNOTSUPP";
    } else if (level === "tcp" && type === "dgram") {
      errno = domain === "inet6" || call === "setsockopt"
        ? "ENOPROTOOPT"
        : "EOPNOTSUPP";
    } else if (level === "ipv6" && domain === "inet") {
      errno = call === "setsockopt" ? "ENOPROTOOPT" : "EOPNOTSUPP";
    }
    if (errno === undefined) return;
    throw new SocketError(
      errno,
      call,
      `Cannot ${call}(${name}) on a ${domain} ${type} socket: ${errno}, as Linux answers; ${name} is not an option of this socket`,
    );
  }

  /** The holder's descriptor: the one found before, if it still is. */
  #fdFor(
    libc: Libc,
    holder: OptionHolder,
    name: SettableOptionName,
    call: Call,
  ): number {
    const id = holder.identity();
    const cached = this.#fd;
    if (
      id && cached?.holder === holder && isSocketFd(libc, cached.fd, id)
    ) {
      return cached.fd;
    }
    const found = id === undefined ? "none" : findSocketFd(libc, id);
    if (typeof found === "number") {
      this.#fd = { holder, fd: found };
      return found;
    }
    throw new SocketError(
      "EOPNOTSUPP",
      call,
      `Cannot ${call}(${name}) on the ${holder.what} with the deno backend: EOPNOTSUPP, ${
        found === "many"
          ? "several descriptors of this process have its addresses, so its own cannot be told"
          : "no descriptor of this process has its addresses"
      }; use backend: "posix"`,
    );
  }

  /** `getsockopt()` on a new socket of this kind given the caller's options. */
  #probe(libc: Libc, name: SettableOptionName): unknown {
    const type = this.#kind.type === "stream" ? SOCK_STREAM : SOCK_DGRAM;
    const made = sysSocket(
      libc,
      FAMILY[this.#kind.domain],
      type | SOCK_CLOEXEC,
      0,
    );
    if (!made.ok) {
      throw osError(
        Object.assign(new Error("socket(2) failed"), { code: made.errno }),
        "getsockopt",
        `make a socket to read ${name} from`,
      );
    }
    try {
      for (const [set, value] of this.#set) {
        setOptionLibc(libc, made.value, set, value as never);
      }
      return getFfi(libc, made.value, name);
    } finally {
      sysClose(libc, made.value);
    }
  }

  #withLibc<T>(
    call: Call,
    name: SettableOptionName,
    use: (libc: Libc) => T,
  ): T {
    let libc: Libc;
    try {
      libc = openLibc();
    } catch (error) {
      throw libcUnavailable(
        error,
        `Cannot ${call}(${name}) with the deno backend`,
        'use backend: "posix"',
      );
    }
    try {
      return use(libc);
    } finally {
      libc.close();
    }
  }
}

/** `getsockopt(2)` of `name` on `fd`, decoded. */
function getFfi(libc: Libc, fd: number, name: SettableOptionName): unknown {
  const got = getOptionLibc(libc, fd, name);
  if (!got.ok) throw optionError(got.errno, "getsockopt", name);
  return got.value;
}

/** Whether two option values are the same. */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "object" && a !== null && typeof b === "object" && b) {
    const [x, y] = [a as Linger, b as Linger];
    return x.onoff === y.onoff && x.linger === y.linger;
  }
  return a === b;
}

/** The refusal of an option Deno cannot reach, without `--allow-ffi`. */
function noFfi(name: SettableOptionName, call: Call): SocketError {
  const verb = call === "setsockopt" ? "sets" : "reads";
  return new SocketError(
    "EOPNOTSUPP",
    call,
    `Cannot ${call}(${name}) with the deno backend: EOPNOTSUPP, Deno has no call that ${verb} it here; run with --allow-ffi (the backend then ${verb} it through libc on the socket's descriptor), or use backend: "posix"`,
  );
}
