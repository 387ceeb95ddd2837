// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What PCOs cost, in paired interleaved rounds in this process, each as a
 * ratio to the same thing with the sockets in this process:
 *
 * - the rate of `streamConnection()` + close both on loopback, on both
 *   backends, with both ends here (`srvr`/`clnt` left out: the baseline),
 *   both ends in `localPco()`s, the server in a `workerPco()` or a
 *   `processPco()`, and both ends in two different workers or processes;
 * - the cost of one call through each kind of PCO: `getsockopt("SO_RCVBUF")`
 *   on a posix socket (one `getsockopt(2)` wherever it lives), and a 1-byte
 *   ping-pong on a connected posix pair with both ends in the same place
 *   (four calls: send, recv, send, recv), here, in a worker, in a process;
 * - how long `workerPco()` and `processPco()` take to be ready, against a
 *   bare Worker that posts one message and a bare `deno` process that
 *   prints one line.
 *
 * The PCOs of the first two are started once for the group and closed at
 * its end; a PCO that cannot start makes its figures `failed: <why>`.
 *
 * @module
 */
import {
  type Backend,
  localPco,
  type Pco,
  processPco,
  type StreamConnection,
  streamConnection,
  workerPco,
} from "../mod.ts";
import {
  type Case,
  type Context,
  count,
  type Figure,
  median,
  messageOf,
  opCase,
  type Outcome,
  pairedRounds,
  rateFigure,
  ratioSpread,
  within,
} from "./_report.ts";

const GROUP = "pco";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
const BACKENDS: readonly Backend[] = ["deno", "posix"];
/** How long a PCO may take to start or to close in this group. */
const PCO_MS = 30_000;
/**
 * How long a PCO of the start rounds may take to start: under a case's
 * bound, so that one that does not start is closed by its own failure.
 */
const START_MS = 10_000;

/** A PCO the group started, or why it could not. */
type Started = { readonly pco: Pco } | { readonly error: string };

async function start(make: () => Promise<Pco>): Promise<Started> {
  try {
    return { pco: await make() };
  } catch (error) {
    return { error: messageOf(error) };
  }
}

/** `pco`, or a rejection with why it did not start. */
function pcoOf(started: Started): Promise<Pco> {
  return "pco" in started
    ? Promise.resolve(started.pco)
    : Promise.reject(new Error(`its PCO did not start: ${started.error}`));
}

/** Where the two ends of a procedure live. */
interface Placing {
  readonly name: string;
  readonly what: string;
  readonly srvr?: Started;
  readonly clnt?: Started;
}

/** One `streamConnection()` between `srvr` and `clnt`, then close both. */
async function procedure(
  backend: Backend,
  srvr: Pco | undefined,
  clnt: Pco | undefined,
): Promise<void> {
  const pair = await streamConnection({
    srvrAddr: LOOPBACK,
    backend,
    ...(srvr && { srvr }),
    ...(clnt && { clnt }),
  });
  pair[Symbol.dispose]();
}

function procedureCase(placing: Placing, backend: Backend): Case {
  return laterCase(`${placing.name} ${backend}`, async () => {
    const srvr = placing.srvr && await pcoOf(placing.srvr);
    const clnt = placing.clnt && await pcoOf(placing.clnt);
    return () => procedure(backend, srvr, clnt);
  });
}

/**
 * An {@linkcode opCase} whose operation `prepare()` makes on its first
 * round (a PCO that did not start fails the case there, not the group).
 */
function laterCase(
  name: string,
  prepare: () => Promise<() => Promise<unknown>>,
): Case {
  let op: Case | undefined;
  return {
    name,
    async measure(ms, signal) {
      op ??= opCase(name, await prepare());
      return await op.measure(ms, signal);
    },
  };
}

/**
 * The row of a cost (time per operation) of case `ours` against case
 * `theirs`, from their rates: the medians as `unit` per operation, and the
 * median and spread of the per-round ratios of the costs (ours over theirs).
 */
