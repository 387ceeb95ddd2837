// Copyright 2026 the sockfsm authors. MIT license.
/**
 * libc's socket calls through Deno's FFI: one wrapper per system call, the
 * handle first and the C argument order after it. Wrappers never throw; they
 * return a {@linkcode SysResult}. Needs `--allow-ffi` and Linux's
 * `libc.so.6`.
 *
 * @module
 */
import type { UnixAddr } from "../machine/address.ts";
import { type Errno, errnoName } from "../machine/errno.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** An open libc; dispose of it to unload it. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS> & Disposable;

/** The outcome of a system call: its value, or the errno it set. */
export type SysResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errno: Errno | number };

/** `AF_UNIX` */
export const AF_UNIX = 1;
/** `SOCK_STREAM` */
export const SOCK_STREAM = 1;
/** `SOCK_NONBLOCK` */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC` */
export const SOCK_CLOEXEC = 0o2000000;

/**
 * Opens libc. `using libc = openLibc()` unloads it at the end of the scope.
 *
 * @throws {Error} When this is not Linux, or `--allow-ffi` is missing.
 */
export function openLibc(): Libc {
  if (Deno.build.os !== "linux") {
    throw new Error(
      `Cannot open libc.so.6 on ${Deno.build.os}: sockfsm's libc calls are Linux-only`,
    );
  }
  const library = Deno.dlopen("libc.so.6", SYMBOLS);
  return Object.assign(library, {
    [Symbol.dispose]: () => library.close(),
  });
}

function result<T>(libc: Libc, value: T, failed: boolean): SysResult<T> {
  if (!failed) return { ok: true, value };
  const errno = new Deno.UnsafePointerView(
    libc.symbols.__errno_location()!,
  ).getInt32();
  return { ok: false, errno: errnoName(errno) ?? errno };
}

/** `struct sockaddr_un` for a path, and its length. */
function sockaddrUn(addr: UnixAddr): Uint8Array<ArrayBuffer> {
  const path = new TextEncoder().encode(addr.path);
  const bytes = new Uint8Array(2 + path.length + 1);
  new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
  bytes.set(path, 2);
  return bytes;
}

/** `socket(domain, type, protocol)` */
export function sysSocket(
  libc: Libc,
  domain: number,
  type: number,
  protocol: number,
): SysResult<number> {
  const fd = libc.symbols.socket(domain, type, protocol);
  return result(libc, fd, fd < 0);
}

/** `bind(fd, addr, addrlen)` for a unix path. */
export function sysBind(
  libc: Libc,
  fd: number,
  addr: UnixAddr,
): SysResult<void> {
  const sa = sockaddrUn(addr);
  return result(libc, undefined, libc.symbols.bind(fd, sa, sa.length) < 0);
}

/** `connect(fd, addr, addrlen)` to a unix path. */
export function sysConnect(
  libc: Libc,
  fd: number,
  addr: UnixAddr,
): SysResult<void> {
  const sa = sockaddrUn(addr);
  return result(libc, undefined, libc.symbols.connect(fd, sa, sa.length) < 0);
}

/** `close(fd)` */
export function sysClose(libc: Libc, fd: number): SysResult<void> {
  return result(libc, undefined, libc.symbols.close(fd) < 0);
}
