// Copyright 2026 the sockfsm authors. MIT license.
import {
  type AddrOf,
  checkAddr,
  type Domain,
  type DomainOfAddr,
  type InetAddr,
  type SocketAddr,
} from "../machine/address.ts";
import { SocketError } from "../machine/errors.ts";
import {
  checkFlag,
  checkProcedureOptions,
  type ConnectionProcedureOptions,
  disposeAll,
  type ProcedurePlan,
  ProcedureRun,
  setOptions,
} from "./_procedure.ts";
import { errnoOf } from "./os_error.ts";
import type { Socket } from "./socket.ts";

/** The sockets of {@linkcode dgramConnection}, for tracing. */
export type DgramRole = "server" | "client";

/** The steps of {@linkcode dgramConnection}, as a failure names them. */
export type DgramConnectionStep =
  | "check arguments"
  | "create server socket"
  | "set server options"
  | "bind server"
  | "get server port"
  | "create client socket"
  | "set client options"
  | "bind client"
  | "get client address"
  | "connect client"
  | "connect server";

/**
 * Options for {@linkcode dgramConnection}: those of every connection
 * procedure, where the client binds, and which ends connect.
 *
 * @typeParam A The type of `srvrAddr`, which types the sockets' addresses.
 */
export interface DgramConnectionOptions<A extends SocketAddr = SocketAddr>
  extends ConnectionProcedureOptions<A, DgramRole> {
  /**
   * Where to bind the client. Absent or null: the loopback address of the
   * domain (`127.0.0.1`, `::1`) with port 0; for unix, a fresh path next to
   * the server's (`<srvrAddr.path>-clnt-<8 hex digits>`), which the
   * procedure removes when the pair is disposed or a step fails. A datagram
   * client is always bound, so that the server can answer it.
   */
  clntAddr?: SocketAddr | null;
  /**
   * Connect the client to the server (`connect(2)`: it then sends with
   * `send()` and receives only from the server).
   *
   * @default {true}
   */
  clntConnect?: boolean;
  /**
   * Connect the server to the client, after the client is connected.
   *
   * @default {true, but false with `srvrWild`}
   */
  srvrConnect?: boolean;
}

/**
 * The pair {@linkcode dgramConnection} returns.
 *
 * @typeParam D The sockets' address family, which types their addresses.
 */
export interface DgramConnection<D extends Domain = Domain> extends Disposable {
  /** The server's socket. */
  readonly srvrS: Socket<D>;
  /** The client's socket. */
  readonly clntS: Socket<D>;
  /**
   * Where the client reaches the server: `srvrAddr` with the port the
   * server really bound (also with `srvrWild`, whose socket is bound to the
   * wildcard).
   */
  readonly srvrAddr: AddrOf<D>;
  /** Where the server reaches the client: the client's bound address. */
  readonly clntAddr: AddrOf<D>;
}

interface DgramPlan extends ProcedurePlan {
  readonly clntAddr: SocketAddr;
  /** Whether the procedure made `clntAddr` up (a unix path to remove). */
  readonly madeUpPath: boolean;
  readonly clntConnect: boolean;
  readonly srvrConnect: boolean;
}

