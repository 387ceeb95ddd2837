// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Load test of `streamConnection()` on loopback:
 *
 *     deno task stress [--size small|full] [--backend deno|posix|both]
 *
 * For each backend: rounds of concurrent procedures, each pair exchanging
 * 1 KiB both ways (checked byte for byte), then sequential procedures
 * (both sockets closed each time). Full size: 1,000 concurrent × 5 rounds,
 * then 100,000 sequential; small (CI): 100 × 2, then 2,000.
 *
 * Reports the errors (must be 0), the descriptors left open (counted before
 * and after: must be 0), heap and RSS (`Deno.memoryUsage()`) at the start,
 * after the concurrent rounds, halfway through the sequential run and at the
 * end (the heap after a collection, which the task's
 * `--v8-flags=--expose-gc` allows), and the rates. Exits 1 on any error or
 * leak, 2 on bad arguments or a descriptor limit it cannot raise.
 *
 * The concurrent rounds hold three descriptors per pair at their peak; the
 * tool raises its soft `RLIMIT_NOFILE` to what it needs, up to the hard
 * limit, through libc (`--allow-ffi`), and otherwise says which
 * `ulimit -n` to run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Backend } from "../steps/backend.ts";
import {
  type StreamConnection,
  streamConnection,
} from "../steps/stream_connection.ts";
import { baselineFds, fdLimit, raiseFdLimit, steadyFds } from "./_fds.ts";
import { Progress, stdoutSink } from "./_progress.ts";

/** How much load one run puts on each backend. */
interface Size {
  readonly concurrent: number;
  readonly rounds: number;
  readonly sequential: number;
}

const SIZES: Readonly<Record<"small" | "full", Size>> = {
  small: { concurrent: 100, rounds: 2, sequential: 2_000 },
  full: { concurrent: 1_000, rounds: 5, sequential: 100_000 },
};
/** Bytes each end of a concurrent pair sends to the other. */
const EXCHANGE = 1024;
/** Descriptors beyond the pairs: the runtime's own, stdio, slack. */
const SPARE_FDS = 200;
/** How many error messages to print; the rest are only counted. */
const SHOWN_ERRORS = 5;
const SRVR_ADDR = { hostname: "127.0.0.1", port: 0 } as const;

/** Heap and RSS at one moment of the run. */
interface Sample {
  readonly at: string;
  readonly heapUsed: number;
  readonly rss: number;
}

/** The live heap: collected first where `--v8-flags=--expose-gc` allows. */
function sample(at: string): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { at, heapUsed, rss };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `length` bytes that differ from one offset to the next, by `seed`. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Receives exactly `length` bytes, or fewer if the stream ends first. */
async function recvExactly(
  pair: StreamConnection,
  end: "srvrS" | "clntS",
  length: number,
): Promise<Uint8Array> {
  const got = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await pair[end].recvInto(got.subarray(at));
    if (n === 0) return got.subarray(0, at);
    at += n;
  }
  return got;
}

/** Counts errors and keeps the first few messages. */
class Errors {
  count = 0;
  readonly shown: string[] = [];

  add(what: string, error: unknown): void {
    this.count++;
    if (this.shown.length < SHOWN_ERRORS) {
      this.shown.push(`${what}: ${(error as Error)?.message ?? error}`);
    }
  }
}

/** One procedure whose pair sends `EXCHANGE` bytes each way and checks them. */
async function exchange(
  backend: Backend,
  seed: number,
  errors: Errors,
): Promise<void> {
  let pair: StreamConnection;
  try {
    pair = await streamConnection({ srvrAddr: SRVR_ADDR, backend });
  } catch (error) {
    errors.add("streamConnection()", error);
    return;
  }
  try {
    const toSrvr = pattern(EXCHANGE, seed);
    const toClnt = pattern(EXCHANGE, seed + 1);
    const [, , atSrvr, atClnt] = await Promise.all([
      pair.clntS.send(toSrvr),
      pair.srvrS.send(toClnt),
      recvExactly(pair, "srvrS", EXCHANGE),
      recvExactly(pair, "clntS", EXCHANGE),
    ]);
    if (!same(atSrvr, toSrvr) || !same(atClnt, toClnt)) {
      errors.add("exchange", new Error("the bytes received differ"));
    }
  } catch (error) {
    errors.add("exchange", error);
  } finally {
    pair[Symbol.dispose]();
  }
}

