// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Reading and accepting ahead, for the deno backend's streams. Deno cannot
 * ask whether a connection has data, or a listener a connection, without
 * taking it: so a non-blocking socket (and a socket asked `ready("read")`)
 * keeps one read, or one accept, going in the background, and the next call
 * takes what it brought first. A blocking socket that never asked
 * `ready()` has none, and reads and accepts straight from Deno.
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { DenoListener } from "./deno_connection.ts";
import type { Turns } from "./_turns.ts";

/** How many bytes one background read takes at most. */
export const READ_AHEAD_BYTES = 65536;

/**
 * How many connections the background accepts take at most before one is
 * accepted by the caller (Linux's queue is the listen backlog).
 */
export const ACCEPT_AHEAD = 128;

/** One read kept going in the background on a connection. */
export class ReadAhead {
  readonly #conn: Connection;
  readonly #changed: () => void;
  #bytes: Uint8Array | undefined;
  #end = false;
  #error: { error: unknown } | undefined;
  #reading: Promise<void> | undefined;
  #stopped = false;

  /**
   * @param conn The connection to read from.
   * @param changed Called when a background read ends.
   */
  constructor(conn: Connection, changed: () => void) {
    this.#conn = conn;
    this.#changed = changed;
  }

  /** Whether a read would not wait: data, end of stream or an error is here. */
  get ready(): boolean {
    return this.#bytes !== undefined || this.#end || this.#error !== undefined;
  }

  /** Whether a background read is going on. */
  get reading(): boolean {
    return this.#reading !== undefined;
  }

  /** Starts a background read, unless one goes on or something is here. */
  fill(): void {
    if (this.#stopped || this.#reading || this.ready) return;
    const buffer = new Uint8Array(READ_AHEAD_BYTES);
    this.#reading = this.#conn.read(buffer).then(
      (n) => {
        if (n === null) this.#end = true;
        else if (n > 0) this.#bytes = buffer.subarray(0, n);
      },
      (error) => {
        if (!this.#stopped) this.#error = { error };
      },
    ).finally(() => {
      this.#reading = undefined;
      this.#changed();
    });
  }

  /**
   * Takes what is here into `buffer` (call it only when `ready`): the
   * count, or `null` at end of stream; an error is thrown once, and end of
   * stream follows it, as Linux reports a reset once.
   */
  take(buffer: Uint8Array): number | null {
    const bytes = this.#bytes;
    if (bytes !== undefined) {
      const n = Math.min(bytes.length, buffer.length);
      buffer.set(bytes.subarray(0, n));
      this.#bytes = n < bytes.length ? bytes.subarray(n) : undefined;
      return n;
    }
    const failed = this.#error;
    if (failed !== undefined) {
      this.#error = undefined;
      this.#end = true;
      throw failed.error;
    }
    return null;
  }

  /** Ends reading ahead: the connection is being closed. */
  stop(): void {
    this.#stopped = true;
  }
}

/** Accepts kept going in the background on a listener. */
export class AcceptAhead {
  readonly #listener: DenoListener;
  readonly #turns: Turns;
  readonly #changed: () => void;
  #queue: Connection[] = [];
  #error: { error: unknown } | undefined;
  #accepting = false;
  #stopped = false;

  /**
   * @param listener The listener to accept from.
   * @param turns The turns the listener's accepts take (Deno's listener
   * takes one at a time).
   * @param changed Called when a background accept ends.
   */
  constructor(listener: DenoListener, turns: Turns, changed: () => void) {
    this.#listener = listener;
    this.#turns = turns;
    this.#changed = changed;
  }

  /** Whether an accept would not wait: a connection or an error is here. */
  get ready(): boolean {
    return this.#queue.length > 0 || this.#error !== undefined;
  }

  /** Keeps one accept going, until the queue is full. */
  fill(): void {
    if (this.#stopped || this.#accepting || this.#error) return;
    if (this.#queue.length >= ACCEPT_AHEAD) return;
    this.#accepting = true;
    this.#acceptOne().finally(() => {
      this.#accepting = false;
      this.fill();
      this.#changed();
    });
  }

  async #acceptOne(): Promise<void> {
    const turn = this.#turns.take();
    if (turn) await turn;
    try {
      if (this.#stopped) return;
      const connection = await this.#listener.accept();
      if (this.#stopped) connection.close();
      else this.#queue.push(connection);
    } catch (error) {
      if (!this.#stopped) this.#error = { error };
    } finally {
      this.#turns.done();
    }
  }

  /** Takes the first connection here (call it only when `ready`). */
  take(): Connection {
    const connection = this.#queue.shift();
    if (connection !== undefined) return connection;
    const failed = this.#error!;
    this.#error = undefined;
    throw failed.error;
  }

  /** Ends accepting ahead, and closes what was accepted and not taken. */
  stop(): void {
    this.#stopped = true;
    for (const connection of this.#queue) connection.close();
    this.#queue = [];
  }
}
