// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Scale, each case in a child process of its own (so that a stalled
 * backend cannot stall the bench, and the descriptor limit can be raised
 * for it alone):
 *
 * 1. 10,000 concurrent connected pairs, opened 16 procedures at a time
 *    and all held open: `streamConnection()` on each backend, against the
 *    same procedure by hand with `Deno.listen`/`Deno.connect`.
 * 2. With all of them idle and a `recv()` pending on each accepted end:
 *    the time until 10 new connections (one after another), a
 *    `Deno.readTextFile()` and a `Deno.stat()` (meanwhile) have all
 *    completed, each bounded.
 *
 * The pairs need two descriptors each: when the soft limit is too low, the
 * child runs under `prlimit --nofile=N:N` (raising the hard limit needs
 * root); the table says so. Run as a program, this file is that child:
 *
 *     deno run --allow-net=127.0.0.1 --allow-ffi --allow-read=bench/scale.ts \
 *       bench/scale.ts raw|deno|posix PAIRS OPEN_MS IDLE_MS
 *
 * and prints one JSON line per stage.
 *
 * @module
 */
import {
  type Backend,
  type StreamConnection,
  streamConnection,
} from "../mod.ts";
import { fdLimit } from "../tools/_fds.ts";
import {
  type Context,
  count,
  duration,
  type Figure,
  messageOf,
  notMeasured,
  oneLine,
} from "./_report.ts";

const GROUP = "scale";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
/** Procedures in flight at once while the pairs are opened. */
const WINDOW = 16;
/** New connections made while the pairs sit idle. */
const NEW_CONNECTIONS = 10;
/** Descriptors beyond the pairs: the runtime's own, the window, slack. */
const SPARE_FDS = 250;
/** Opening stops after this many errors. */
const MAX_ERRORS = 100;
/**
 * Promptly: the idle checks complete within this many times what they take
 * with raw Deno in the same conditions (the same number of idle reads).
 */
const PROMPT_TIMES = 2;

type Kind = "raw" | "deno" | "posix";

