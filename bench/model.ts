// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The model without I/O: `predict()`'s rate on a server's five-op life,
 * and `explore()` at depth 8 for each socket kind, both on a program's
 * first call (each in a fresh child process, the module already loaded,
 * the median of a few processes) and warm (the median of a few calls in
 * this process, after three). Run as a program, this file is that child:
 *
 *     deno run bench/model.ts DOMAIN TYPE
 *
 * prints the milliseconds `explore()` took.
 *
 * @module
 */
import { explore, type Op, predict } from "../mod.ts";
import {
  type Context,
  count,
  duration,
  type Figure,
  median,
  messageOf,
  notMeasured,
  oneLine,
  pairedRounds,
  rate,
  within,
} from "./_report.ts";

const GROUP = "model";
const DEPTH = 8;
const KINDS = [
  ["inet", "stream"],
  ["inet6", "stream"],
  ["unix", "stream"],
  ["inet", "dgram"],
  ["inet6", "dgram"],
  ["unix", "dgram"],
] as const;
type Kind = typeof KINDS[number];
const SCENARIO: readonly Op[] = [
  "bind",
  "listen",
  "peer_connect",
  "accept",
  "accept",
];
const FIRST_CALL_MS = 100;
const CHILD_MS = 20_000;

/** `explore()`'s first call in a fresh process, in milliseconds. */
async function firstCall([domain, type]: Kind): Promise<number> {
  const { code, stdout, stderr } = await within(
    new Deno.Command("deno", {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        new URL(import.meta.url).pathname,
        domain,
        type,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(CHILD_MS),
    }).output(),
    CHILD_MS + 1000,
    "the explore() child",
  );
  const text = new TextDecoder();
  if (code !== 0) {
    throw new Error(
      `the child exited with ${code}: ${oneLine(text.decode(stderr))}`,
    );
  }
  const ms = Number(text.decode(stdout).trim());
  if (!(ms > 0)) throw new Error(`the child printed ${text.decode(stdout)}`);
  return ms;
}

/** `explore()`'s time once warm: the median of `n` calls after three. */
function warm([domain, type]: Kind, n: number): number {
  for (let i = 0; i < 3; i++) explore({ domain, type, depth: DEPTH });
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    explore({ domain, type, depth: DEPTH });
    times.push(performance.now() - start);
  }
  return median(times);
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const figures: Figure[] = [];
  const outcomes = await pairedRounds(context, GROUP, [{
    name: "predict",
    measure(ms) {
      let calls = 0;
      const start = performance.now();
      let now = start;
      while (now - start < ms) {
        for (let i = 0; i < 100; i++) predict(SCENARIO);
        calls += 100;
        now = performance.now();
      }
      return Promise.resolve(calls / (now - start) * 1000);
    },
  }]);
  const predicted = outcomes.get("predict")!;
  const predictWhat = `\`predict()\`, a ${SCENARIO.length}-op scenario`;
  figures.push(
    "error" in predicted
      ? notMeasured(GROUP, predictWhat, "failed", predicted.error)
      : {
        group: GROUP,
        what: predictWhat,
        sockfsm: `${rate(median(predicted.rates))} (${
          count(median(predicted.rates) * SCENARIO.length)
        } ops/s)`,
        baseline: "—",
        ratio: "—",
        target: "—",
        met: "—",
      },
  );

  const processes = context.quick ? 1 : 3;
  const kinds = context.quick ? KINDS.slice(0, 1) : KINDS;
  const first = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
  const errors = new Map<Kind, string>();
  for (let round = 0; round < processes; round++) {
    context.log(
      `${GROUP}: explore() first calls, round ${round + 1} of ${processes}`,
    );
    for (const kind of kinds) {
      if (errors.has(kind)) continue;
      try {
        first.get(kind)!.push(await firstCall(kind));
      } catch (error) {
        errors.set(kind, messageOf(error));
      }
    }
  }
  for (const kind of kinds) {
    const what = `\`explore()\` depth ${DEPTH}, ${kind[0]} ${
      kind[1]
    }: first call (fresh process), against warm`;
    const target = `first < ${FIRST_CALL_MS} ms`;
    const error = errors.get(kind);
    const warmMs = warm(kind, context.quick ? 3 : 7);
    if (error) {
      figures.push({ ...notMeasured(GROUP, what, "failed", error), target });
      continue;
    }
    const firstMs = median(first.get(kind)!);
    figures.push({
      group: GROUP,
      what,
      sockfsm: `first: ${duration(firstMs)}`,
      baseline: `warm: ${duration(warmMs)}`,
      ratio: `${(firstMs / warmMs).toFixed(1)}×`,
      target,
      met: firstMs < FIRST_CALL_MS ? "yes" : "no",
    });
  }
  return figures;
}

if (import.meta.main) {
  const [domain, type] = Deno.args;
  const kind = KINDS.find(([d, t]) => d === domain && t === type);
  if (kind === undefined) {
    console.error("usage: model.ts inet|inet6|unix stream|dgram");
    Deno.exit(2);
  }
  const start = performance.now();
  explore({ domain: kind[0], type: kind[1], depth: DEPTH });
  console.log(performance.now() - start);
}
