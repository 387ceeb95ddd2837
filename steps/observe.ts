// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The kernel's answers to the model's scenarios: {@linkcode observe} runs a
 * scenario of `predict()` on a fresh real socket, and
 * {@linkcode observeConnection} one of `predictConnection()` on three, with
 * the harness peers the vocabulary describes, and both answer in the same
 * words as the model. `predict(ops, o)` deep-equal to
 * `await observe(ops, o)` is then a conformance check in one line.
 *
 * @module
 */
import { checkOps, checkOptions } from "../machine/_check_scenario.ts";
import type { Domain } from "../machine/address.ts";
import { CONNECTION_OPS, type ConnectionOp } from "../machine/connection.ts";
import { SocketError } from "../machine/errors.ts";
import type { KernelName } from "../machine/kernel.ts";
import { describe } from "../machine/options.ts";
import { type Op, OPS, type Result } from "../machine/predict.ts";
import type { SocketType } from "../machine/socket_machine.ts";
import { runConnection } from "./connection_harness.ts";
import { runScenario } from "./harness.ts";
import type { Libc } from "./libc.ts";
import { leaseLibc } from "./libc_lease.ts";
import { errnoOf, libcUnavailable } from "./os_error.ts";

/** Options for {@linkcode observe}: those of `predict()`. */
export interface ObserveOptions {
  /**
   * The socket's address family.
   *
   * @default {"inet"}
   */
  domain?: Domain;
  /**
   * The socket type.
   *
   * @default {"stream"}
   */
  type?: SocketType;
  /**
   * Whether the socket is `O_NONBLOCK` from creation.
   *
   * @default {false}
   */
  nonblocking?: boolean;
  /**
   * Ignored: the running kernel answers for itself. It is accepted (and
   * checked to name a profile, as `predict()` checks it) so that one options
   * object serves both `predict()` and {@linkcode observe}; to know which
   * profile the running kernel fits, ask `detectKernel()`.
   */
  kernel?: KernelName;
}

/** Options for {@linkcode observeConnection}: those of `predictConnection()`. */
export interface ObserveConnectionOptions {
  /**
   * The domain of the three stream sockets.
   *
   * @default {"inet"}
   */
  domain?: Domain;
  /**
   * Ignored, as {@linkcode ObserveOptions}' `kernel` is: the running kernel
   * answers for itself.
   */
  kernel?: KernelName;
}

/**
 * The kernel's answer to a scenario of `predict()`: runs `ops` as libc calls
 * on one fresh real socket under test, with the harness peers each op
 * describes (a live peer for `connect`, a port or socket file with nothing
 * bound for `connect_refused`, ...), on loopback or in a temporary directory,
 * and resolves to one result per op in `predict()`'s vocabulary. Everything
 * it opens is closed before it settles.
 *
 * It needs Linux and `--allow-ffi` (the calls go through libc, so that the
 * kernel answers each one itself), and for `"unix"` sockets `--allow-read`
 * and `--allow-write` (their files live in a temporary directory).
 *
 * @example The kernel answers as the model predicts
 * ```ts
 * import { detectKernel, observe, predict } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * // A listening socket cannot connect: TCP says EISCONN.
 * const ops = ["bind", "listen", "connect"] as const;
 * assert.deepEqual(await observe(ops), ["ok", "ok", "EISCONN"]);
 *
 * // One options object for both: observe() ignores the kernel profile.
 * const options = { domain: "unix", kernel: await detectKernel() } as const;
 * assert.deepEqual(predict(ops, options), ["ok", "ok", "EINVAL"]);
 * assert.deepEqual(await observe(ops, options), predict(ops, options));
 * ```
 *
 * @example A bad scenario is refused before any call
 * ```ts
 * import { observe, SocketError } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const ops = JSON.parse('["bind", "dance"]'); // untyped input
 * await assert.rejects(observe(ops), (error: unknown) => {
 *   assert.ok(error instanceof SocketError);
 *   assert.equal(error.code, "EINVAL");
 *   assert.match(error.message, /Cannot observe op "dance": use one of bind,/);
 *   return true;
 * });
 * ```
 *
 * @param ops The scenario.
 * @param options The socket's domain, type and blocking mode.
 * @returns One result per op.
 * @throws {SocketError} `EINVAL` for input `predict()` refuses (ops that are
 * not an array of `Op`s, an unknown domain, type or kernel profile); `EACCES`
 * without `--allow-ffi` (or, for unix sockets, `--allow-write`);
 * `EOPNOTSUPP` off Linux; and the errno of a call the harness itself needed
 * and the kernel refused (such as `EADDRNOTAVAIL` for inet6 where IPv6 is
 * off).
 */
