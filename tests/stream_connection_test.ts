// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import net from "node:net";
import { mock } from "node:test";
import {
  type Domain,
  type InetAddr,
  type Socket,
  type SocketAddr,
  SocketError,
  type SocketState,
  type StateChange,
  type StreamConnection,
  streamConnection,
  type StreamConnectionOptions,
  type StreamConnectionStep,
  type StreamRole,
} from "../mod.ts";

// ---------------------------------------------------------------- helpers

type IpDomain = "inet" | "inet6";

const LOOPBACK: Record<IpDomain, string> = { inet: "127.0.0.1", inet6: "::1" };
const WILDCARD: Record<IpDomain, string> = { inet: "0.0.0.0", inet6: "::" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `count` distinct ports with nothing bound on `hostname`: listened on
 * together (so they differ), then closed.
 */
function freePorts(hostname: string, count = 1): number[] {
  const listeners: Deno.TcpListener[] = [];
  try {
    for (let i = 0; i < count; i++) {
      listeners.push(Deno.listen({ hostname, port: 0 }));
    }
    return listeners.map((listener) => listener.addr.port);
  } finally {
    for (const listener of listeners) listener.close();
  }
}

function freePort(hostname: string): number {
  return freePorts(hostname)[0];
}

/** A temporary directory, removed with everything in it on dispose. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "sockfsm_test_" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** Receives exactly `length` bytes (a stream may deliver them in pieces). */
async function recvExactly(sock: Socket, length: number): Promise<string> {
  const buffer = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await sock.recvInto(buffer.subarray(got));
    assert.notEqual(n, 0, `end of stream after ${got} of ${length} bytes`);
    got += n;
  }
  return decoder.decode(buffer);
}

/** Sends a message each way over the pair and checks it arrives intact. */
async function roundTrip(pair: StreamConnection): Promise<void> {
  const ping = "ping from the client";
  assert.equal(await pair.clntS.send(encoder.encode(ping)), ping.length);
  assert.equal(await recvExactly(pair.srvrS, ping.length), ping);
  const pong = "pong from the server";
  assert.equal(await pair.srvrS.send(encoder.encode(pong)), pong.length);
  assert.equal(await recvExactly(pair.clntS, pong.length), pong);
}

/** Records what `onTransition` reports, by role. */
class Trace {
  readonly changes: { role: StreamRole; change: StateChange }[] = [];
  readonly onTransition = (role: StreamRole, change: StateChange): void => {
    this.changes.push({ role, change });
  };

  roles(): Set<StreamRole> {
    return new Set(this.changes.map(({ role }) => role));
  }

