// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The file descriptor behind a Deno or `node:*` object, for the socket
 * options Deno cannot set or read (with `--allow-ffi` only). Deno exposes no
 * descriptor, so this process's descriptors are looked through
 * (`/proc/self/fd` when it may be read, else 0 to 1023) for the one socket
 * whose type, local address and peer are the object's. When several match
 * (two sockets sharing a port with `SO_REUSEPORT`, or unix connections
 * accepted from one listener, which all have the same two names), none is
 * taken.
 *
 * @module
 */
import type { SocketAddr } from "../machine/address.ts";
import {
  type Libc,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  sysGetpeername,
  sysGetsockname,
  sysGetsockoptInt,
} from "./libc.ts";
import { decodeSockaddr, encodeSockaddr } from "./sockaddr.ts";

/** What tells a socket's descriptor from the others. */
export interface FdIdentity {
  readonly type: "stream" | "dgram";
  /** What `getsockname(2)` says. */
  readonly local: SocketAddr;
  /** What `getpeername(2)` says; `undefined`: it fails (no peer). */
  readonly remote: SocketAddr | undefined;
}

/** Whether `--allow-ffi` is granted (asked without a prompt). */
export function ffiGranted(): boolean {
  return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}

/**
 * The descriptor of the socket `id` names: its number, or `"none"` when no
 * descriptor matches, `"many"` when more than one does.
 */
export function findSocketFd(
  libc: Libc,
  id: FdIdentity,
): number | "none" | "many" {
  const wanted = canonical(id);
  let found: number | "none" = "none";
  for (const fd of candidates()) {
    if (!matches(libc, fd, wanted)) continue;
    if (found !== "none") return "many";
    found = fd;
  }
  return found;
}

/**
 * Whether `fd` is still the socket `id` names (a descriptor found earlier
 * may have been closed and its number reused).
 */
export function isSocketFd(libc: Libc, fd: number, id: FdIdentity): boolean {
  return matches(libc, fd, canonical(id));
}

/** The descriptor numbers to look through. */
function candidates(): Iterable<number> {
  const dir = "/proc/self/fd";
  if (
    Deno.permissions.querySync({ name: "read", path: dir }).state === "granted"
  ) {
    try {
      return [...Deno.readDirSync(dir)].map((entry) => Number(entry.name))
        .filter(Number.isInteger).sort((a, b) => a - b);
    } catch {
      // Not Linux's procfs: look through the usual range instead.
    }
  }
  return Array.from({ length: 1024 }, (_, fd) => fd);
}

/** An address as `getsockname(2)` would decode it, for comparison. */
function canonicalAddr(addr: SocketAddr): string {
  const bytes = "path" in addr ? undefined : encodeSockaddr(addr);
  const decoded = bytes ? decodeSockaddr(bytes, bytes.length) : addr;
  return JSON.stringify(decoded);
}

interface Wanted {
  readonly type: number;
  readonly local: string;
  readonly remote: string | undefined;
}

function canonical(id: FdIdentity): Wanted {
  return {
    type: id.type === "stream" ? SOCK_STREAM : SOCK_DGRAM,
    local: canonicalAddr(id.local),
    remote: id.remote && canonicalAddr(id.remote),
  };
}

function matches(libc: Libc, fd: number, wanted: Wanted): boolean {
  const type = sysGetsockoptInt(libc, fd, SOL_SOCKET, SO_TYPE);
  if (!type.ok || type.value !== wanted.type) return false;
  const local = sysGetsockname(libc, fd);
  if (!local.ok || local.value === undefined) return false;
  if (JSON.stringify(local.value) !== wanted.local) return false;
  const remote = sysGetpeername(libc, fd);
  if (wanted.remote === undefined) return !remote.ok;
  return remote.ok && remote.value !== undefined &&
    JSON.stringify(remote.value) === wanted.remote;
}
