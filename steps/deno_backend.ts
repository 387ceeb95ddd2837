// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The default backend: every effect performed with Deno's own network API,
 * so it needs only `--allow-net` (and `--allow-read --allow-write` for unix
 * paths). Where Deno's API cannot perform a step as one system call, this is
 * how the backend realises it, and what differs from the real call:
 *
 * - `bind()` is `Deno.listen()` on the address, held as a reservation. It
 *   fails as `bind()` does (`EADDRINUSE`, `EADDRNOTAVAIL`) and learns the
 *   kernel's port, but the kernel already accepts connections on a bound
 *   socket, where a real bound socket would refuse them.
 * - `listen()` after `bind()` keeps the reservation as the listener. With a
 *   backlog it listens again on the same address with `tcpBacklog` (a short
 *   window in which another process could take the port). Deno fixes the
 *   backlog of unix listeners, so a unix backlog is not applied.
 * - `connect()` after `bind()` frees the reservation and connects from that
 *   address: TCP through `node:net` (`localAddress`, `localPort`), unix
 *   through libc's `socket`/`bind`/`connect`, adopted by `node:net` (this one
 *   case needs `--allow-ffi`; Deno cannot bind a unix client).
 * - `shutdown("read")` is not told to the kernel (Deno has no such call): the
 *   model answers every later `recv()` with end of stream.
 * - Closing a unix listener removes its socket file (Deno does); closing a
 *   real one leaves the file in place.
 * - `bind()` on a connected unix socket that has no address, which Linux
 *   allows, fails with `EOPNOTSUPP`: Deno exposes no file descriptor to bind.
 * - The kernel cannot be asked how a TCP connection stands: `bind()`,
 *   `getpeername()` and `shutdown()` answer as for a live connection, until
 *   the machine knows it is over (the socket's own calls saw both FINs, or a
 *   reset) and answers them itself. A peer's FIN that no read has seen yet
 *   is not known.
 * - `connect()` from a connected or listening unix socket looks the target
 *   up as Linux does: a missing path is `ENOENT`, a file with no listener
 *   behind it `ECONNREFUSED`. Telling a stale socket file from a live one
 *   takes a libc look-up (`--allow-ffi`); without it, a socket file is taken
 *   to be live.
 *
 * @module
 */
import net from "node:net";
import {
  type Domain,
  formatAddr,
  type InetAddr,
  type SocketAddr,
  type UnixAddr,
  wildcardAddr,
} from "../machine/address.ts";
import type { ShutdownHow, SysSocket } from "../machine/effects.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import type { Connection } from "./connection.ts";
import { DenoConnection, DenoListener } from "./deno_connection.ts";
import {
  AF_UNIX,
  openLibc,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  sysBind,
  sysBindAutobind,
  sysClose,
  sysConnect,
  sysListen,
  type SysResult,
  sysSocket,
} from "./libc.ts";
import { NodeConnection } from "./node_connection.ts";
import { Turns } from "./_turns.ts";
import { osError } from "./os_error.ts";

/**
 * Creates the system side of a socket with the Deno backend.
 *
 * @param domain The socket's address family.
 */
export function denoSocket(domain: Domain): SysSocket {
  return new DenoSysSocket(domain, undefined);
}

/** One socket, held as whatever Deno object stands for it right now. */
class DenoSysSocket implements SysSocket {
  local: SocketAddr | undefined;
  remote: SocketAddr | undefined;
  readonly #domain: Domain;
  /** A bind reservation, a listener, or a connection. */
  #held: DenoListener | Connection | undefined;
  /** Whether bind() chose the local address (then connect() starts there). */
  #bound = false;
  #closed = false;
  /** accept() calls take turns at Deno's listener. */
  readonly #accepts = new Turns();

  constructor(domain: Domain, connection: Connection | undefined) {
    this.#domain = domain;
    this.#held = connection;
    this.local = connection?.local;
    this.remote = connection?.remote;
  }

  bind(addr: SocketAddr, connectionOver: boolean): Promise<void> {
    return Promise.try(() => {
      if (this.remote !== undefined && this.#domain !== "unix") {
        // A TCP connection: Linux lets the socket bind once it is over.
        if (!connectionOver) {
          throw new SocketError(
            "EINVAL",
            "bind",
            `Cannot bind to ${
              formatAddr(addr)
            }: EINVAL, as Linux answers while the connection is up (connect() bound the socket); the deno backend cannot ask the kernel, and this socket's own calls have not seen the connection end`,
          );
        }
        this.#release();
        this.#hold(listenAt(addr, undefined, "bind"));
        this.#bound = true;
        return;
      }
      if (this.remote !== undefined) {
        throw new SocketError(
          "EOPNOTSUPP",
          "bind",
          `Cannot bind a connected unix socket to ${
            formatAddr(addr)
          } with the deno backend: Linux allows it, but Deno gives no access to the socket's file descriptor`,
        );
      }
      this.#hold(listenAt(addr, undefined, "bind"));
      this.#bound = true;
    });
  }

