// Copyright 2026 the sockfsm authors. MIT license.
/**
 * PCOs (points of control and observation): where sockets live and their
 * calls run. The seed's procedure has two, `srvr` and `clnt`; here each is
 * one of three kinds behind one interface, {@linkcode Pco}:
 *
 * - {@linkcode localPco}: the calling process;
 * - `workerPco()`: a Deno Worker that owns its sockets;
 * - `processPco()`: an agent in another process, wherever a command
 *   launcher runs it (a network namespace, another host, a container).
 *
 * The socket machine always runs in the caller: a call it refuses never
 * leaves the caller, and an allowed call is performed in the PCO by its
 * agent, over a small versioned protocol (`pco_protocol.ts`).
 *
 * @module
 */
import type { Domain } from "../machine/address.ts";
import type { SysSocketKind } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import type { Backend } from "./backend.ts";
import type { PcoLink } from "./pco_link.ts";
import { naming, PcoSocket } from "./pco_socket.ts";
import { RemoteSysSocket } from "./remote_sys_socket.ts";
import {
  checkSocketOptions,
  type Socket,
  socket,
  type SocketOptions,
  socketOver,
} from "./socket.ts";

/** The kinds of PCO. */
export type PcoKind = "local" | "worker" | "process";

/**
 * A PCO: where sockets live and their calls run. Every kind gives the same
 * sockets: `socket()` resolves to a {@linkcode Socket} whose calls are
 * checked by the same machine, in the caller, and performed in the PCO,
 * with the same errors; a `SocketError` of a worker or process PCO also
 * names it (`error.pco`).
 *
 * `close()` (or `await using`) closes every socket the PCO owns and ends
 * it; a call on one of its sockets then fails at once.
 *
 * @example Sockets in the calling process
 * ```ts
 * import { localPco } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * await using here = localPco();
 * const sock = await here.socket({ domain: "inet" });
 * await sock.bind({ hostname: "127.0.0.1", port: 0 });
 * assert.equal(sock.state, "bound");
 * ```
 */
export interface Pco extends AsyncDisposable {
  /** The PCO's name, as its errors give it. */
  readonly name: string;
  /** Which kind it is. */
  readonly kind: PcoKind;
  /**
   * Whether it has ended: closed, or (a worker or process) its agent died.
   */
  readonly ended: boolean;
  /**
   * Creates a socket in the PCO (`socket(2)` there).
   *
   * @param options As for `socket()`.
   * @returns The new socket, held by the caller, living in the PCO.
   * @throws {SocketError} As `socket()` does; `EIO` once the PCO has ended.
   */
  socket<D extends Domain>(options: SocketOptions<D>): Promise<Socket<D>>;
  /**
   * Closes every socket the PCO owns and ends it (a worker or process
   * agent too). Idempotent; never rejects.
   */
  close(): Promise<void>;
}

/** The links of the PCOs that have agents, for what only sockfsm reads. */
const LINKS = new WeakMap<Pco, PcoLink>();

/**
 * Why `pco`'s agent died, if it did (not closed by its owner): for a
 * procedure's failure, which names the PCO that died.
 */
export function deathOf(pco: Pco): string | undefined {
  return LINKS.get(pco)?.death;
}

/**
 * Resolves once `pco` has answered a ping, or is known to have ended, or
 * after a second: after it, `deathOf()` tells whether its agent died.
 */
export async function alive(pco: Pco): Promise<void> {
  const link = LINKS.get(pco);
  if (link === undefined || link.ended) return;
  await within(link.call({ op: "ping", sock: 0 }).catch(() => {}), 1000);
}

/**
 * The calling process as a PCO: its sockets are those `socket()` makes,
 * and `close()` closes those still open.
 *
 * @example
 * ```ts
 * import { localPco } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * const here = localPco();
 * const sock = await here.socket({ domain: "inet6", type: "dgram" });
 * await here.close();
 * assert.equal(sock.state, "closed");
 * ```
 *
 * @param name Its name (`"local"` by default).
 * @returns A PCO whose sockets live in this process.
 */
export function localPco(name = "local"): Pco {
  return new LocalPco(name);
}

class LocalPco implements Pco {
  readonly name: string;
  readonly kind = "local";
  #sockets: Socket[] = [];
  #ended = false;

  constructor(name: string) {
    this.name = name;
  }

  get ended(): boolean {
    return this.#ended;
  }

  socket<D extends Domain>(options: SocketOptions<D>): Promise<Socket<D>> {
    if (this.#ended) return Promise.reject(endedError(this.name));
    try {
      const sock = socket(options);
      // Forget the closed ones now and then, so that a long-lived PCO holds
      // only what is open.
      if (this.#sockets.length >= 64) {
        this.#sockets = this.#sockets.filter((s) => s.state !== "closed");
      }
      this.#sockets.push(sock);
      return Promise.resolve(sock);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    this.#ended = true;
    const sockets = this.#sockets;
    this.#sockets = [];
    for (const sock of sockets) closeQuietly(sock);
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The error of a call on a PCO that has been closed. */
function endedError(name: string): SocketError {
  return new SocketError(
    "EIO",
    "socket",
    `Cannot create a socket in PCO "${name}": EIO, the PCO is closed; make sockets before closing it`,
  );
}

/** Closes `sock`; a tracer that throws on the way changes nothing now. */
function closeQuietly(sock: Socket): void {
  try {
    sock[Symbol.dispose]();
  } catch {
    // The socket is closed all the same.
  }
}

/** How a PCO with an agent ends its agent. */
export interface AgentHandle {
  /**
   * Ends the agent after it said bye (or did not, within a bound), and
   * frees everything that carried its messages.
   */
  stop(): Promise<void>;
}

/**
 * A PCO whose sockets live with an agent, reached through `link`: what
 * `workerPco()` and `processPco()` share.
 */
export class AgentPco implements Pco {
  readonly name: string;
  readonly kind: PcoKind;
  readonly #link: PcoLink;
  readonly #agent: AgentHandle;
  #closing: Promise<void> | undefined;

  constructor(kind: PcoKind, link: PcoLink, agent: AgentHandle) {
    this.name = link.name;
    this.kind = kind;
    this.#link = link;
    this.#agent = agent;
    LINKS.set(this, link);
  }

  get ended(): boolean {
    return this.#link.ended;
  }

  async socket<D extends Domain>(
    options: SocketOptions<D>,
  ): Promise<Socket<D>> {
    let checked;
    try {
      checked = checkSocketOptions(options);
    } catch (error) {
      throw naming(error, this.name);
    }
    const sys = await RemoteSysSocket.create(
      this.#link,
      checked.backend as Backend,
      checked.kind as SysSocketKind,
    );
    const { kernel } = await this.#link.hello;
    return new PcoSocket(
      socketOver<D>(checked, sys, { kernel: kernel ?? undefined }),
      this.#link,
    );
  }

  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    for (const sock of [...this.#link.owned]) {
      try {
        sock[Symbol.dispose]();
      } catch {
        // A tracer threw; the socket is closed all the same.
      }
    }
    await this.#agent.stop();
    this.#link.end("the PCO is closed", false);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Waits up to `ms` for `promise`; `undefined` when the time ran out first.
 * The timer never outlives the wait.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