export function observe(
  ops: readonly Op[],
  options: ObserveOptions = {},
): Promise<Result[]> {
  return Promise.try(() => {
    checkOps("observe", ops, OPS);
    const { domain, type, nonblocking } = checkOptions("observe", options);
    return onKernel(
      `Cannot observe a scenario on a fresh ${domain} ${type} socket`,
      (libc) => runScenario(libc, ops, { domain, type, nonblocking }),
    );
  });
}

/**
 * The kernel's answer to a scenario of `predictConnection()`: runs `ops` as
 * libc calls on a fresh real listener and client (and the socket the
 * listener accepts), and resolves to one result per op in the same
 * vocabulary (`"noop"` for an op of the accepted socket before there is
 * one). Everything it opens is closed before it settles. It needs what
 * {@linkcode observe} needs.
 *
 * @example Connect before listen is refused, by the kernel too
 * ```ts
 * import { observeConnection, predictConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const ops = ["listener.bind", "client.connect", "listener.listen"] as const;
 * assert.deepEqual(await observeConnection(ops), ["ok", "ECONNREFUSED", "ok"]);
 * assert.deepEqual(
 *   await observeConnection(ops, { domain: "unix" }),
 *   predictConnection(ops, { domain: "unix" }),
 * );
 * ```
 *
 * @param ops The scenario.
 * @param options The domain of the three sockets.
 * @returns One result per op.
 * @throws {SocketError} As {@linkcode observe} does, for a scenario
 * `predictConnection()` refuses or a system that cannot run it.
 */
export function observeConnection(
  ops: readonly ConnectionOp[],
  options: ObserveConnectionOptions = {},
): Promise<Result[]> {
  return Promise.try(() => {
    checkOps("observe", ops, CONNECTION_OPS);
    const { domain } = checkOptions("observe", options);
    return onKernel(
      `Cannot observe a scenario on the ${domain} sockets of a connection`,
      (libc) => runConnection(libc, ops, domain),
    );
  });
}

/**
 * `run` with a share of the libc handle, and its errors as
 * {@linkcode SocketError}s whose messages begin with `what`.
 */
function onKernel<T>(what: string, run: (libc: Libc) => T): T {
  let lease;
  try {
    lease = leaseLibc();
  } catch (error) {
    throw libcUnavailable(
      error,
      what,
      "use predict() for the model's answer alone",
    );
  }
  try {
    return run(lease.libc);
  } catch (error) {
    throw harnessError(error, what);
  } finally {
    lease.release();
  }
}

/** What the harness threw, as a {@linkcode SocketError}. */
function harnessError(error: unknown, what: string): SocketError {
  const message = error instanceof Error ? error.message : describe(error);
  const clause = message.charAt(0).toLowerCase() + message.slice(1);
  const denied = error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied;
  const advice = denied
    ? "unix sockets live in a temporary directory: run with --allow-read --allow-write"
    : "the harness needs the loopback addresses (127.0.0.1, ::1) and a temporary directory";
  return new SocketError(
    denied ? "EACCES" : errnoOf(error),
    "socket",
    `${what}: ${clause}; ${advice}`,
    { cause: error },
  );
}
