// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The system side of a socket that lives in another PCO: each call is a
 * request to the PCO's agent, which makes the system call there. The socket
 * machine stays in the caller, so a call the machine refuses costs no
 * request; only allowed calls cross.
 *
 * What a call must answer at once (`local`, `remote`, `peerName()`) comes
 * from the agent's report with the last answer that could change it.
 *
 * @module
 */
import type { SocketAddr } from "../machine/address.ts";
import type {
  Readiness,
  Received,
  ShutdownHow,
  SysSocket,
  SysSocketKind,
} from "../machine/effects.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import type {
  SettableOptionName,
  SocketOptionName,
  SocketOptionValues,
} from "../machine/options.ts";
import type { Backend } from "./backend.ts";
import type { Call, PcoLink } from "./pco_link.ts";
import {
  type Response,
  SOCKET_OP,
  type SocketReport,
  type WireError,
} from "./pco_protocol.ts";

/** What a read brought after its caller stopped waiting: the next read's. */
interface Kept {
  readonly data: Uint8Array | null;
  readonly from: SocketAddr | undefined;
}

/** A socket of another PCO, by the id its agent knows it by. */
export class RemoteSysSocket implements SysSocket {
  local: SocketAddr | undefined;
  remote: SocketAddr | undefined;
  /** An aborted write may have reached the agent already. */
  readonly stopsWrites = false;
  readonly #link: PcoLink;
  readonly #id: number;
  readonly #dgram: boolean;
  #peer: SocketAddr | WireError | null = null;
  #closed = false;
  /** Reads the agent answered after their callers had stopped waiting. */
  #kept: Kept[] | undefined;
  /** Connections accepted after their callers had stopped waiting. */
  #keptAccepts: RemoteSysSocket[] | undefined;

  private constructor(link: PcoLink, id: number, dgram: boolean) {
    this.#link = link;
    this.#id = id;
    this.#dgram = dgram;
  }

  /** Creates a socket of `kind` with `backend` in the PCO of `link`. */
  static async create(
    link: PcoLink,
    backend: Backend,
    kind: SysSocketKind,
  ): Promise<RemoteSysSocket> {
    const sys = new RemoteSysSocket(
      link,
      link.socketId(),
      kind.type === "dgram",
    );
    await sys.#ask({ op: "create", sock: sys.#id, backend, kind }, "socket");
    return sys;
  }

  bind(addr: SocketAddr, connectionOver: boolean): Promise<void> {
    return this.#done(
      { op: "bind", sock: this.#id, addr, connectionOver },
      "bind",
    );
  }

  listen(backlog: number | undefined): Promise<void> {
    return this.#done(
      { op: "listen", sock: this.#id, backlog: backlog ?? null },
      "listen",
    );
  }