  /** The states a role went through: its first `from`, then every `to`. */
  states(role: StreamRole): SocketState[] {
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

/** Asserts a failure of streamConnection() at `step` with errno `code`. */
function assertFailedAt(
  error: unknown,
  step: StreamConnectionStep,
  code: string,
): true {
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.equal(error.op, "streamConnection");
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

// ------------------------------------------------- the matrix of connections

interface MatrixCase {
  domain: Domain;
  srvrWild: boolean;
  withClnt: boolean;
  fixedPort: boolean;
}

const matrix: MatrixCase[] = [];
for (const domain of ["inet", "inet6", "unix"] as const) {
  const ip = domain !== "unix";
  for (const srvrWild of ip ? [false, true] : [false]) {
    for (const withClnt of [false, true]) {
      for (const fixedPort of ip ? [false, true] : [false]) {
        matrix.push({ domain, srvrWild, withClnt, fixedPort });
      }
    }
  }
}

function describeCase(c: MatrixCase): string {
  const where = c.domain === "unix"
    ? "unix (path in a temp dir)"
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
    : "client unbound";
  return `streamConnection() over ${where}, ${server}, ${client}: ` +
    "returns a connected pair that carries data both ways";
}

for (const c of matrix) {
  Deno.test(describeCase(c), async () => {
    await using dir = c.domain === "unix" ? await tempDir() : undefined;
    let srvrAddr: SocketAddr;
    let clntAddr: SocketAddr | undefined;
    let fixedPort = 0;
    if (c.domain === "unix") {
      srvrAddr = { path: `${dir!.path}/srvr.sock` };
      if (c.withClnt) clntAddr = { path: `${dir!.path}/clnt.sock` };
    } else {
      const hostname = LOOPBACK[c.domain];
      // A port free on the address the server really binds to.
      const ports = freePorts(
        c.srvrWild ? WILDCARD[c.domain] : hostname,
        2,
      );
      fixedPort = c.fixedPort ? ports[0] : 0;
      srvrAddr = { hostname, port: fixedPort };
      if (c.withClnt) {
        clntAddr = { hostname, port: c.fixedPort ? ports[1] : 0 };
      }
    }
    const callerSrvrAddr = structuredClone(srvrAddr);
    const callerClntAddr = structuredClone(clntAddr);
    const trace = new Trace();

    // Deno.listen() is how the Deno backend binds: its first call is the
    // server's bind, and shows the address the listener was bound to.
    const listen = mock.method(Deno, "listen");
    try {
      {
        using pair = await streamConnection({
          srvrAddr,
          srvrWild: c.srvrWild,
          clntAddr,
          onTransition: trace.onTransition,
        });
        await roundTrip(pair);
        assert.equal(pair.srvrS.state, "connected");
        assert.equal(pair.clntS.state, "connected");

        // The caller's objects are left alone.
        assert.deepEqual(srvrAddr, callerSrvrAddr);
        assert.deepEqual(clntAddr, callerClntAddr);

        // The server was bound where it should be.
        const bindArgs = listen.mock.calls[0].arguments[0] as
          & Partial<Deno.TcpListenOptions>
          & Partial<Deno.UnixListenOptions>;
        if ("path" in srvrAddr) {
          assert.equal(bindArgs.path, srvrAddr.path);
          assert.deepEqual(pair.srvrAddr, srvrAddr);
          assert.deepEqual(pair.clntS.getpeername(), srvrAddr);
        } else {
          assert.equal(
            bindArgs.hostname,
            c.srvrWild
              ? WILDCARD[c.domain as IpDomain]
              : LOOPBACK[c.domain as IpDomain],
          );
          assert.equal(bindArgs.port, fixedPort);
          // The returned srvrAddr has the caller's hostname, the real port.
          const real = pair.srvrAddr as InetAddr;
          assert.equal(real.hostname, srvrAddr.hostname);
          if (c.fixedPort) assert.equal(real.port, fixedPort);
          else assert.ok(real.port > 0, `port ${real.port}`);
          assert.deepEqual(pair.clntS.getpeername(), real);
          assert.deepEqual(pair.srvrS.getsockname(), real);
        }

        if (clntAddr !== undefined) {
          const local = pair.clntS.getsockname();
          if ("port" in clntAddr && clntAddr.port === 0) {
            assert.equal((local as InetAddr).hostname, clntAddr.hostname);
            assert.ok((local as InetAddr).port > 0);
          } else {
            assert.deepEqual(local, clntAddr);
          }
        }
        assert.deepEqual(pair.srvrS.getpeername(), pair.clntS.getsockname());
      }
      trace.assertAllClosed();
    } finally {
      listen.mock.restore();
    }
  });
}

// ----------------------------------------------------------- onTransition

Deno.test("streamConnection() reports listener, client and accepted to onTransition, the listener from created to closed", async () => {
  const trace = new Trace();
  {
    using pair = await streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntAddr: { hostname: "127.0.0.1", port: 0 },
      onTransition: trace.onTransition,
    });
    // The listener is closed before the pair is returned.
    assert.deepEqual(trace.states("listener"), [
      "created",
      "binding",
      "bound",
      "opening",
      "listening",
      "closed",
    ]);
    assert.deepEqual(trace.states("client"), [
      "created",
      "binding",
      "bound",
      "connecting",
      "connected",
    ]);
    assert.equal(pair.srvrS.state, "connected");
  }
  assert.deepEqual(
    trace.roles(),
    new Set<StreamRole>(["listener", "client", "accepted"]),
  );
  assert.equal(trace.states("accepted").at(-1), "closed");
  assert.equal(trace.states("client").at(-1), "closed");
});

Deno.test("streamConnection() connects an unbound client straight from created", async () => {
  const trace = new Trace();
  {
    using _pair = await streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      onTransition: trace.onTransition,
    });
    assert.deepEqual(trace.states("client"), [
      "created",
      "connecting",
      "connected",
    ]);
  }
  trace.assertAllClosed();
});

