// Copyright 2026 the sockfsm authors. MIT license.
/**
 * UDP sockets (`inet`, `inet6`) of the deno backend, held by a `node:dgram`
 * socket: Deno's own `Deno.listenDatagram()` needs `--unstable-net` and has
 * no `connect()`, while `node:dgram` works in Deno without flags. Deno's
 * `node:dgram` never calls `connect(2)` either (it only records the peer),
 * so this file keeps the association itself; how each call is realised, and
 * what differs from Linux, is listed in `deno_backend.ts`.
 *
 * @module
 */
import dgram from "node:dgram";
import {
  formatAddr,
  type InetAddr,
  isWildcard,
  type SocketAddr,
  wildcardAddr,
  wildcardPeer,
} from "../machine/address.ts";
import type {
  Readiness,
  Received,
  ShutdownHow,
  SysSocket,
  SysSocketKind,
} from "../machine/effects.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketError, type SocketOp } from "../machine/errors.ts";
import type {
  SettableOptionName,
  SocketOptionName,
  SocketOptionValues,
} from "../machine/options.ts";
import { ffiGranted } from "./deno_fd.ts";
import { DenoOptions, type OptionHolder } from "./deno_options.ts";
import { Changes, closedError, wouldBlock } from "./deno_wait.ts";
import {
  AF_INET,
  AF_INET6,
  openLibc,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  sysClose,
  sysConnect,
  sysGetsockname,
  sysSocket,
} from "./libc.ts";
import { errnoOf, granted, osError, permissionDenied } from "./os_error.ts";
import { decodeSockaddr, encodeSockaddr } from "./sockaddr.ts";

/**
 * The receive queue's bounds: Linux's default `SO_RCVBUF`
 * (`net.core.rmem_default`) in bytes, and a count. A datagram that finds
 * the queue full is dropped, as the kernel drops it.
 */
export const QUEUE_BYTES = 212992;
/** The receive queue's bound in datagrams (see `QUEUE_BYTES`). */
export const QUEUE_DATAGRAMS = 1024;

interface Datagram {
  readonly data: Uint8Array;
  readonly from: InetAddr;
}

/** A UDP socket of the deno backend. */
export class DenoDgramSocket implements SysSocket {
  local: SocketAddr | undefined;
  remote: SocketAddr | undefined;
  readonly #kind: SysSocketKind;
  readonly #family: "inet" | "inet6";
  readonly #options: DenoOptions;
  readonly #changes = new Changes();
  /** The `node:dgram` socket, once the socket is bound. */
  #socket: dgram.Socket | undefined;
  /** Binding it, while that goes on. */
  #opening: Promise<dgram.Socket> | undefined;
  /** What the `node:dgram` socket is bound to. */
  #real: InetAddr | undefined;
  /** The address bind() chose, if not the wildcard (Linux keeps it). */
  #boundHost: string | undefined;
  /** bind() chose the port (Linux keeps it on disconnect). */
  #callerPort = false;
  /** The source address connect() chose (kept until disconnect). */
  #source: string | undefined;
  #queue: Datagram[] = [];
  #queued = 0;
  #sending = 0;
  #shut = { read: false, write: false };
  #closed = false;

  constructor(kind: SysSocketKind) {
    this.#kind = kind;
    this.#family = kind.domain === "inet6" ? "inet6" : "inet";
    this.#options = new DenoOptions(kind);
  }

  async bind(addr: SocketAddr): Promise<void> {
    this.#ensureOpen("bind");
    if (this.#socket || this.#opening) {
      throw new SocketError(
        "EINVAL",
        "bind",
        `Cannot bind to ${
          formatAddr(addr)
        }: EINVAL, the socket is bound already (bind() or the kernel bound it)`,
      );
    }
    const inet = addr as InetAddr;
    await this.#open(inet, "bind");
    this.#callerPort = inet.port !== 0;
    this.#boundHost = isWildcard(inet) ? undefined : this.#real!.hostname;
  }

  listen(): Promise<void> {
    return Promise.reject(notForDatagrams("listen"));
  }

  accept(): Promise<SysSocket> {
    return Promise.reject(notForDatagrams("accept"));
  }

  async connect(addr: SocketAddr): Promise<void> {
    this.#ensureOpen("connect");
    const target = addr as InetAddr;
    await this.#bound("connect");
    // Linux connects a wildcard target to the loopback address.
    const peer = isWildcard(target) ? wildcardPeer(target) : canonical(target);
    this.#source ??= this.#boundHost ?? sourceFor(peer);
    this.remote = peer;
    this.#showLocal();
  }

  read(buffer: Uint8Array, signal?: AbortSignal): Promise<number | null> {
    return this.#take(buffer, "recv", signal).then((got) => got.count);
  }

