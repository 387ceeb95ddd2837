// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Calls that take turns: one at a time, in the order they asked. A call
 * that finds no one ahead of it goes on at once, with no promise made, so
 * the usual case costs nothing.
 *
 * ```ts ignore
 * const wait = turns.take();
 * if (wait) await wait;
 * try {
 *   // ... this call's turn
 * } finally {
 *   turns.done();
 * }
 * ```
 */
export class Turns {
  #busy = false;
  #waiting: (() => void)[] | undefined;

  /**
   * Takes a turn: `undefined` when it is this call's at once, else a promise
   * that resolves when it is. Every turn taken must end with `done()`.
   */
  take(): Promise<void> | undefined {
    if (!this.#busy) {
      this.#busy = true;
      return undefined;
    }
    return new Promise((resolve) => (this.#waiting ??= []).push(resolve));
  }

  /** Ends the current turn, and hands it to the next in line. */
  done(): void {
    const next = this.#waiting?.shift();
    if (next === undefined) this.#busy = false;
    else next();
  }
}