Deno.test("streamConnection() accepts proto 6 (IPPROTO_TCP) and an explicit domain", async () => {
  using pair = await streamConnection({
    srvrAddr: { hostname: "::1", port: 0 },
    domain: "inet6",
    proto: 6,
  });
  await roundTrip(pair);
  assert.equal(pair.clntS.domain, "inet6");
  assert.equal(pair.srvrS.domain, "inet6");
});

// ------------------------------------------------------------- bad input

interface BadInput {
  what: string;
  options: StreamConnectionOptions;
  code: string;
  message: RegExp;
}

const NO_DIR = "/nonexistent-sockfsm-dir";

const badInputs: BadInput[] = [
  {
    what: "a missing srvrAddr",
    options: {} as StreamConnectionOptions,
    code: "EINVAL",
    message: /srvrAddr is required/,
  },
  {
    what: "port -1",
    options: { srvrAddr: { hostname: "127.0.0.1", port: -1 } },
    code: "EINVAL",
    message: /srvrAddr.*"port" must be from 0 to 65535, got -1/,
  },
  {
    what: "port 65536",
    options: { srvrAddr: { hostname: "127.0.0.1", port: 65536 } },
    code: "EINVAL",
    message: /srvrAddr.*"port" must be from 0 to 65535, got 65536/,
  },
  {
    what: "port 1.5",
    options: { srvrAddr: { hostname: "127.0.0.1", port: 1.5 } },
    code: "EINVAL",
    message: /srvrAddr.*"port" must be an integer.*got 1\.5/,
  },
  {
    what: 'hostname "localhost" (names are not resolved)',
    options: { srvrAddr: { hostname: "localhost", port: 0 } },
    code: "EINVAL",
    message: /"localhost" is not an IP literal/,
  },
  {
    what: 'hostname "999.1.1.1"',
    options: { srvrAddr: { hostname: "999.1.1.1", port: 0 } },
    code: "EINVAL",
    message: /"999\.1\.1\.1" is not an IP literal/,
  },
  {
    what: 'hostname "not an ip"',
    options: { srvrAddr: { hostname: "not an ip", port: 0 } },
    code: "EINVAL",
    message: /"not an ip" is not an IP literal/,
  },
  {
    what: "wildcard srvrAddr 0.0.0.0",
    options: { srvrAddr: { hostname: "0.0.0.0", port: 0 } },
    code: "EINVAL",
    message: /0\.0\.0\.0:0 is a wildcard address.*srvrWild: true/,
  },
  {
    what: "wildcard srvrAddr ::",
    options: { srvrAddr: { hostname: "::", port: 0 } },
    code: "EINVAL",
    message: /\[::\]:0 is a wildcard address.*srvrWild: true/,
  },
  {
    what: 'domain "inet6" with an inet srvrAddr',
    options: {
      domain: "inet6",
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
    },
    // Linux: an IPv4 sockaddr is too short for an IPv6 socket.
    code: "EINVAL",
    message: /srvrAddr is an? inet address but the domain is inet6/,
  },
  {
    what: "an inet6 clntAddr with an inet srvrAddr",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntAddr: { hostname: "::1", port: 0 },
    },
    code: "EAFNOSUPPORT",
    message: /clntAddr is an? inet6 address but the domain is inet/,
  },
  {
    what: "a unix clntAddr with an inet srvrAddr",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntAddr: { path: `${NO_DIR}/clnt.sock` },
    },
    code: "EAFNOSUPPORT",
    message: /clntAddr is an? unix address but the domain is inet/,
  },
  {
    what: "an inet clntAddr with a unix srvrAddr",
    options: {
      srvrAddr: { path: `${NO_DIR}/srvr.sock` },
      clntAddr: { hostname: "127.0.0.1", port: 0 },
    },
    code: "EINVAL",
    message: /clntAddr is an? inet address but the domain is unix/,
  },
  {
    what: "proto 17 (UDP)",
    options: { srvrAddr: { hostname: "127.0.0.1", port: 0 }, proto: 17 },
    code: "EPROTONOSUPPORT",
    message: /protocol 17/,
  },
  {
    what: "proto 6 (TCP) on a unix socket",
    options: { srvrAddr: { path: `${NO_DIR}/srvr.sock` }, proto: 6 },
    code: "EPROTONOSUPPORT",
    message: /unix stream socket with protocol 6/,
  },
  {
    what: "srvrWild with a unix srvrAddr",
    options: { srvrAddr: { path: `${NO_DIR}/srvr.sock` }, srvrWild: true },
    code: "EINVAL",
    message: /srvrWild applies to inet and inet6/,
  },
  {
    what: 'srvr other than "local"',
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      srvr: "remote" as "local",
    },
    code: "EINVAL",
    message: /srvr must be "local".*got "remote"/,
  },
  {
    what: 'clnt other than "local"',
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clnt: "remote" as "local",
    },
    code: "EINVAL",
    message: /clnt must be "local".*got "remote"/,
  },
];

