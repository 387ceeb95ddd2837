// Copyright 2026 the sockfsm authors. MIT license.
import {
  type AddrOf,
  checkAddr,
  type Domain,
  type DomainOfAddr,
  formatAddr,
  type InetAddr,
  isWildcard,
  type SocketAddr,
  wildcardAddr,
} from "../machine/address.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketError } from "../machine/errors.ts";
import { type Backend, checkBackend } from "./backend.ts";
import { errnoOf } from "./os_error.ts";
import {
  article,
  checkSocketArgs,
  familyMismatch,
  type Socket,
  socket,
  type StateChange,
} from "./socket.ts";

/**
 * Where a socket lives: the seed's PCO. Today every socket lives in the
 * current process, `"local"`; the parameter is kept so that the two ends can
 * later be placed in different processes.
 */
export type Pco = "local";

/** The sockets of {@linkcode streamConnection}, for tracing. */
export type StreamRole = "listener" | "client" | "accepted";

/** The steps of {@linkcode streamConnection}, as a failure names them. */
export type StreamConnectionStep =
  | "check arguments"
  | "create server socket"
  | "bind server"
  | "get server port"
  | "listen"
  | "create client socket"
  | "bind client"
  | "connect client"
  | "accept"
  | "close listener";

/**
 * Options for {@linkcode streamConnection}.
 *
 * @typeParam A The type of `srvrAddr`, which types the sockets' addresses.
 */
