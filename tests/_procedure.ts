// Copyright 2026 the sockfsm authors. MIT license.
/** Helpers the tests of the connection procedures share. */
import assert from "node:assert/strict";
import net from "node:net";
import { mock } from "node:test";
import {
  type Backend,
  type Domain,
  formatAddr,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  type SocketState,
  type SocketType,
  type StateChange,
} from "../mod.ts";
import { openLibc } from "../steps/libc.ts";
import { processLibc } from "../steps/libc_lease.ts";
import { decodeSockaddr, encodeSockaddr } from "../steps/sockaddr.ts";
import { freePorts, LOOPBACK } from "./_net.ts";

/** Records what a procedure's `onTransition` reports, by role. */
export class Trace<R extends string> {
  readonly changes: { role: R; change: StateChange }[] = [];
  readonly onTransition = (role: R, change: StateChange): void => {
    this.changes.push({ role, change });
  };

  roles(): Set<R> {
    return new Set(this.changes.map(({ role }) => role));
  }

  /** The states a role went through: its first `from`, then every `to`. */
  states(role: R): SocketState[] {
    const mine = this.changes.filter((entry) => entry.role === role);
    if (mine.length === 0) return [];
    return [mine[0].change.from, ...mine.map(({ change }) => change.to)];
  }

  /** Asserts that the sockets were closed in the reverse of their creation. */
  assertClosedInReverse(): void {
    const created = [...this.roles()];
    const closed = this.changes
      .filter(({ change }) => change.to === "closed")
      .map(({ role }) => role);
    assert.deepEqual(closed, created.reverse());
  }

  /** Asserts that every socket reported was left closed. */
  assertAllClosed(): void {
    assert.ok(this.changes.length > 0, "no transition was reported");
    for (const role of this.roles()) {
      assert.equal(this.states(role).at(-1), "closed", `${role} not closed`);
    }
  }
}

/** Asserts a failure of procedure `op` at `step` with errno `code`. */
export function assertProcedureFailedAt(
  error: unknown,
  op: string,
  step: string,
  code: string,
): true {
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.equal(error.op, op);
  assert.equal(error.step, step);
  assert.equal(error.code, code);
  assert.ok(
    error.message.includes(`step "${step}"`),
    `message does not name step "${step}": ${error.message}`,
  );
  assert.ok(
    error.message.includes(code),
    `message does not name ${code}: ${error.message}`,
  );
  return true;
}

/**
 * Watches what could make a socket: libc being opened (the posix backend's
 * first socket) and Deno's network calls (the deno backend's). `calls()`
 * names those that were made.
 */
export function watchSockets(): { calls(): string[]; restore(): void } {
  const deno = Deno as unknown as Record<string, () => unknown>;
  const names = ["dlopen", "listen", "connect", "listenDatagram"];
  const spies = names
    .filter((name) => typeof deno[name] === "function")
    .map((name) => ({ name, spy: mock.method(deno, name) }));
  return {
    calls: () =>
      spies.filter(({ spy }) => spy.mock.callCount() > 0)
        .map(({ name }) => name),
    restore: () => spies.forEach(({ spy }) => spy.mock.restore()),
  };
}

/** The wildcard address of each IP domain. */
export const WILDCARD: Readonly<Record<"inet" | "inet6", string>> = {
  inet: "0.0.0.0",
  inet6: "::",
};

/** One case of the address matrix the procedures are tested over. */
export interface AddrCase {
  domain: Domain;
  /** The server binds to the wildcard (never for unix). */
  srvrWild: boolean;
  /** `clntAddr` is given. */
  withClnt: boolean;
  /** The ports are fixed free ones, not 0 (never for unix). */
  fixedPort: boolean;
}

/** Every case of the address matrix, unix ones without wildcard or ports. */
export function addrCases(): AddrCase[] {
  const cases: AddrCase[] = [];
  for (const domain of ["inet", "inet6", "unix"] as const) {
    const ip = domain !== "unix";
    for (const srvrWild of ip ? [false, true] : [false]) {
      for (const withClnt of [false, true]) {
        for (const fixedPort of ip ? [false, true] : [false]) {
          cases.push({ domain, srvrWild, withClnt, fixedPort });
        }
      }
    }
  }
  return cases;
}

/**
 * How a test name tells a case: where, the server, the client (`noClnt`
 * says what happens without `clntAddr`).
 */