for (const bad of badInputs) {
  Deno.test(`streamConnection() refuses ${bad.what} before any socket exists`, async () => {
    const listen = mock.method(Deno, "listen");
    const connect = mock.method(Deno, "connect");
    const trace = new Trace();
    try {
      await assert.rejects(
        streamConnection({ ...bad.options, onTransition: trace.onTransition }),
        (error: unknown) => {
          assert.ok(
            error instanceof SocketError,
            `not a SocketError: ${error}`,
          );
          assert.equal(error.op, "streamConnection");
          assert.equal(error.step, "check arguments");
          assert.equal(error.code, bad.code);
          assert.match(error.message, bad.message);
          return true;
        },
      );
      assert.equal(listen.mock.callCount(), 0, "Deno.listen() was called");
      assert.equal(connect.mock.callCount(), 0, "Deno.connect() was called");
      assert.deepEqual(trace.changes, [], "a socket was created");
    } finally {
      listen.mock.restore();
      connect.mock.restore();
    }
  });
}

// ------------------------------------------------------ failure injection

for (const domain of ["inet", "inet6", "unix"] as const) {
  Deno.test(`streamConnection() fails at "bind server" with EADDRINUSE when the ${domain} server address is taken, leaving nothing open`, async () => {
    await using dir = domain === "unix" ? await tempDir() : undefined;
    const held = domain === "unix"
      ? Deno.listen({ transport: "unix", path: `${dir!.path}/srvr.sock` })
      : Deno.listen({ hostname: LOOPBACK[domain], port: 0 });
    const trace = new Trace();
    try {
      const srvrAddr: SocketAddr = domain === "unix"
        ? { path: `${dir!.path}/srvr.sock` }
        : {
          hostname: LOOPBACK[domain],
          port: (held.addr as Deno.NetAddr).port,
        };
      await assert.rejects(
        streamConnection({ srvrAddr, onTransition: trace.onTransition }),
        (error) => assertFailedAt(error, "bind server", "EADDRINUSE"),
      );
      assert.deepEqual(trace.roles(), new Set(["listener"]));
      trace.assertAllClosed();
      trace.assertClosedInReverse();
    } finally {
      held.close();
    }
  });

  Deno.test(`streamConnection() fails at "bind client" with EADDRINUSE when the ${domain} client address is taken, and closes the server socket`, async () => {
    await using dir = domain === "unix" ? await tempDir() : undefined;
    let srvrAddr: SocketAddr;
    let held: Deno.Listener;
    if (domain === "unix") {
      srvrAddr = { path: `${dir!.path}/srvr.sock` };
      held = Deno.listen({ transport: "unix", path: `${dir!.path}/clnt.sock` });
    } else {
      srvrAddr = {
        hostname: LOOPBACK[domain],
        port: freePort(LOOPBACK[domain]),
      };
      held = Deno.listen({ hostname: LOOPBACK[domain], port: 0 });
    }
    const clntAddr: SocketAddr = domain === "unix"
      ? { path: `${dir!.path}/clnt.sock` }
      : { hostname: LOOPBACK[domain], port: (held.addr as Deno.NetAddr).port };
    const trace = new Trace();
    try {
      await assert.rejects(
        streamConnection({
          srvrAddr,
          clntAddr,
          onTransition: trace.onTransition,
        }),
        (error) => assertFailedAt(error, "bind client", "EADDRINUSE"),
      );
      assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
      trace.assertAllClosed();
      trace.assertClosedInReverse();
      // The server's address is free again: its socket was really closed.
      const again = "path" in srvrAddr
        ? Deno.listen({ transport: "unix", path: srvrAddr.path })
        : Deno.listen(srvrAddr);
      again.close();
    } finally {
      held.close();
    }
  });
}

