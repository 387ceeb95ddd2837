// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The differential check: every sequence of `predict()`'s ops up to a
 * depth, asked of the model with `predict()` and of the kernel with
 * `observe()` (a fresh real socket, through libc), compared step by step;
 * with `--connection`, `predictConnection()` against `observeConnection()`.
 * Prints the agreement per socket kind and the shortest disagreeing
 * sequences; exits 1 on any disagreement, 2 on a bad argument.
 *
 *     deno task conformance [--depth N] [--domain inet,inet6,unix]
 *                           [--type stream,dgram] [--nonblocking] [--show N]
 *                           [--connection] [--kernel NAME]
 *
 * The model answers for the kernel profile that `detectKernel()` finds for
 * the running kernel, or for the one `--kernel` names; the profile is printed
 * above the table.
 *
 * While it runs it shows how far each kind has come: on a terminal, a line
 * per kind counted in place (`inet stream 1234/4096`); elsewhere (CI logs),
 * exactly one line per kind as the kind finishes. The table follows.
 *
 * Sequences are enumerated in a fixed order and each runs on fresh sockets,
 * so a run gives the same agreement every time. A scenario whose answers
 * differ from the model's is run again (twice at most) and counts as a
 * disagreement only if it differs every time; the table says how many
 * agreed on a rerun.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Domain } from "../machine/address.ts";
import {
  CONNECTION_OPS,
  type ConnectionOp,
  predictConnection,
} from "../machine/connection.ts";
import {
  DEFAULT_KERNEL,
  type KernelName,
  kernelProfile,
} from "../machine/kernel.ts";
import { type Op, OPS, predict, type Result } from "../machine/predict.ts";
import type { SocketType } from "../machine/socket_machine.ts";
import { detectKernel } from "../steps/detect_kernel.ts";
import { leaseLibc } from "../steps/libc_lease.ts";
import { observe, observeConnection } from "../steps/observe.ts";
import { Progress, stdoutSink } from "./_progress.ts";

/** One socket kind's comparison. */
export interface KindReport {
  readonly kind: string;
  /** The scenarios run: every sequence of the full depth. */
  readonly scenarios: number;
  readonly sequences: number;
  readonly agreeing: number;
  /** Scenarios that disagreed once and agreed when run again. */
  readonly reruns: number;
  /** The shortest disagreeing sequences, with both answers. */
  readonly disagreements: {
    readonly ops: readonly string[];
    readonly model: readonly Result[];
    readonly kernel: readonly Result[];
  }[];
}

/** Told after each scenario: how many have run, of how many. */
export type OnProgress = (scenarios: number, total: number) => void;

/**
 * Compares `predict()` with `observe()` on every sequence up to `depth` for
 * one kind. Only sequences of the full depth run; each prefix is counted
 * once, with the answers the full run gave it (results of a prefix do not
 * depend on what follows it).
 */
export function compareKind(
  domain: Domain,
  type: SocketType,
  depth: number,
  nonblocking = false,
  kernel: KernelName = DEFAULT_KERNEL,
  onProgress?: OnProgress,
): Promise<KindReport> {
  return compare<Op>(
    `${domain} ${type}`,
    OPS,
    depth,
    (ops) => observe(ops, { domain, type, nonblocking }),
    (ops) => predict(ops, { domain, type, nonblocking, kernel }),
    onProgress,
  );
}

/**
 * Compares `predictConnection()` with `observeConnection()` on every
 * scenario of up to `depth` of the three sockets of a connection (listener,
 * client, accepted) in one domain.
 */
export function compareConnection(
  domain: Domain,
  depth: number,
  kernel: KernelName = DEFAULT_KERNEL,
  onProgress?: OnProgress,
): Promise<KindReport> {
  return compare<ConnectionOp>(
    `${domain} connection`,
    CONNECTION_OPS,
    depth,
    (ops) => observeConnection(ops, { domain }),
    (ops) => predictConnection(ops, { domain, kernel }),
    onProgress,
  );
}

async function compare<O extends string>(
  kind: string,
  vocabulary: readonly O[],
  depth: number,
  kernelOf: (ops: O[]) => Promise<Result[]>,
  modelOf: (ops: O[]) => Result[],
  onProgress: OnProgress = () => {},
): Promise<KindReport> {
  // One libc handle for the whole comparison: each observe() shares it.
  const lease = leaseLibc();
  const seen = new Set<string>();
  const total = vocabulary.length ** depth;
  let scenarios = 0;
  let sequences = 0;
  let agreeing = 0;
  const disagreements: KindReport["disagreements"][number][] = [];
  let reruns = 0;
  try {
    for (const ops of sequencesOf(vocabulary, depth)) {
      const model = modelOf(ops);
      let kernel = await kernelOf(ops);
      // The model is deterministic; a scenario whose answers differ is run
      // again, and counts as a disagreement only if it does so every time
      // (errno is read by a second FFI call, which the runtime's own system
      // calls can very rarely come between).
      for (
        let again = 0;
        again < 2 && kernel.join() !== model.join();
        again++
      ) {
        kernel = await kernelOf(ops);
        if (kernel.join() === model.join()) reruns++;
      }
      for (let k = 1; k <= ops.length; k++) {
        const key = ops.slice(0, k).join(" ");
        if (seen.has(key)) continue;
        seen.add(key);
        sequences++;
        const same = model.slice(0, k).join() === kernel.slice(0, k).join();
        if (same) {
          agreeing++;
        } else if (
          model.slice(0, k - 1).join() === kernel.slice(0, k - 1).join()
        ) {
          // The first op that disagrees: a shortest witness.
          disagreements.push({
            ops: ops.slice(0, k),
            model: model.slice(0, k),
            kernel: kernel.slice(0, k),
          });
        }
      }
      onProgress(++scenarios, total);
    }
  } finally {
    lease.release();
  }
  disagreements.sort((a, b) => a.ops.length - b.ops.length);
  return {
    kind,
    scenarios,
    sequences,
    agreeing,
    reruns,
    disagreements,
  };
}

