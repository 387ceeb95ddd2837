// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The physical limit for Deno: the procedures written by hand as libc calls
 * through FFI (`Deno.dlopen("libc.so.6")`), synchronous calls on
 * non-blocking sockets, no promise, no check beyond each call's result. A
 * call that would wait (`accept4()` before the handshake is queued) waits in
 * `poll(2)` on the main thread, which no real program could afford but which
 * is the fastest way through. Independent of `steps/libc.ts`, so the
 * baseline does not move when sockfsm's own FFI layer changes.
 *
 * @module
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  accept4: {
    parameters: ["i32", "pointer", "pointer", "i32"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const FLAGS = SOCK_NONBLOCK | SOCK_CLOEXEC;
const SOMAXCONN = 4096;
const EAGAIN = 11;
const EINPROGRESS = 115;
const POLLIN = 1;
/** How long `poll(2)` waits for a connection that must come at once. */
const POLL_MS = 5000;
const SOCKADDR_IN = 16;

/** A `sockaddr_in` for 127.0.0.1 and `port`. */
function loopback(port = 0): Uint8Array {
  const addr = new Uint8Array(SOCKADDR_IN);
  const view = new DataView(addr.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  addr.set([127, 0, 0, 1], 4);
  return addr;
}

/** The procedures by hand in libc; `close()` it once done. */
export class LibcBaseline implements Disposable {
  readonly #lib = Deno.dlopen("libc.so.6", SYMBOLS);
  readonly #errno = new Deno.UnsafePointerView(
    this.#lib.symbols.__errno_location()!,
  );
  readonly #any = loopback(0);
  readonly #name = new Uint8Array(SOCKADDR_IN);
  readonly #nameLength = new Uint32Array(1);
  readonly #pollFd = new Uint8Array(8); // struct pollfd { fd, events, revents }
  #kept = -1;
  #keptAddr = loopback(0);

  #fail(call: string): never {
    throw new Error(`libc ${call}() failed: errno ${this.#errno.getInt32()}`);
  }

  #check(result: number, call: string): number {
    return result < 0 ? this.#fail(call) : result;
  }

  /** The port `fd` is bound to. */
  #port(fd: number): number {
    this.#nameLength[0] = SOCKADDR_IN;
    this.#check(
      this.#lib.symbols.getsockname(
        fd,
        this.#name,
        new Uint8Array(this.#nameLength.buffer),
      ),
      "getsockname",
    );
    return new DataView(this.#name.buffer).getUint16(2, false);
  }

  /** A connected client of the listener `listener` at `addr`. */
  #connect(addr: Uint8Array): number {
    const s = this.#lib.symbols;
    const client = this.#check(
      s.socket(AF_INET, SOCK_STREAM | FLAGS, 0),
      "socket",
    );
    if (
      s.connect(client, addr, SOCKADDR_IN) !== 0 &&
      this.#errno.getInt32() !== EINPROGRESS
    ) {
      this.#fail("connect");
    }
    return client;
  }

  /** `accept4()`, waiting in `poll(2)` when nothing is queued yet. */
  #accept(listener: number): number {
    const s = this.#lib.symbols;
    for (;;) {
      const fd = s.accept4(listener, null, null, FLAGS);
      if (fd >= 0) return fd;
      if (this.#errno.getInt32() !== EAGAIN) this.#fail("accept4");
      const view = new DataView(this.#pollFd.buffer);
      view.setInt32(0, listener, true);
      view.setInt16(4, POLLIN, true);
      if (s.poll(this.#pollFd, 1n, POLL_MS) <= 0) this.#fail("poll");
    }
  }

  /**
   * `streamConnection()` by hand, then close both: socket, bind to
   * 127.0.0.1 port 0, listen, getsockname, socket, connect, accept4, close
   * the listener, close both ends.
   */
  streamProcedure(): void {
    const s = this.#lib.symbols;
    const listener = this.#check(
      s.socket(AF_INET, SOCK_STREAM | FLAGS, 0),
      "socket",
    );
    this.#check(s.bind(listener, this.#any, SOCKADDR_IN), "bind");
    this.#check(s.listen(listener, SOMAXCONN), "listen");
    const client = this.#connect(loopback(this.#port(listener)));
    const server = this.#accept(listener);
    s.close(listener);
    s.close(server);
    s.close(client);
  }

  /**
   * A connection to a listener kept open across calls: socket, connect,
   * accept4, close both ends.
   */
  keptConnection(): void {
    const s = this.#lib.symbols;
    if (this.#kept < 0) {
      this.#kept = this.#check(
        s.socket(AF_INET, SOCK_STREAM | FLAGS, 0),
        "socket",
      );
      this.#check(s.bind(this.#kept, this.#any, SOCKADDR_IN), "bind");
      this.#check(s.listen(this.#kept, SOMAXCONN), "listen");
      this.#keptAddr = loopback(this.#port(this.#kept));
    }
    const client = this.#connect(this.#keptAddr);
    const server = this.#accept(this.#kept);
    s.close(server);
    s.close(client);
  }

  /**
   * `dgramConnection()` by hand, then close both: two UDP sockets bound to
   * 127.0.0.1 port 0 (each port read back), connected to each other.
   */
  dgramProcedure(): void {
    const s = this.#lib.symbols;
    const server = this.#check(
      s.socket(AF_INET, SOCK_DGRAM | FLAGS, 0),
      "socket",
    );
    this.#check(s.bind(server, this.#any, SOCKADDR_IN), "bind");
    const srvrAddr = loopback(this.#port(server));
    const client = this.#check(
      s.socket(AF_INET, SOCK_DGRAM | FLAGS, 0),
      "socket",
    );
    this.#check(s.bind(client, this.#any, SOCKADDR_IN), "bind");
    const clntAddr = loopback(this.#port(client));
    this.#check(s.connect(client, srvrAddr, SOCKADDR_IN), "connect");
    this.#check(s.connect(server, clntAddr, SOCKADDR_IN), "connect");
    s.close(server);
    s.close(client);
  }

  [Symbol.dispose](): void {
    if (this.#kept >= 0) this.#lib.symbols.close(this.#kept);
    this.#kept = -1;
    this.#lib.close();
  }
}
