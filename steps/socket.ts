// Copyright 2026 the sockfsm authors. MIT license.
import { type Actor, createActor } from "xstate";
import {
  checkAddr,
  type Domain,
  formatAddr,
  type SocketAddr,
  unboundAddr,
} from "../machine/address.ts";
import type {
  ConnectionHandle,
  ListenerHandle,
  ShutdownHow,
} from "../machine/effects.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import {
  type SocketEvent,
  type SocketInput,
  type SocketMachine,
  socketMachine,
  type SocketSnapshot,
  type SocketState,
  type SocketType,
} from "../machine/socket_machine.ts";
import { type Verdict, verdict } from "../machine/verdict.ts";
import { denoEffects } from "./deno_backend.ts";
import { osError } from "./os_error.ts";

/** A change of a socket's state, as reported to `onTransition`. */
export interface StateChange {
  /** The state before. */
  readonly from: SocketState;
  /** The state after. */
  readonly to: SocketState;
  /** The call that caused it. */
  readonly op: SocketOp;
}

/** Options for {@linkcode socket}. */
export interface SocketOptions {
  /** The address family: `"inet"` (IPv4), `"inet6"` (IPv6) or `"unix"`. */
  domain: Domain;
  /**
   * The socket type. Only connection-oriented streams are modelled so far.
   *
   * @default {"stream"}
   */
  type?: SocketType;
  /**
   * The protocol, as for `socket(2)`: 0, or `IPPROTO_TCP` (6) for inet and
   * inet6 streams.
   *
   * @default {0}
   */
  protocol?: number;
  /**
   * Called after every change of state, to trace a socket's life. Data calls
   * do not change the state, so this costs nothing on the data path.
   */
  onTransition?: (change: StateChange) => void;
}

/** Options for {@linkcode Socket.accept}. */
export interface AcceptOptions {
  /**
   * Traces the accepted socket's changes of state.
   *
   * @default {the listening socket's `onTransition`}
   */
  onTransition?: (change: StateChange) => void;
}

/**
 * A socket whose every call is checked against the socket machine before it
 * reaches the operating system. A call the machine refuses throws
 * {@linkcode SocketError} with the errno Linux would give, and makes no
 * system call. Create one with {@linkcode socket}.
 */
export interface Socket extends Disposable {
  /** The address family. */
  readonly domain: Domain;
  /** The socket type. */
  readonly type: SocketType;
  /** The socket's state in the machine. */
  readonly state: SocketState;
  /**
   * Binds the socket to a local address (`bind(2)`); port 0 lets the kernel
   * choose, and {@linkcode Socket.getsockname} tells which.
   *
   * @param addr `{ hostname, port }` for inet and inet6, `{ path }` for unix.
   * @throws {SocketError} `EINVAL` when already bound, `EAFNOSUPPORT` for an
   * address of another family, `EADDRINUSE` when taken.
   */
  bind(addr: SocketAddr): Promise<void>;
  /**
   * Starts listening for connections (`listen(2)`). An unbound TCP socket is
   * bound to an ephemeral port first, as Linux does.
   *
   * @param backlog The queue length; the default is the backend's.
   * @throws {SocketError} `EINVAL` when connected, or for an unbound unix
   * socket.
   */
  listen(backlog?: number): Promise<void>;
  /**
   * Waits for a connection and returns it as a new, connected socket
   * (`accept(2)`).
   *
   * @throws {SocketError} `EINVAL` when the socket is not listening.
   */
  accept(options?: AcceptOptions): Promise<Socket>;
  /**
   * Connects to a listening socket (`connect(2)`), from the bound address if
   * there is one.
   *
   * @throws {SocketError} `EISCONN` when connected, `ECONNREFUSED` when
   * nothing listens there.
   */
  connect(addr: SocketAddr): Promise<void>;
  /**
   * Sends all of `data` (`send(2)` until done); resolves to its length.
   *
   * @throws {SocketError} `EPIPE` when never connected (TCP) or after
   * `shutdown("write")`.
   */
  send(data: Uint8Array): Promise<number>;
  /**
   * Receives up to `max` bytes (`recv(2)`); an empty array is end of stream.
   *
   * @param max The most bytes to return.
   * @default {65536}
   * @throws {SocketError} `ENOTCONN` when not connected (TCP).
   */
  recv(max?: number): Promise<Uint8Array>;
  /**
   * Receives into `buffer` and resolves to the count; 0 is end of stream.
   * The same as {@linkcode Socket.recv} without allocating.
   */
  recvInto(buffer: Uint8Array): Promise<number>;
  /**
   * Shuts down one or both sides of a connection (`shutdown(2)`):
   * `"read"` is `SHUT_RD`, `"write"` `SHUT_WR`, `"both"` `SHUT_RDWR`.
   *
   * @throws {SocketError} `ENOTCONN` on a TCP socket that is not connected.
   */
  shutdown(how: ShutdownHow): Promise<void>;
  /**
   * Closes the socket and frees everything behind it (`close(2)`). A call in
   * flight fails with `EBADF`.
   *
   * @throws {SocketError} `EBADF` when already closed.
   */
  close(): void;
  /**
   * The local address (`getsockname(2)`): port 0 or an empty path when not
   * bound.
   */
  getsockname(): SocketAddr;
  /**
   * The peer's address (`getpeername(2)`).
   *
   * @throws {SocketError} `ENOTCONN` when not connected.
   */
  getpeername(): SocketAddr;
}

