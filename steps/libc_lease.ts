// Copyright 2026 the sockfsm authors. MIT license.
/**
 * One libc handle shared by everything that needs it now: opened by the
 * first lease, closed when the last lease is released. Deno counts an open
 * `Deno.dlopen()` as a resource, so a program (or a test) that has released
 * every lease leaves nothing open.
 *
 * @module
 */
import { type Libc, openLibc } from "./libc.ts";

/** A share of the libc handle; `release()` it once done (idempotent). */
export interface LibcLease {
  readonly libc: Libc;
  /** Gives the share back; the last one back closes the handle. */
  release(): void;
}

let shared: Libc | undefined;
let holders = 0;

/**
 * Takes a share of the libc handle, opening it if no one holds it.
 *
 * @throws {Error} What `openLibc()` throws (not Linux, no
 * `--allow-ffi`).
 */
export function leaseLibc(): LibcLease {
  const libc = shared ??= openLibc();
  holders++;
  let released = false;
  return {
    libc,
    release() {
      if (released) return;
      released = true;
      if (--holders === 0) {
        shared = undefined;
        libc.close();
      }
    },
  };
}

/** How many leases are held now; 0 means the handle is closed. */
export function libcHolders(): number {
  return holders;
}
