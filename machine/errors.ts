// Copyright 2026 the sockfsm authors. MIT license.
import type { ProcedureStep } from "../steps/_procedure.ts";
import type { Errno } from "./errno.ts";
import type { SocketState } from "./socket_machine.ts";

export type { ProcedureStep };

/** The socket calls and procedures a {@linkcode SocketError} can name. */
export type SocketOp =
  | "socket"
  | "bind"
  | "listen"
  | "accept"
  | "connect"
  | "send"
  | "recv"
  | "shutdown"
  | "close"
  | "getsockname"
  | "getpeername"
  | "setsockopt"
  | "getsockopt"
  | "sendto"
  | "recvfrom"
  | "disconnect"
  | "wait"
  | "streamConnection"
  | "dgramConnection"
  | "genConnection";

/** Options for the {@linkcode SocketError} constructor. */
export interface SocketErrorOptions {
  /**
   * The state the socket was in when the call was made. Left out only where
   * there is no socket: `socket()` itself, and pure functions.
   */
  state?: SocketState | undefined;
  /** For a procedure, the step that failed (`"connect client"`). */
  step?: ProcedureStep | undefined;
  /** The error that caused this one. */
  cause?: unknown;
  /**
   * The name of the PCO the socket lives in, for a socket of a worker or
   * process PCO (see `workerPco()`, `processPco()`).
   */
  pco?: string | undefined;
}

/**
 * The one error class of sockfsm: a socket call was refused, by the model
 * before any system call, or by the operating system.
 *
 * `code` is the Linux errno name, `op` the call, `state` the socket's state
 * when the call was made, and `step` the step of a procedure that failed.
 *
 * @example Catch a refused call
 * ```ts
 * import { socket, SocketError } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const sock = socket({ domain: "inet" });
 * await assert.rejects(sock.accept(), (error: unknown) => {
 *   assert.ok(error instanceof SocketError);
 *   assert.equal(error.code, "EINVAL");
 *   assert.equal(error.op, "accept");
 *   assert.equal(error.state, "created");
 *   return true;
 * });
 * sock.close();
 * ```
 */
export class SocketError extends Error {
  /** The Linux errno name, such as `"EINVAL"`. */
  readonly code: Errno;
  /** The call or procedure that failed. */
  readonly op: SocketOp;
  /**
   * The socket's state when the call was made; `undefined` only where there
   * was no socket (`socket()` itself, pure functions).
   */
  readonly state: SocketState | undefined;
  /** The step of a procedure that failed, if a procedure failed. */
  readonly step: ProcedureStep | undefined;
  /**
   * The PCO (point of control and observation) the failed call ran in, by
   * its name, when that is not the calling process: a `workerPco()` or a
   * `processPco()`. `undefined` for the calling process.
   */
  readonly pco: string | undefined;

  /**
   * Constructs a new instance.
   *
   * @param code The Linux errno name.
   * @param op The call or procedure that failed.
   * @param message What was wrong and what to do about it.
   * @param options The state, step, cause and PCO.
   */
  constructor(
    code: Errno,
    op: SocketOp,
    message: string,
    options?: SocketErrorOptions | null,
  ) {
    super(message, { cause: options?.cause });
    this.name = "SocketError";
    this.code = code;
    this.op = op;
    this.state = options?.state;
    this.step = options?.step;
    this.pco = options?.pco;
  }
}