  readFrom(buffer: Uint8Array, signal?: AbortSignal): Promise<Received> {
    return this.#take(buffer, "recvfrom", signal);
  }

  /** node:dgram cannot take back a datagram it was handed. */
  readonly stopsWrites = false;

  write(data: Uint8Array, _signal?: AbortSignal): Promise<number> {
    const peer = this.remote as InetAddr | undefined;
    if (peer === undefined) return this.#sendWithoutPeer();
    return this.#send(data, peer, "send");
  }

  /**
   * `send(2)` with no peer: UDP binds an ephemeral port first, as Linux
   * does (`inet_autobind()`), then finds there is none.
   */
  async #sendWithoutPeer(): Promise<never> {
    this.#ensureOpen("send");
    await this.#bound("send");
    throw new SocketError(
      "EDESTADDRREQ",
      "send",
      "Cannot send(): EDESTADDRREQ, the socket has no peer; connect() first, or use sendto()",
    );
  }

  async writeTo(
    data: Uint8Array,
    addr: SocketAddr,
    _signal?: AbortSignal,
  ): Promise<number> {
    this.#ensureOpen("sendto");
    await this.#bound("sendto");
    return this.#send(data, addr as InetAddr, "sendto");
  }

  async disconnect(): Promise<void> {
    this.#ensureOpen("disconnect");
    this.remote = undefined;
    this.#source = undefined;
    if (this.#socket === undefined || this.#callerPort) {
      this.#showLocal();
      return;
    }
    // Linux gives back a port it chose: the node:dgram socket goes.
    const closed = this.#drop();
    this.local = this.#boundHost === undefined
      ? undefined
      : { hostname: this.#boundHost, port: 0 };
    this.#options.attach(undefined);
    await closed;
  }

  setOption<N extends SettableOptionName>(
    name: N,
    value: SocketOptionValues[N],
  ): void {
    this.#ensureOpen("setsockopt");
    this.#options.set(name, value);
  }

  getOption<N extends SocketOptionName>(name: N): SocketOptionValues[N] {
    this.#ensureOpen("getsockopt");
    return this.#options.get(name);
  }

  ready(what: Readiness, signal: AbortSignal | undefined): Promise<void> {
    const ready = what === "read"
      ? () => this.#queue.length > 0 || this.#shut.read || this.#failed()
      : () => this.#sending === 0;
    return this.#changes.until("wait", ready, () => this.#closed, signal);
  }

  shutdown(how: ShutdownHow): Promise<void> {
    return Promise.try(() => {
      this.#ensureOpen("shutdown");
      // Linux sets the bits even on a socket with no peer, then says so.
      if (how !== "write") this.#shut.read = true;
      if (how !== "read") this.#shut.write = true;
      this.#changes.notify();
      if (this.remote === undefined) {
        throw new SocketError(
          "ENOTCONN",
          "shutdown",
          "Cannot shutdown(): ENOTCONN, the socket has no peer",
        );
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
    this.#queue = [];
    this.#queued = 0;
    this.#changes.notify();
  }

  peerName(): SocketAddr {
    if (this.remote !== undefined) return this.remote;
    throw new SocketError(
      "ENOTCONN",
      "getpeername",
      "Cannot getpeername(): ENOTCONN, the socket has no peer",
    );
  }

  connectRefusal(): SocketError | undefined {
    return undefined;
  }

  sendtoRefusal(addr: SocketAddr): SocketError | undefined {
    // Deno asks for the bind of an unbound socket first, then the target.
    if (this.#socket === undefined && this.#opening === undefined) {
      const bind = this.#autobindAddr();
      if (!granted(bind)) {
        return permissionDenied("sendto", `bind to ${formatAddr(bind)}`, bind);
      }
    }
    if (granted(addr)) return undefined;
    return permissionDenied("sendto", `send to ${formatAddr(addr)}`, addr);
  }

  /** The `node:dgram` socket, bound by the kernel's rule if need be. */
  #bound(op: SocketOp): Promise<dgram.Socket> {
    if (this.#socket) return Promise.resolve(this.#socket);
    if (this.#opening) return this.#opening;
    return this.#open(this.#autobindAddr(), op);
  }

  /** Where an unbound socket binds: an ephemeral port (a kept address stays). */
  #autobindAddr(): InetAddr {
    const host = this.#boundHost ?? wildcardAddr(this.#family, 0).hostname;
    return { hostname: host, port: 0 };
  }

  /** Makes and binds the `node:dgram` socket, with the options set so far. */
  #open(addr: InetAddr, op: SocketOp): Promise<dgram.Socket> {
    // node:dgram throws Deno's refusal where no one can catch it: ask first.
    if (!granted(addr)) {
      return Promise.reject(
        permissionDenied(op, `bind to ${formatAddr(addr)}`, addr),
      );
    }
    const reuseAddr = this.#options.value("SO_REUSEADDR") === true;
    const ipv6Only = this.#options.value("IPV6_V6ONLY") === true;
    const socket = dgram.createSocket({
      type: this.#family === "inet" ? "udp4" : "udp6",
      reuseAddr,
      ipv6Only,
    });
    const opening = bindSocket(socket, addr).then(() => {
      if (this.#closed) {
        closeQuietly(socket);
        throw closedError(op, true);
      }
      this.#adopt(socket, reuseAddr, ipv6Only);
      return socket;
    }, (error) => {
      closeQuietly(socket);
      throw osError(error, op, `bind to ${formatAddr(addr)}`);
    }).finally(() => {
      if (this.#opening === opening) this.#opening = undefined;
    });
    this.#opening = opening;
    return opening;
  }

  /** Holds the bound `node:dgram` socket. */
  #adopt(socket: dgram.Socket, reuseAddr: boolean, ipv6Only: boolean): void {
    const { address, port } = socket.address();
    const real = canonical({ hostname: address, port });
    this.#socket = socket;
    this.#real = real;
    socket.on("message", (message: Uint8Array, rinfo?: dgram.RemoteInfo) => {
      if (rinfo && this.#socket === socket) this.#arrived(message, rinfo);
    });
    socket.on("error", (error: Error) => {
      this.#options.fail(errnoOf(error));
      this.#changes.notify();
    });
    const made: Partial<SocketOptionValues> = { SO_REUSEADDR: reuseAddr };
    if (this.#family === "inet6") {
      // Deno sets IPV6_V6ONLY on a specific IPv6 address (not :: nor mapped).
      made.IPV6_V6ONLY = ipv6Only ||
        !(isWildcard(real) || real.hostname.startsWith("::ffff:"));
    }
    const holder: OptionHolder = {
      what: "node:dgram socket",
      made,
      identity: () => ({ type: "dgram", local: real, remote: undefined }),
      setNative: (name, value) => {
        if (name !== "SO_BROADCAST") return false;
        socket.setBroadcast(value as boolean);
        return true;
      },
    };
    this.#options.attach(holder);
    this.#showLocal();
  }

  /** `local` as getsockname() says: the source address once connected. */
  #showLocal(): void {
    const real = this.#real;
    if (real === undefined) return;
    const host = this.remote === undefined ? undefined : this.#source;
    this.local = {
      hostname: this.#boundHost ?? host ?? real.hostname,
      port: real.port,
    };
  }

  /** A datagram arrived: queued, unless it is not the peer's or no room. */
  #arrived(message: Uint8Array, rinfo: dgram.RemoteInfo): void {
    const from = canonical({ hostname: rinfo.address, port: rinfo.port });
    const peer = this.remote as InetAddr | undefined;
    if (peer && !sameAddr(from, peer)) return;
    if (
      this.#queue.length >= QUEUE_DATAGRAMS ||
      this.#queued + message.length > QUEUE_BYTES
    ) {
      return;
    }
    // A copy: node's Buffer is a view of a 64 KiB receive buffer.
    this.#queue.push({ data: new Uint8Array(message), from });
    this.#queued += message.length;
    this.#changes.notify();
  }

  /**
   * One datagram into `buffer`, truncated as the kernel truncates it. When
   * `signal` aborts the wait, nothing is taken: the queue keeps what comes.
   */
  async #take(
    buffer: Uint8Array,
    op: SocketOp,
    signal?: AbortSignal,
  ): Promise<Received> {
    if (this.#kind.nonblocking) {
      this.#ensureOpen(op);
      if (!this.#queue.length && !this.#failed()) {
        throw wouldBlock(op, "no datagram is queued");
      }
    } else {
      await this.#changes.until(
        op,
        () => this.#queue.length > 0 || this.#shut.read || this.#failed(),
        () => this.#closed,
        signal,
      );
    }
    const error = this.#queue.length ? undefined : this.#options.takeError();
    if (error) throw pendingError(error, op);
    const datagram = this.#queue.shift();
    if (datagram === undefined) return { count: 0, from: undefined };
    this.#queued -= datagram.data.length;
    const count = Math.min(datagram.data.length, buffer.length);
    buffer.set(datagram.data.subarray(0, count));
    return { count, from: { ...datagram.from } };
  }

  /** One datagram to `to`, whole. */
  async #send(data: Uint8Array, to: InetAddr, op: SocketOp): Promise<number> {
    this.#ensureOpen(op);
    if (this.#shut.write) {
      throw new SocketError(
        "EPIPE",
        op,
        `Cannot ${op}(): EPIPE, shutdown() shut the socket for writing`,
      );
    }
    if (this.#kind.nonblocking && this.#sending > 0) {
      throw wouldBlock(op, "a datagram is still being sent");
    }
    const socket = await this.#bound(op);
    this.#sending++;
    try {
      return await new Promise<number>((resolve, reject) =>
        socket.send(
          data.slice(),
          to.port,
          to.hostname,
          (error) =>
            error ? reject(sendError(error, op, to)) : resolve(data.length),
        )
      );
    } finally {
      this.#sending--;
      this.#changes.notify();
    }
  }

  /** Whether an error is pending (node:dgram reported one). */
  #failed(): boolean {
    return this.#options.pending !== undefined;
  }

  /** Closes the `node:dgram` socket, if any; resolves once it is closed. */
  #drop(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#real = undefined;
    return socket ? closeQuietly(socket) : Promise.resolve();
  }

  #ensureOpen(op: SocketOp): void {
    if (this.#closed) throw closedError(op, false);
  }
}

