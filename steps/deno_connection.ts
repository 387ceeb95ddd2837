// Copyright 2026 the sockfsm authors. MIT license.
import type { SocketAddr } from "../machine/address.ts";
import type { Connection, TcpControls } from "./connection.ts";

/** Converts an address from Deno's API to sockfsm's. */
export function fromDenoAddr(addr: Deno.Addr): SocketAddr {
  if ("path" in addr) return { path: addr.path ?? "" };
  if ("hostname" in addr) return { hostname: addr.hostname, port: addr.port };
  throw new TypeError(`Cannot use a ${addr.transport} address: not a socket`);
}

/** A connection made or accepted through Deno's own API. */
export class DenoConnection implements Connection {
  #conn: Deno.Conn;
  #closed = false;
  /** The addresses, converted when first asked for. */
  #local: SocketAddr | undefined;
  #remote: SocketAddr | undefined;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get local(): SocketAddr {
    return this.#local ??= fromDenoAddr(this.#conn.localAddr);
  }

  get remote(): SocketAddr {
    return this.#remote ??= fromDenoAddr(this.#conn.remoteAddr);
  }

  get tcp(): TcpControls | undefined {
    const conn = this.#conn as Partial<Deno.TcpConn>;
    if (!conn.setNoDelay || !conn.setKeepAlive) return undefined;
    return {
      setNoDelay: (on) => conn.setNoDelay!(on),
      setKeepAlive: (on) => conn.setKeepAlive!(on),
    };
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#conn.read(buffer);
  }

  write(data: Uint8Array): Promise<number> {
    return this.#conn.write(data);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by Deno (the peer reset it): nothing left to free.
    }
  }
}

/**
 * A Deno listener. The Deno backend also uses one to realise `bind()`: see
 * `deno_backend.ts`.
 */
export class DenoListener {
  readonly local: SocketAddr;
  #listener: Deno.Listener;
  #closed = false;

  constructor(listener: Deno.Listener) {
    this.#listener = listener;
    this.local = fromDenoAddr(listener.addr);
  }

  async accept(): Promise<DenoConnection> {
    return new DenoConnection(await this.#listener.accept());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
  }
}
