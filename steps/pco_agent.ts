// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The agent of a PCO: it owns the system side of the PCO's sockets and
 * performs the calls its caller's socket machine allowed, one request at a
 * time per answer. It runs in a worker (`pco_worker.ts`) or a process
 * (`pco_agent_main.ts`); what carries the messages is theirs.
 *
 * @module
 */
import type { SocketAddr } from "../machine/address.ts";
import { Disconnection, type SysSocket } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import type { SocketOptionValues } from "../machine/options.ts";
import { createSysSocket } from "./backend.ts";
import { runningKernel } from "./detect_kernel.ts";
import { osError } from "./os_error.ts";
import {
  type Hello,
  PROTOCOL_VERSION,
  type Request,
  type RequestOp,
  type Response,
  SOCKET_OP,
  type SocketReport,
  type WireError,
} from "./pco_protocol.ts";

/** The largest read one request may ask for (the runtime's `MAX_RECV`). */
const MAX_READ = 64 * 1024 * 1024;
/** The largest scratch buffer an agent keeps. */
const SCRATCH_MAX = 4 * 1024 * 1024;

/**
 * One agent: its sockets by the caller's ids, and the calls in flight that
 * a `cancel` can stop.
 */
export class Agent {
  readonly #send: (message: Hello | Response) => void;
  readonly #socks = new Map<number, SysSocket>();
  readonly #calls = new Map<number, AbortController>();
  #ended = false;
  /**
   * What a read reads into when no other read uses it, so that a read
   * costs the bytes it brings, not the buffer it may fill.
   */
  #scratch = new Uint8Array(64 * 1024);
  #scratchBusy = false;

  /** An agent that answers with `send`; it says hello at once. */
  constructor(send: (message: Hello | Response) => void) {
    this.#send = send;
    send({
      hello: "sockfsm-agent",
      version: PROTOCOL_VERSION,
      pid: Deno.pid,
      kernel: runningKernel() ?? null,
    });
  }