/**
 * The `node:dgram` sockets closing now: `close()` frees the port an
 * event-loop turn later.
 */
const closing = new Set<Promise<void>>();

/** Closes a `node:dgram` socket; never throws. Resolves once it is closed. */
function closeQuietly(socket: dgram.Socket): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      // Not running (its bind failed): nothing to free.
      resolve();
    }
  });
  closing.add(closed);
  closed.then(() => closing.delete(closed));
  return closed;
}

/**
 * Binds `socket`; a port that a socket of this process is still giving back
 * (`close()` above) is waited for once, as Linux has it free at once.
 */
async function bindSocket(socket: dgram.Socket, addr: InetAddr): Promise<void> {
  for (let retried = false;; retried = true) {
    try {
      return await new Promise<void>((resolve, reject) => {
        const failed = (error: Error) => {
          socket.off("listening", listening);
          reject(error);
        };
        const listening = () => {
          socket.off("error", failed);
          resolve();
        };
        socket.once("error", failed);
        socket.once("listening", listening);
        socket.bind({ port: addr.port, address: addr.hostname });
      });
    } catch (error) {
      const inUse = errnoOf(error) === "EADDRINUSE";
      if (retried || !inUse || closing.size === 0) throw error;
      await Promise.all(closing);
    }
  }
}

