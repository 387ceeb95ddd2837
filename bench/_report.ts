// Copyright 2026 the sockfsm authors. MIT license.
/**
 * What every group of the bench shares: the figures it reports, the table
 * they make, and paired interleaved rounds (every case of a group runs once
 * per round, in an order shuffled from round to round, so that a noisy
 * neighbour slows all of them alike), with every wait bounded.
 *
 * @module
 */

/** How a group is run: the whole bench's settings. */
export interface Context {
  /** Fewer rounds, shorter cases and smaller loads: a smoke run. */
  readonly quick: boolean;
  /** Paired rounds per group. */
  readonly rounds: number;
  /** How long each case runs in each round, in milliseconds. */
  readonly caseMs: number;
  /** Progress, to stderr (the table goes to stdout). */
  log(message: string): void;
  /** A note printed under the table: how a figure was measured. */
  note(message: string): void;
}

/** What a figure aims at: a ratio to reach, or a bound to stay under. */
export type Target =
  | { readonly atLeast: number }
  | { readonly below: number; readonly unit?: "×" | "ms" };

/** One row of the table. */
export interface Figure {
  readonly group: string;
  /** What is measured. */
  readonly what: string;
  /** sockfsm's value, formatted, or `—`. */
  readonly sockfsm: string;
  /** The baseline's value in the same run, formatted, or `—`. */
  readonly baseline: string;
  /** sockfsm over the baseline, formatted, or `—`. */
  readonly ratio: string;
  /** The target, formatted, or `—`. */
  readonly target: string;
  /** `yes`, `no`, `—`, `failed: <why>` or `skipped: <why>`. */
  readonly met: string;
}

/** A figure that could not be measured: it says why, and the run goes on. */
export function notMeasured(
  group: string,
  what: string,
  how: "failed" | "skipped",
  why: string,
  target?: Target,
): Figure {
  return {
    group,
    what,
    sockfsm: "—",
    baseline: "—",
    ratio: "—",
    target: target ? formatTarget(target) : "—",
    met: `${how}: ${oneLine(why)}`,
  };
}