export interface StreamConnectionOptions<A extends SocketAddr = SocketAddr> {
  /**
   * The server's address: where it binds (unless `srvrWild`) and where the
   * client connects. It must name a specific address; its port may be 0,
   * and then the returned `srvrAddr` carries the port the kernel chose.
   */
  srvrAddr: A;
  /**
   * Bind the server to the wildcard address of the domain (`0.0.0.0` or
   * `::`) with the port of `srvrAddr`. Not for unix sockets.
   *
   * @default {false}
   */
  srvrWild?: boolean;
  /** Where to bind the client before it connects; absent or null: unbound. */
  clntAddr?: SocketAddr | null;
  /**
   * The domain of both sockets.
   *
   * @default {the domain of `srvrAddr`}
   */
  domain?: DomainOfAddr<A>;
  /**
   * The protocol of both sockets: 0, or 6 (`IPPROTO_TCP`) for inet and
   * inet6.
   *
   * @default {0}
   */
  proto?: number;
  /**
   * Where the server's sockets live.
   *
   * @default {"local"}
   */
  srvr?: Pco;
  /**
   * Where the client's socket lives.
   *
   * @default {"local"}
   */
  clnt?: Pco;
  /**
   * What performs the system calls of every socket the procedure makes:
   * `"deno"`, Deno's network API (needs only `--allow-net`), or `"posix"`,
   * each call the matching libc call through FFI (needs `--allow-ffi` and
   * Linux).
   *
   * @default {"deno"}
   */
  backend?: Backend;
  /** Called after every change of state of the three sockets. */
  onTransition?: (role: StreamRole, change: StateChange) => void;
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

interface Plan {
  readonly domain: Domain;
  readonly proto: number;
  readonly srvrAddr: SocketAddr;
  readonly bindAddr: SocketAddr;
  readonly clntAddr: SocketAddr | undefined;
  readonly backend: Backend;
}

/**
 * Creates a connection with connection-oriented sockets: the procedure of
 * the same name, every step through the socket machine.
 *
 * 1. Create the server socket in `domain`; bind it to `srvrAddr`, or, with
 *    `srvrWild`, to the wildcard address with the port of `srvrAddr`.
 * 2. If the port of `srvrAddr` is 0, read the assigned port back
 *    (`getsockname`) and report it.
 * 3. Listen, with the default backlog.
 * 4. Create the client socket in `domain`; bind it to `clntAddr` if given.
 * 5. Start accepting on the server; connect the client to `srvrAddr` with
 *    the real port; wait for the accept to complete.
 * 6. Close the listening socket; the accepted socket becomes `srvrS`.
 *
 * If a step fails, every socket made so far is closed, in reverse order, and
 * the error names the step. `srvrAddr` is not modified.
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
 * @typeParam A The type of `srvrAddr`: a `{ hostname, port }` address gives
 * inet or inet6 sockets, a `{ path }` unix ones.
 * @param options The addresses, and optionally domain, protocol, wildcard,
 * backend.
 * @returns The accepted server socket, the client socket, and the server's
 * real address.
 * @throws {SocketError} Bad options (before any socket exists), or the
 * failed step, with its errno in `code` and its name in `step`.
 */
export async function streamConnection<A extends SocketAddr>(
  options: StreamConnectionOptions<A>,
): Promise<StreamConnection<DomainOfAddr<A>>> {
  const plan = checkOptions(options);
  const trace = (role: StreamRole) =>
    options.onTransition &&
    ((change: StateChange) => options.onTransition!(role, change));
  const made: Socket[] = [];
  const make = (role: StreamRole) => {
    const sock = socket({
      domain: plan.domain,
      protocol: plan.proto,
      backend: plan.backend,
      onTransition: trace(role),
    });
    made.push(sock);
    return sock;
  };
  let step: StreamConnectionStep = "create server socket";
  let failed = false;
  let accepting: Promise<Socket> | undefined;
  try {
    const listener = make("listener");
    step = "bind server";
    await listener.bind(plan.bindAddr);
    let srvrAddr = plan.srvrAddr;
    if ("port" in srvrAddr && srvrAddr.port === 0) {
      step = "get server port";
      const { port } = listener.getsockname() as InetAddr;
      srvrAddr = { ...srvrAddr, port };
    }
    step = "listen";
    await listener.listen();

    step = "create client socket";
    const clntS = make("client");
    if (plan.clntAddr !== undefined) {
      step = "bind client";
      await clntS.bind(plan.clntAddr);
    }

    accepting = listener.accept({ onTransition: trace("accepted") });
    // Awaited below; if a step fails first, closing the listener ends it, and
    // a connection accepted after the failure is closed at once.
    accepting.then((accepted) => {
      if (failed) accepted.close();
      else made.push(accepted);
    }, () => {});
    step = "connect client";
    await clntS.connect(srvrAddr);
    step = "accept";
    const srvrS = await accepting;

    step = "close listener";
    listener.close();
    // The domain follows srvrAddr's type, which checkOptions() enforced.
    return {
      srvrS,
      clntS,
      srvrAddr,
      [Symbol.dispose]() {
        clntS[Symbol.dispose]();
        srvrS[Symbol.dispose]();
      },
    } as StreamConnection<DomainOfAddr<A>>;
  } catch (error) {
    failed = true;
    for (const sock of made.reverse()) sock[Symbol.dispose]();
    // Closing the listener ends a pending accept; let it wind down (a
    // backend may still be returning from a wait) before answering.
    await accepting?.then(() => {}, () => {});
    const why = error instanceof Error ? error.message : String(error);
    throw new SocketError(
      errnoOf(error),
      "streamConnection",
      `streamConnection() failed at step "${step}": ${why}`,
      { step, cause: error },
    );
  }
}

function checkOptions(options: StreamConnectionOptions): Plan {
  const invalid = (why: string, code: Errno = "EINVAL") =>
    new SocketError(
      code,
      "streamConnection",
      `Cannot create a connection: ${why}`,
      {
        step: "check arguments",
      },
    );
  if (typeof options !== "object" || options === null) {
    throw invalid("pass an options object with at least srvrAddr");
  }
  const { srvrWild = false, srvr = "local", clnt = "local" } = options;
  if (options.srvrAddr === undefined || options.srvrAddr === null) {
    throw invalid(
      'srvrAddr is required: the server\'s address, such as { hostname: "127.0.0.1", port: 0 }',
    );
  }
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof SocketError)) throw error;
      throw new SocketError(error.code, "streamConnection", error.message, {
        step: "check arguments",
        cause: error,
      });
    }
  };
  const srvr_ = wrap(() =>
    checkAddr(options.srvrAddr, "streamConnection", "srvrAddr")
  );
  if (isWildcard(srvr_.addr)) {
    throw invalid(
      `srvrAddr ${
        formatAddr(srvr_.addr)
      } is a wildcard address, which a client cannot connect to; give a specific address and srvrWild: true`,
    );
  }
  const domain = options.domain ?? srvr_.domain;
  const proto = options.proto ?? 0;
  wrap(() => checkSocketArgs(domain, "stream", proto));
  const checkFamily = (what: string, of: Domain) => {
    const errno = familyMismatch(domain, of);
    if (errno === undefined) return;
    throw invalid(
      `${what} is ${
        article(of)
      } address but the domain is ${domain}; make them agree`,
      errno,
    );
  };
  checkFamily("srvrAddr", srvr_.domain);
  let clntAddr: SocketAddr | undefined;
  if (options.clntAddr !== undefined && options.clntAddr !== null) {
    const clnt_ = wrap(() =>
      checkAddr(options.clntAddr, "streamConnection", "clntAddr")
    );
    checkFamily("clntAddr", clnt_.domain);
    clntAddr = clnt_.addr;
  }
  if (typeof srvrWild !== "boolean") {
    throw invalid(`srvrWild must be true or false, got ${String(srvrWild)}`);
  }
  if (srvrWild && domain === "unix") {
    throw invalid(
      "srvrWild applies to inet and inet6; unix sockets have no wildcard address",
    );
  }
  for (const [name, pco] of [["srvr", srvr], ["clnt", clnt]] as const) {
    if (pco !== "local") {
      throw invalid(
        `${name} must be "local" (the current process), got ${
          JSON.stringify(pco)
        }; other processes are not supported yet`,
      );
    }
  }
  const backend = wrap(() => checkBackend(options.backend, "streamConnection"));
  const srvrAddr = srvr_.addr;
  const bindAddr = srvrWild && "port" in srvrAddr
    ? wildcardAddr(domain === "inet6" ? "inet6" : "inet", srvrAddr.port)
    : srvrAddr;
  return { domain, proto, srvrAddr, bindAddr, clntAddr, backend };
}
