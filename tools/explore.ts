// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Model-checks the socket machine from the command line:
 *
 *     deno task explore [--domain inet] [--type stream] [--depth 6]
 *                       [--nonblocking] [--connection] [--json]
 *                       [--kernel classic] [--time]
 *
 * With `--connection`, the three sockets of `streamConnection()` are
 * explored together, and the errnos are the procedure's misorderings.
 *
 * It prints the counts (exact at any depth), every reachable state with a
 * shortest scenario, every errno a call can give with a shortest scenario,
 * and the violated built-in invariants with shortest counterexamples;
 * `--json` prints the whole report, with the counts as decimal strings
 * (JSON numbers would round them).
 * Exits 1 when an invariant is violated.
 *
 * With `--time`, it prints only how long the exploration takes, as one
 * JSON line: `firstMs`, the first call in this process (XState's
 * interpreter and the JIT warming up, the graph built), and `warmMs`, the
 * median of 10 calls after it. A fresh `deno run` per figure measures a
 * program's first call:
 *
 *     deno run tools/explore.ts --domain inet --type dgram --depth 8 --time
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Domain } from "../machine/address.ts";
import { exploreConnection } from "../machine/connection.ts";
import { explore } from "../machine/explore.ts";
import { type KernelName, kernelProfile } from "../machine/kernel.ts";
import type { Path } from "../machine/walk.ts";
import type { SocketType } from "../machine/socket_machine.ts";

function show({ ops, results }: Path<string>): string {
  if (ops.length === 0) return "(a fresh socket)";
  return ops.map((op, i) => `${op}=${results[i]}`).join(" ");
}

/** A `JSON.stringify` replacer that writes a bigint as its decimal text. */
function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? String(value) : value;
}

function main(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      domain: { type: "string", default: "inet" },
      type: { type: "string", default: "stream" },
      depth: { type: "string", default: "6" },
      nonblocking: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      connection: { type: "boolean", default: false },
      kernel: { type: "string" },
      time: { type: "boolean", default: false },
    },
  });
  const domain = values.domain as Domain;
  const type = values.type as SocketType;
  if (!["inet", "inet6", "unix"].includes(domain)) {
    console.error(`--domain: use inet, inet6 or unix, not ${domain}`);
    return 2;
  }
  if (type !== "stream" && type !== "dgram") {
    console.error(`--type: use stream or dgram, not ${type}`);
    return 2;
  }
  let kernel: KernelName;
  try {
    kernel = kernelProfile(values.kernel).name;
  } catch (error) {
    console.error(`--kernel: ${(error as Error).message}`);
    return 2;
  }
  const depth = Number(values.depth);
  const run = () =>
    values.connection ? exploreConnection({ domain, depth, kernel }) : explore({
      domain,
      type,
      depth,
      nonblocking: values.nonblocking,
      kernel,
    });
  const start = performance.now();
  let report;
  try {
    report = run();
  } catch (error) {
    console.error(`--depth: ${(error as Error).message}`);
    return 2;
  }
  const ms = performance.now() - start;
  if (values.time) {
    const warm: number[] = [];
    for (let i = 0; i < 10; i++) {
      const at = performance.now();
      run();
      warm.push(performance.now() - at);
    }
    warm.sort((a, b) => a - b);
    console.log(JSON.stringify({ firstMs: ms, warmMs: warm[5] }));
    return 0;
  }
  if (values.json) {
    // The counts are exact bigints, which JSON has no notation for: they
    // are written as decimal strings.
    console.log(JSON.stringify(report, bigintAsString, 2));
    return report.violations.length > 0 ? 1 : 0;
  }
  const kind = `${
    values.connection
      ? `${domain} connection (listener/client/accepted)`
      : `${domain} ${type}${values.nonblocking ? ", O_NONBLOCK" : ""}`
  }, kernel profile ${kernel}`;
  console.log(`${kind}, depth ${depth}: explored in ${ms.toFixed(0)} ms`);
  console.log(
    `  ${report.sequences} scenarios (${report.legal} with no errno, ${report.illegal} with a call answered by an errno), ${report.snapshots} distinct snapshots`,
  );
  console.log("\nStates, each with a shortest scenario:");
  for (const { state, witness } of report.states) {
    console.log(`  ${state.padEnd(14)} ${show(witness)}`);
  }
  console.log("\nErrnos, each with a shortest scenario:");
  for (const { op, errno, witness } of report.errors) {
    console.log(`  ${`${op} ${errno}`.padEnd(28)} ${show(witness)}`);
  }
  if ("overlaps" in report) {
    console.log("\nCalls made while another call's effect is in flight:");
    for (const { state, op, answers } of report.overlaps) {
      console.log(
        `  ${state.padEnd(14)} ${op.padEnd(16)} ${answers.join(" ")}`,
      );
    }
  }
  console.log("\nInvariants:");
  if (report.violations.length === 0) console.log("  all hold");
  for (const { invariant, witness } of report.violations) {
    console.log(`  VIOLATED ${invariant}: ${show(witness)}`);
  }
  return report.violations.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