function costFigure(
  what: string,
  outcomes: Map<string, Outcome>,
  ours: string,
  theirs: string,
  unit: "µs" | "ms",
  per = "",
): Figure {
  const row = rateFigure(GROUP, what, outcomes, ours, theirs);
  const a = outcomes.get(ours);
  const b = outcomes.get(theirs);
  if (row.met !== "—" || !a || !b || "error" in a || "error" in b) return row;
  const scale = unit === "µs" ? 1e6 : 1e3;
  const cost = (rates: readonly number[]) => {
    const value = scale / median(rates);
    return `${
      value >= 99.5 ? count(value) : value.toPrecision(2)
    } ${unit}${per}`;
  };
  return {
    ...row,
    sockfsm: cost(a.rates),
    baseline: `${theirs}: ${cost(b.rates)}`,
    ratio: ratioSpread(a.rates.map((r, i) => b.rates[i] / r)),
  };
}

/** A 1-byte request and its 1-byte answer on `pair`. */
function pingPong(pair: StreamConnection): () => Promise<void> {
  const one = new Uint8Array([1]);
  const buffer = new Uint8Array(1);
  return async () => {
    await pair.clntS.send(one);
    if (await pair.srvrS.recvInto(buffer) !== 1) {
      throw new Error("The ping did not arrive");
    }
    await pair.srvrS.send(one);
    if (await pair.clntS.recvInto(buffer) !== 1) {
      throw new Error("The pong did not arrive");
    }
  };
}

/** The round-trip cases of one place: `place`, or here without one. */
function callCases(
  name: string,
  place: Started | undefined,
  opened: Disposable[],
): Case[] {
  return [
    laterCase(`getsockopt ${name}`, async () => {
      const pco = place ? await pcoOf(place) : localPco();
      const sock = await pco.socket({ domain: "inet", backend: "posix" });
      opened.push(sock);
      return () => sock.getsockopt("SO_RCVBUF");
    }),
    laterCase(`ping-pong ${name}`, async () => {
      const pco = place && await pcoOf(place);
      const pair = await streamConnection({
        srvrAddr: LOOPBACK,
        backend: "posix",
        ...(pco && { srvr: pco, clnt: pco }),
      });
      opened.push(pair);
      return pingPong(pair);
    }),
  ];
}

/** The milliseconds from `new Worker` to its first message, as a rate. */
async function bareWorker(): Promise<number> {
  const url = URL.createObjectURL(
    new Blob(["postMessage(1);"], { type: "text/javascript" }),
  );
  const begin = performance.now();
  const worker = new Worker(url, { type: "module" });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`the bare worker threw: ${event.message}`));
      };
    });
    return 1000 / (performance.now() - begin);
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