/** What one backend's run found. */
interface Outcome {
  readonly backend: Backend;
  readonly errors: number;
  readonly leaked: number;
}

async function run(backend: Backend, size: Size): Promise<Outcome> {
  const errors = new Errors();
  // Warm up: the runtime opens some descriptors of its own on first use.
  await exchange(backend, 0, errors);
  const fdsBefore = await baselineFds();
  const samples: Sample[] = [sample("start")];

  const concurrentStart = performance.now();
  for (let round = 0; round < size.rounds; round++) {
    const calls: Promise<void>[] = [];
    for (let i = 0; i < size.concurrent; i++) {
      calls.push(exchange(backend, round * size.concurrent + i, errors));
    }
    await Promise.all(calls);
  }
  const concurrentMs = performance.now() - concurrentStart;
  samples.push(sample("after the concurrent rounds"));

  console.log(`== ${backend} backend`);
  const pairs = size.concurrent * size.rounds;
  console.log(
    `  concurrent: ${size.rounds} rounds of ${size.concurrent} procedures, ${EXCHANGE} B each way: ${
      (concurrentMs / 1000).toFixed(1)
    } s, ${(pairs / concurrentMs * 1000).toFixed(0)} pairs/s`,
  );
  // On a terminal, the count goes on rewriting this line.
  const progress = new Progress(stdoutSink(), "  sequential:");
  const sequentialStart = performance.now();
  const half = Math.floor(size.sequential / 2);
  for (let i = 0; i < size.sequential; i++) {
    progress.update(i, size.sequential);
    if (i === half) samples.push(sample("halfway through the sequential run"));
    try {
      using _pair = await streamConnection({ srvrAddr: SRVR_ADDR, backend });
    } catch (error) {
      errors.add("streamConnection()", error);
    }
  }
  const sequentialMs = performance.now() - sequentialStart;
  samples.push(sample("end"));
  const leaked = await steadyFds() - fdsBefore;

  progress.done(
    `${size.sequential} procedures: ${(sequentialMs / 1000).toFixed(1)} s, ${
      (size.sequential / sequentialMs * 1000).toFixed(0)
    } procedures/s`,
  );
  for (const { at, heapUsed, rss } of samples) {
    console.log(`  heap ${mib(heapUsed)}, RSS ${mib(rss)}: ${at}`);
  }
  console.log(`  errors: ${errors.count}`);
  for (const shown of errors.shown) console.log(`    ${shown}`);
  console.log(`  descriptors leaked: ${leaked} (${fdsBefore} open before)`);
  return { backend, errors: errors.count, leaked };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: "string", default: "full" },
      backend: { type: "string", default: "both" },
    },
  });
  if (values.size !== "small" && values.size !== "full") {
    console.error(`--size: use small or full, not ${values.size}`);
    return 2;
  }
  const backends: Backend[] = values.backend === "both"
    ? ["deno", "posix"]
    : values.backend === "deno" || values.backend === "posix"
    ? [values.backend]
    : [];
  if (backends.length === 0) {
    console.error(`--backend: use deno, posix or both, not ${values.backend}`);
    return 2;
  }
  const size = SIZES[values.size];
  const needed = 3 * size.concurrent + SPARE_FDS;
  const before = fdLimit().soft;
  const problem = raiseFdLimit(needed);
  if (problem) {
    console.error(`${problem}, or use --size small`);
    return 2;
  }
  if (before < needed) {
    console.log(`raised the descriptor limit from ${before} to ${needed}`);
  }
  console.log(
    `stress (${values.size}): ${size.concurrent} concurrent × ${size.rounds} rounds, then ${size.sequential} sequential, on ${
      backends.join(" and ")
    }; Deno ${Deno.version.deno}, Linux ${Deno.osRelease()}`,
  );
  let failed = false;
  for (const backend of backends) {
    const { errors, leaked } = await run(backend, size);
    if (errors > 0 || leaked !== 0) failed = true;
  }
  console.log(failed ? "stress: FAILED" : "stress: ok (no error, no leak)");
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
