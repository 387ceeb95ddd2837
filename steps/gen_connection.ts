// Copyright 2026 the sockfsm authors. MIT license.
import type { Domain, DomainOfAddr, SocketAddr } from "../machine/address.ts";
import { describe } from "../machine/options.ts";
import type { SocketType } from "../machine/socket_machine.ts";
import { SocketError } from "../machine/errors.ts";
import { checkKeys, invalidArgument } from "./_procedure.ts";
import {
  type DgramConnection,
  dgramConnection,
  type DgramConnectionOptions,
  type DgramRole,
} from "./dgram_connection.ts";
import type { StateChange } from "./socket.ts";
import {
  type StreamConnection,
  streamConnection,
  type StreamConnectionOptions,
  type StreamRole,
} from "./stream_connection.ts";

/**
 * Options for {@linkcode genConnection}: `type`, and the options of the
 * procedure it picks. For `"stream"`, the datagram-only `srvrConnect` and
 * `clntConnect` are type errors (and refused at run time); with a `type`
 * that may be either, every option of either is accepted by the types.
 *
 * @typeParam A The type of `srvrAddr`, which types the sockets' addresses.
 * @typeParam T The socket type, `"stream"` or `"dgram"`.
 */
export type GenConnectionOptions<
  A extends SocketAddr = SocketAddr,
  T extends SocketType = SocketType,
> =
  & {
    /** The socket type: {@linkcode streamConnection} or {@linkcode dgramConnection}. */
    type: T;
    /** The server's address, as for the procedure `type` picks. */
    srvrAddr: A;
    /** Called after every change of state of the procedure's sockets. */
    onTransition?: (role: GenRole<T>, change: StateChange) => void;
  }
  & (T extends "dgram" ? Omit<DgramConnectionOptions<A>, "onTransition">
    : Omit<StreamConnectionOptions<A>, "onTransition"> & {
      /** Datagram sockets only. */
      srvrConnect?: undefined;
      /** Datagram sockets only. */
      clntConnect?: undefined;
    });

/**
 * The roles of the sockets {@linkcode genConnection} makes: those of
 * {@linkcode streamConnection} or {@linkcode dgramConnection}.
 *
 * @typeParam T The socket type.
 */
export type GenRole<T extends SocketType = SocketType> = T extends "dgram"
  ? DgramRole
  : StreamRole;

/**
 * The pair {@linkcode genConnection} returns: that of the procedure it
 * picked, with `type` to tell which. Only a datagram pair has `clntAddr`.
 *
 * @typeParam T The socket type, `"stream"` or `"dgram"`.
 * @typeParam D The sockets' address family, which types their addresses.
 */
export type GenConnection<
  T extends SocketType = SocketType,
  D extends Domain = Domain,
> = T extends "dgram" ? DgramConnection<D> & {
    /** The pair is of datagram sockets. */
    readonly type: "dgram";
  }
  : StreamConnection<D> & {
    /** The pair is of stream sockets. */
    readonly type: "stream";
    /** A stream pair reports no client address: see `clntS.getsockname()`. */
    readonly clntAddr?: undefined;
  };

/**
 * Creates a connection of either socket type, as TE's
 * `rpc_gen_connection_wild()` does: {@linkcode streamConnection} for
 * `"stream"`, {@linkcode dgramConnection} for `"dgram"`, with the rest of
 * the options. For tests that run over both types.
 *
 * @example The same test for both types
 * ```ts
 * import { genConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * for (const type of ["stream", "dgram"] as const) {
 *   using pair = await genConnection({
 *     type,
 *     srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *     backend: "posix",
 *   });
 *   assert.equal(pair.type, type);
 *   await pair.clntS.send(new TextEncoder().encode("ping"));
 *   assert.equal(new TextDecoder().decode(await pair.srvrS.recv()), "ping");
 *   assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
 * }
 * ```
 *
 * @example Datagram-only options are refused for streams
 * ```ts
 * import { genConnection, type SocketError } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const type = "stream" as "stream" | "dgram";
 * await assert.rejects(
 *   genConnection({
 *     type,
 *     srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *     srvrConnect: false,
 *   }),
 *   (error: SocketError) =>
 *     error.code === "EINVAL" && error.step === "check arguments",
 * );
 * ```
 *
 * @typeParam A The type of `srvrAddr`, as for the two procedures.
 * @typeParam T The socket type.
 * @param options `type`, and the options of the procedure it picks.
 * @returns That procedure's pair, with `type`.
 * @throws {SocketError} `ESOCKTNOSUPPORT` for another `type`, `EINVAL` for
 * an option neither procedure takes, or for one only the datagram one
 * takes (`srvrConnect` or `clntConnect` with `"stream"`) (these with
 * `op: "genConnection"`, before any socket exists);
 * else as the procedure picked (its name in `op`), `signal` and
 * `onTransition` included.
 */
export async function genConnection<
  A extends SocketAddr,
  T extends SocketType,
>(
  options: GenConnectionOptions<A, T>,
): Promise<GenConnection<T, DomainOfAddr<A>>> {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument(
      "genConnection",
      "pass an options object with at least type and srvrAddr",
    );
  }
  checkKeys("genConnection", options, ["type", ...DGRAM_ONLY]);
  const { type, ...rest } = options;
  if (type === "dgram") {
    const pair = await dgramConnection(rest as DgramConnectionOptions<A>);
    return typed(pair, "dgram") as GenConnection<T, DomainOfAddr<A>>;
  }
  if (type === "stream") {
    refuseOthers(rest, DGRAM_ONLY, "dgram", "stream");
    const pair = await streamConnection(rest as StreamConnectionOptions<A>);
    return typed(pair, "stream") as GenConnection<T, DomainOfAddr<A>>;
  }
  throw new SocketError(
    "ESOCKTNOSUPPORT",
    "genConnection",
    `Cannot create a connection of type ${
      describe(type)
    }: use "stream" or "dgram"`,
    { step: "check arguments" },
  );
}

/** The options only {@linkcode dgramConnection} takes. */
const DGRAM_ONLY = ["srvrConnect", "clntConnect"] as const;

/**
 * Refuses, for stream sockets, an option (given, not undefined) that only
 * the datagram procedure takes.
 */
function refuseOthers(
  options: object,
  names: readonly string[],
  other: SocketType,
  type: SocketType,
): void {
  for (const name of names) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    throw invalidArgument(
      "genConnection",
      `${name} applies to datagram sockets (a stream client always connects, and its server accepts), got ${name}: ${
        describe(value)
      } with type ${JSON.stringify(type)}; leave it out, or use type ${
        JSON.stringify(other)
      }`,
    );
  }
}

/** `pair` with its `type`, disposed as `pair` is. */
function typed<P extends Disposable, T extends SocketType>(
  pair: P,
  type: T,
): P & { readonly type: T } {
  return { ...pair, type };
}