const DEFAULT_RECV = 65536;
const EMPTY = new Uint8Array(0);

let denoMachine: SocketMachine | undefined;

/** The socket machine with the Deno backend's effects, made once. */
function machineWithDenoEffects(): SocketMachine {
  return denoMachine ??= socketMachine.provide({ actors: denoEffects });
}

/**
 * Creates a socket (`socket(2)`) in state `"created"`.
 *
 * @example Listen, connect, accept, talk
 * ```ts
 * import { socket } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * using server = socket({ domain: "inet" });
 * await server.bind({ hostname: "127.0.0.1", port: 0 });
 * await server.listen();
 * assert.equal(server.state, "listening");
 *
 * using client = socket({ domain: "inet" });
 * const accepting = server.accept();
 * await client.connect(server.getsockname());
 * using peer = await accepting;
 *
 * await client.send(new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(await peer.recv()), "ping");
 * assert.equal(peer.state, "connected");
 * ```
 *
 * @param options The domain, and optionally type, protocol and a tracer.
 * @returns The new socket.
 * @throws {SocketError} `EAFNOSUPPORT`, `ESOCKTNOSUPPORT` or
 * `EPROTONOSUPPORT` for a domain, type or protocol sockfsm does not model.
 */
export function socket(options: SocketOptions): Socket {
  const { domain, type = "stream", protocol = 0 } = options ?? {};
  checkSocketArgs(domain, type, protocol);
  return new StreamSocket(
    machineWithDenoEffects(),
    { domain, type },
    options.onTransition,
  );
}

/** Checks `socket()`'s arguments as `socket(2)` does, with its errnos. */
export function checkSocketArgs(
  domain: unknown,
  type: unknown,
  protocol: unknown,
): asserts domain is Domain {
  if (domain !== "inet" && domain !== "inet6" && domain !== "unix") {
    throw new SocketError(
      "EAFNOSUPPORT",
      "socket",
      `Cannot create a socket in domain ${
        JSON.stringify(domain)
      }: use "inet", "inet6" or "unix"`,
    );
  }
  if (type !== "stream") {
    throw new SocketError(
      "ESOCKTNOSUPPORT",
      "socket",
      `Cannot create a socket of type ${
        JSON.stringify(type)
      }: only "stream" sockets are modelled so far`,
    );
  }
  const tcp = domain !== "unix" && protocol === 6;
  if (protocol !== 0 && !tcp) {
    throw new SocketError(
      "EPROTONOSUPPORT",
      "socket",
      `Cannot create a ${domain} stream socket with protocol ${
        JSON.stringify(protocol)
      }: use 0${domain === "unix" ? "" : " or 6 (IPPROTO_TCP)"}`,
    );
  }
}