/** The milliseconds from spawning `deno` to its first line, as a rate. */
async function bareProcess(signal: AbortSignal): Promise<number> {
  const begin = performance.now();
  const child = new Deno.Command("deno", {
    args: ["eval", "--quiet", "--no-config", "console.log(1)"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal,
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    const { done } = await reader.read();
    if (done) throw new Error("the bare deno printed nothing");
    return 1000 / (performance.now() - begin);
  } finally {
    await reader.cancel();
    await child.status;
  }
}

/** Starts a PCO with `make` and closes it: the start, as a rate. */
async function pcoStart(make: () => Promise<Pco>): Promise<number> {
  const begin = performance.now();
  const pco = await make();
  const perSecond = 1000 / (performance.now() - begin);
  await pco.close();
  return perSecond;
}

/**
 * A case that starts one thing per round with `begin` (which resolves to
 * 1000 over the milliseconds it took): a start's cost, as a rate.
 */
function startCase(
  name: string,
  begin: (signal: AbortSignal) => Promise<number>,
): Case {
  return { name, measure: (_ms, signal) => begin(signal) };
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const names = ["worker A", "worker B", "process A", "process B"] as const;
  context.log(`${GROUP}: starting two workers and two processes`);
  const [workerA, workerB, processA, processB] = await Promise.all(
    names.map((name) =>
      start(() =>
        name.startsWith("worker")
          ? workerPco({ name, startTimeout: PCO_MS })
          : processPco({ name, startTimeout: PCO_MS })
      )
    ),
  );
  for (const [i, started] of [workerA, workerB, processA, processB].entries()) {
    if ("error" in started) {
      context.log(`${GROUP}: ${names[i]} did not start: ${started.error}`);
    }
  }
  const here = { pco: localPco("here A") };
  const there = { pco: localPco("here B") };
  const opened: Disposable[] = [];
  try {
    const placings: Placing[] = [
      { name: "in-process", what: "both ends here (the baseline)" },
      {
        name: "local PCOs",
        what: "both ends in `localPco()`s",
        srvr: here,
        clnt: there,
      },
      { name: "srvr worker", what: "server in a `workerPco()`", srvr: workerA },
      {
        name: "srvr process",
        what: "server in a `processPco()`",
        srvr: processA,
      },
      {
        name: "workers",
        what: "server and client in two `workerPco()`s",
        srvr: workerA,
        clnt: workerB,
      },
      {
        name: "processes",
        what: "server and client in two `processPco()`s",
        srvr: processA,
        clnt: processB,
      },
    ];
    const procedures = await pairedRounds(
      context,
      `${GROUP} procedure`,
      BACKENDS.flatMap((backend) =>
        placings.map((placing) => procedureCase(placing, backend))
      ),
    );
    const figures: Figure[] = BACKENDS.flatMap((backend) =>
      placings.slice(1).map((placing) =>
        rateFigure(
          GROUP,
          `\`streamConnection()\` + close both, ${backend}: ${placing.what}`,
          procedures,
          `${placing.name} ${backend}`,
          `in-process ${backend}`,
        )
      )
    );

    const calls = await pairedRounds(context, `${GROUP} calls`, [
      ...callCases("here", undefined, opened),
      ...callCases("worker", workerA, opened),
      ...callCases("process", processA, opened),
    ]);
    for (
      const [name, what] of [["worker", "a worker"], ["process", "a process"]]
    ) {
      figures.push(
        costFigure(
          `one \`getsockopt("SO_RCVBUF")\`, posix, socket in ${what}`,
          calls,
          `getsockopt ${name}`,
          "getsockopt here",
          "µs",
          "/call",
        ),
        costFigure(
          `1-byte ping-pong (send, recv, send, recv), posix, both ends in ${what}`,
          calls,
          `ping-pong ${name}`,
          "ping-pong here",
          "µs",
        ),
      );
    }

    const starts = await pairedRounds(context, `${GROUP} start`, [
      startCase(
        "workerPco()",
        () => pcoStart(() => workerPco({ startTimeout: START_MS })),
      ),
      startCase("bare Worker", bareWorker),
      startCase(
        "processPco()",
        () => pcoStart(() => processPco({ startTimeout: START_MS })),
      ),
      startCase("bare deno", bareProcess),
    ]);
    figures.push(
      costFigure(
        "start: `await workerPco()` until its agent is ready",
        starts,
        "workerPco()",
        "bare Worker",
        "ms",
      ),
      costFigure(
        "start: `await processPco()` until its agent is ready",
        starts,
        "processPco()",
        "bare deno",
        "ms",
      ),
    );
    return figures;
  } finally {
    for (const one of opened) one[Symbol.dispose]();
    for (const started of [here, there, workerA, workerB, processA, processB]) {
      if ("pco" in started) {
        await within(started.pco.close(), PCO_MS, "closing a PCO").catch(
          (error) => context.log(`${GROUP}: ${messageOf(error)}`),
        );
      }
    }
  }
}