/**
 * Creates a "connection" with datagram sockets: two sockets bound to known
 * addresses, each connected to the other unless told otherwise, as TE's
 * `rpc_dgram_connection_gen_wild()` makes them, every step through the
 * socket machine.
 *
 * 1. Create the server socket (`SOCK_DGRAM`) in `domain`; set `srvrOptions`
 *    on it; bind it to `srvrAddr`, or, with `srvrWild`, to the wildcard
 *    address with the port of `srvrAddr`.
 * 2. If the port of `srvrAddr` is 0, read the assigned port back
 *    (`getsockname`).
 * 3. Create the client socket; set `clntOptions` on it; bind it to
 *    `clntAddr` (by default the loopback address with port 0, or a fresh
 *    unix path); read its address back (`getsockname`).
 * 4. If `clntConnect`, connect the client to the server's address.
 * 5. If `srvrConnect`, connect the server to the client's address.
 *
 * If a step fails, every socket made so far is closed, in reverse order, and
 * the error names the step. The caller's objects are not modified. An abort
 * of `signal`, and an `onTransition` that throws, end it as they end
 * {@linkcode streamConnection}: every socket closed, and the rejection
 * `ECANCELED` (`ETIMEDOUT` for `AbortSignal.timeout()`) naming the step, or
 * the tracer's exception, unchanged.
 *
 * @example Datagrams both ways
 * ```ts
 * import { dgramConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using pair = await dgramConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *   backend: "posix",
 * });
 * await pair.clntS.send(new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(await pair.srvrS.recv()), "ping");
 * await pair.srvrS.send(new TextEncoder().encode("pong"));
 * assert.equal(new TextDecoder().decode(await pair.clntS.recv()), "pong");
 * assert.deepEqual(pair.srvrS.getpeername(), pair.clntAddr);
 * assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
 * ```
 *
 * @example A wildcard server answers with sendto()
 * ```ts
 * import { dgramConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using pair = await dgramConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *   srvrWild: true, // and so srvrConnect: false
 *   backend: "posix",
 * });
 * assert.equal(pair.srvrS.getsockname().hostname, "0.0.0.0");
 * await pair.clntS.send(new TextEncoder().encode("ping"));
 * const { addr } = await pair.srvrS.recvfrom();
 * assert.deepEqual(addr, pair.clntAddr);
 * await pair.srvrS.sendto(new TextEncoder().encode("pong"), pair.clntAddr);
 * assert.equal(new TextDecoder().decode(await pair.clntS.recv()), "pong");
 * ```
 *
 * @typeParam A The type of `srvrAddr`: a `{ hostname, port }` address gives
 * inet or inet6 sockets, a `{ path }` unix ones.
 * @example Refused before any socket, with a signal aborted already
 * ```ts
 * import { dgramConnection, type SocketError } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(
 *   dgramConnection({
 *     srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *     signal: AbortSignal.abort(),
 *   }),
 *   (error: SocketError) =>
 *     error.code === "ECANCELED" && error.step === "check arguments",
 * );
 * ```
 *
 * @param options The addresses, and optionally domain, protocol, wildcard,
 * which ends connect, socket options, backend, tracer and signal.
 * @returns The two sockets and their real addresses.
 * @throws {SocketError} Bad options, an unknown option or an aborted
 * signal (before any socket exists, `step: "check arguments"`); the failed
 * step, with its errno in `code`, its name in `step` and its socket's
 * state in `state`; or `ECANCELED`/`ETIMEDOUT` when `signal` aborts.
 * @throws {unknown} What `onTransition` threw, unchanged.
 */
