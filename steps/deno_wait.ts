// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Waiting in the deno backend: a call that must wait (a blocking read with
 * nothing queued, `ready()`) awaits the next change its socket announces,
 * then looks again. Nothing polls: each wait is a promise that the socket's
 * own events (data, a connection, close) settle.
 *
 * @module
 */
import { SocketError, type SocketOp } from "../machine/errors.ts";

/** The changes of one socket's state, which waits await. */
export class Changes {
  /** The waits, made by the first (most sockets never wait). */
  #waiting: Set<() => void> | undefined;

  /** Wakes every wait, which looks at the socket again. */
  notify(): void {
    const waiting = this.#waiting;
    if (waiting === undefined || waiting.size === 0) return;
    const woken = [...waiting];
    waiting.clear();
    for (const wake of woken) wake();
  }

  /**
   * Resolves at the next `notify()`.
   *
   * @throws {SocketError} `EINTR` when `signal` aborts first, with the
   * signal's reason as `cause`.
   */
  next(op: SocketOp, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(interrupted(op, signal));
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener("abort", abort);
        resolve();
      };
      const waiting = this.#waiting ??= new Set();
      const abort = () => {
        waiting.delete(wake);
        reject(interrupted(op, signal!));
      };
      waiting.add(wake);
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /**
   * Waits until `ready()` says so, looking again at each change.
   *
   * @throws {SocketError} `EBADF` once `closed()` says so, `EINTR` when
   * `signal` aborts.
   */
  async until(
    op: SocketOp,
    ready: () => boolean,
    closed: () => boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    for (let waited = false;; waited = true) {
      if (closed()) throw closedError(op, waited);
      if (ready()) return;
      await this.next(op, signal);
    }
  }
}

/** The error of a wait that `signal` ended: `EINTR`, the reason as cause. */
export function interrupted(op: SocketOp, signal: AbortSignal): SocketError {
  return new SocketError(
    "EINTR",
    op,
    `Cannot finish ${op}(): EINTR, the wait was aborted`,
    { cause: signal.reason },
  );
}

/**
 * `EBADF`: the socket is closed (`waited`: it was closed while the call was
 * in progress).
 */
export function closedError(op: SocketOp, waited: boolean): SocketError {
  return new SocketError(
    "EBADF",
    op,
    waited
      ? `Cannot finish ${op}(): EBADF, the socket was closed while the call was in progress`
      : `Cannot ${op}(): EBADF, the socket is closed`,
  );
}

/**
 * `EAGAIN` of a non-blocking socket (`O_NONBLOCK`): the call would have to
 * wait for `what`.
 */
export function wouldBlock(op: SocketOp, what: string): SocketError {
  return new SocketError(
    "EAGAIN",
    op,
    `Cannot ${op}() at once: EAGAIN, the socket is non-blocking and ${what}; wait with ready() and call again`,
  );
}