/** An address as the kernel writes it (`::ffff:7f00:1`, not `::ffff:127.0.0.1`). */
function canonical(addr: InetAddr): InetAddr {
  const bytes = encodeSockaddr(addr);
  const decoded = bytes && decodeSockaddr(bytes, bytes.length);
  return decoded && "hostname" in decoded
    ? decoded
    : { hostname: addr.hostname, port: addr.port };
}

function sameAddr(a: InetAddr, b: InetAddr): boolean {
  return a.hostname === b.hostname && a.port === b.port;
}

/**
 * The source address Linux picks to reach `peer`: the loopback address for
 * a loopback peer; else, with `--allow-ffi`, what the kernel answers for a
 * socket connected there; else `undefined` (the wildcard stays).
 */
function sourceFor(peer: InetAddr): string | undefined {
  const host = peer.hostname;
  if (/^127\./.test(host)) return "127.0.0.1";
  if (host === "::1") return "::1";
  if (/^::ffff:7f/.test(host)) return "::ffff:7f00:1";
  if (!ffiGranted()) return undefined;
  using libc = openLibc();
  const family = host.includes(":") ? AF_INET6 : AF_INET;
  const made = sysSocket(libc, family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (!made.ok) return undefined;
  try {
    if (!sysConnect(libc, made.value, peer).ok) return undefined;
    const name = sysGetsockname(libc, made.value);
    return name.ok && name.value && "hostname" in name.value
      ? name.value.hostname
      : undefined;
  } finally {
    sysClose(libc, made.value);
  }
}

/** `listen()` and `accept()` of a datagram socket: `EOPNOTSUPP`. */
function notForDatagrams(op: "listen" | "accept"): SocketError {
  return new SocketError(
    "EOPNOTSUPP",
    op,
    `Cannot ${op}(): EOPNOTSUPP, a datagram socket has no connections to ${
      op === "listen" ? "listen for" : "accept"
    }`,
  );
}

/** A pending error (`SO_ERROR`), reported by a call as Linux does. */
function pendingError(errno: Errno, op: SocketOp): SocketError {
  return new SocketError(
    errno,
    op,
    `Cannot ${op}(): ${errno}, an earlier datagram failed (the error was pending)`,
  );
}

/**
 * The error of a datagram node:dgram did not send. Deno's refusal of the
 * target reaches it as `UNKNOWN`: asked after the failure (the data path
 * asks nothing), it is the `EACCES` the posix backend gives.
 */
function sendError(error: Error, op: SocketOp, to: InetAddr): SocketError {
  if (!granted(to)) {
    return permissionDenied(op, `send to ${formatAddr(to)}`, to, {
      denied: error,
    });
  }
  return osError(error, op, `send a datagram to ${formatAddr(to)}`);
}
