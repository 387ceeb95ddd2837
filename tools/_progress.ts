// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Feedback on long work, one line per job: on a terminal, the line is
 * rewritten in place as the count grows (`inet stream 1234/4096`); elsewhere
 * (CI logs, a pipe) nothing is written until the job ends, and then exactly
 * one line.
 *
 * @module
 */

/** Where the lines go. */
export interface ProgressSink {
  /** Whether the sink is a terminal, where a line can be rewritten. */
  readonly terminal: boolean;
  /** Writes `text` as it is. */
  write(text: string): void;
}

/** Standard output, as a {@linkcode ProgressSink}. */
export function stdoutSink(): ProgressSink {
  const encoder = new TextEncoder();
  return {
    terminal: Deno.stdout.isTerminal(),
    write(text) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) {
        written += Deno.stdout.writeSync(bytes.subarray(written));
      }
    },
  };
}

/** How often a terminal line is rewritten at most, in milliseconds. */
const REDRAW_MS = 100;
/** Back to the start of the line, and clear it. */
const CLEAR_LINE = "\r\x1b[2K";

/** The progress of one job: `update()` as it goes, `done()` once. */
export class Progress {
  readonly #sink: ProgressSink;
  readonly #label: string;
  readonly #now: () => number;
  #drawn = -Infinity;

  /**
   * @param sink Where the line goes.
   * @param label What the job is, such as `"inet stream"`.
   * @param now The clock, in milliseconds.
   */
  constructor(
    sink: ProgressSink,
    label: string,
    now: () => number = () => performance.now(),
  ) {
    this.#sink = sink;
    this.#label = label;
    this.#now = now;
  }

  /** `count` of `total` are done; redrawn on a terminal, now and then. */
  update(count: number, total: number): void {
    if (!this.#sink.terminal) return;
    const now = this.#now();
    if (now - this.#drawn < REDRAW_MS) return;
    this.#drawn = now;
    this.#sink.write(`${CLEAR_LINE}${this.#label} ${count}/${total}`);
  }

  /** The job is over: its one final line, `label` and `summary`. */
  done(summary: string): void {
    const line = `${this.#label} ${summary}\n`;
    this.#sink.write(this.#sink.terminal ? CLEAR_LINE + line : line);
  }
}
