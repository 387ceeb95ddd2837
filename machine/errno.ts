// Copyright 2026 the sockfsm authors. MIT license.
/** The name of a Linux errno value, such as `"EINVAL"` or `"ECONNREFUSED"`. */
export type Errno =
  | "EPERM"
  | "ENOENT"
  | "EINTR"
  | "EIO"
  | "EBADF"
  | "EAGAIN"
  | "ENOMEM"
  | "EACCES"
  | "EEXIST"
  | "ENOTDIR"
  | "EINVAL"
  | "EMFILE"
  | "ENOSPC"
  | "EPIPE"
  | "ENAMETOOLONG"
  | "ENOSYS"
  | "ELOOP"
  | "ENOTSOCK"
  | "EDESTADDRREQ"
  | "EMSGSIZE"
  | "EPROTOTYPE"
  | "ENOPROTOOPT"
  | "EPROTONOSUPPORT"
  | "ESOCKTNOSUPPORT"
  | "EOPNOTSUPP"
  | "EAFNOSUPPORT"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "ENETDOWN"
  | "ENETUNREACH"
  | "ECONNABORTED"
  | "ECONNRESET"
  | "ENOBUFS"
  | "EISCONN"
  | "ENOTCONN"
  | "ETIMEDOUT"
  | "ECONNREFUSED"
  | "EHOSTUNREACH"
  | "EALREADY"
  | "EINPROGRESS"
  | "ECANCELED";

/**
 * The numbers of the errno values socket calls can fail with: those of Linux
 * on x86-64 and arm64 (`asm-generic/errno.h`), the kernel sockfsm models.
 */
const LINUX_ERRNO: Readonly<Record<Errno, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  ENOTDIR: 20,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  EPIPE: 32,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ELOOP: 40,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
};

/**
 * Returns the Linux number of an errno name.
 *
 * @example Look up a number
 * ```ts
 * import { errnoNumber } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.equal(errnoNumber("ECONNREFUSED"), 111);
 * ```
 *
 * @param name The errno name.
 * @returns The number Linux uses for it.
 */
export function errnoNumber(name: Errno): number {
  return LINUX_ERRNO[name];
}

const BY_NUMBER: ReadonlyMap<number, Errno> = new Map(
  (Object.entries(LINUX_ERRNO) as [Errno, number][]).map(([name, n]) => [
    n,
    name,
  ]),
);

/**
 * Returns the errno name of a Linux errno number, or `undefined` when sockfsm
 * does not know the number.
 *
 * @example Name a number
 * ```ts
 * import { errnoName } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.equal(errnoName(98), "EADDRINUSE");
 * assert.equal(errnoName(-1), undefined);
 * ```
 *
 * @param errno The number, as returned by `errno` in C.
 * @returns The errno name, or `undefined`.
 */
export function errnoName(errno: number): Errno | undefined {
  return BY_NUMBER.get(errno);
}

/**
 * Reports whether a string is an errno name that sockfsm knows.
 *
 * @example Check a code
 * ```ts
 * import { isErrno } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isErrno("EPIPE"), true);
 * assert.equal(isErrno("ENOPE"), false);
 * ```
 *
 * @param code Any string, such as the `code` of a Node.js error.
 * @returns Whether `code` is an errno name.
 */
export function isErrno(code: string): code is Errno {
  return Object.hasOwn(LINUX_ERRNO, code);
}
