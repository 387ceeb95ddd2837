// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The differential check: every sequence of {@linkcode predict}'s ops up to
 * a depth, run on a fresh real socket through libc and predicted by the
 * model, compared step by step. Prints the agreement per socket kind and the
 * shortest disagreeing sequences; exits 1 on any disagreement.
 *
 *     deno task conformance [--depth N] [--domain inet,inet6,unix]
 *                           [--type stream,dgram] [--nonblocking] [--show N]
 *                           [--connection] [--kernel NAME]
 *
 * The model answers for the kernel profile that `detectKernel()` finds for
 * the running kernel, or for the one `--kernel` names; the profile is printed
 * above the table.
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
import { CONNECTION_OPS, predictConnection } from "../machine/connection.ts";
import {
  DEFAULT_KERNEL,
  type KernelName,
  kernelProfile,
} from "../machine/kernel.ts";
import { OPS, predict, type Result } from "../machine/predict.ts";
import type { SocketType } from "../machine/socket_machine.ts";
import { runConnection } from "../steps/connection_harness.ts";
import { detectKernelNow } from "../steps/detect_kernel.ts";
import { runScenario } from "../steps/harness.ts";
import { type Libc, openLibc } from "../steps/libc.ts";

/** One socket kind's comparison. */
export interface KindReport {
  readonly kind: string;
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

/**
 * Compares model and kernel on every sequence up to `depth` for one kind.
 * Only sequences of the full depth run; each prefix is counted once, with
 * the answers the full run gave it (results of a prefix do not depend on
 * what follows it).
 */
export function compareKind(
  domain: Domain,
  type: SocketType,
  depth: number,
  nonblocking = false,
  kernel: KernelName = DEFAULT_KERNEL,
): KindReport {
  return compare(
    `${domain} ${type}`,
    OPS,
    depth,
    (libc, ops) => runScenario(libc, ops, { domain, type, nonblocking }),
    (ops) => predict(ops, { domain, type, nonblocking, kernel }),
  );
}

/**
 * Compares model and kernel on every scenario of up to `depth` of the three
 * sockets of a connection (listener, client, accepted) in one domain.
 */
export function compareConnection(
  domain: Domain,
  depth: number,
  kernel: KernelName = DEFAULT_KERNEL,
): KindReport {
  return compare(
    `${domain} connection`,
    CONNECTION_OPS,
    depth,
    (libc, ops) => runConnection(libc, ops, domain),
    (ops) => predictConnection(ops, { domain, kernel }),
  );
}

function compare<O extends string>(
  kind: string,
  vocabulary: readonly O[],
  depth: number,
  kernelOf: (libc: Libc, ops: O[]) => Result[],
  modelOf: (ops: O[]) => Result[],
): KindReport {
  using libc = openLibc();
  const seen = new Set<string>();
  let sequences = 0;
  let agreeing = 0;
  const disagreements: KindReport["disagreements"][number][] = [];
  let reruns = 0;
  for (const ops of sequencesOf(vocabulary, depth)) {
    const model = modelOf(ops);
    let kernel = kernelOf(libc, ops);
    // The model is deterministic; a scenario whose answers differ is run
    // again, and counts as a disagreement only if it does so every time
    // (errno is read by a second FFI call, which the runtime's own system
    // calls can very rarely come between).
    for (let again = 0; again < 2 && kernel.join() !== model.join(); again++) {
      kernel = kernelOf(libc, ops);
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
  }
  disagreements.sort((a, b) => a.ops.length - b.ops.length);
  return {
    kind,
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

function main(args: string[]): number {
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
      kernel = detectKernelNow();
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
  console.log("");
  console.log("| kind | sequences | agree | agreement | agreed on a rerun |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  const reports = values.connection
    ? domains.map((domain) => compareConnection(domain, depth, kernel))
    : types.flatMap((type) =>
      domains.map((domain) =>
        compareKind(domain, type, depth, nonblocking, kernel)
      )
    );
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

if (import.meta.main) Deno.exit(main(Deno.args));
