// Copyright 2026 the sockfsm authors. MIT license.
import type { SysSocket, SysSocketKind } from "../machine/effects.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import { denoSocket } from "./deno_backend.ts";
import { posixSocket } from "./posix_backend.ts";

/**
 * What performs a socket's system calls:
 *
 * - `"deno"`: Deno's own network API. Needs only `--allow-net` (and
 *   `--allow-read --allow-write` for unix paths); a few steps are
 *   approximations (see the README).
 * - `"posix"`: each call is the matching libc call through FFI, exactly as
 *   in C. Needs `--allow-ffi` and Linux.
 */
export type Backend = "deno" | "posix";

/**
 * Checks a `backend` option.
 *
 * @param backend What the caller passed; `undefined` is `"deno"`.
 * @param op The call, for the error.
 * @returns The backend.
 * @throws {SocketError} `EINVAL` for anything but `"deno"` and `"posix"`.
 */
export function checkBackend(backend: unknown, op: SocketOp): Backend {
  if (backend === undefined) return "deno";
  if (backend === "deno" || backend === "posix") return backend;
  const shown = typeof backend === "string"
    ? JSON.stringify(backend)
    : typeof backend === "object" && backend !== null
    ? "an object"
    : String(backend);
  throw new SocketError(
    "EINVAL",
    op,
    `Cannot use backend ${shown}: use "deno" (Deno's network API) or "posix" (libc through FFI)`,
  );
}

/**
 * Creates the system side of a socket of `kind` with `backend`. Only
 * `"posix"` opens libc.
 */
export function createSysSocket(
  backend: Backend,
  kind: SysSocketKind,
): SysSocket {
  return backend === "posix" ? posixSocket(kind) : denoSocket(kind);
}
