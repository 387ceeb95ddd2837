// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A socket of another PCO, as its caller holds it: the runtime socket (the
 * machine, here) over a `RemoteSysSocket` (the system calls, there), whose
 * every `SocketError` names the PCO, refusals of the machine included. The
 * PCO closes it when it ends.
 *
 * @module
 */
import type { AddrOf, Domain, SocketAddr } from "../machine/address.ts";
import type { Readiness, ShutdownHow } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import type {
  SettableOptionName,
  SocketOptionName,
  SocketOptionValues,
} from "../machine/options.ts";
import type { SocketState, SocketType } from "../machine/socket_machine.ts";
import type { Backend } from "./backend.ts";
import type { PcoLink } from "./pco_link.ts";
import type {
  AcceptOptions,
  CallOptions,
  Socket,
  WaitOptions,
} from "./socket.ts";
import { socketReadable, socketWritable } from "./socket_streams.ts";

/** `error`, naming the PCO `pco` if it is a `SocketError` that does not. */
export function naming(error: unknown, pco: string): unknown {
  if (!(error instanceof SocketError) || error.pco !== undefined) return error;
  const named = new SocketError(error.code, error.op, error.message, {
    state: error.state,
    step: error.step,
    cause: error.cause,
    pco,
  });
  named.stack = error.stack;
  return named;
}

/** A socket of the PCO of `link`. */
export class PcoSocket<D extends Domain> implements Socket<D> {
  readonly #inner: Socket<D>;
  readonly #link: PcoLink;
  #streams:
    | {
      readable?: ReadableStream<Uint8Array<ArrayBuffer>>;
      writable?: WritableStream<Uint8Array>;
    }
    | undefined;

  constructor(inner: Socket<D>, link: PcoLink) {
    this.#inner = inner;
    this.#link = link;
    link.owned.add(this);
  }

  get domain(): D {
    return this.#inner.domain;
  }
  get type(): SocketType {
    return this.#inner.type;
  }
  get backend(): Backend {
    return this.#inner.backend;
  }
  get nonblocking(): boolean {
    return this.#inner.nonblocking;
  }
  get state(): SocketState {
    return this.#inner.state;
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#streams ??= {};
    return this.#streams.readable ??= socketReadable(this);
  }

  get writable(): WritableStream<Uint8Array> {
    this.#streams ??= {};
    return this.#streams.writable ??= socketWritable(this);
  }

  /** The inner call's answer, its error naming the PCO. */
  async #named<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw naming(error, this.#link.name);
    }
  }

  /** As `#named()`, for a call that answers at once. */
  #now<T>(call: () => T): T {
    try {
      return call();
    } catch (error) {
      throw naming(error, this.#link.name);
    }
  }

  bind(addr: SocketAddr): Promise<void> {
    return this.#named(() => this.#inner.bind(addr));
  }
  listen(backlog?: number): Promise<void> {
    return this.#named(() => this.#inner.listen(backlog));
  }
  async accept(options?: AcceptOptions): Promise<Socket<D>> {
    const accepted = await this.#named(() => this.#inner.accept(options));
    return new PcoSocket(accepted, this.#link);
  }
  connect(addr: SocketAddr, options?: CallOptions): Promise<void> {
    return this.#named(() => this.#inner.connect(addr, options));
  }
  send(data: Uint8Array, options?: CallOptions): Promise<number> {
    return this.#named(() => this.#inner.send(data, options));
  }
  recv(max?: number, options?: CallOptions): Promise<Uint8Array> {
    return this.#named(() => this.#inner.recv(max, options));
  }
  recvInto(buffer: Uint8Array, options?: CallOptions): Promise<number> {
    return this.#named(() => this.#inner.recvInto(buffer, options));
  }
  shutdown(how: ShutdownHow): Promise<void> {
    return this.#named(() => this.#inner.shutdown(how));
  }
  close(): void {
    this.#link.owned.delete(this);
    this.#now(() => this.#inner.close());
  }
  [Symbol.dispose](): void {
    this.#link.owned.delete(this);
    this.#now(() => this.#inner[Symbol.dispose]());
  }
  getsockname(): AddrOf<D> {
    return this.#now(() => this.#inner.getsockname());
  }
  getpeername(): AddrOf<D> {
    return this.#now(() => this.#inner.getpeername());
  }
  sendto(
    data: Uint8Array,
    addr: SocketAddr,
    options?: CallOptions,
  ): Promise<number> {
    return this.#named(() => this.#inner.sendto(data, addr, options));
  }
  recvfrom(
    max?: number,
    options?: CallOptions,
  ): Promise<{ data: Uint8Array; addr: AddrOf<D> | undefined }> {
    return this.#named(() => this.#inner.recvfrom(max, options));
  }
  disconnect(): Promise<void> {
    return this.#named(() => this.#inner.disconnect());
  }
  setsockopt<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): Promise<void> {
    return this.#named(() => this.#inner.setsockopt(name, value));
  }
  getsockopt<N extends SocketOptionName>(
    name: N,
  ): Promise<SocketOptionValues[N]> {
    return this.#named(() => this.#inner.getsockopt(name));
  }
  wait(what: Readiness, options?: WaitOptions): Promise<void> {
    return this.#named(() => this.#inner.wait(what, options));
  }
}