Deno.test('streamConnection() fails at "bind client" with EADDRNOTAVAIL for a client address that is not local, leaving nothing open', async () => {
  const trace = new Trace();
  await assert.rejects(
    streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      // TEST-NET-1: never an address of this machine, so bind() fails.
      clntAddr: { hostname: "192.0.2.1", port: 0 },
      onTransition: trace.onTransition,
    }),
    (error) => assertFailedAt(error, "bind client", "EADDRNOTAVAIL"),
  );
  assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
  trace.assertAllClosed();
  trace.assertClosedInReverse();
});

for (const domain of ["inet", "inet6"] as const) {
  Deno.test(`streamConnection() fails at "connect client" with ECONNREFUSED when nothing listens (${domain}), leaving nothing open`, async () => {
    const hostname = LOOPBACK[domain];
    const deadPort = freePort(hostname);
    const original = Deno.connect;
    const connect = mock.method(
      Deno,
      "connect",
      (opts: Deno.ConnectOptions) => original({ ...opts, port: deadPort }),
    );
    const trace = new Trace();
    try {
      await assert.rejects(
        streamConnection({
          srvrAddr: { hostname, port: 0 },
          onTransition: trace.onTransition,
        }),
        (error) => assertFailedAt(error, "connect client", "ECONNREFUSED"),
      );
      assert.equal(connect.mock.callCount(), 1);
      assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
      trace.assertAllClosed();
      trace.assertClosedInReverse();
    } finally {
      connect.mock.restore();
    }
  });
}

Deno.test('streamConnection() fails at "connect client" with ECONNREFUSED for a bound client when nothing listens, and frees the client address', async () => {
  // A bound client connects through node:net (Deno cannot bind a client).
  const [deadPort, clntPort] = freePorts("127.0.0.1", 2);
  const original = net.connect;
  const connect = mock.method(
    net,
    "connect",
    (opts: net.TcpNetConnectOpts) => original({ ...opts, port: deadPort }),
  );
  const trace = new Trace();
  try {
    await assert.rejects(
      streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        clntAddr: { hostname: "127.0.0.1", port: clntPort },
        onTransition: trace.onTransition,
      }),
      (error) => assertFailedAt(error, "connect client", "ECONNREFUSED"),
    );
    assert.equal(connect.mock.callCount(), 1);
    assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
    trace.assertAllClosed();
    trace.assertClosedInReverse();
    // The client's address is free again.
    Deno.listen({ hostname: "127.0.0.1", port: clntPort }).close();
  } finally {
    connect.mock.restore();
  }
});

for (const withClnt of [false, true]) {
  Deno.test(`streamConnection() fails at "connect client" with ENOENT when the unix socket file is gone (client ${withClnt ? "bound" : "unbound"}), leaving nothing open`, async () => {
    await using dir = await tempDir();
    const srvrPath = `${dir.path}/srvr.sock`;
    const trace = new Trace();
    await assert.rejects(
      streamConnection({
        srvrAddr: { path: srvrPath },
        clntAddr: withClnt ? { path: `${dir.path}/clnt.sock` } : undefined,
        onTransition: (role, change) => {
          trace.onTransition(role, change);
          if (role === "listener" && change.to === "listening") {
            Deno.removeSync(srvrPath);
          }
        },
      }),
      (error) => assertFailedAt(error, "connect client", "ENOENT"),
    );
    assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
    trace.assertAllClosed();
    trace.assertClosedInReverse();
  });
}

// ------------------------------------------------------ the README example

Deno.test("streamConnection() works as in the README, and disposing the pair twice does not throw", async () => {
  using pair = await streamConnection({
    srvrAddr: { hostname: "127.0.0.1", port: 0 },
  });
  await pair.clntS.send(encoder.encode("hello"));
  assert.equal(decoder.decode(await pair.srvrS.recv()), "hello");
  await assert.rejects(
    pair.clntS.listen(),
    (error: unknown) => error instanceof SocketError && error.code === "EINVAL",
  );
  pair[Symbol.dispose]();
  assert.equal(pair.clntS.state, "closed");
  assert.equal(pair.srvrS.state, "closed");
  pair[Symbol.dispose]();
  assert.equal(pair.clntS.state, "closed");
});
