// Copyright 2026 the sockfsm authors. MIT license.
/**
 * sockfsm's socket options as libc takes them: each name's level, `optname`
 * and C value (an `int` 0/1 for a flag, an `int` size, a `struct linger`),
 * and `setsockopt(2)`/`getsockopt(2)` on a descriptor with them. Any backend
 * that holds a descriptor and libc uses this one table.
 *
 * @module
 */
import { type Errno, errnoName, errnoNumber } from "../machine/errno.ts";
import { SocketError } from "../machine/errors.ts";
import {
  type Linger,
  OPTION_LEVELS,
  type OptionLevel,
  type SettableOptionName,
  type SocketOptionName,
  type SocketOptionValues,
} from "../machine/options.ts";
import {
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  type Libc,
  SO_BROADCAST,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  sysGetsockopt,
  type SysResult,
  sysSetsockopt,
  TCP_NODELAY,
} from "./libc.ts";

/** How one C option value is written and read. */
interface Codec<V> {
  /** `sizeof` the C value. */
  readonly size: number;
  readonly encode: (value: V) => Uint8Array;
  readonly decode: (view: DataView) => V;
}

/** One option as libc takes it. */
interface LibcOption<V> extends Codec<V> {
  readonly optname: number;
}

const LEVEL: Readonly<Record<OptionLevel, number>> = {
  socket: SOL_SOCKET,
  tcp: IPPROTO_TCP,
  ipv6: IPPROTO_IPV6,
};

/** C `int`s, in host (little-endian) order. */
function ints(...values: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(values).buffer);
}

const INT: Codec<number> = {
  size: 4,
  encode: (value) => ints(value),
  decode: (view) => view.getInt32(0, true),
};

const FLAG: Codec<boolean> = {
  size: 4,
  encode: (on) => ints(on ? 1 : 0),
  decode: (view) => view.getInt32(0, true) !== 0,
};

/** `struct linger { int l_onoff; int l_linger; }` */
const LINGER: Codec<Linger> = {
  size: 8,
  encode: ({ onoff, linger }) => ints(onoff ? 1 : 0, linger),
  decode: (view) => ({
    onoff: view.getInt32(0, true) !== 0,
    linger: view.getInt32(4, true),
  }),
};

/** `SO_ERROR`: 0 is `null`; a number sockfsm does not name is `EIO`. */
const PENDING_ERROR: Codec<Errno | null> = {
  size: 4,
  encode: (errno) => ints(errno === null ? 0 : errnoNumber(errno)),
  decode: (view) => {
    const errno = view.getInt32(0, true);
    return errno === 0 ? null : errnoName(errno) ?? "EIO";
  },
};

/** `SO_TYPE`: `SOCK_STREAM` or `SOCK_DGRAM`, the two types sockfsm makes. */
const SOCKET_TYPE: Codec<"stream" | "dgram"> = {
  size: 4,
  encode: (type) => ints(type === "dgram" ? SOCK_DGRAM : SOCK_STREAM),
  decode: (view) => view.getInt32(0, true) === SOCK_DGRAM ? "dgram" : "stream",
};

/** Every option's `optname` and C value; the level is `OPTION_LEVELS`'. */
const LIBC_OPTIONS: {
  readonly [N in SocketOptionName]: LibcOption<SocketOptionValues[N]>;
} = {
  SO_REUSEADDR: { optname: SO_REUSEADDR, ...FLAG },
  SO_REUSEPORT: { optname: SO_REUSEPORT, ...FLAG },
  SO_KEEPALIVE: { optname: SO_KEEPALIVE, ...FLAG },
  SO_BROADCAST: { optname: SO_BROADCAST, ...FLAG },
  TCP_NODELAY: { optname: TCP_NODELAY, ...FLAG },
  IPV6_V6ONLY: { optname: IPV6_V6ONLY, ...FLAG },
  SO_RCVBUF: { optname: SO_RCVBUF, ...INT },
  SO_SNDBUF: { optname: SO_SNDBUF, ...INT },
  SO_LINGER: { optname: SO_LINGER, ...LINGER },
  SO_ERROR: { optname: SO_ERROR, ...PENDING_ERROR },
  SO_TYPE: { optname: SO_TYPE, ...SOCKET_TYPE },
};

/**
 * `setsockopt(fd, level, optname, &value, sizeof value)` for option `name`.
 *
 * @param libc An open libc.
 * @param fd The socket's descriptor.
 * @param name The option.
 * @param value Its value, already checked for its type.
 * @returns The outcome; the errno is the kernel's.
 */
export function setOptionLibc<N extends SettableOptionName>(
  libc: Libc,
  fd: number,
  name: N,
  value: SocketOptionValues[N],
): SysResult<void> {
  const option: LibcOption<SocketOptionValues[N]> = LIBC_OPTIONS[name];
  const level = LEVEL[OPTION_LEVELS[name]];
  return sysSetsockopt(libc, fd, level, option.optname, option.encode(value));
}

/**
 * `getsockopt(fd, level, optname, &value, &len)` for option `name`, decoded.
 * Reading `SO_ERROR` clears the pending error, as the kernel does.
 *
 * @param libc An open libc.
 * @param fd The socket's descriptor.
 * @param name The option.
 * @returns The value as the kernel reports it, or the kernel's errno.
 */
export function getOptionLibc<N extends SocketOptionName>(
  libc: Libc,
  fd: number,
  name: N,
): SysResult<SocketOptionValues[N]> {
  const option: LibcOption<SocketOptionValues[N]> = LIBC_OPTIONS[name];
  const level = LEVEL[OPTION_LEVELS[name]];
  const bytes = new Uint8Array(option.size);
  const got = sysGetsockopt(libc, fd, level, option.optname, bytes);
  if (!got.ok) return got;
  return { ok: true, value: option.decode(new DataView(bytes.buffer)) };
}

/** Why an option may not apply: what the kernel says with two errnos. */
const NOT_HERE =
  "the option does not apply to this socket (TCP_NODELAY is TCP's, IPV6_V6ONLY inet6's, SO_REUSEPORT inet's); set it on a socket it applies to";

/** What to do about the errnos an option call gets from the kernel. */
const OPTION_ADVICE: Partial<Record<Errno, string>> = {
  ENOPROTOOPT: NOT_HERE,
  EOPNOTSUPP: NOT_HERE,
  EINVAL:
    "the kernel does not take it now (set IPV6_V6ONLY before bind() or connect())",
  EBADF: "the socket's descriptor is closed",
};

/**
 * A failed `setsockopt(2)` or `getsockopt(2)` as a {@linkcode SocketError}
 * that names the option, the kernel's errno and what to do.
 *
 * @param errno The errno the call set.
 * @param op `"setsockopt"` or `"getsockopt"`.
 * @param name The option.
 * @returns The error.
 */
export function optionError(
  errno: Errno | number,
  op: "setsockopt" | "getsockopt",
  name: SocketOptionName,
): SocketError {
  const code = typeof errno === "number" ? "EIO" : errno;
  const named = typeof errno === "number"
    ? `errno ${errno}, which sockfsm does not name`
    : errno;
  const advice = OPTION_ADVICE[code] ? `; ${OPTION_ADVICE[code]}` : "";
  return new SocketError(
    code,
    op,
    `Cannot ${op}(${name}): ${named}${advice}`,
  );
}
