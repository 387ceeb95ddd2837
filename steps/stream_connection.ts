// Copyright 2026 the sockfsm authors. MIT license.
import type {
  AddrOf,
  Domain,
  DomainOfAddr,
  InetAddr,
  SocketAddr,
} from "../machine/address.ts";
import {
  checkProcedureOptions,
  type ConnectionProcedureOptions,
  disposeAll,
  type ProcedurePlan,
  ProcedureRun,
  setOptions,
} from "./_procedure.ts";
import type { Socket } from "./socket.ts";

/** The sockets of {@linkcode streamConnection}, for tracing. */
export type StreamRole = "listener" | "client" | "accepted";

/** The steps of {@linkcode streamConnection}, as a failure names them. */
export type StreamConnectionStep =
  | "check arguments"
  | "create server socket"
  | "set server options"
  | "bind server"
  | "get server port"
  | "listen"
  | "create client socket"
  | "set client options"
  | "bind client"
  | "connect client"
  | "accept"
  | "close listener";

/**
 * Options for {@linkcode streamConnection}: those of every connection
 * procedure (where each end lives among them), and where the client binds.
 *
 * @typeParam A The type of `srvrAddr`, which types the sockets' addresses.
 */
export interface StreamConnectionOptions<A extends SocketAddr = SocketAddr>
  extends ConnectionProcedureOptions<A, StreamRole> {
  /** Where to bind the client before it connects; absent or null: unbound. */
  clntAddr?: SocketAddr | null;
}

/**
 * The connected pair {@linkcode streamConnection} returns.
 *
 * @typeParam D The sockets' address family, which types their addresses.
 */
export interface StreamConnection<D extends Domain = Domain>
  extends Disposable {
  /** The server's end: the socket accepted from the listener. */
  readonly srvrS: Socket<D>;
  /** The client's end. */
  readonly clntS: Socket<D>;
  /** `srvrAddr` with the port the server really listened on. */
  readonly srvrAddr: AddrOf<D>;
}

/**
 * Creates a connection with connection-oriented sockets: the procedure of
 * the same name, every step through the socket machine.
 *
 * 1. Create the server socket in `domain`; set `srvrOptions` on it; bind it
 *    to `srvrAddr`, or, with `srvrWild`, to the wildcard address with the
 *    port of `srvrAddr`.
 * 2. If the port of `srvrAddr` is 0, read the assigned port back
 *    (`getsockname`) and report it.
 * 3. Listen, with the default backlog.
 * 4. Create the client socket in `domain`; set `clntOptions` on it; bind it
 *    to `clntAddr` if given.
 * 5. Start accepting on the server; connect the client to `srvrAddr` with
 *    the real port; wait for the accept to complete.
 * 6. Close the listening socket; the accepted socket becomes `srvrS`.
 *
 * `srvrOptions` are set on the listening socket; the accepted socket has
 * what Linux copies from its listener (`SO_KEEPALIVE`, `TCP_NODELAY`,
 * buffer sizes among them). If a step fails, every socket made so far is
 * closed, in reverse order, and the error names the step. The caller's
 * objects are not modified.
 *
 * An abort of `signal` stops the procedure at once, at whichever step it
 * is (a connect or an accept that waits included), closes every socket it
 * made, and rejects with `ECANCELED` (`ETIMEDOUT` for
 * `AbortSignal.timeout()`) naming that step. An `onTransition` that throws
 * never reaches the socket machine: the step completes, every socket is
 * closed, and the procedure rejects with the tracer's exception, unchanged.
 *
 * @example A connected pair on loopback
 * ```ts
 * import { streamConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using pair = await streamConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *   clntAddr: { hostname: "127.0.0.1", port: 0 },
 * });
 * assert.equal(pair.srvrS.state, "connected");
 * assert.deepEqual(pair.srvrS.getpeername(), pair.clntS.getsockname());
 * assert.ok(pair.srvrAddr.port > 0); // an inet address: no cast
 * ```
 *
 * @example Options set before bind(), and refused before any socket
 * ```ts
 * import { SocketError, streamConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using pair = await streamConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *   backend: "posix",
 *   clntOptions: { TCP_NODELAY: true },
 * });
 * assert.equal(await pair.clntS.getsockopt("TCP_NODELAY"), true);
 *
 * await assert.rejects(
 *   streamConnection({
 *     srvrAddr: { path: "/tmp/never-made.sock" },
 *     clntOptions: { TCP_NODELAY: true }, // a unix socket has no TCP level
 *   }),
 *   (error: SocketError) =>
 *     error.step === "check arguments" && error.code === "EOPNOTSUPP",
 * );
 * ```
 *
 * @example Bounded by a signal
 * ```ts
 * import { type SocketError, streamConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const controller = new AbortController();
 * await assert.rejects(
 *   streamConnection({
 *     srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *     signal: controller.signal,
 *     onTransition(role, change) {
 *       if (role === "listener" && change.to === "listening") {
 *         controller.abort(); // stop before the client exists
 *       }
 *     },
 *   }),
 *   (error: SocketError) =>
 *     error.code === "ECANCELED" && error.step === "listen" &&
 *     error.state === "listening",
 * );
 * ```
 *
 * @typeParam A The type of `srvrAddr`: a `{ hostname, port }` address gives
 * inet or inet6 sockets, a `{ path }` unix ones.
 * @param options The addresses, and optionally domain, protocol, wildcard,
 * socket options, backend, tracer and signal.
 * @returns The accepted server socket, the client socket, and the server's
 * real address.
 * @throws {SocketError} Bad options, an unknown option or an aborted
 * signal (before any socket exists, `step: "check arguments"`); the failed
 * step, with its errno in `code`, its name in `step` and its socket's
 * state in `state`; or `ECANCELED`/`ETIMEDOUT` when `signal` aborts.
 * @throws {unknown} What `onTransition` threw, unchanged.
 */