  async connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    await this.#ask({ op: "connect", sock: this.#id, addr }, "connect", signal);
  }

  async accept(signal?: AbortSignal): Promise<SysSocket> {
    const kept = this.#keptAccepts?.shift();
    if (kept !== undefined) return kept;
    const accepted = new RemoteSysSocket(
      this.#link,
      this.#link.socketId(),
      false,
    );
    const answer = await this.#ask(
      { op: "accept", sock: this.#id, into: accepted.#id },
      "accept",
      signal,
      (answer) => {
        accepted.#apply(answer.value as SocketReport);
        (this.#keptAccepts ??= []).push(accepted);
      },
    );
    accepted.#apply(answer.value as SocketReport);
    return accepted;
  }

  async read(
    buffer: Uint8Array,
    signal?: AbortSignal,
  ): Promise<number | null> {
    return (await this.#read(buffer, false, signal)).count;
  }

  readFrom(buffer: Uint8Array, signal?: AbortSignal): Promise<Received> {
    return this.#read(buffer, true, signal);
  }

  async #read(
    buffer: Uint8Array,
    from: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Received> {
    const kept = this.#kept?.[0];
    if (kept !== undefined) return this.#takeKept(kept, buffer);
    const answer = await this.#ask(
      { op: "read", sock: this.#id, max: buffer.length, from },
      from ? "recvfrom" : "recv",
      signal,
      (answer) => (this.#kept ??= []).push(dataOf(answer)),
    );
    return this.#copy(dataOf(answer), buffer);
  }

  /** Hands a kept read to a new one: a stream's bytes as they fit. */
  #takeKept(kept: Kept, buffer: Uint8Array): Received {
    if (
      kept.data === null || this.#dgram || kept.data.length <= buffer.length
    ) {
      this.#kept!.shift();
      return this.#copy(kept, buffer);
    }
    this.#kept![0] = { ...kept, data: kept.data.subarray(buffer.length) };
    return this.#copy(
      { ...kept, data: kept.data.subarray(0, buffer.length) },
      buffer,
    );
  }

  #copy(got: Kept, buffer: Uint8Array): Received {
    if (got.data === null) return { count: null, from: got.from };
    // A datagram longer than the buffer is truncated, as the kernel does.
    const data = got.data.subarray(0, buffer.length);
    buffer.set(data);
    return { count: data.length, from: got.from };
  }

  async write(data: Uint8Array, signal?: AbortSignal): Promise<number> {
    const answer = await this.#ask(
      { op: "write", sock: this.#id, data, to: null },
      "send",
      signal,
    );
    return (answer as { value: number }).value;
  }

  async writeTo(
    data: Uint8Array,
    addr: SocketAddr,
    signal?: AbortSignal,
  ): Promise<number> {
    const answer = await this.#ask(
      { op: "write", sock: this.#id, data, to: addr },
      "sendto",
      signal,
    );
    return (answer as { value: number }).value;
  }

  disconnect(): Promise<void> {
    return this.#done({ op: "disconnect", sock: this.#id }, "disconnect");
  }

  setOption<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): Promise<void> {
    return this.#done(
      { op: "setOption", sock: this.#id, name, value },
      "setsockopt",
    );
  }

  async getOption<N extends SocketOptionName>(
    name: N,
  ): Promise<SocketOptionValues[N]> {
    const answer = await this.#ask(
      { op: "getOption", sock: this.#id, name },
      "getsockopt",
    );
    return (answer as { value: SocketOptionValues[N] }).value;
  }

  async ready(what: Readiness, signal: AbortSignal | undefined): Promise<void> {
    await this.#ask({ op: "ready", sock: this.#id, what }, "wait", signal);
  }

  shutdown(how: ShutdownHow, keepAddress: boolean): Promise<void> {
    return this.#done(
      { op: "shutdown", sock: this.#id, how, keepAddress },
      "shutdown",
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.post({ op: "close", sock: this.#id });
    for (const accepted of this.#keptAccepts ?? []) accepted.close();
    this.#keptAccepts = undefined;
    this.#kept = undefined;
  }

  peerName(): SocketAddr {
    const peer = this.#peer;
    if (peer === null) {
      throw new SocketError(
        "ENOTCONN",
        "getpeername",
        "Cannot getpeername(): ENOTCONN, the socket is not connected",
        { pco: this.#link.name },
      );
    }
    if ("code" in peer) throw this.#link.error(peer);
    return { ...peer };
  }

  connectRefusal(addr: SocketAddr): Promise<SocketError | undefined> {
    return this.#refusal("connectRefusal", addr);
  }

  sendtoRefusal(addr: SocketAddr): Promise<SocketError | undefined> {
    return this.#refusal("sendtoRefusal", addr);
  }

  /** What the agent's socket answers of a call to `addr` it would refuse. */
  async #refusal(
    op: "connectRefusal" | "sendtoRefusal",
    addr: SocketAddr,
  ): Promise<SocketError | undefined> {
    const answer = await this.#ask({ op, sock: this.#id, addr }, SOCKET_OP[op]);
    const refusal = (answer as { value: WireError | null }).value;
    return refusal === null ? undefined : this.#link.error(refusal);
  }

  async #done(call: Call, op: SocketOp): Promise<void> {
    await this.#ask(call, op);
  }

  /**
   * Asks the agent to make `call`, and takes its report. When `signal`
   * aborts first, the agent stops the call; what it brought all the same
   * goes to `keep` (read by a later call), and the call rejects with
   * `EINTR`, as an interrupted system call does.
   */
  async #ask(
    call: Call,
    op: SocketOp,
    signal?: AbortSignal,
    keep?: (answer: Response & { ok: true }) => void,
  ): Promise<Response & { ok: true }> {
    if (signal?.aborted) throw this.#interrupted(op, signal);
    const answer = await this.#link.call(call, signal);
    this.#apply(answer.report);
    if (!answer.ok) {
      throw this.#closed && answer.error.code === "EBADF"
        ? this.#link.error({ ...answer.error, op })
        : this.#link.error(answer.error);
    }
    if (signal?.aborted) {
      keep?.(answer);
      throw this.#interrupted(op, signal);
    }
    return answer;
  }

  #apply(report: SocketReport | undefined): void {
    if (report === undefined) return;
    this.local = report.local ?? undefined;
    this.remote = report.remote ?? undefined;
    this.#peer = report.peer;
  }

  #interrupted(op: SocketOp, signal: AbortSignal): SocketError {
    return new SocketError(
      "EINTR",
      op,
      `Cannot finish ${op}(): EINTR, the wait was aborted`,
      { cause: signal.reason, pco: this.#link.name },
    );
  }
}

function dataOf(answer: Response & { ok: true }): Kept {
  const count = answer.value as number | null;
  return {
    data: count === null ? null : answer.data ?? new Uint8Array(0),
    from: answer.from ?? undefined,
  };
}
