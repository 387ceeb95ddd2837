// Copyright 2026 the sockfsm authors. MIT license.
/** Helpers the tests of the connection procedures share. */
import assert from "node:assert/strict";
import { mock } from "node:test";
import {
  type Domain,
  type SocketAddr,
  SocketError,
  type SocketState,
  type StateChange,
} from "../mod.ts";
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