/** What the child prints once the pairs are opened. */
interface Opened {
  readonly stage: "opened";
  readonly pairs: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

/** How one idle check went: its time, or why it did not complete. */
type Check = { readonly ms: number } | { readonly error: string };

/** What the child prints after the idle checks. */
interface Idle {
  readonly stage: "idle";
  /** The `recv()`s still pending when the checks started. */
  readonly pending: number;
  /** Why the first of the others settled (nothing is ever sent). */
  readonly recvError?: string;
  readonly connections: Check;
  readonly readTextFile: Check;
  readonly stat: Check;
}

// The child ---------------------------------------------------------------------

/** An open pair: what to read from while idle, and nothing else. */
interface Held {
  recv(buffer: Uint8Array): Promise<unknown>;
}

async function openRaw(): Promise<Held> {
  const listener = Deno.listen(LOOPBACK);
  try {
    const accepting = listener.accept();
    // The client end stays open, unreferenced, until the process exits.
    await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await accepting;
    return { recv: (buffer) => server.read(buffer) };
  } finally {
    listener.close();
  }
}

function openSockfsm(backend: Backend): () => Promise<Held> {
  return async () => {
    const pair: StreamConnection = await streamConnection({
      srvrAddr: LOOPBACK,
      backend,
    });
    return { recv: (buffer) => pair.srvrS.recvInto(buffer) };
  };
}

/** `promise`'s time, or why it did not complete within `ms`. */
async function timed(
  promise: () => Promise<unknown>,
  ms: number,
): Promise<Check> {
  const start = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`did not complete within ${duration(ms)}`)),
          ms,
        );
      }),
    ]);
    return { ms: performance.now() - start };
  } catch (error) {
    return { error: messageOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function child(
  kind: Kind,
  pairs: number,
  openMs: number,
  idleMs: number,
): Promise<void> {
  const open = kind === "raw" ? openRaw : openSockfsm(kind);
  const held: Held[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const deadline = performance.now() + openMs;
  const start = performance.now();
  let timedOut = false;
  let started = 0;
  const worker = async () => {
    while (started < pairs && errors < MAX_ERRORS) {
      if (performance.now() > deadline) {
        timedOut = true;
        return;
      }
      started++;
      try {
        held.push(await open());
      } catch (error) {
        errors++;
        firstError ??= messageOf(error);
      }
    }
  };
  const workers = Array.from({ length: WINDOW }, worker);
  const opening = await timed(() => Promise.all(workers), openMs + 5000);
  if ("error" in opening) timedOut = true;
  const opened: Opened = {
    stage: "opened",
    pairs: held.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    ms: performance.now() - start,
    timedOut,
  };
  console.log(JSON.stringify(opened));

  let settled = 0;
  let recvError: string | undefined;
  for (const pair of held) {
    pair.recv(new Uint8Array(16)).then(
      () => settled++,
      (error) => {
        settled++;
        recvError ??= messageOf(error);
      },
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // let them wait
  const pending = held.length - settled;
  const file = new URL(import.meta.url).pathname;
  const [connections, readTextFile, stat] = await Promise.all([
    timed(async () => {
      for (let i = 0; i < NEW_CONNECTIONS; i++) {
        await open();
      }
    }, idleMs),
    timed(() => Deno.readTextFile(file), idleMs),
    timed(() => Deno.stat(file), idleMs),
  ]);
  const idle: Idle = {
    stage: "idle",
    pending,
    ...(recvError === undefined ? {} : { recvError }),
    connections,
    readTextFile,
    stat,
  };
  console.log(JSON.stringify(idle));
}

// The parent --------------------------------------------------------------------

/** What a child printed, and how it ended. */
interface ChildRun {
  readonly opened?: Opened;
  readonly idle?: Idle;
  /** Why the child gave no (or partial) results, if it did not. */
  readonly problem?: string;
}

/** How the children are started (directly, or under `prlimit`), and how many pairs they open. */
interface Launch {
  readonly command: string;
  readonly prefix: readonly string[];
  readonly pairs: number;
  readonly note: string;
}

async function prlimitWorks(limit: number): Promise<string | undefined> {
  try {
    const { code, stderr } = await new Deno.Command("prlimit", {
      args: [`--nofile=${limit}:${limit}`, "true"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    return code === 0 ? undefined : new TextDecoder().decode(stderr).trim();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "prlimit (util-linux) is not installed";
    }
    return messageOf(error);
  }
}

/**
 * How to start a child that opens `wanted` pairs, or as many as the hard
 * descriptor limit allows when it cannot be raised; or why none can run.
 */
async function launch(wanted: number): Promise<Launch | string> {
  const needed = 2 * wanted + SPARE_FDS;
  const { soft, hard } = fdLimit();
  if (soft >= needed) {
    return {
      command: "deno",
      prefix: [],
      pairs: wanted,
      note:
        `each case in a child process of its own (descriptor limit ${soft})`,
    };
  }
  const problem = await prlimitWorks(needed);
  if (problem === undefined) {
    return {
      command: "prlimit",
      prefix: [`--nofile=${needed}:${needed}`, "deno"],
      pairs: wanted,
      note:
        `each case in a child process of its own, under \`prlimit --nofile=${needed}\` (the limit here is ${soft})`,
    };
  }
  const most = Math.floor((hard - SPARE_FDS) / 2);
  if (most < wanted / 10) {
    return `needs ${needed} descriptors, the limit is ${soft} (hard ${hard}), and prlimit cannot raise it: ${problem}`;
  }
  const capped = `${count(most)} pairs, not ${count(wanted)}: ${
    count(wanted)
  } need ${needed} descriptors, the hard limit is ${hard}, and prlimit cannot raise it (\`${problem}\`: raising a hard limit needs CAP_SYS_RESOURCE)`;
  return soft >= 2 * most + SPARE_FDS
    ? {
      command: "deno",
      prefix: [],
      pairs: most,
      note: `each case in a child process of its own; ${capped}`,
    }
    : {
      command: "prlimit",
      prefix: [`--nofile=${hard}:${hard}`, "deno"],
      pairs: most,
      note:
        `each case in a child process of its own, under \`prlimit --nofile=${hard}\`; ${capped}`,
    };
}

async function runChild(
  how: Launch,
  kind: Kind,
  pairs: number,
  openMs: number,
  idleMs: number,
): Promise<ChildRun> {
  const file = new URL(import.meta.url).pathname;
  let process: Deno.ChildProcess;
  try {
    process = new Deno.Command(how.command, {
      args: [
        ...how.prefix,
        "run",
        "--quiet",
        "--no-prompt",
        "--allow-net=127.0.0.1",
        "--allow-ffi",
        `--allow-read=${file}`,
        file,
        kind,
        String(pairs),
        String(openMs),
        String(idleMs),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    return { problem: messageOf(error) };
  }
  const limitMs = openMs + idleMs + 30_000;
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      process.kill("SIGKILL");
    } catch { /* it ended meanwhile */ }
  }, limitMs);
  try {
    const [out, err, status] = await Promise.all([
      new Response(process.stdout).text(),
      new Response(process.stderr).text(),
      process.status,
    ]);
    let opened: Opened | undefined;
    let idle: Idle | undefined;
    for (const line of out.split("\n")) {
      if (!line.startsWith("{")) continue;
      const parsed = JSON.parse(line) as Opened | Idle;
      if (parsed.stage === "opened") opened = parsed;
      else idle = parsed;
    }
    const problem = killed
      ? `the child was killed after ${duration(limitMs)}`
      : status.code !== 0
      ? `the child exited with ${status.code}: ${oneLine(err || out)}`
      : undefined;
    return { opened, idle, ...(problem ? { problem } : {}) };
  } finally {
    clearTimeout(timer);
  }
}

function openedText(run: ChildRun, wanted: number): string {
  const o = run.opened;
  if (o === undefined) return "—";
  const seconds = o.ms / 1000;
  const base = `${count(o.pairs)} open in ${duration(o.ms)} (${
    count(o.pairs / seconds)
  }/s)`;
  return o.errors > 0 || o.pairs < wanted
    ? `${base}, ${o.errors} errors${
      o.firstError ? ` (${oneLine(o.firstError, 80)})` : ""
    }${o.timedOut ? ", stopped at the time limit" : ""}`
    : base;
}

function scaleFigure(
  backend: Backend,
  ours: ChildRun,
  raw: ChildRun,
  wanted: number,
): Figure {
  const what = `${
    count(wanted)
  } concurrent pairs through \`streamConnection()\`, ${backend}`;
  const target = `${count(wanted)} open, no error`;
  if (ours.opened === undefined) {
    return {
      ...notMeasured(GROUP, what, "failed", ours.problem ?? "no result"),
      target,
    };
  }
  const ok = ours.opened.pairs === wanted && ours.opened.errors === 0;
  const rateOf = (o: Opened) => o.pairs / o.ms;
  const ratio = raw.opened && raw.opened.pairs > 0
    ? (rateOf(ours.opened) / rateOf(raw.opened)).toFixed(2)
    : "—";
  return {
    group: GROUP,
    what,
    sockfsm: openedText(ours, wanted),
    baseline: raw.opened
      ? `hand Deno: ${openedText(raw, wanted)}`
      : `hand Deno: ${raw.problem ?? "no result"}`,
    ratio,
    target,
    met: ok ? "yes" : "no",
  };
}

/**
 * The slowest of the idle checks and each one's time, or those that did
 * not complete and why.
 */
function idleText(idle: Idle): { text: string; slowest?: number } {
  const done: string[] = [];
  const stalled = new Map<string, string[]>();
  let slowest = 0;
  for (
    const [name, check] of [
      [`${NEW_CONNECTIONS} connections`, idle.connections],
      ["read", idle.readTextFile],
      ["stat", idle.stat],
    ] as const
  ) {
    if ("error" in check) {
      const why = oneLine(check.error, 110);
      stalled.set(why, [...stalled.get(why) ?? [], name]);
    } else {
      slowest = Math.max(slowest, check.ms);
      done.push(`${name} ${duration(check.ms)}`);
    }
  }
  if (stalled.size === 0) {
    return { text: `${duration(slowest)} (${done.join(", ")})`, slowest };
  }
  const failures = [...stalled].map(([why, names]) =>
    `${names.join(", ")}: ${why}`
  );
  return { text: [...failures, ...done].join("; ") };
}

function idleFigure(
  backend: Backend,
  ours: ChildRun,
  raw: ChildRun,
  wanted: number,
): Figure {
  const what = `${
    count(wanted)
  } idle ${backend} connections with a \`recv()\` pending: ${NEW_CONNECTIONS} new connections, \`readTextFile()\`, \`stat()\` all complete`;
  const target = `< ${PROMPT_TIMES}× hand Deno`;
  if (ours.idle === undefined) {
    return {
      ...notMeasured(
        GROUP,
        what,
        "failed",
        ours.problem ??
          (ours.opened ? "the child gave no idle result" : "no result"),
      ),
      target,
    };
  }
  const mine = idleText(ours.idle);
  const theirs = raw.idle ? idleText(raw.idle) : undefined;
  const pending = ours.idle.pending < wanted
    ? `; only ${count(ours.idle.pending)} \`recv()\`s pending, the others: ${
      oneLine(ours.idle.recvError ?? "settled", 110)
    }`
    : "";
  const ratio = mine.slowest !== undefined && theirs?.slowest !== undefined
    ? mine.slowest / theirs.slowest
    : undefined;
  return {
    group: GROUP,
    what,
    sockfsm: mine.slowest === undefined ? "—" : `${mine.text}${pending}`,
    baseline: theirs
      ? `hand Deno: ${theirs.text}`
      : `hand Deno: ${raw.problem ?? "no result"}`,
    ratio: ratio === undefined ? "—" : `${ratio.toFixed(1)}×`,
    target,
    met: mine.slowest === undefined
      ? `failed: ${mine.text}${pending}`
      : ratio === undefined
      ? "—"
      : ratio < PROMPT_TIMES && ours.idle.pending === wanted
      ? "yes"
      : "no",
  };
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const wanted = context.quick ? 1000 : 10_000;
  const openMs = context.quick ? 20_000 : 45_000;
  const idleMs = context.quick ? 3_000 : 10_000;
  const how = await launch(wanted);
  const kinds: Backend[] = ["deno", "posix"];
  if (typeof how === "string") {
    return kinds.flatMap((backend) => [
      notMeasured(
        GROUP,
        `${count(wanted)} concurrent pairs, ${backend}`,
        "skipped",
        how,
      ),
      notMeasured(
        GROUP,
        `${count(wanted)} idle ${backend} connections`,
        "skipped",
        how,
      ),
    ]);
  }
  const { pairs } = how;
  context.note(`${GROUP}: ${how.note}`);
  const runs = new Map<Kind, ChildRun>();
  for (const kind of ["raw", "deno", "posix"] as const) {
    context.log(`${GROUP}: ${count(pairs)} pairs, ${kind}`);
    runs.set(kind, await runChild(how, kind, pairs, openMs, idleMs));
    const result = runs.get(kind)!;
    context.log(
      `${GROUP}: ${kind}: ${openedText(result, pairs)}; ${
        result.idle ? idleText(result.idle).text : result.problem ?? ""
      }`,
    );
  }
  const raw = runs.get("raw")!;
  return [
    ...kinds.map((b) => scaleFigure(b, runs.get(b)!, raw, pairs)),
    ...kinds.map((b) => idleFigure(b, runs.get(b)!, raw, pairs)).reverse(),
  ];
}

if (import.meta.main) {
  const [kind, pairs, openMs, idleMs] = Deno.args;
  if (kind !== "raw" && kind !== "deno" && kind !== "posix") {
    console.error("usage: scale.ts raw|deno|posix PAIRS OPEN_MS IDLE_MS");
    Deno.exit(2);
  }
  await child(kind, Number(pairs), Number(openMs), Number(idleMs));
  // The pending reads (and, on a stalled backend, the calls behind them)
  // would keep the process alive: leave without closing anything.
  Deno.exit(0);
}