export async function dgramConnection<A extends SocketAddr>(
  options: DgramConnectionOptions<A>,
): Promise<DgramConnection<DomainOfAddr<A>>> {
  const plan = checkOptions(options);
  const run = new ProcedureRun<DgramRole, DgramConnectionStep>(
    "dgramConnection",
    plan,
    options.onTransition,
    "create server socket",
  );
  /** The unix path the procedure made up, once the client may hold it. */
  let madeUp: string | undefined;
  try {
    const made = run.create("server", plan.srvr);
    const srvrS = made instanceof Promise ? await made : made;
    run.at("set server options", srvrS);
    if (plan.srvrOptions.length > 0) await setOptions(srvrS, plan.srvrOptions);
    run.at("bind server", srvrS);
    await srvrS.bind(plan.bindAddr);
    let srvrAddr = plan.srvrAddr;
    if ("port" in srvrAddr && srvrAddr.port === 0) {
      run.at("get server port", srvrS);
      const { port } = srvrS.getsockname() as InetAddr;
      srvrAddr = { ...srvrAddr, port };
    }

    run.at("create client socket");
    const making = run.create("client", plan.clnt);
    const clntS = making instanceof Promise ? await making : making;
    run.at("set client options", clntS);
    if (plan.clntOptions.length > 0) await setOptions(clntS, plan.clntOptions);
    run.at("bind client", clntS);
    // A bind stopped by the signal may have made the file: it is ours to
    // remove, unless the path was taken (then the file is someone else's).
    if (plan.madeUpPath) madeUp = (plan.clntAddr as { path: string }).path;
    try {
      await clntS.bind(plan.clntAddr);
    } catch (error) {
      if (errnoOf(error) === "EADDRINUSE") madeUp = undefined;
      throw error;
    }
    run.at("get client address", clntS);
    const clntAddr = clntS.getsockname();

    if (plan.clntConnect) {
      run.at("connect client", clntS);
      await clntS.connect(srvrAddr);
    }
    if (plan.srvrConnect) {
      run.at("connect server", srvrS);
      await srvrS.connect(clntAddr);
    }
    run.done();
    // The domain follows srvrAddr's type, which checkOptions() enforced.
    return {
      srvrS,
      clntS,
      srvrAddr,
      clntAddr,
      [Symbol.dispose]: disposer(clntS, srvrS, madeUp),
    } as DgramConnection<DomainOfAddr<A>>;
  } catch (error) {
    const failure = await run.fail(error);
    removeName(madeUp);
    throw failure;
  }
}

/**
 * What disposes a pair: closes both sockets, then removes the client's
 * made-up path. Made apart so that it holds only them, not the run.
 */
function disposer(
  clntS: Socket,
  srvrS: Socket,
  path: string | undefined,
): () => void {
  return () => {
    try {
      disposeAll([clntS, srvrS]);
    } finally {
      removeName(path);
    }
  };
}

/** The options only {@linkcode dgramConnection} takes. */
const DGRAM_KEYS: readonly string[] = ["clntConnect", "srvrConnect"];

function checkOptions(options: DgramConnectionOptions): DgramPlan {
  const op = "dgramConnection";
  const plan = checkProcedureOptions(options, op, "dgram", DGRAM_KEYS);
  checkFlag(op, "clntConnect", options.clntConnect);
  checkFlag(op, "srvrConnect", options.srvrConnect);
  const connects = {
    clntConnect: options.clntConnect ?? true,
    srvrConnect: options.srvrConnect ?? !plan.srvrWild,
  };
  if (plan.clntAddr !== undefined) {
    return { ...plan, ...connects, clntAddr: plan.clntAddr, madeUpPath: false };
  }
  const { srvrAddr } = plan;
  if (!("path" in srvrAddr)) {
    const hostname = plan.domain === "inet6" ? "::1" : "127.0.0.1";
    const clntAddr = { hostname, port: 0 };
    return { ...plan, ...connects, clntAddr, madeUpPath: false };
  }
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
  const path = `${srvrAddr.path}-clnt-${suffix}`;
  try {
    checkAddr({ path }, op, "the client's path");
  } catch (error) {
    if (!(error instanceof SocketError)) throw error;
    throw new SocketError(
      error.code,
      op,
      `Cannot create a connection: the client's path next to the server's, ${
        JSON.stringify(path)
      }, is too long for a unix address; pass clntAddr, or a shorter srvrAddr path`,
      { step: "check arguments", cause: error },
    );
  }
  return { ...plan, ...connects, clntAddr: { path }, madeUpPath: true };
}

/**
 * Removes the socket file of a path the procedure made up, if the program
 * may write there (so that Deno never prompts). Best effort: a file already
 * gone, or one that cannot be removed, is left as it is.
 */
function removeName(path: string | undefined): void {
  if (path === undefined) return;
  const write = Deno.permissions.querySync({ name: "write", path });
  if (write.state !== "granted") return;
  try {
    Deno.removeSync(path);
  } catch {
    // Gone already (a backend may remove it on close), or not ours to fix.
  }
}
