// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The bench: every figure of the performance issue as a ratio against its
 * baseline in the same run, printed as a markdown table (figure, sockfsm,
 * baseline, ratio, target, met) with the date, the kernel and Deno's
 * version, ready for the README:
 *
 *     deno task bench [--quick] [--only GROUP[,GROUP…]] [--rounds N]
 *                     [--shared-netns]
 *
 * Groups: `model` (`predict()`, `explore()` first call and warm), `scale`
 * (10,000 concurrent pairs, 10,000 idle posix connections), `memory`
 * (heap per open socket), `data` (64 KiB and 1 KiB ping-pong),
 * `connect` (a kept listener), `procedure` (the connection procedures
 * against the same steps by hand), `pco` (the procedure and one call with
 * sockets in workers and processes, against in this process). Progress
 * goes to stderr, the table to
 * stdout. A figure that cannot be measured is reported as `failed: <why>`
 * or `skipped: <why>`, and the run goes on; every wait is bounded.
 *
 * Where it can (root, `unshare` and `ip` present), the runner runs itself
 * in a network namespace of its own, with only `lo` up and TIME_WAIT off
 * (`net.ipv4.tcp_max_tw_buckets = 0` there): on a machine shared with
 * other work, tens of thousands of sockets in TIME_WAIT (its own and other
 * programs') make every `bind()` to port 0 search the port space, and the
 * same procedure then ran anywhere from 18,000/s to 135/s from one round to
 * the next. `--shared-netns` runs in the current namespace instead.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Context,
  type Figure,
  messageOf,
  notMeasured,
  table,
} from "./_report.ts";
import * as connect from "./connect.ts";
import * as data from "./data.ts";
import * as memory from "./memory.ts";
import * as model from "./model.ts";
import * as pco from "./pco.ts";
import * as procedure from "./procedure.ts";
import * as scale from "./scale.ts";

/** The groups, in the order they run. */
const GROUPS: Readonly<
  Record<string, (context: Context) => Promise<Figure[]>>
> = {
  model: model.run,
  scale: scale.run,
  memory: memory.run,
  data: data.run,
  connect: connect.run,
  procedure: procedure.run,
  pco: pco.run,
};

async function quietly(command: string, args: string[]): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(10_000),
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * Runs the bench task again under `unshare --net` (so with the task's
 * permissions), with the same arguments; resolves to its exit code, or
 * `undefined` if no namespace can be made.
 */
async function inOwnNamespace(args: string[]): Promise<number | undefined> {
  const probe = ["--net", "ip", "link", "set", "lo", "up"];
  if (!await quietly("unshare", probe)) return undefined;
  const child = new Deno.Command("unshare", {
    args: [
      "--net",
      "--",
      "deno",
      "task",
      "--quiet",
      "bench",
      ...args,
      "--in-netns",
    ],
    cwd: new URL("..", import.meta.url).pathname,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/** Sets up the namespace this runner was started in; says how it went. */
async function prepareNamespace(): Promise<string> {
  if (!await quietly("ip", ["link", "set", "lo", "up"])) {
    throw new Error("Cannot bring lo up in the bench's network namespace");
  }
  const own = "in a network namespace of its own (`unshare --net`, only `lo`)";
  return await quietly("sysctl", ["-qw", "net.ipv4.tcp_max_tw_buckets=0"])
    ? `${own}, TIME_WAIT off there (\`net.ipv4.tcp_max_tw_buckets=0\`)`
    : `${own}, TIME_WAIT left on (\`sysctl -w net.ipv4.tcp_max_tw_buckets=0\` failed)`;
}

/** The load average, or why it is unknown. */
function loadAverage(): string {
  try {
    return Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
  } catch {
    return "unknown (needs --allow-sys=loadavg)";
  }
}

function header(
  context: Context,
  network: string,
  start: { readonly date: Date; readonly load: string },
): string {
  const kernel = (() => {
    try {
      return Deno.osRelease();
    } catch {
      return "unknown (needs --allow-sys=osRelease)";
    }
  })();
  return [
    `sockfsm bench, ${
      start.date.toISOString().slice(0, 16).replace("T", " ")
    } UTC${context.quick ? " (--quick: not for the README)" : ""}`,
    "",
    `- Linux ${kernel}, Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${navigator.hardwareConcurrency} CPUs, load average ${start.load} at the start, ${loadAverage()} at the end`,
    `- ${context.rounds} paired interleaved rounds of ${context.caseMs} ms per case (after one to warm up; the order shuffled each round, a garbage collection before each case); rates are medians; a ratio is sockfsm over the baseline: the median of the per-round ratios (their interquartile range)`,
    `- run ${network}`,
  ].join("\n");
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", multiple: true },
      rounds: { type: "string" },
      "shared-netns": { type: "boolean", default: false },
      "in-netns": { type: "boolean", default: false },
    },
  });
  const only = (values.only ?? []).flatMap((o) => o.split(",")).filter((o) =>
    o !== ""
  );
  const unknown = only.filter((o) => !(o in GROUPS));
  if (unknown.length > 0) {
    console.error(
      `--only: unknown group ${unknown.join(", ")}; the groups are ${
        Object.keys(GROUPS).join(", ")
      }`,
    );
    return 2;
  }
  const rounds = values.rounds === undefined
    ? (values.quick ? 2 : 15)
    : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
    console.error(
      `--rounds: give an integer from 1 to 100, not ${values.rounds}`,
    );
    return 2;
  }

  if (!values["in-netns"] && !values["shared-netns"]) {
    const code = await inOwnNamespace(args);
    if (code !== undefined) return code;
  }
  const network = values["in-netns"]
    ? await prepareNamespace()
    : values["shared-netns"]
    ? "in the current network namespace (--shared-netns)"
    : "in the current network namespace (no namespace of its own could be made: needs root, unshare and ip); sockets in TIME_WAIT, this run's and other programs', slow its binds down";

  const notes: string[] = [];
  const context: Context = {
    quick: values.quick,
    rounds,
    caseMs: values.quick ? 60 : 100,
    log: (message) => console.error(`bench: ${message}`),
    note: (message) => notes.push(message),
  };
  const started = performance.now();
  const start = { date: new Date(), load: loadAverage() };
  const figures: Figure[] = [];
  for (const [name, run] of Object.entries(GROUPS)) {
    if (only.length > 0 && !only.includes(name)) continue;
    context.log(`${name}…`);
    const groupStart = performance.now();
    try {
      figures.push(...await run(context));
    } catch (error) {
      figures.push(
        notMeasured(name, "(the whole group)", "failed", messageOf(error)),
      );
    }
    context.log(
      `${name}: ${((performance.now() - groupStart) / 1000).toFixed(1)} s`,
    );
  }
  console.log(header(context, network, start));
  console.log("");
  console.log(table(figures));
  console.log("");
  for (const note of notes) console.log(`- ${note}`);
  if (notes.length > 0) console.log("");
  console.log(
    `(${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
  return 0;
}

// A case that never settled may hold the event loop open: exit explicitly.
if (import.meta.main) Deno.exit(await main(Deno.args));
