// Copyright 2026 the sockfsm authors. MIT license.
import type { InetAddr, SocketAddr } from "../machine/address.ts";
import { type Errno, errnoName, isErrno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import type { SocketState } from "../machine/socket_machine.ts";

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

/** What to do about the commonest errors, on an inet address. */
const ADVICE: Partial<Record<Errno, string>> = {
  EADDRINUSE: "another socket holds this address; use another port, or port 0",
  EADDRNOTAVAIL:
    "the address is not one of this machine's addresses; use a local one such as 127.0.0.1",
  ECONNREFUSED: "nothing is listening there; start the server first",
  EACCES:
    "the kernel denied it (ports below 1024 need privileges, a unix path needs write access to its directory)",
  ECONNRESET: "the peer reset the connection; connect again",
  EMFILE:
    "the process has no file descriptor left; close the sockets and files it no longer needs, or raise its limit (ulimit -n)",
  ENETUNREACH: "there is no route to that network; use a reachable address",
};

/**
 * What to do about them on a unix path, where there is no port nor an IP
 * address: the same where the advice is not about either.
 */
const UNIX_ADVICE: Partial<Record<Errno, string>> = {
  ...ADVICE,
  EADDRNOTAVAIL: undefined,
  EADDRINUSE:
    "a file already exists at that path (a stale socket file, if nothing listens there); remove it, or use another path",
  ECONNREFUSED:
    "nothing listens at that socket file (a stale one?); start the server first",
  ENOENT: "there is no socket file at that path; bind and listen there first",
  EACCES:
    "the kernel denied it (a unix path needs search access to its directories, and write access to the socket file or its directory)",
};

/** What a failed call was about: the socket's state and the address. */
export interface OsErrorContext {
  /** The socket's state when the call was made. */
  readonly state?: SocketState | undefined;
  /** The address the call was given, for advice that fits it. */
  readonly addr?: SocketAddr | undefined;
}

/**
 * `error` with the socket's `state` at the call, if it has none yet; a
 * {@linkcode SocketError} is otherwise passed through unchanged.
 */
export function withState(
  error: SocketError,
  state: SocketState,
): SocketError {
  if (error.state !== undefined) return error;
  return new SocketError(error.code, error.op, error.message, {
    state,
    step: error.step,
    cause: error.cause ?? error,
  });
}

/**
 * The `EACCES` of a call that Deno's permissions do not allow, as both
 * backends give it: the Deno backend when Deno refuses the call, the posix
 * backend when it asks Deno's permissions before the system call. It names
 * each permission that is missing and the flag that grants it.
 *
 * @param op The socket call.
 * @param what What the call was doing, such as `"connect to [::1]:80"`.
 * @param addr The address Deno's permissions were asked about.
 * @param context The socket's state, and Deno's own refusal, if any.
 */
export function permissionDenied(
  op: SocketOp,
  what: string,
  addr: SocketAddr,
  context: OsErrorContext & { readonly denied?: Error } = {},
): SocketError {
  const missing = needs(addr).filter((need) => !isGranted(need));
  const why = missing.length === 0
    ? `Deno's permissions deny it (${context.denied?.message}); grant what that names`
    : `Deno's permissions do not grant ${
      missing.map((need) => `${need.name} access to "${target(need)}"`)
        .join(" and ")
    }; run with ${
      missing.map((need) => `--allow-${need.name}=${target(need)}`).join(" ")
    } (or ${
      missing.length > 1 ? "wider ones" : `a wider --allow-${missing[0].name}`
    })`;
  return new SocketError("EACCES", op, `Cannot ${what}: EACCES, ${why}`, {
    state: context.state,
    cause: context.denied,
  });
}

/**
 * Refuses `op` on `addr` with `EACCES` unless Deno's permissions grant what
 * Deno's own `Deno.listen()` and `Deno.connect()` ask for: net access to
 * `host:port` (`[v6]:port`); for a unix path, read and write access to it
 * and net access to `unix:<path>`. FFI bypasses Deno's sandbox, so the
 * posix backend asks before each system call that names an address;
 * `querySync()` never prompts.
 *
 * @throws {SocketError} `EACCES`, from `permissionDenied()`.
 */
export function checkPermission(
  op: SocketOp,
  what: string,
  addr: SocketAddr,
): void {
  if (granted(addr)) return;
  throw permissionDenied(op, what, addr);
}

/** Whether Deno's permissions grant what a call on `addr` needs. */
export function granted(addr: SocketAddr): boolean {
  const { permissions } = Deno;
  if (!("path" in addr)) {
    // The hot path: one query, no allocation beyond the host's name.
    const host = netHost(addr);
    return permissions.querySync({ name: "net", host }).state === "granted";
  }
  return needs(addr).every(isGranted);
}

/** The permissions Deno asks for before a call on `addr`. */
function needs(addr: SocketAddr): Deno.PermissionDescriptor[] {
  if (!("path" in addr)) return [{ name: "net", host: netHost(addr) }];
  const path = addr.path;
  return [
    { name: "read", path },
    { name: "write", path },
    { name: "net", host: `unix:${path}` },
  ];
}

function isGranted(need: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(need).state === "granted";
}

/** What a permission names: a host or a path. */
function target(need: Deno.PermissionDescriptor): string {
  if (need.name === "net") return need.host ?? "";
  if (need.name === "read" || need.name === "write") {
    return String(need.path ?? "");
  }
  return "";
}

/**
 * How Deno's permissions name an inet address: `127.0.0.1:80`, `[::1]:80`
 * (what `Deno.listen()` and `Deno.connect()` ask for).
 */
export function netHost(addr: InetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

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
 * message says what failed, the errno, and what to do. A `SocketError` is
 * passed through, given `context.state` if it has no state.
 *
 * @param error What Deno, Node.js or libc threw.
 * @param op The socket call.
 * @param what What the call was doing, such as `"bind to 127.0.0.1:80"`.
 * @param context The socket's state at the call, and the address it was
 * given (a unix path gets advice about paths, not ports).
 */
export function osError(
  error: unknown,
  op: SocketOp,
  what: string,
  context: OsErrorContext = {},
): SocketError {
  const { state, addr } = context;
  if (error instanceof SocketError) {
    return state === undefined ? error : withState(error, state);
  }
  if (error instanceof Deno.errors.NotCapable && addr !== undefined) {
    // Deno's sandbox, not the kernel: the message both backends give.
    return permissionDenied(op, what, addr, { state, denied: error });
  }
  const code = errnoOf(error);
  const detail = error instanceof Error ? ` (${error.message})` : "";
  const hint = error instanceof Deno.errors.NotCapable
    ? "Deno's permissions deny it; grant what Deno's message names"
    : addr !== undefined && "path" in addr
    ? UNIX_ADVICE[code]
    : ADVICE[code] ?? (code === "ENOENT" ? UNIX_ADVICE.ENOENT : undefined);
  const advice = hint ? `; ${hint}` : "";
  return new SocketError(
    code,
    op,
    `Cannot ${what}: ${code}${detail}${advice}`,
    { state, cause: error },
  );
}

/**
 * Why libc could not be opened, as an error of `op` (`socket` by default):
 * `EOPNOTSUPP` off Linux, `EACCES` without `--allow-ffi`.
 *
 * @param error What `openLibc()` threw.
 * @param prefix What could not be done ("Cannot create a socket with ...").
 * @param instead What to do instead, besides granting `--allow-ffi`.
 * @param op The call that needed libc.
 */
export function libcUnavailable(
  error: unknown,
  prefix: string,
  instead: string,
  op: SocketOp = "socket",
): SocketError {
  const code = errnoOf(error);
  const why = code === "EOPNOTSUPP"
    ? `it needs Linux's libc.so.6, and this is ${Deno.build.os}; ${instead}`
    : code === "EACCES"
    ? `permission to use FFI was denied; run with --allow-ffi, or ${instead}`
    : `libc.so.6 could not be opened (${
      error instanceof Error ? error.message : String(error)
    })`;
  return new SocketError(code, op, `${prefix}: ${code}, ${why}`, {
    cause: error,
  });
}