  /** Whether a `bye` ended it. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Starts the call `request` asks for; its answer is sent when it ends. */
  handle(request: Request): void {
    if (this.#ended) return;
    switch (request.op) {
      case "close":
        this.#socks.get(request.sock)?.close();
        this.#socks.delete(request.sock);
        return;
      case "cancel":
        this.#calls.get(request.call)?.abort(
          request.disconnect && new Disconnection(request.disconnect),
        );
        return;
      case "ping":
        this.#send({ id: request.id, ok: true });
        return;
      case "bye":
        this.closeAll();
        this.#ended = true;
        this.#send({ id: request.id, ok: true });
        return;
    }
    this.#answer(request).then(this.#send, (error) =>
      this.#send({
        id: request.id,
        ok: false,
        error: wire(error, request),
        report: this.#report(request.sock),
      }));
  }

  /** Closes every socket (the caller is gone, or said bye). */
  closeAll(): void {
    for (const controller of this.#calls.values()) controller.abort();
    for (const sys of this.#socks.values()) sys.close();
    this.#socks.clear();
  }

  async #answer(request: Request): Promise<Response> {
    const { id } = request;
    if (request.op === "create") {
      if (this.#socks.has(request.sock)) {
        throw new SocketError(
          "EBADF",
          "socket",
          `Cannot create socket ${request.sock}: the agent has it already`,
        );
      }
      const sys = createSysSocket(request.backend, request.kind);
      this.#socks.set(request.sock, sys);
      const report = {
        ...this.#report(request.sock)!,
        stopsWrites: sys.stopsWrites,
      };
      return { id, ok: true, report };
    }
    const sys = this.#socks.get(request.sock);
    if (sys === undefined) {
      throw new SocketError(
        "EBADF",
        "close",
        `Cannot ${request.op}: EBADF, the agent has no socket ${request.sock} (it was closed)`,
      );
    }
    switch (request.op) {
      case "bind":
        await sys.bind(request.addr, request.connectionOver);
        return this.#changed(id, request.sock);
      case "listen":
        await sys.listen(request.backlog ?? undefined);
        return this.#changed(id, request.sock);
      case "connect":
        await this.#stoppable(
          id,
          (signal) => sys.connect(request.addr, signal),
        );
        return this.#changed(id, request.sock);
      case "accept": {
        const accepted = await this.#stoppable(
          id,
          (signal) => sys.accept(signal),
        );
        if (this.#ended || this.#socks.has(request.into)) {
          accepted.close();
          throw new SocketError(
            "EBADF",
            "accept",
            "Cannot accept: the agent is ending",
          );
        }
        this.#socks.set(request.into, accepted);
        return { id, ok: true, value: this.#report(request.into) };
      }
      case "read": {
        const max = Math.min(Math.max(1, request.max | 0), MAX_READ);
        const buffer = this.#scratch.length >= max && !this.#scratchBusy
          ? this.#scratch.subarray(0, max)
          : new Uint8Array(max);
        const shared = buffer.buffer === this.#scratch.buffer;
        if (shared) this.#scratchBusy = true;
        try {
          const { count, from } = await this.#stoppable(
            id,
            (signal) =>
              request.from
                ? sys.readFrom(buffer, signal)
                : sys.read(buffer, signal).then((count) => ({
                  count,
                  from: undefined,
                })),
          );
          if (
            !shared && buffer.length > this.#scratch.length &&
            max <= SCRATCH_MAX
          ) {
            // Keep the larger buffer for the reads to come.
            this.#scratch = buffer;
          }
          return {
            id,
            ok: true,
            value: count,
            // Only the bytes read: a view would carry the whole buffer.
            data: count === null ? undefined : buffer.slice(0, count),
            from: request.from ? from ?? null : undefined,
            report: count === null ? this.#report(request.sock) : undefined,
          };
        } finally {
          if (shared) this.#scratchBusy = false;
        }
      }
      case "write": {
        const { data, to } = request;
        const count = await this.#stoppable(
          id,
          (signal) =>
            to === null
              ? sys.write(data, signal)
              : sys.writeTo(data, to, signal),
        );
        return {
          id,
          ok: true,
          value: count,
          report: to === null ? undefined : this.#report(request.sock),
        };
      }
      case "disconnect":
        await sys.disconnect();
        return this.#changed(id, request.sock);
      case "setOption":
        await sys.setOption(
          request.name,
          request.value as SocketOptionValues[typeof request.name],
        );
        return { id, ok: true };
      case "getOption":
        return { id, ok: true, value: await sys.getOption(request.name) };
      case "ready":
        await this.#stoppable(id, (signal) => sys.ready(request.what, signal));
        return { id, ok: true };
      case "shutdown":
        await sys.shutdown(request.how, request.keepAddress);
        return this.#changed(id, request.sock);
      case "connectRefusal":
      case "sendtoRefusal": {
        const refusal =
          await (request.op === "connectRefusal"
            ? sys.connectRefusal(request.addr)
            : sys.sendtoRefusal(request.addr));
        return {
          id,
          ok: true,
          value: refusal === undefined ? null : wire(refusal, request),
        };
      }
      default:
        throw new SocketError(
          "EINVAL",
          "socket",
          `Cannot answer request ${
            JSON.stringify(request.op)
          }: the agent does not know it`,
        );
    }
  }

  /** Runs `call` with a signal that a `cancel` of request `id` aborts. */
  async #stoppable<T>(
    id: number,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    this.#calls.set(id, controller);
    try {
      return await call(controller.signal);
    } finally {
      this.#calls.delete(id);
    }
  }

  #changed(id: number, sock: number): Response {
    return { id, ok: true, report: this.#report(sock) };
  }

  /** What the caller's side of socket `sock` should know of it now. */
  #report(sock: number): SocketReport | undefined {
    const sys = this.#socks.get(sock);
    if (sys === undefined) return undefined;
    const remote = sys.remote;
    let peer: SocketAddr | WireError | null = null;
    if (remote !== undefined) {
      try {
        peer = sys.peerName();
      } catch (error) {
        peer = wire(error, { op: "getpeername" });
      }
    }
    return { local: sys.local ?? null, remote: remote ?? null, peer };
  }
}

/** `error` as it crosses to the caller. */
function wire(
  error: unknown,
  request: { op: RequestOp | "getpeername" },
): WireError {
  const op = request.op === "getpeername"
    ? "getpeername"
    : SOCKET_OP[request.op];
  const failure = osError(error, op, `${op}()`);
  return {
    code: failure.code,
    op: failure.op,
    message: failure.message,
    state: failure.state,
  };
}
