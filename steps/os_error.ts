// Copyright 2026 the sockfsm authors. MIT license.
import { type Errno, errnoName, isErrno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";

/** Errno names for Deno's error classes that carry no `os error` number. */
const DENO_ERRORS: Readonly<Record<string, Errno>> = {
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  AlreadyExists: "EEXIST",
  BadResource: "EBADF",
  BrokenPipe: "EPIPE",
  ConnectionAborted: "ECONNABORTED",
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  Interrupted: "EINTR",
  InvalidData: "EINVAL",
  NetworkUnreachable: "ENETUNREACH",
  NotCapable: "EACCES",
  NotConnected: "ENOTCONN",
  NotFound: "ENOENT",
  PermissionDenied: "EACCES",
  TimedOut: "ETIMEDOUT",
  WouldBlock: "EAGAIN",
};

/** What to do about the commonest errors. */
const ADVICE: Partial<Record<Errno, string>> = {
  EADDRINUSE: "another socket holds this address; use another port, or port 0",
  EADDRNOTAVAIL:
    "the address is not one of this machine's addresses; use a local one such as 127.0.0.1",
  ECONNREFUSED: "nothing is listening there; start the server first",
  ENOENT: "there is no socket file at that path; bind and listen there first",
  EACCES:
    "permission denied; run with --allow-net (and --allow-read --allow-write for unix paths)",
};

/** The errno name of an error from Deno, Node.js or libc, or `EIO`. */
export function errnoOf(error: unknown): Errno {
  if (error instanceof SocketError) return error.code;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && isErrno(code)) return code;
    const os = /\(os error (\d+)\)/.exec(error.message);
    const named = os ? errnoName(Number(os[1])) : undefined;
    if (named) return named;
    const byClass = DENO_ERRORS[error.name];
    if (byClass) return byClass;
  }
  return "EIO";
}

/**
 * Wraps an error from the operating system as a {@linkcode SocketError} whose
 * message says what failed, the errno, and what to do.
 *
 * @param error What Deno, Node.js or libc threw.
 * @param op The socket call.
 * @param what What the call was doing, such as `"bind to 127.0.0.1:80"`.
 */
export function osError(
  error: unknown,
  op: SocketOp,
  what: string,
): SocketError {
  if (error instanceof SocketError) return error;
  const code = errnoOf(error);
  const detail = error instanceof Error ? ` (${error.message})` : "";
  const advice = ADVICE[code] ? `; ${ADVICE[code]}` : "";
  return new SocketError(
    code,
    op,
    `Cannot ${what}: ${code}${detail}${advice}`,
    { cause: error },
  );
}

/**
 * Why libc could not be opened, as a `socket`-level error: `EOPNOTSUPP` off
 * Linux, `EACCES` without `--allow-ffi`.
 *
 * @param error What `openLibc()` threw.
 * @param prefix What could not be done ("Cannot create a socket with ...").
 * @param instead What to do instead, besides granting `--allow-ffi`.
 */
export function libcUnavailable(
  error: unknown,
  prefix: string,
  instead: string,
): SocketError {
  const code = errnoOf(error);
  const why = code === "EOPNOTSUPP"
    ? `it needs Linux's libc.so.6, and this is ${Deno.build.os}; ${instead}`
    : code === "EACCES"
    ? `permission to use FFI was denied; run with --allow-ffi, or ${instead}`
    : `libc.so.6 could not be opened (${
      error instanceof Error ? error.message : String(error)
    })`;
  return new SocketError(code, "socket", `${prefix}: ${why}`, {
    cause: error,
  });
}