export function describeAddrCase(c: AddrCase, noClnt: string): string {
  const where = c.domain === "unix"
    ? "unix (paths in a temp dir)"
    : `${c.domain} (${LOOPBACK[c.domain]})`;
  const server = c.domain === "unix"
    ? "server bound to its path"
    : `server ${c.srvrWild ? "bound to the wildcard" : "bound to srvrAddr"} ${
      c.fixedPort ? "on a fixed port" : "on port 0"
    }`;
  const client = c.withClnt
    ? `client bound to clntAddr${
      c.domain === "unix" ? "" : c.fixedPort ? " (fixed port)" : " (port 0)"
    }`
    : noClnt;
  return `${where}, ${server}, ${client}`;
}

/**
 * The addresses of a case: unix paths in `dir`; loopback addresses with
 * port 0 or ports free on the address the server really binds to (TCP
 * ports free a moment ago; the UDP ones are most likely free too).
 */
export function caseAddrs(
  c: AddrCase,
  dir: string | undefined,
): { srvrAddr: SocketAddr; clntAddr?: SocketAddr; fixedPort: number } {
  if (c.domain === "unix") {
    const srvrAddr = { path: `${dir}/srvr.sock` };
    if (!c.withClnt) return { srvrAddr, fixedPort: 0 };
    return { srvrAddr, clntAddr: { path: `${dir}/clnt.sock` }, fixedPort: 0 };
  }
  const hostname = LOOPBACK[c.domain];
  const ports = freePorts(c.srvrWild ? WILDCARD[c.domain] : hostname, 2);
  const fixedPort = c.fixedPort ? ports[0] : 0;
  const srvrAddr = { hostname, port: fixedPort };
  if (!c.withClnt) return { srvrAddr, fixedPort };
  const clntAddr = { hostname, port: c.fixedPort ? ports[1] : 0 };
  return { srvrAddr, clntAddr, fixedPort };
}

/**
 * Asserts that `run` rejects with a refusal of procedure `op` at "check
 * arguments", with errno `code` and a message matching `message`, and that
 * no socket was made or changed state meanwhile. `run` gets the tracer to
 * pass as `onTransition`.
 */
export async function assertRefusedUpFront(
  run: (onTransition: (role: string, change: StateChange) => void) => unknown,
  expected: { op: string; code: string; message: RegExp },
): Promise<void> {
  const watch = watchSockets();
  const changes: StateChange[] = [];
  try {
    await assert.rejects(
      Promise.resolve().then(() => run((_, change) => changes.push(change))),
      (error: unknown) => {
        assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
        assert.equal(error.op, expected.op);
        assert.equal(error.step, "check arguments");
        assert.equal(error.code, expected.code);
        assert.match(error.message, expected.message);
        return true;
      },
    );
    assert.deepEqual(watch.calls(), [], "a socket was made");
    assert.deepEqual(changes, [], "a socket changed state");
  } finally {
    watch.restore();
  }
}

// ------------------------------------------- watching and steering libc

/** A libc call that takes a descriptor and a socket address. */
type LibcCall = (fd: number, sa: Uint8Array, len: number) => number;

/** What the posix backend asked of libc, and how to stop watching. */
export interface LibcSpy {
  /** The addresses passed to `bind(2)`, in order. */
  readonly binds: SocketAddr[];
  /**
   * The descriptors and addresses passed to `connect(2)`, in order
   * (`AF_UNSPEC` left out). One connect() may call it more than once.
   */
  readonly connects: { fd: number; addr: SocketAddr }[];
  restore(): void;
}

/**
 * Watches the libc calls of the posix backend: wraps `bind` and `connect`
 * in the process's libc handle, which every posix socket uses. With
 * `redirectPort`, every inet and inet6 `connect(2)` goes to that port.
 */
export function spyLibc(redirectPort?: number): LibcSpy {
  const binds: SocketAddr[] = [];
  const connects: { fd: number; addr: SocketAddr }[] = [];
  const calls = processLibc().libc.symbols as unknown as Record<
    "bind" | "connect",
    LibcCall
  >;
  const { bind, connect } = calls;
  calls.bind = (fd: number, sa: Uint8Array, len: number) => {
    binds.push(decodeSockaddr(sa, len)!);
    return bind(fd, sa, len);
  };
  calls.connect = (fd: number, sa: Uint8Array, len: number) => {
    const addr = decodeSockaddr(sa, len);
    if (addr === undefined) return connect(fd, sa, len);
    connects.push({ fd, addr });
    if (redirectPort === undefined || !("port" in addr)) {
      return connect(fd, sa, len);
    }
    const dead = encodeSockaddr({ ...addr, port: redirectPort })!;
    return connect(fd, dead, dead.length);
  };
  return {
    binds,
    connects,
    restore() {
      calls.bind = bind;
      calls.connect = connect;
    },
  };
}

