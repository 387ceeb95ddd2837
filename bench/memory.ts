// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The heap each open connected socket holds: a few thousand pairs opened
 * and held, the heap measured after a collection before and after
 * (`Deno.memoryUsage().heapUsed`, which `--v8-flags=--expose-gc` makes
 * exact), divided by the number of sockets. `streamConnection()` on both
 * backends against the same procedure by hand with `Deno.listen` and
 * `Deno.connect`, holding its two `Deno.Conn`s; the cases take turns over a
 * few rounds and the table gives the medians.
 *
 * @module
 */
import { type Backend, streamConnection } from "../mod.ts";
import { fdLimit } from "../tools/_fds.ts";
import {
  type Context,
  count,
  type Figure,
  formatTarget,
  median,
  messageOf,
  met,
  notMeasured,
  type Target,
  within,
} from "./_report.ts";

const GROUP = "memory";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
const TARGET: Target = { below: 1.5 };
/** Descriptors kept free beyond the pairs. */
const SPARE_FDS = 200;
/** How long opening the pairs of one round may take. */
const OPEN_MS = 120_000;

/** Opens one pair and returns what closes it. */
type Opener = () => Promise<() => void>;

async function rawPair(): Promise<() => void> {
  const listener = Deno.listen(LOOPBACK);
  const accepting = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await accepting;
  listener.close();
  return () => {
    server.close();
    client.close();
  };
}

function sockfsmPair(backend: Backend): Opener {
  return async () => {
    const pair = await streamConnection({ srvrAddr: LOOPBACK, backend });
    return () => pair[Symbol.dispose]();
  };
}

function heap(gc: () => void): number {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
}

/** Bytes of heap per socket while `pairs` pairs are open. */
async function perSocket(
  open: Opener,
  pairs: number,
  gc: () => void,
): Promise<number> {
  const closers: (() => void)[] = [];
  try {
    const before = heap(gc);
    await within(
      (async () => {
        for (let i = 0; i < pairs; i++) closers.push(await open());
      })(),
      OPEN_MS,
      `opening ${pairs} pairs`,
    );
    const after = heap(gc);
    return (after - before) / (2 * pairs);
  } finally {
    for (const close of closers) close();
  }
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const names = ["deno", "posix"] as const;
  const what = (backend: string) =>
    `heap per open connected socket, \`streamConnection()\`, ${backend}`;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    return names.map((n) =>
      notMeasured(
        GROUP,
        what(n),
        "skipped",
        "needs --v8-flags=--expose-gc",
        TARGET,
      )
    );
  }
  let pairs = context.quick ? 200 : 2000;
  const { soft } = fdLimit();
  pairs = Math.min(pairs, Math.floor((soft - SPARE_FDS) / 2));
  const cases: [string, Opener][] = [
    ["raw", rawPair],
    ["deno", sockfsmPair("deno")],
    ["posix", sockfsmPair("posix")],
  ];
  const bytes = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  const errors = new Map<string, string>();
  // Warm up: code, caches and the machine's graph are built once, not per socket.
  for (const [name, open] of cases) {
    try {
      await perSocket(open, Math.min(100, pairs), gc);
    } catch (error) {
      errors.set(name, messageOf(error));
    }
  }
  const rounds = Math.min(context.rounds, context.quick ? 1 : 3);
  for (let round = 0; round < rounds; round++) {
    context.log(
      `${GROUP}: round ${round + 1} of ${rounds}, ${pairs} pairs per case`,
    );
    for (let i = 0; i < cases.length; i++) {
      const [name, open] = cases[(i + round) % cases.length];
      if (errors.has(name)) continue;
      try {
        bytes.get(name)!.push(await perSocket(open, pairs, gc));
      } catch (error) {
        errors.set(name, messageOf(error));
      }
    }
  }
  const rawError = errors.get("raw");
  return names.map((name) => {
    const error = errors.get(name);
    if (error) return notMeasured(GROUP, what(name), "failed", error, TARGET);
    if (rawError) {
      return notMeasured(
        GROUP,
        what(name),
        "failed",
        `baseline: ${rawError}`,
        TARGET,
      );
    }
    const ours = median(bytes.get(name)!);
    const theirs = median(bytes.get("raw")!);
    const ratio = ours / theirs;
    return {
      group: GROUP,
      what: `${what(name)} (${count(pairs)} pairs)`,
      sockfsm: `${count(ours)} B`,
      baseline: `raw \`Deno.Conn\`: ${count(theirs)} B`,
      ratio: `${ratio.toFixed(2)}×`,
      target: formatTarget(TARGET),
      met: met(ratio, TARGET),
    };
  });
}
