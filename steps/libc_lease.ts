// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The process's libc: resolved once, the first time a lease is taken, and
 * usable for the rest of the process without holding any Deno resource.
 *
 * `Deno.dlopen()` builds a fast-call function per symbol (5 to 10 ms for
 * libc's socket calls) and counts the library as an open resource, which a
 * test must close before it ends. So libc is opened once, its functions are
 * kept, and the library is closed at once: each synchronous function holds
 * its own symbol and trampoline (Deno's `FunctionData`), not the library, and
 * libc stays mapped, since Deno links it and libc's own `dlopen` marks it
 * `RTLD_NODELETE` first. What a closed library cannot do is a call declared
 * `nonblocking`, which Deno looks up through the library's resource: the one
 * call that needs a thread of Deno's pool, `epoll_wait(2)` for the posix
 * reactor, is a `Deno.UnsafeFnPointer` to libc's own symbol instead.
 *
 * A lease is a share in that handle: it checks, each time, that this is
 * Linux and that FFI is allowed now, as opening libc would; `release()`
 * gives the share back, and `libcHolders()` counts those not given back (a
 * socket left open).
 *
 * @module
 */
import { ffiRefusal, type Libc, openLibc, requireLinux } from "./libc.ts";

/** A share of the libc handle; `release()` it once done (idempotent). */
export interface LibcLease {
  readonly libc: Libc;
  /** Gives the share back (the handle itself stays resolved). */
  release(): void;
}

/** The process's libc and its one call made on Deno's thread pool. */
export interface ProcessLibc {
  readonly libc: Libc;
  /**
   * `epoll_wait(epfd, events, maxevents, timeout)` on a thread of Deno's
   * pool: a promise of its result; `events` must stay untouched until then.
   * A failure's errno was set on that thread and cannot be read here.
   */
  readonly epollWaitAsync: (
    epfd: number,
    events: Uint8Array<ArrayBuffer>,
    maxevents: number,
    timeout: number,
  ) => Promise<number>;
}

let resolved: ProcessLibc | undefined;
let holders = 0;

/** `epoll_wait(2)`, called on a thread of Deno's pool. */
const EPOLL_WAIT_ASYNC = {
  parameters: ["i32", "buffer", "i32", "i32"],
  result: "i32",
  nonblocking: true,
} as const;

/** `RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE` */
const PIN = 0x2 | 0x4 | 0x1000;

const DL_SYMBOLS = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer", optional: true },
  dlsym: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
    optional: true,
  },
} as const;

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/**
 * The process's libc, resolved on first use.
 *
 * @throws {Error} What `openLibc()` throws (not Linux, no `--allow-ffi`),
 * checked on every call.
 */
export function processLibc(): ProcessLibc {
  if (resolved !== undefined) {
    checkAllowed();
    return resolved;
  }
  const library = openLibc();
  try {
    const epollWait = pinnedSymbol("epoll_wait") as Deno.PointerObject<
      Omit<typeof EPOLL_WAIT_ASYNC, "nonblocking">
    >;
    const call = new Deno.UnsafeFnPointer(epollWait, EPOLL_WAIT_ASYNC);
    // The symbols outlive the library's resource; close() and dispose are
    // no-ops on this handle, which is the process's.
    const libc = {
      symbols: library.symbols,
      close() {},
      [Symbol.dispose]() {},
    } as Libc;
    resolved = {
      libc,
      epollWaitAsync: (epfd, events, maxevents, timeout) =>
        call.call(epfd, events, maxevents, timeout),
    };
    return resolved;
  } finally {
    library.close();
  }
}

/**
 * The address of libc's `name`, after marking libc `RTLD_NODELETE` (glibc
 * 2.34 and later have `dlopen` in libc itself; older ones in libdl).
 */
function pinnedSymbol(name: string): Deno.PointerObject {
  let dl = Deno.dlopen("libc.so.6", DL_SYMBOLS);
  try {
    if (dl.symbols.dlopen === null || dl.symbols.dlsym === null) {
      dl.close();
      dl = Deno.dlopen("libdl.so.2", DL_SYMBOLS);
    }
    const handle = dl.symbols.dlopen!(cString("libc.so.6"), PIN);
    const symbol = handle && dl.symbols.dlsym!(handle, cString(name));
    if (!symbol) {
      throw new Error(`Cannot find ${name} in libc.so.6 (dlsym failed)`);
    }
    return symbol;
  } finally {
    dl.close();
  }
}

/**
 * Throws what `openLibc()` would throw now: off Linux, or when FFI is not
 * allowed. The check is Deno's cheapest FFI operation, which asks for the
 * permission (and may prompt) as every FFI call through a pointer does.
 */
function checkAllowed(): void {
  requireLinux();
  try {
    Deno.UnsafePointer.create(0n);
  } catch (error) {
    throw ffiRefusal(error) ?? error;
  }
}

/**
 * Takes a share of the process's libc, resolving it on first use.
 *
 * @throws {Error} What `openLibc()` throws (not Linux, no `--allow-ffi`).
 */
export function leaseLibc(): LibcLease {
  return share(processLibc().libc);
}

/**
 * Another share of the handle `lease` holds, without the checks: for a
 * socket that an existing one made (an accepted connection).
 */
export function shareLibc(lease: LibcLease): LibcLease {
  return share(lease.libc);
}

function share(libc: Libc): LibcLease {
  holders++;
  let released = false;
  return {
    libc,
    release() {
      if (released) return;
      released = true;
      holders--;
    },
  };
}

/** How many leases are held now; 0 means no socket holds libc. */
export function libcHolders(): number {
  return holders;
}
