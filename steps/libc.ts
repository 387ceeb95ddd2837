// Copyright 2026 the sockfsm authors. MIT license.
/**
 * libc's socket calls through Deno's FFI: one wrapper per system call, the
 * handle first and the C argument order after it. Wrappers never throw; they
 * return a `SysResult`, with the errno read right after the call.
 * Needs `--allow-ffi` and Linux's `libc.so.6`.
 *
 * @module
 */
import type { SocketAddr } from "../machine/address.ts";
import { type Errno, errnoName } from "../machine/errno.ts";
import {
  decodeSockaddr,
  encodeSockaddr,
  SOCKADDR_STORAGE_SIZE,
  unspecSockaddr,
} from "./sockaddr.ts";

import { AF_UNIX } from "./sockaddr.ts";

export { AF_INET, AF_INET6, AF_UNIX } from "./sockaddr.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  /** `fcntl(fd, cmd, int)`: the commands that take an `int` argument. */
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** An open libc; dispose of it to unload it. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS> & Disposable;

/** The outcome of a system call: its value, or the errno it set. */
export type SysResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errno: Errno | number };

/** `SOCK_STREAM` */
export const SOCK_STREAM = 1;
/** `SOCK_DGRAM` */
export const SOCK_DGRAM = 2;
/** `SOCK_NONBLOCK`: the new descriptor is non-blocking (`O_NONBLOCK`). */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC`: the new descriptor is closed on `exec` (`O_CLOEXEC`). */
export const SOCK_CLOEXEC = 0o2000000;
/** `EFD_NONBLOCK` */
export const EFD_NONBLOCK = 0o4000;
/** `EFD_CLOEXEC` */
export const EFD_CLOEXEC = 0o2000000;
/** `SHUT_RD` */
export const SHUT_RD = 0;
/** `SHUT_WR` */
export const SHUT_WR = 1;
/** `SHUT_RDWR` */
export const SHUT_RDWR = 2;
/** `MSG_DONTWAIT`: this call only is non-blocking. */
export const MSG_DONTWAIT = 0x40;
/** `MSG_NOSIGNAL`: a broken pipe is `EPIPE`, without `SIGPIPE`. */
export const MSG_NOSIGNAL = 0x4000;
/** `POLLIN` */
export const POLLIN = 0x1;
/** `POLLOUT` */
export const POLLOUT = 0x4;
/** `POLLERR` */
export const POLLERR = 0x8;
/** `POLLHUP` */
export const POLLHUP = 0x10;
/** `POLLNVAL` */
export const POLLNVAL = 0x20;
/** `MSG_TRUNC` (recv): return a datagram's real length, even when truncated. */
export const MSG_TRUNC = 0x20;
/** `SOL_SOCKET` */
export const SOL_SOCKET = 1;
/** `SO_REUSEADDR` */
export const SO_REUSEADDR = 2;
/** `SO_TYPE` */
export const SO_TYPE = 3;
/** `SO_ERROR`: the pending error of a socket, such as a failed `connect`. */
export const SO_ERROR = 4;
/** `SO_BROADCAST` */
export const SO_BROADCAST = 6;
/** `SO_SNDBUF` */
export const SO_SNDBUF = 7;
/** `SO_RCVBUF` */
export const SO_RCVBUF = 8;
/** `SO_KEEPALIVE` */
export const SO_KEEPALIVE = 9;
/** `SO_LINGER`: a `struct linger { int l_onoff; int l_linger; }`. */
export const SO_LINGER = 13;
/** `SO_REUSEPORT` */
export const SO_REUSEPORT = 15;
/** `IPPROTO_TCP`: the level of TCP's options. */
export const IPPROTO_TCP = 6;
/** `TCP_NODELAY` */
export const TCP_NODELAY = 1;
/** `IPPROTO_IPV6`: the level of IPv6's options. */
export const IPPROTO_IPV6 = 41;
/** `IPV6_V6ONLY` */
export const IPV6_V6ONLY = 26;
/** `O_NONBLOCK` */
export const O_NONBLOCK = 0o4000;
/** `F_GETFL`: the file status flags, such as `O_NONBLOCK`. */
export const F_GETFL = 3;
/** `F_SETFL` */
export const F_SETFL = 4;
/** `F_DUPFD_CLOEXEC`: a duplicate at the lowest free number `>= arg`. */
export const F_DUPFD_CLOEXEC = 1030;
/** `SOMAXCONN`: the largest backlog Linux applies (its default since 5.4). */
export const SOMAXCONN = 4096;

/** `sizeof(struct pollfd)`: `int fd; short events; short revents;` */
const POLLFD_SIZE = 8;

/**
 * Opens libc. `using libc = openLibc()` unloads it at the end of the scope.
 *
 * @throws {Error} With `code` `"EOPNOTSUPP"` when this is not Linux, or
 * `"EACCES"` when `--allow-ffi` is missing.
 */
export function openLibc(): Libc {
  requireLinux();
  let library: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    library = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (error) {
    throw ffiRefusal(error) ?? error;
  }
  return Object.assign(library, {
    [Symbol.dispose]: () => library.close(),
  });
}

/**
 * Throws what `openLibc()` throws off Linux.
 *
 * @throws {Error} With `code` `"EOPNOTSUPP"` when this is not Linux.
 */
export function requireLinux(): void {
  if (Deno.build.os === "linux") return;
  throw Object.assign(
    new Error(
      `Cannot open libc.so.6 on ${Deno.build.os}: sockfsm's libc calls need Linux's libc.so.6`,
    ),
    { code: "EOPNOTSUPP" },
  );
}

/**
 * What `openLibc()` throws for `error`, when Deno refused FFI: an error
 * with `code` `"EACCES"` that says to run with `--allow-ffi`; else
 * `undefined`.
 */
export function ffiRefusal(error: unknown): Error | undefined {
  const denied = error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied;
  if (!denied) return undefined;
  return Object.assign(
    new Error(
      "Cannot open libc.so.6: permission denied; run with --allow-ffi",
      { cause: error },
    ),
    { code: "EACCES" },
  );
}

/**
 * This thread's `errno`, found once: `__errno_location()` gives each thread
 * one address for its whole life, and JavaScript runs on one thread.
 */
let errnoView: Deno.UnsafePointerView | undefined;

/** The errno of the call just made on this thread. */
function lastErrno(libc: Libc): Errno | number {
  errnoView ??= new Deno.UnsafePointerView(libc.symbols.__errno_location()!);
  const errno = errnoView.getInt32();
  return errnoName(errno) ?? errno;
}

/** The success of a call that returns nothing: one object for all. */
const OK_VOID: SysResult<void> = Object.freeze({ ok: true, value: undefined });

function result<T>(libc: Libc, value: T, failed: boolean): SysResult<T> {
  if (!failed) return { ok: true, value };
  return { ok: false, errno: lastErrno(libc) };
}

function done(libc: Libc, failed: boolean): SysResult<void> {
  return failed ? { ok: false, errno: lastErrno(libc) } : OK_VOID;
}

/** A count from an `ssize_t` result. */
function counted(libc: Libc, n: number | bigint): SysResult<number> {
  return result(libc, Number(n), n < 0);
}

const NOT_AN_ADDRESS: SysResult<never> = { ok: false, errno: "EINVAL" };

/** `socket(domain, type, protocol)`: the new descriptor. */
export function sysSocket(
  libc: Libc,
  domain: number,
  type: number,
  protocol: number,
): SysResult<number> {
  const fd = libc.symbols.socket(domain, type, protocol);
  return result(libc, fd, fd < 0);
}

/**
 * `bind(fd, addr, addrlen)`. An `addr` whose hostname is not an IP literal
 * gives `EINVAL` without a call.
 */
export function sysBind(
  libc: Libc,
  fd: number,
  addr: SocketAddr,
): SysResult<void> {
  const sa = encodeSockaddr(addr);
  if (sa === undefined) return NOT_AN_ADDRESS;
  return done(libc, libc.symbols.bind(fd, sa, sa.length) < 0);
}

/**
 * `bind(fd, {AF_UNIX}, sizeof(sa_family_t))`: a unix socket bound to a name
 * the kernel picks in the abstract namespace (Linux's autobind).
 */
export function sysBindAutobind(libc: Libc, fd: number): SysResult<void> {
  const sa = unspecSockaddr().subarray(0, 2);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  return done(libc, libc.symbols.bind(fd, sa, sa.length) < 0);
}

/**
 * `listen(fd, backlog)`. A backlog beyond C's `int` is passed as `INT_MAX`
 * (Linux caps it at `net.core.somaxconn` anyway).
 */
export function sysListen(
  libc: Libc,
  fd: number,
  backlog: number,
): SysResult<void> {
  const capped = Math.max(-0x80000000, Math.min(backlog, 0x7fffffff));
  return done(libc, libc.symbols.listen(fd, capped) < 0);
}

/**
 * `accept4(fd, NULL, NULL, flags)`: the new descriptor. Read its addresses
 * with `sysGetsockname()` and `sysGetpeername()`.
 */
export function sysAccept4(
  libc: Libc,
  fd: number,
  flags: number,
): SysResult<number> {
  const accepted = libc.symbols.accept4(fd, null, null, flags);
  return result(libc, accepted, accepted < 0);
}

/** A connection `sysAcceptFrom()` took: its descriptor and its peer. */
export interface Accepted {
  readonly fd: number;
  /** The peer's address, decoded (`undefined` for a family not decoded). */
  readonly peer: SocketAddr | undefined;
}

/**
 * `accept4(fd, addr, &addrlen, flags)`: the new descriptor and the peer's
 * address, in one call (as `getpeername(2)` on it would give).
 */
export function sysAcceptFrom(
  libc: Libc,
  fd: number,
  flags: number,
): SysResult<Accepted> {
  NAME_LEN[0] = SOCKADDR_STORAGE_SIZE;
  const accepted = libc.symbols.accept4(fd, NAME, NAME_LEN_BYTES, flags);
  if (accepted < 0) return { ok: false, errno: lastErrno(libc) };
  const peer = decodeSockaddr(NAME, NAME_LEN[0]);
  return { ok: true, value: { fd: accepted, peer } };
}

/**
 * `connect(fd, addr, addrlen)`. An `addr` whose hostname is not an IP
 * literal gives `EINVAL` without a call.
 */
export function sysConnect(
  libc: Libc,
  fd: number,
  addr: SocketAddr,
): SysResult<void> {
  const sa = encodeSockaddr(addr);
  if (sa === undefined) return NOT_AN_ADDRESS;
  return sysConnectTo(libc, fd, sa);
}

/**
 * `connect(fd, sa, sa.length)` with an address already encoded (see
 * `encodeSockaddr()`), for a connect that calls `connect(2)` more than once.
 */
export function sysConnectTo(
  libc: Libc,
  fd: number,
  sa: Uint8Array,
): SysResult<void> {
  return done(libc, libc.symbols.connect(fd, sa, sa.length) < 0);
}

/**
 * `connect(fd, {AF_UNSPEC}, sizeof)`: dissolves a TCP socket's association,
 * which stops a connection attempt in progress.
 */
export function sysConnectUnspec(libc: Libc, fd: number): SysResult<void> {
  const sa = unspecSockaddr();
  return done(libc, libc.symbols.connect(fd, sa, sa.length) < 0);
}

/** `send(fd, data, len, flags)`: the count sent. */
export function sysSend(
  libc: Libc,
  fd: number,
  data: Uint8Array,
  flags: number,
): SysResult<number> {
  return counted(
    libc,
    libc.symbols.send(fd, data, BigInt(data.length), flags),
  );
}

/** `recv(fd, buffer, len, flags)`: the count received, 0 at end of stream. */
export function sysRecv(
  libc: Libc,
  fd: number,
  buffer: Uint8Array,
  flags: number,
): SysResult<number> {
  return counted(
    libc,
    libc.symbols.recv(fd, buffer, BigInt(buffer.length), flags),
  );
}

/** `shutdown(fd, how)`, with `how` one of `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`. */
export function sysShutdown(
  libc: Libc,
  fd: number,
  how: number,
): SysResult<void> {
  return done(libc, libc.symbols.shutdown(fd, how) < 0);
}

/**
 * `fcntl(fd, cmd, arg)` for a command with an `int` argument (`F_GETFL`,
 * `F_SETFL`, `F_DUPFD_CLOEXEC`): its result, such as the flags or the new
 * descriptor.
 */
export function sysFcntl(
  libc: Libc,
  fd: number,
  cmd: number,
  arg: number,
): SysResult<number> {
  const value = libc.symbols.fcntl(fd, cmd, arg);
  return result(libc, value, value < 0);
}

/** `close(fd)` */
export function sysClose(libc: Libc, fd: number): SysResult<void> {
  return done(libc, libc.symbols.close(fd) < 0);
}

/**
 * `getsockname(fd, addr, &addrlen)`: the local address, decoded; an unbound
 * unix socket gives `{ path: "" }`, an unbound inet socket port 0. The value
 * is `undefined` for a family this module does not decode.
 */
export function sysGetsockname(
  libc: Libc,
  fd: number,
): SysResult<SocketAddr | undefined> {
  return nameOf(libc, fd, libc.symbols.getsockname);
}

/**
 * `getpeername(fd, addr, &addrlen)`: the peer's address, decoded (`ENOTCONN`
 * without a peer); a peer that has no name gives `{ path: "" }`.
 */
export function sysGetpeername(
  libc: Libc,
  fd: number,
): SysResult<SocketAddr | undefined> {
  return nameOf(libc, fd, libc.symbols.getpeername);
}

/**
 * The `struct sockaddr_storage` and `socklen_t` that the calls returning an
 * address fill, reused: they are synchronous, and the address is decoded
 * before the next call.
 */
const NAME = new Uint8Array(SOCKADDR_STORAGE_SIZE);
const NAME_LEN = new Uint32Array(1);
const NAME_LEN_BYTES = new Uint8Array(NAME_LEN.buffer);

function nameOf(
  libc: Libc,
  fd: number,
  call: (fd: number, addr: Uint8Array, len: Uint8Array) => number,
): SysResult<SocketAddr | undefined> {
  NAME_LEN[0] = SOCKADDR_STORAGE_SIZE;
  if (call(fd, NAME, NAME_LEN_BYTES) < 0) {
    return { ok: false, errno: lastErrno(libc) };
  }
  return { ok: true, value: decodeSockaddr(NAME, NAME_LEN[0]) };
}

/** `getsockopt(fd, level, name, &int, &len)` for an `int` option, such as `SO_ERROR`. */
export function sysGetsockoptInt(
  libc: Libc,
  fd: number,
  level: number,
  name: number,
): SysResult<number> {
  const value = new Int32Array(1);
  const len = new Uint32Array([4]);
  const failed = libc.symbols.getsockopt(
    fd,
    level,
    name,
    new Uint8Array(value.buffer),
    new Uint8Array(len.buffer),
  ) < 0;
  return result(libc, value[0], failed);
}

/**
 * `getsockopt(fd, level, name, buf, &len)` into `buffer`: the length the
 * kernel wrote (an option such as `SO_LINGER` is a struct).
 */
export function sysGetsockopt(
  libc: Libc,
  fd: number,
  level: number,
  name: number,
  buffer: Uint8Array,
): SysResult<number> {
  const len = new Uint32Array([buffer.length]);
  const failed = libc.symbols.getsockopt(
    fd,
    level,
    name,
    buffer,
    new Uint8Array(len.buffer),
  ) < 0;
  return result(libc, len[0], failed);
}

/** `setsockopt(fd, level, name, &int, sizeof(int))` for an `int` option. */
export function sysSetsockoptInt(
  libc: Libc,
  fd: number,
  level: number,
  name: number,
  value: number,
): SysResult<void> {
  return sysSetsockopt(
    libc,
    fd,
    level,
    name,
    new Uint8Array(new Int32Array([value]).buffer),
  );
}

/** `setsockopt(fd, level, name, buf, len)` with the bytes of `value`. */
export function sysSetsockopt(
  libc: Libc,
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
): SysResult<void> {
  const failed = libc.symbols.setsockopt(
    fd,
    level,
    name,
    value,
    value.length,
  ) < 0;
  return done(libc, failed);
}

/**
 * `sendto(fd, data, len, flags, addr, addrlen)`: the count sent. An `addr`
 * whose hostname is not an IP literal gives `EINVAL` without a call.
 */
export function sysSendto(
  libc: Libc,
  fd: number,
  data: Uint8Array,
  flags: number,
  addr: SocketAddr,
): SysResult<number> {
  const sa = encodeSockaddr(addr);
  if (sa === undefined) return NOT_AN_ADDRESS;
  return counted(
    libc,
    libc.symbols.sendto(fd, data, BigInt(data.length), flags, sa, sa.length),
  );
}

/** What `recvfrom(2)` gives: the count, and the sender's address if any. */
export interface RecvFrom {
  /** The count received (with `MSG_TRUNC`, a datagram's real length). */
  readonly count: number;
  /** The sender, decoded; `undefined` when the kernel gave no address. */
  readonly from: SocketAddr | undefined;
}

/** `recvfrom(fd, buffer, len, flags, addr, &addrlen)`. */
export function sysRecvfrom(
  libc: Libc,
  fd: number,
  buffer: Uint8Array,
  flags: number,
): SysResult<RecvFrom> {
  const sa = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  const len = new Uint32Array([SOCKADDR_STORAGE_SIZE]);
  const n = Number(
    libc.symbols.recvfrom(
      fd,
      buffer,
      BigInt(buffer.length),
      flags,
      sa,
      new Uint8Array(len.buffer),
    ),
  );
  if (n < 0) return { ok: false, errno: lastErrno(libc) };
  const from = len[0] === 0 ? undefined : decodeSockaddr(sa, len[0]);
  return { ok: true, value: { count: n, from } };
}

/** One entry of a `poll(2)` set: a descriptor and the events to wait for. */
export interface PollFd {
  /** The descriptor; a negative one is skipped. */
  readonly fd: number;
  /** `POLLIN`, `POLLOUT`, or both. */
  readonly events: number;
}

/**
 * An array of `struct pollfd` for `sysPoll()`. Its memory is outside
 * V8's heap, so a call on another thread can use it safely.
 */
export function pollFds(entries: readonly PollFd[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(new ArrayBuffer(entries.length * POLLFD_SIZE));
  const view = new DataView(bytes.buffer);
  entries.forEach(({ fd, events }, i) => {
    view.setInt32(i * POLLFD_SIZE, fd, true);
    view.setInt16(i * POLLFD_SIZE + 4, events, true);
  });
  return bytes;
}

/** The `revents` that `poll(2)` reported for entry `index` of `fds`. */
export function pollRevents(fds: Uint8Array, index: number): number {
  const view = new DataView(fds.buffer, fds.byteOffset, fds.byteLength);
  return view.getUint16(index * POLLFD_SIZE + 6, true);
}

/**
 * `poll(fds, nfds, timeout)`, blocking this thread for up to `timeout`
 * milliseconds (-1: no limit; 0: just look). The count of ready entries.
 */
export function sysPoll(
  libc: Libc,
  fds: Uint8Array,
  timeout: number,
): SysResult<number> {
  const nfds = BigInt(fds.length / POLLFD_SIZE);
  const ready = libc.symbols.poll(fds, nfds, timeout);
  return result(libc, ready, ready < 0);
}

/** `EPOLL_CLOEXEC` */
export const EPOLL_CLOEXEC = 0o2000000;
/** `EPOLL_CTL_ADD` */
export const EPOLL_CTL_ADD = 1;
/** `EPOLL_CTL_DEL` */
export const EPOLL_CTL_DEL = 2;
/** `EPOLL_CTL_MOD` */
export const EPOLL_CTL_MOD = 3;
/** `EPOLLIN` */
export const EPOLLIN = 0x1;
/** `EPOLLOUT` */
export const EPOLLOUT = 0x4;
/** `EPOLLERR` */
export const EPOLLERR = 0x8;
/** `EPOLLHUP` */
export const EPOLLHUP = 0x10;
/** `EPOLLRDHUP`: the peer shut down its writing side. */
export const EPOLLRDHUP = 0x2000;
/** `EPOLLET`: report each change of readiness once (edge-triggered). */
export const EPOLLET = 0x80000000;

/**
 * `sizeof(struct epoll_event)`: `uint32_t events; uint64_t data;`, packed
 * on x86-64 (12 bytes), naturally aligned elsewhere (16).
 */
export const EPOLL_EVENT_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
const EPOLL_DATA_OFFSET = EPOLL_EVENT_SIZE === 12 ? 4 : 8;

/**
 * An array of `count` `struct epoll_event` for `epoll_wait(2)` to fill. Its
 * memory is outside V8's heap, so a call on another thread can use it.
 */
export function epollEvents(count: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(count * EPOLL_EVENT_SIZE));
}

/** The `events` of entry `index` of an `epoll_wait(2)` array. */
export function epollEventBits(events: Uint8Array, index: number): number {
  const view = new DataView(events.buffer, events.byteOffset);
  return view.getUint32(index * EPOLL_EVENT_SIZE, true);
}

/** The token (the low 32 bits of `data`) of entry `index`. */
export function epollEventToken(events: Uint8Array, index: number): number {
  const view = new DataView(events.buffer, events.byteOffset);
  return view.getUint32(index * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET, true);
}

/** `epoll_create1(flags)`: the new epoll descriptor. */
export function sysEpollCreate1(libc: Libc, flags: number): SysResult<number> {
  const fd = libc.symbols.epoll_create1(flags);
  return result(libc, fd, fd < 0);
}

/** One `struct epoll_event` for `epoll_ctl(2)`, reused: the call is synchronous. */
const CTL_EVENT = new Uint8Array(EPOLL_EVENT_SIZE);
const CTL_VIEW = new DataView(CTL_EVENT.buffer);

/**
 * `epoll_ctl(epfd, op, fd, &{events, data: token})`: adds, changes or
 * removes (`EPOLL_CTL_DEL`) the interest of `epfd` in `fd`.
 */
export function sysEpollCtl(
  libc: Libc,
  epfd: number,
  op: number,
  fd: number,
  events: number,
  token: number,
): SysResult<void> {
  CTL_VIEW.setUint32(0, events >>> 0, true);
  CTL_VIEW.setUint32(EPOLL_DATA_OFFSET, token >>> 0, true);
  CTL_VIEW.setUint32(EPOLL_DATA_OFFSET + 4, 0, true);
  const failed = libc.symbols.epoll_ctl(epfd, op, fd, CTL_EVENT) < 0;
  return done(libc, failed);
}

/**
 * `epoll_wait(epfd, events, maxevents, timeout)` on this thread, for up to
 * `timeout` ms (0: just look): the count of entries filled.
 */
export function sysEpollWait(
  libc: Libc,
  epfd: number,
  events: Uint8Array,
  timeout: number,
): SysResult<number> {
  const max = events.length / EPOLL_EVENT_SIZE;
  const n = libc.symbols.epoll_wait(epfd, events, max, timeout);
  return result(libc, n, n < 0);
}

/** `eventfd(initval, flags)`: the new descriptor. */
export function sysEventfd(
  libc: Libc,
  initval: number,
  flags: number,
): SysResult<number> {
  const fd = libc.symbols.eventfd(initval, flags);
  return result(libc, fd, fd < 0);
}

/** `read(fd, buffer, len)`: the count read. */
export function sysRead(
  libc: Libc,
  fd: number,
  buffer: Uint8Array,
): SysResult<number> {
  return counted(libc, libc.symbols.read(fd, buffer, BigInt(buffer.length)));
}

/** `write(fd, data, len)`: the count written. */
export function sysWrite(
  libc: Libc,
  fd: number,
  data: Uint8Array,
): SysResult<number> {
  return counted(libc, libc.symbols.write(fd, data, BigInt(data.length)));
}