export async function streamConnection<A extends SocketAddr>(
  options: StreamConnectionOptions<A>,
): Promise<StreamConnection<DomainOfAddr<A>>> {
  const plan = checkOptions(options);
  const run = new ProcedureRun<StreamRole, StreamConnectionStep>(
    "streamConnection",
    plan,
    options.onTransition,
    "create server socket",
  );
  let accepting: Promise<Socket> | undefined;
  try {
    const made = run.create("listener", plan.srvr);
    const listener = made instanceof Promise ? await made : made;
    run.at("set server options", listener);
    if (plan.srvrOptions.length > 0) {
      await setOptions(listener, plan.srvrOptions);
    }
    run.at("bind server", listener);
    await listener.bind(plan.bindAddr);
    let srvrAddr = plan.srvrAddr;
    if ("port" in srvrAddr && srvrAddr.port === 0) {
      run.at("get server port", listener);
      const { port } = listener.getsockname() as InetAddr;
      srvrAddr = { ...srvrAddr, port };
    }
    run.at("listen", listener);
    await listener.listen();

    run.at("create client socket");
    const making = run.create("client", plan.clnt);
    const clntS = making instanceof Promise ? await making : making;
    run.at("set client options", clntS);
    if (plan.clntOptions.length > 0) await setOptions(clntS, plan.clntOptions);
    if (plan.clntAddr !== undefined) {
      run.at("bind client", clntS);
      await clntS.bind(plan.clntAddr);
    }

    // Awaited below; if a step fails first, closing the listener ends it, and
    // a connection accepted after the failure is closed at once.
    accepting = listener.accept({ onTransition: run.trace("accepted") });
    // A rejection while connect() runs is the catch below's to take.
    accepting.catch(ignore);
    run.at("connect client", clntS);
    await clntS.connect(srvrAddr);
    run.at("accept", listener);
    const srvrS = await accepting;
    accepting = undefined;
    run.adopt(srvrS);

    run.at("close listener", listener);
    listener.close();
    run.done();
    // The domain follows srvrAddr's type, which checkOptions() enforced.
    return {
      srvrS,
      clntS,
      srvrAddr,
      [Symbol.dispose]: disposePair,
    } as StreamConnection<DomainOfAddr<A>>;
  } catch (error) {
    const failure = await run.fail(error);
    // Closing the listener ends a pending accept; let it wind down (a
    // backend may still be returning from a wait) before answering, and
    // close what it accepted meanwhile.
    await accepting?.then((accepted) => run.adopt(accepted), () => {});
    throw failure;
  }
}

function ignore(): void {}

/**
 * Disposes a pair (`this`): closes both sockets. One function serves every
 * pair, so that an open pair holds only its sockets, not the run.
 */
function disposePair(this: StreamConnection): void {
  disposeAll([this.clntS, this.srvrS]);
}

/** The options only {@linkcode streamConnection} takes. */
const STREAM_KEYS: readonly string[] = [];

function checkOptions(options: StreamConnectionOptions): ProcedurePlan {
  return checkProcedureOptions(
    options,
    "streamConnection",
    "stream",
    STREAM_KEYS,
  );
}