/**
 * Makes the client's connect go to `deadPort`, where nothing listens (the
 * procedure listens before it connects, so nothing else can inject this):
 * through `Deno.connect` or `node:net` for the deno backend, through libc's
 * `connect` for posix. Counts the sockets whose connect was redirected.
 */
export function redirectConnect(
  backend: Backend,
  deadPort: number,
  bound: boolean,
): { count(): number; restore(): void } {
  if (backend === "posix") {
    const spy = spyLibc(deadPort);
    return {
      // The sockets that connected: each calls connect(2) until it is done.
      count: () => new Set(spy.connects.map(({ fd }) => fd)).size,
      restore: spy.restore,
    };
  }
  if (bound) {
    // A bound client connects through node:net (Deno cannot bind a client).
    const original = net.connect;
    const connect = mock.method(
      net,
      "connect",
      (opts: net.TcpNetConnectOpts) => original({ ...opts, port: deadPort }),
    );
    return {
      count: () => connect.mock.callCount(),
      restore: () => connect.mock.restore(),
    };
  }
  const original = Deno.connect;
  const connect = mock.method(
    Deno,
    "connect",
    (opts: Deno.ConnectOptions) => original({ ...opts, port: deadPort }),
  );
  return {
    count: () => connect.mock.callCount(),
    restore: () => connect.mock.restore(),
  };
}

// ------------------------------------------------------ what is left open

/**
 * How many descriptors from 0 to 4095 this process has open, as
 * `fcntl(fd, F_GETFD)` finds them (Deno lets only `--allow-all` read
 * `/proc/self/fd`). Its own libc handle opens no descriptor.
 */
export function openFds(): number {
  using libc = openLibc();
  let count = 0;
  for (let fd = 0; fd < 4096; fd++) {
    if (libc.symbols.fcntl(fd, F_GETFD, 0) >= 0) count++;
  }
  return count;
}

/** `fcntl(2)`'s command that reads a descriptor's flags. */
const F_GETFD = 1;

/**
 * Waits (at most `ms`) for `check` to pass, for what the kernel or a
 * backend frees a turn after close(); then runs it once more, so that a
 * check that never passes fails with its own message.
 */
export async function eventually(
  check: () => void,
  ms = 2000,
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      check();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  check();
}

/** Asserts that the process has (again) `before` descriptors open. */
export async function assertFdsBack(before: number): Promise<void> {
  await eventually(() =>
    assert.equal(openFds(), before, "a descriptor was left open")
  );
}

/**
 * Asserts that `addr` is free again: for streams, nothing listens there
 * (a connect is refused, or finds no unix socket file); a new socket of
 * `type` binds to it (with `SO_REUSEADDR`, as `Deno.listen()` does, so
 * that a closed connection's TIME_WAIT does not count), and a stream one
 * listens there (unless `bind` is false: a port a connection was made on
 * and closed from this end stays in TIME_WAIT, which blocks a new bind
 * unless the closed socket had `SO_REUSEADDR`). The unix socket file
 * `close(2)` leaves is removed first.
 */
export async function assertAddressFree(
  addr: SocketAddr,
  type: SocketType,
  backend: Backend,
  { bind = true } = {},
): Promise<void> {
  if (type === "stream") {
    await assert.rejects(
      "path" in addr
        ? Deno.connect({ transport: "unix", path: addr.path })
        : Deno.connect(addr),
      (error: unknown) =>
        error instanceof Deno.errors.ConnectionRefused ||
        error instanceof Deno.errors.NotFound,
      `something still listens on ${formatAddr(addr)}`,
    );
  }
  if (!bind) return;
  if ("path" in addr) {
    try {
      Deno.removeSync(addr.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const domain: Domain = "path" in addr
    ? "unix"
    : addr.hostname.includes(":")
    ? "inet6"
    : "inet";
  using again: Socket = socket({ domain, type, backend });
  if (!("path" in addr)) await again.setsockopt("SO_REUSEADDR", true);
  await again.bind(addr);
  if (type === "stream") await again.listen();
  if ("path" in addr) Deno.removeSync(addr.path);
}