/** A message on one line, short enough for a table cell. */
export function oneLine(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").replace(/\|/g, "/").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

export function formatTarget(target: Target): string {
  if ("atLeast" in target) return `≥ ${target.atLeast.toFixed(2)}`;
  const unit = target.unit ?? "×";
  return unit === "ms" ? `< ${target.below} ms` : `< ${target.below}×`;
}

/** Whether `value` meets `target`: `yes`, `no`, or `—` without a target. */
export function met(value: number, target: Target | undefined): string {
  if (target === undefined) return "—";
  const ok = "atLeast" in target
    ? value >= target.atLeast
    : value < target.below;
  return ok ? "yes" : "no";
}

// Numbers --------------------------------------------------------------------

/** The `q` quantile of `values` (0.5: the median), interpolated. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const below = Math.floor(at);
  const above = Math.ceil(at);
  return sorted[below] + (sorted[above] - sorted[below]) * (at - below);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** `12,345` */
export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** `12,345/s`, or `123.4/s` for slow rates. */
export function rate(perSecond: number): string {
  // 999.96 would show as "1.00e+3" with three digits.
  return perSecond >= 999.5
    ? `${count(perSecond)}/s`
    : `${perSecond.toPrecision(3)}/s`;
}

/** `1.2 ms`, `345 ms`, `2.3 s` */
export function duration(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  // 99.97 would show as "1.0e+2" with two digits.
  if (ms >= 99.5) return `${count(ms)} ms`;
  return `${ms.toPrecision(2)} ms`;
}

/**
 * `0.69 (0.64–0.74)`: the median ratio and its spread over the rounds,
 * the interquartile range (half the rounds fall in it).
 */
export function ratioSpread(ratios: readonly number[]): string {
  const m = median(ratios).toFixed(2);
  if (ratios.length < 2) return m;
  const low = quantile(ratios, 0.25).toFixed(2);
  const high = quantile(ratios, 0.75).toFixed(2);
  return `${m} (${low}–${high})`;
}

// Bounded waits ---------------------------------------------------------------

/** Longest any single case of a round may take before it counts as failed. */
export const CASE_TIMEOUT_MS = 15_000;

/**
 * `promise`, or a rejection saying what did not complete within `ms`. The
 * timer is cleared once `promise` settles; a promise that never settles is
 * left behind (the bench reports it and goes on).
 */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not complete within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Paired rounds ---------------------------------------------------------------

/**
 * One case of a group: `measure(ms)` runs it for about `ms` and resolves to
 * its rate per second.
 */
export interface Case {
  readonly name: string;
  /** Stops early, leaving whatever it was doing, once `signal` aborts. */
  measure(ms: number, signal: AbortSignal): Promise<number>;
}

/** A case that repeats `op` (after a short warm-up) and counts. */
export function opCase(
  name: string,
  op: () => Promise<unknown> | unknown,
  warmup = 5,
): Case {
  return {
    name,
    async measure(ms, signal) {
      for (let i = 0; i < warmup && !signal.aborted; i++) await op();
      let done = 0;
      const start = performance.now();
      let now = start;
      while ((now - start < ms || done < 3) && !signal.aborted) {
        await op();
        done++;
        now = performance.now();
      }
      return done / (now - start) * 1000;
    },
  };
}

/** What one case gave over all rounds: a rate per round, or why it failed. */
export type Outcome =
  | { readonly rates: readonly number[] }
  | { readonly error: string };

/**
 * `items` in an order of their own for `round`: a shuffle seeded by the
 * round (mulberry32), the same from one run to the next, so that no case
 * always follows the same neighbour (whose garbage or wind-down it would
 * pay for).
 */
export function shuffled<T>(items: readonly T[], round: number): T[] {
  let seed = (round + 1) * 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Runs every case once per round, in an order shuffled each round (after a
 * round of warming up, not counted), each after a garbage collection where
 * `--v8-flags=--expose-gc` allows (so that a case pays for its own garbage,
 * not its predecessor's), and returns each case's rates (one per round) or its first error. A case that
 * fails is not run again; one that takes longer than
 * {@linkcode CASE_TIMEOUT_MS} fails.
 */
export async function pairedRounds(
  context: Context,
  label: string,
  cases: readonly Case[],
): Promise<Map<string, Outcome>> {
  const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const errors = new Map<string, string>();
  // Round 0 warms every case up (the JIT, caches, the machine's graph) and
  // is not counted.
  for (let round = 0; round <= context.rounds; round++) {
    context.log(
      round === 0
        ? `${label}: warming up`
        : `${label}: round ${round} of ${context.rounds}`,
    );
    for (const one of shuffled(cases, round)) {
      if (errors.has(one.name)) continue;
      (globalThis as { gc?: () => void }).gc?.();
      const stop = new AbortController();
      try {
        const perSecond = await within(
          one.measure(
            round === 0 ? context.caseMs / 2 : context.caseMs,
            stop.signal,
          ),
          CASE_TIMEOUT_MS,
          `${one.name} (one round)`,
        );
        if (round > 0) rates.get(one.name)!.push(perSecond);
      } catch (error) {
        stop.abort();
        errors.set(one.name, messageOf(error));
        context.log(`${label}: ${one.name} failed: ${messageOf(error)}`);
      }
    }
  }
  const outcomes = new Map<string, Outcome>();
  for (const { name } of cases) {
    const error = errors.get(name);
    outcomes.set(name, error ? { error } : { rates: rates.get(name)! });
  }
  return outcomes;
}

/**
 * The row comparing case `ours` with case `theirs` of the same rounds: the
 * median rates, and the median and spread of the per-round ratios.
 */
export function rateFigure(
  group: string,
  what: string,
  outcomes: Map<string, Outcome>,
  ours: string,
  theirs: string,
  target?: Target,
): Figure {
  const a = outcomes.get(ours);
  const b = outcomes.get(theirs);
  if (a === undefined || b === undefined) {
    return notMeasured(group, what, "skipped", "not run", target);
  }
  if ("error" in a) {
    return notMeasured(group, what, "failed", `${ours}: ${a.error}`, target);
  }
  if ("error" in b) {
    return notMeasured(
      group,
      what,
      "failed",
      `baseline ${theirs}: ${b.error}`,
      target,
    );
  }
  const ratios = a.rates.map((r, i) => r / b.rates[i]);
  return {
    group,
    what,
    sockfsm: rate(median(a.rates)),
    baseline: `${theirs}: ${rate(median(b.rates))}`,
    ratio: ratioSpread(ratios),
    target: target ? formatTarget(target) : "—",
    met: met(median(ratios), target),
  };
}

// The table -------------------------------------------------------------------

/** The markdown table of `figures`, grouped as they come. */
export function table(figures: readonly Figure[]): string {
  const lines = [
    "| group | figure | sockfsm | baseline (same run) | ratio | target | met |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const f of figures) {
    lines.push(
      `| ${
        [f.group, f.what, f.sockfsm, f.baseline, f.ratio, f.target, f.met]
          .map((cell) => cell.replace(/\|/g, "/"))
          .join(" | ")
      } |`,
    );
  }
  return lines.join("\n");
}