/** Every sequence of exactly `depth` ops, in a fixed order. */
function* sequencesOf<O>(ops: readonly O[], depth: number): Generator<O[]> {
  const index = new Array<number>(depth).fill(0);
  for (;;) {
    yield index.map((i) => ops[i]);
    let k = depth - 1;
    while (k >= 0 && ++index[k] === ops.length) index[k--] = 0;
    if (k < 0) return;
  }
}

/** One kind to compare, run with a progress callback. */
interface Job {
  readonly kind: string;
  readonly run: (onProgress: OnProgress) => Promise<KindReport>;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      depth: { type: "string", default: "3" },
      domain: { type: "string", default: "inet,inet6,unix" },
      type: { type: "string", default: "stream,dgram" },
      show: { type: "string", default: "10" },
      nonblocking: { type: "boolean", default: false },
      connection: { type: "boolean", default: false },
      kernel: { type: "string" },
    },
  });
  const depth = Number(values.depth);
  if (!Number.isInteger(depth) || depth < 1 || depth > 6) {
    console.error(
      `--depth must be an integer from 1 to 6, got ${values.depth}`,
    );
    return 2;
  }
  const types = values.type.split(",") as SocketType[];
  for (const type of types) {
    if (type !== "stream" && type !== "dgram") {
      console.error(`--type: unknown type ${JSON.stringify(type)}`);
      return 2;
    }
  }
  const domains = values.domain.split(",") as Domain[];
  for (const domain of domains) {
    if (!["inet", "inet6", "unix"].includes(domain)) {
      console.error(`--domain: unknown domain ${JSON.stringify(domain)}`);
      return 2;
    }
  }
  let kernel: KernelName;
  let how: string;
  if (values.kernel !== undefined) {
    try {
      kernel = kernelProfile(values.kernel).name;
    } catch (error) {
      console.error(`--kernel: ${(error as Error).message}`);
      return 2;
    }
    how = "named by --kernel";
  } else {
    try {
      kernel = await detectKernel();
      how = "detected";
    } catch (error) {
      console.error(error instanceof Error ? error.message : String(error));
      return 1;
    }
  }
  const show = Number(values.show);
  const { nonblocking } = values;
  const mode = values.connection
    ? "the three sockets of a connection (listener, client, accepted)"
    : nonblocking
    ? "sockets O_NONBLOCK from creation"
    : "blocking sockets (accept and recv non-blocking)";
  console.log(
    `Kernel profile: ${kernel} (${how}): ${kernelProfile(kernel).description}`,
  );
  console.log(
    `Model against kernel: Linux ${Deno.osRelease()}, profile ${kernel}, depth ${depth}, ${mode}`,
  );
  const jobs: Job[] = values.connection
    ? domains.map((domain) => ({
      kind: `${domain} connection`,
      run: (onProgress) => compareConnection(domain, depth, kernel, onProgress),
    }))
    : types.flatMap((type) =>
      domains.map((domain): Job => ({
        kind: `${domain} ${type}`,
        run: (onProgress) =>
          compareKind(domain, type, depth, nonblocking, kernel, onProgress),
      }))
    );
  const sink = stdoutSink();
  const reports: KindReport[] = [];
  for (const { kind, run } of jobs) {
    const progress = new Progress(sink, kind);
    const started = performance.now();
    const r = await run((count, total) => progress.update(count, total));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    progress.done(
      `${r.scenarios}/${r.scenarios} scenarios in ${seconds} s: ${r.agreeing}/${r.sequences} sequences agree`,
    );
    reports.push(r);
  }
  console.log("");
  console.log("| kind | sequences | agree | agreement | agreed on a rerun |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const r of reports) {
    // Rounded down: 100.00% means every sequence agreed.
    const percent = (Math.floor(10000 * r.agreeing / r.sequences) / 100)
      .toFixed(2);
    console.log(
      `| ${r.kind} | ${r.sequences} | ${r.agreeing} | ${percent}% | ${r.reruns} |`,
    );
  }
  let failed = false;
  for (const r of reports) {
    if (r.disagreements.length === 0) continue;
    failed = true;
    console.log(`\n${r.kind}: first disagreements`);
    for (const d of r.disagreements.slice(0, show)) {
      console.log(`  ${d.ops.join(" ")}`);
      console.log(`    model:  ${d.model.join(" ")}`);
      console.log(`    kernel: ${d.kernel.join(" ")}`);
    }
  }
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