  listen(backlog: number | undefined): Promise<void> {
    return Promise.try(() => {
      const held = this.#held;
      const keep = backlog === undefined || this.#domain === "unix";
      if (held instanceof DenoListener && keep) return;
      this.#release();
      // An unbound TCP socket listens on the wildcard address (autobind).
      const addr = this.local ??
        wildcardAddr(this.#domain === "inet6" ? "inet6" : "inet", 0);
      try {
        this.#hold(listenAt(addr, backlog, "listen"));
      } catch (error) {
        if (!this.#bound) this.local = undefined;
        throw error;
      }
    });
  }

  async connect(addr: SocketAddr, signal: AbortSignal): Promise<void> {
    const from = this.#bound ? this.local : undefined;
    // Connecting binds the address itself: free the bind() reservation.
    this.#release();
    let connection: Connection;
    try {
      connection = await connectFrom(from, addr, signal);
    } catch (error) {
      // Linux gives back a port that the kernel chose for a failed connect.
      if (!this.#bound) this.local = undefined;
      throw error;
    }
    if (signal.aborted || this.#closed) {
      connection.close();
      throw new SocketError(
        "EBADF",
        "connect",
        "Cannot finish connect(): the socket was closed meanwhile",
      );
    }
    this.#hold(connection);
    this.remote = connection.remote;
  }

  /**
   * `accept(2)`. Deno's listener takes one accept at a time, where the
   * kernel lets many wait: each waits here for the one before it, so that
   * all wait and each gets its own connection.
   */
  async accept(): Promise<SysSocket> {
    const listener = this.#held as DenoListener;
    const turn = this.#accepts.take();
    if (turn) await turn;
    let connection: Connection;
    try {
      if (this.#held !== listener) {
        throw this.#closed ? closedMeanwhile() : new SocketError(
          "EINVAL",
          "accept",
          "Cannot finish accept(): shutdown() stopped the socket listening meanwhile",
        );
      }
      connection = await listener.accept();
    } catch (error) {
      throw osError(error, "accept", "accept a connection");
    } finally {
      this.#accepts.done();
    }
    if (this.#closed) {
      connection.close();
      throw closedMeanwhile();
    }
    return new DenoSysSocket(this.#domain, connection);
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return (this.#held as Connection).read(buffer);
  }

  write(data: Uint8Array): Promise<number> {
    return (this.#held as Connection).write(data);
  }

  peerName(): SocketAddr {
    // The kernel cannot be asked: the connection is taken to be up (the
    // machine answers ENOTCONN itself once this socket saw it end).
    return this.remote!;
  }

  connectRefusal(addr: SocketAddr): SocketError | undefined {
    if (!("path" in addr)) return undefined;
    const what = `Cannot connect to ${formatAddr(addr)}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(addr.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return new SocketError(
          "ENOENT",
          "connect",
          `${what}: ENOENT, there is no socket file at that path`,
        );
      }
      return undefined;
    }
    const found = info.isSocket === true
      ? lookUpUnixTarget(addr.path)
      : "ECONNREFUSED";
    if (found === "ENOENT" || found === "ECONNREFUSED") {
      return new SocketError(
        found,
        "connect",
        `${what}: ${found}, ${
          found === "ENOENT"
            ? "there is no socket file at that path"
            : "nothing listens at that file (a stale socket file)"
        }`,
      );
    }
    return undefined;
  }

  async shutdown(how: ShutdownHow, keepAddress: boolean): Promise<void> {
    const held = this.#held;
    if (held instanceof DenoListener) {
      // SHUT_RD stops a TCP listener; a port the caller chose stays bound.
      this.#release();
      if (keepAddress) this.#hold(listenAt(held.local, undefined, "shutdown"));
      else this.local = undefined;
      return;
    }
    if (how === "read" || held === undefined) return;
    try {
      await (held as Connection).closeWrite();
    } catch (error) {
      throw osError(error, "shutdown", "shut down the write side");
    }
  }

  close(): void {
    this.#closed = true;
    this.#release();
  }

  #hold(held: DenoListener | Connection): void {
    this.#held = held;
    this.local = held.local;
  }

  #release(): void {
    this.#held?.close();
    this.#held = undefined;
  }
}

function listenAt(
  addr: SocketAddr,
  backlog: number | undefined,
  op: SocketOp,
): DenoListener {
  try {
    const listener = "path" in addr
      ? Deno.listen({ transport: "unix", path: addr.path })
      : Deno.listen({
        transport: "tcp",
        hostname: addr.hostname,
        port: addr.port,
        ...(backlog === undefined ? {} : { tcpBacklog: backlog }),
      });
    return new DenoListener(listener);
  } catch (error) {
    const verb = op === "bind" ? "bind to" : "listen on";
    throw osError(error, op, `${verb} ${formatAddr(addr)}`);
  }
}

async function connectFrom(
  local: SocketAddr | undefined,
  remote: SocketAddr,
  signal: AbortSignal,
): Promise<Connection> {
  const from = local ? ` from ${formatAddr(local)}` : "";
  try {
    if (local !== undefined) {
      return "path" in local
        ? await connectUnixFrom(local, remote as UnixAddr, signal)
        : await connectTcpFrom(local, remote as InetAddr, signal);
    }
    const conn = "path" in remote
      ? await Deno.connect({ transport: "unix", path: remote.path })
      : await Deno.connect({
        hostname: remote.hostname,
        port: remote.port,
        signal,
      });
    return new DenoConnection(conn);
  } catch (error) {
    throw osError(error, "connect", `connect to ${formatAddr(remote)}${from}`);
  }
}

/** A TCP connection from a chosen local address, through `node:net`. */
function connectTcpFrom(
  local: InetAddr,
  remote: InetAddr,
  signal: AbortSignal,
): Promise<NodeConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: remote.hostname,
      port: remote.port,
      localAddress: local.hostname,
      localPort: local.port,
    });
    const abort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", abort);
      socket.removeAllListeners("error");
      resolve(
        new NodeConnection(
          socket,
          { hostname: socket.localAddress!, port: socket.localPort! },
          { hostname: socket.remoteAddress!, port: socket.remotePort! },
        ),
      );
    });
    socket.once("error", (error) => {
      signal.removeEventListener("abort", abort);
      socket.destroy();
      reject(error);
    });
  });
}

/**
 * A unix connection from a bound path: libc's `socket`, `bind` and
 * `connect` (non-blocking; a full backlog is waited out, as a blocking
 * `connect` would), then adopted by `node:net`.
 */
async function connectUnixFrom(
  local: UnixAddr,
  remote: UnixAddr,
  signal: AbortSignal,
): Promise<NodeConnection> {
  using libc = openLibc();
  const flags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const fd = orThrow(sysSocket(libc, AF_UNIX, flags, 0), "socket");
  try {
    orThrow(sysBind(libc, fd, local), "bind");
    for (;;) {
      const connected = sysConnect(libc, fd, remote);
      if (connected.ok) break;
      if (connected.errno !== "EAGAIN") orThrow(connected, "connect");
      await retryDelay(signal);
    }
  } catch (error) {
    sysClose(libc, fd);
    throw error;
  }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  return new NodeConnection(socket, local, remote);
}

function orThrow<T>(result: SysResult<T>, call: string): T {
  if (result.ok) return result.value;
  throw Object.assign(new Error(`${call}() failed: ${result.errno}`), {
    code: result.errno,
  });
}

function retryDelay(signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, 5);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The error of an accept() whose socket was closed while it waited. */
function closedMeanwhile(): SocketError {
  return new SocketError(
    "EBADF",
    "accept",
    "Cannot finish accept(): the socket was closed meanwhile",
  );
}

/**
 * How Linux's look-up of the unix socket file at `path` ends, asked without
 * touching a live target: `connect()` from a listening socket of our own
 * looks the target up first, then fails on our own state (`EINVAL`), so a
 * live listener never sees it. `undefined` without `--allow-ffi` (then only
 * a missing file can be told).
 */
function lookUpUnixTarget(
  path: string,
): "live" | "ENOENT" | "ECONNREFUSED" | undefined {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return undefined;
  }
  using libc = openLibc();
  const made = sysSocket(libc, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!made.ok) return undefined;
  const fd = made.value;
  try {
    if (!sysBindAutobind(libc, fd).ok || !sysListen(libc, fd, 1).ok) {
      return undefined;
    }
    const tried = sysConnect(libc, fd, { path });
    if (tried.ok) return undefined;
    if (tried.errno === "ENOENT" || tried.errno === "ECONNREFUSED") {
      return tried.errno;
    }
    return "live";
  } finally {
    sysClose(libc, fd);
  }
}