/** A call waiting for its effect to finish. */
interface Pending {
  readonly op: SocketOp;
  readonly state: SocketState;
  readonly resolve: () => void;
  readonly reject: (error: SocketError) => void;
}

class StreamSocket implements Socket {
  readonly domain: Domain;
  readonly type: SocketType;
  #machine: SocketMachine;
  #actor: Actor<SocketMachine>;
  #snapshot: SocketSnapshot;
  #onTransition: ((change: StateChange) => void) | undefined;
  #pending: Pending | undefined;
  #op: SocketOp = "socket";
  /** Verdicts on payload-free calls in the current snapshot. */
  #verdicts = new Map<SocketEvent["type"], Verdict>();

  constructor(
    machine: SocketMachine,
    input: SocketInput,
    onTransition: ((change: StateChange) => void) | undefined,
  ) {
    this.domain = input.domain;
    this.type = input.type;
    this.#machine = machine;
    this.#onTransition = onTransition;
    this.#actor = createActor(machine, { input });
    this.#snapshot = this.#actor.getSnapshot();
    this.#actor.subscribe((next) => this.#observe(next));
    this.#actor.start();
  }

  get state(): SocketState {
    return this.#snapshot.value as SocketState;
  }

  async bind(addr: SocketAddr): Promise<void> {
    await this.#change("bind", {
      type: "BIND",
      addr: this.#addr(addr, "bind"),
    });
  }

  async listen(backlog?: number): Promise<void> {
    if (
      backlog !== undefined && (!Number.isInteger(backlog) || backlog < 0)
    ) {
      throw this.#badInput(
        "listen",
        `"backlog" must be a non-negative integer, got ${backlog}`,
      );
    }
    await this.#change("listen", { type: "LISTEN", backlog });
  }

  async connect(addr: SocketAddr): Promise<void> {
    const remote = this.#addr(addr, "connect");
    await this.#change("connect", { type: "CONNECT", addr: remote });
  }

  async accept(options: AcceptOptions = {}): Promise<Socket> {
    const listener = this.#handle<ListenerHandle>("accept", { type: "ACCEPT" });
    let conn: ConnectionHandle;
    try {
      conn = await listener.accept();
    } catch (error) {
      throw this.#ioError("accept", error);
    }
    return new StreamSocket(
      this.#machine,
      { domain: this.domain, type: this.type, accepted: conn },
      options.onTransition ?? this.#onTransition,
    );
  }

  async send(data: Uint8Array): Promise<number> {
    if (!(data instanceof Uint8Array)) {
      throw this.#badInput("send", "data must be a Uint8Array");
    }
    const conn = this.#handle<ConnectionHandle>("send", { type: "SEND" });
    let written = 0;
    try {
      while (written < data.length) {
        written += await conn.write(data.subarray(written));
      }
    } catch (error) {
      throw this.#ioError("send", error);
    }
    return written;
  }

  async recv(max: number = DEFAULT_RECV): Promise<Uint8Array> {
    if (!Number.isInteger(max) || max < 1) {
      throw this.#badInput(
        "recv",
        `"max" must be a positive integer, got ${max}`,
      );
    }
    const buffer = new Uint8Array(max);
    const n = await this.recvInto(buffer);
    return n === 0 ? EMPTY : buffer.subarray(0, n);
  }

  async recvInto(buffer: Uint8Array): Promise<number> {
    if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
      throw this.#badInput("recv", "the buffer must be a non-empty Uint8Array");
    }
    const allowed = this.#allow("recv", { type: "RECV" });
    if (allowed.eof) return 0;
    const conn = this.#snapshot.context.handle as ConnectionHandle;
    try {
      return (await conn.read(buffer)) ?? 0;
    } catch (error) {
      throw this.#ioError("recv", error);
    }
  }

  async shutdown(how: ShutdownHow): Promise<void> {
    if (how !== "read" && how !== "write" && how !== "both") {
      throw this.#badInput(
        "shutdown",
        `"how" must be "read", "write" or "both", got ${JSON.stringify(how)}`,
      );
    }
    await this.#change("shutdown", { type: "SHUTDOWN", how });
  }

  close(): void {
    this.#allow("close", { type: "CLOSE" });
    this.#op = "close";
    this.#actor.send({ type: "CLOSE" });
    this.#actor.stop();
  }

  [Symbol.dispose](): void {
    if (this.state !== "closed") this.close();
  }

  getsockname(): SocketAddr {
    this.#allow("getsockname", { type: "GETSOCKNAME" });
    return { ...(this.#snapshot.context.local ?? unboundAddr(this.domain)) };
  }

  getpeername(): SocketAddr {
    this.#allow("getpeername", { type: "GETPEERNAME" });
    return { ...this.#snapshot.context.remote! };
  }

  /** Throws the machine's refusal of `event`, or returns its verdict. */
  #allow(op: SocketOp, event: SocketEvent): Verdict & { allowed: true } {
    const payloadFree = Object.keys(event).length === 1;
    let found = payloadFree ? this.#verdicts.get(event.type) : undefined;
    if (found === undefined) {
      found = verdict(this.#snapshot, event);
      if (payloadFree) this.#verdicts.set(event.type, found);
    }
    if (!found.allowed) {
      throw new SocketError(
        found.errno,
        op,
        `Cannot ${op}() on a socket in state "${this.state}": ${found.errno}, ${found.why}`,
        { state: this.state },
      );
    }
    return found;
  }

  /** The handle a data call works on, once the machine allows the call. */
  #handle<T>(op: SocketOp, event: SocketEvent): T {
    this.#allow(op, event);
    return this.#snapshot.context.handle as T;
  }

  /** Runs a state-changing call and settles when its effect has finished. */
  #change(op: SocketOp, event: SocketEvent): Promise<void> {
    this.#allow(op, event);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#pending = { op, state: this.state, resolve, reject };
    this.#op = op;
    this.#actor.send(event);
    this.#settle();
    return promise;
  }

  #observe(next: SocketSnapshot): void {
    const from = this.state;
    this.#snapshot = next;
    this.#verdicts.clear();
    if (next.value !== from) {
      this.#onTransition?.({ from, to: this.state, op: this.#op });
    }
    this.#settle();
  }

  /** Settles the pending call once no effect is in flight any more. */
  #settle(): void {
    const pending = this.#pending;
    const snapshot = this.#snapshot;
    if (pending === undefined || Object.keys(snapshot.children).length > 0) {
      return;
    }
    this.#pending = undefined;
    const failure = snapshot.context.failure;
    if (this.state === "closed") {
      pending.reject(this.#closedWhile(pending.op, pending.state));
    } else if (failure !== undefined) {
      pending.reject(osError(failure, pending.op, `${pending.op}()`));
    } else {
      pending.resolve();
    }
  }

  #closedWhile(op: SocketOp, state: SocketState): SocketError {
    return new SocketError(
      "EBADF",
      op,
      `Cannot finish ${op}(): the socket was closed while the call was in progress`,
      { state },
    );
  }

  #ioError(op: SocketOp, error: unknown): SocketError {
    if (this.state === "closed") return this.#closedWhile(op, this.state);
    return osError(error, op, `${op}() on a ${this.state} socket`);
  }

  #addr(addr: SocketAddr, op: SocketOp): SocketAddr {
    const checked = checkAddr(addr, op, "the address");
    if (checked.domain === this.domain) return checked.addr;
    // Linux: EINVAL from a unix socket, EAFNOSUPPORT from an inet one.
    throw new SocketError(
      this.domain === "unix" ? "EINVAL" : "EAFNOSUPPORT",
      op,
      `Cannot ${op}() a ${this.domain} socket to ${
        formatAddr(checked.addr)
      }: that is a ${checked.domain} address; use a ${this.domain} address or a ${checked.domain} socket`,
      { state: this.state },
    );
  }

  #badInput(op: SocketOp, why: string): SocketError {
    return new SocketError("EINVAL", op, `Cannot ${op}(): ${why}`, {
      state: this.state,
    });
  }
}
