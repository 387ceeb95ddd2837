// Copyright 2026 the sockfsm authors. MIT license.
/**
 * This process's open descriptors and its descriptor limit, through libc
 * (`--allow-ffi`, Linux): Deno refuses to list `/proc/self/fd` without
 * `--allow-all`, so the descriptors are counted with `fcntl(fd, F_GETFD)`.
 * Shared by `tools/stress.ts` and the fault tests.
 *
 * @module
 */

const SYMBOLS = {
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
} as const;
const RLIMIT_NOFILE = 7;
const F_GETFD = 1;
/** Descriptors counted at most, where the limit is higher (or unlimited). */
const MAX_COUNTED = 1 << 20;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

function withLibc<T>(use: (lib: Lib) => T): T {
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  try {
    return use(lib);
  } finally {
    lib.close();
  }
}

/** The soft and hard `RLIMIT_NOFILE` (`Infinity` for `RLIM_INFINITY`). */
export interface FdLimit {
  readonly soft: number;
  readonly hard: number;
}

function readLimit(lib: Lib): { limit: FdLimit; raw: BigUint64Array } {
  const raw = new BigUint64Array(2); // struct rlimit { rlim_cur, rlim_max }
  if (lib.symbols.getrlimit(RLIMIT_NOFILE, new Uint8Array(raw.buffer)) !== 0) {
    throw new Error("Cannot read the descriptor limit: getrlimit(2) failed");
  }
  const toNumber = (n: bigint) =>
    n > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(n);
  return { limit: { soft: toNumber(raw[0]), hard: toNumber(raw[1]) }, raw };
}

/** This process's descriptor limit. */
export function fdLimit(): FdLimit {
  return withLibc((lib) => readLimit(lib).limit);
}

/** How many descriptors this process has open now. */
export function openFds(): number {
  return withLibc((lib) => {
    const end = Math.min(readLimit(lib).limit.soft, MAX_COUNTED);
    let open = 0;
    for (let fd = 0; fd < end; fd++) {
      if (lib.symbols.fcntl(fd, F_GETFD, 0) !== -1) open++;
    }
    return open;
  });
}

/**
 * Raises the soft descriptor limit to `needed` if it is lower, up to the
 * hard limit. Returns what went wrong, with what to do, or `undefined`.
 */
export function raiseFdLimit(needed: number): string | undefined {
  return withLibc((lib) => {
    const { limit, raw } = readLimit(lib);
    if (limit.soft >= needed) return undefined;
    if (limit.hard < needed) {
      return `The descriptor limit is ${limit.soft} (hard limit ${limit.hard}) and this run needs ${needed}: raise the hard limit (as root, or in /etc/security/limits.conf), then run \`ulimit -n ${needed}\` before the task`;
    }
    raw[0] = BigInt(needed);
    if (
      lib.symbols.setrlimit(RLIMIT_NOFILE, new Uint8Array(raw.buffer)) !== 0
    ) {
      return `Cannot raise the descriptor limit from ${limit.soft} to ${needed}: run \`ulimit -n ${needed}\` before the task`;
    }
    return undefined;
  });
}

/**
 * Deno opens a descriptor pair of its own about half a second after the
 * process starts; a count taken before then would see it as a leak.
 */
const RUNTIME_SETTLED_MS = 1500;

/** How many equal counts, 20 ms apart, make a steady count. */
const STEADY_SAMPLES = 3;
/** Gives up waiting for a steady count after this many samples. */
const MAX_SAMPLES = 50;

/**
 * {@linkcode openFds} once it holds still: the same over a few samples
 * 20 ms apart (at most a second), so that a descriptor the runtime opens
 * for an instant (a resolver's socket on one of its threads) is not counted.
 */
export async function steadyFds(): Promise<number> {
  let count = openFds();
  let same = 1;
  for (let i = 0; i < MAX_SAMPLES && same < STEADY_SAMPLES; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = openFds();
    same = now === count ? same + 1 : 1;
    count = now;
  }
  return count;
}

/**
 * {@linkcode steadyFds}, once the runtime has opened what it opens on its
 * own, so that a later count differs only by what the caller opened.
 */
export async function baselineFds(): Promise<number> {
  const wait = RUNTIME_SETTLED_MS - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return await steadyFds();
}
