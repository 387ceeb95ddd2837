// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import {
  type Backend,
  type DgramConnection,
  dgramConnection,
  type DgramConnectionOptions,
  type DgramConnectionStep,
  type DgramRole,
  type Domain,
  type InetAddr,
  socket,
  type SocketAddr,
  SocketError,
  type SocketOptionRecord,
} from "../mod.ts";
import { freePorts, LOOPBACK, tempDir, within } from "./_net.ts";
import {
  type AddrCase,
  addrCases,
  assertProcedureFailedAt,
  assertRefusedUpFront,
  caseAddrs,
  describeAddrCase,
  Trace as SharedTrace,
  WILDCARD,
} from "./_procedure.ts";

// ---------------------------------------------------------------- helpers

type IpDomain = "inet" | "inet6";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every test of the procedure runs with each backend. */
const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];

/** How long any one wait of these tests may take. */
const WAIT_MS = 5000;

/** Records what `onTransition` reports, by role. */
class Trace extends SharedTrace<DgramRole> {}

/** Asserts a failure of dgramConnection() at `step` with errno `code`. */
function assertFailedAt(
  error: unknown,
  step: DgramConnectionStep,
  code: string,
): true {
  return assertProcedureFailedAt(error, "dgramConnection", step, code);
}

/**
 * Sends a datagram each way: with `send()` from a connected end, with
 * `sendto()` to the other's address from an unconnected one. Each arrives
 * whole, from the address the pair reports for its sender.
 */
async function exchange(
  pair: DgramConnection,
  connected: { clnt: boolean; srvr: boolean },
): Promise<void> {
  const ping = encoder.encode("ping from the client");
  const sent = connected.clnt
    ? pair.clntS.send(ping)
    : pair.clntS.sendto(ping, pair.srvrAddr);
  assert.equal(await within(WAIT_MS, sent, "the client's send"), ping.length);
  const got = await within(WAIT_MS, pair.srvrS.recvfrom(), "server recvfrom");
  assert.equal(decoder.decode(got.data), "ping from the client");
  assert.deepEqual(got.addr, pair.clntAddr);

  const pong = encoder.encode("pong from the server");
  const back = connected.srvr
    ? pair.srvrS.send(pong)
    : pair.srvrS.sendto(pong, pair.clntAddr);
  assert.equal(await within(WAIT_MS, back, "the server's send"), pong.length);
  const answer = await within(WAIT_MS, pair.clntS.recvfrom(), "client recv");
  assert.equal(decoder.decode(answer.data), "pong from the server");
  assert.deepEqual(answer.addr, pair.srvrAddr);
}

/** Asserts that `getpeername()` throws ENOTCONN. */
function assertNoPeer(get: () => unknown, who: string): void {
  assert.throws(
    get,
    (error: unknown) =>
      error instanceof SocketError && error.code === "ENOTCONN",
    `${who} has a peer`,
  );
}

/** Whether a file exists at `path` (a socket file, say). */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** A datagram socket bound to `addr`, to hold it (posix by default). */
async function holdDgram(
  domain: Domain,
  addr: SocketAddr,
  backend: Backend = "posix",
) {
  const held = socket({ domain, type: "dgram", backend });
  await held.bind(addr);
  return held;
}

// ------------------------------------------------- the matrix of connections

interface MatrixCase extends AddrCase {
  clntConnect: boolean;
  srvrConnect: boolean;
}

const matrix: MatrixCase[] = [];
for (const c of addrCases()) {
  for (const clntConnect of [true, false]) {
    for (const srvrConnect of [true, false]) {
      matrix.push({ ...c, clntConnect, srvrConnect });
    }
  }
}

function describeCase(c: MatrixCase, backend: Backend): string {
  return `dgramConnection() with the ${backend} backend over ${
    describeAddrCase(c, "client bound by default")
  }, clntConnect ${c.clntConnect}, srvrConnect ${c.srvrConnect}: ` +
    "carries datagrams both ways, and each end has the peer it connected to";
}

for (const backend of BACKENDS) {
  for (const c of matrix) {
    Deno.test(describeCase(c, backend), async () => {
      await using dir = c.domain === "unix" ? await tempDir() : undefined;
      const { srvrAddr, clntAddr, fixedPort } = caseAddrs(c, dir?.path);
      const callerSrvrAddr = structuredClone(srvrAddr);
      const callerClntAddr = structuredClone(clntAddr);
      const trace = new Trace();
      let madeUp: string | undefined;
      {
        using pair = await within(
          WAIT_MS,
          dgramConnection({
            srvrAddr,
            srvrWild: c.srvrWild,
            clntAddr,
            clntConnect: c.clntConnect,
            srvrConnect: c.srvrConnect,
            backend,
            onTransition: trace.onTransition,
          }),
          "dgramConnection()",
        );
        // The caller's objects are left alone.
        assert.deepEqual(srvrAddr, callerSrvrAddr);
        assert.deepEqual(clntAddr, callerClntAddr);
        assert.equal(pair.srvrS.type, "dgram");
        assert.equal(pair.clntS.type, "dgram");
        assert.equal(pair.srvrS.domain, c.domain);

        // The server's address: the caller's, with the real port.
        if ("path" in srvrAddr) {
          assert.deepEqual(pair.srvrAddr, srvrAddr);
          assert.deepEqual(pair.srvrS.getsockname(), srvrAddr);
        } else {
          const real = pair.srvrAddr as InetAddr;
          assert.equal(real.hostname, srvrAddr.hostname);
          if (c.fixedPort) assert.equal(real.port, fixedPort);
          else assert.ok(real.port > 0, `port ${real.port}`);
          // Bound to the wildcard, until connect() picks a source address.
          assert.deepEqual(
            pair.srvrS.getsockname(),
            c.srvrWild && !c.srvrConnect
              ? { hostname: WILDCARD[c.domain as IpDomain], port: real.port }
              : real,
          );
        }

        // The client's address: clntAddr, or the default, as bound.
        assert.deepEqual(pair.clntS.getsockname(), pair.clntAddr);
        if (c.domain === "unix") {
          const { path } = pair.clntAddr as { path: string };
          if (clntAddr !== undefined) {
            assert.deepEqual(pair.clntAddr, clntAddr);
          } else {
            assert.ok(
              path.startsWith(`${(srvrAddr as { path: string }).path}-clnt-`),
              `the client's path ${path} is not next to the server's`,
            );
            madeUp = path;
          }
        } else {
          const local = pair.clntAddr as InetAddr;
          const wanted = clntAddr as InetAddr | undefined;
          assert.equal(
            local.hostname,
            wanted?.hostname ?? LOOPBACK[c.domain as IpDomain],
          );
          if (wanted !== undefined && wanted.port !== 0) {
            assert.equal(local.port, wanted.port);
          } else {
            assert.ok(local.port > 0, `port ${local.port}`);
          }
        }

        // Each end's peer is the one it connected to, or none.
        if (c.clntConnect) {
          assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
          assert.equal(pair.clntS.state, "connected");
        } else {
          assertNoPeer(() => pair.clntS.getpeername(), "the client");
          assert.equal(pair.clntS.state, "bound");
        }
        if (c.srvrConnect) {
          assert.deepEqual(pair.srvrS.getpeername(), pair.clntAddr);
          assert.equal(pair.srvrS.state, "connected");
        } else {
          assertNoPeer(() => pair.srvrS.getpeername(), "the server");
          assert.equal(pair.srvrS.state, "bound");
        }

        await exchange(pair, { clnt: c.clntConnect, srvr: c.srvrConnect });
      }
      trace.assertAllClosed();
      trace.assertClosedInReverse();
      if (madeUp !== undefined) {
        assert.ok(!exists(madeUp), `${madeUp} was left behind`);
      }
    });
  }
}

// ---------------------------------------------------------------- defaults

for (const backend of BACKENDS) {
  Deno.test(`dgramConnection() with the ${backend} backend connects both ends by default, client first`, async () => {
    const trace = new Trace();
    {
      using pair = await within(
        WAIT_MS,
        dgramConnection({
          srvrAddr: { hostname: "127.0.0.1", port: 0 },
          backend,
          onTransition: trace.onTransition,
        }),
        "dgramConnection()",
      );
      assert.deepEqual(pair.clntS.getpeername(), pair.srvrAddr);
      assert.deepEqual(pair.srvrS.getpeername(), pair.clntAddr);
      await exchange(pair, { clnt: true, srvr: true });
    }
    // Created server, then client; the client connects before the server.
    const connected = trace.changes
      .filter(({ change }) => change.to === "connected")
      .map(({ role }) => role);
    assert.deepEqual(connected, ["client", "server"]);
    assert.deepEqual(trace.states("server").slice(0, 3), [
      "created",
      "binding",
      "bound",
    ]);
    trace.assertAllClosed();
  });

  Deno.test(`dgramConnection() with the ${backend} backend leaves a wildcard server unconnected by default, and answers with sendto()`, async () => {
    using pair = await within(
      WAIT_MS,
      dgramConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        srvrWild: true,
        backend,
      }),
      "dgramConnection()",
    );
    assert.equal(pair.srvrS.state, "bound");
    assertNoPeer(() => pair.srvrS.getpeername(), "the server");
    assert.equal(pair.clntS.state, "connected");
    await exchange(pair, { clnt: true, srvr: false });
  });

  Deno.test(`dgramConnection() with the ${backend} backend accepts proto 17 (IPPROTO_UDP) and an explicit domain`, async () => {
    using pair = await within(
      WAIT_MS,
      dgramConnection({
        srvrAddr: { hostname: "::1", port: 0 },
        domain: "inet6",
        proto: 17,
        backend,
      }),
      "dgramConnection()",
    );
    assert.equal(pair.clntS.domain, "inet6");
    assert.equal((pair.clntAddr as InetAddr).hostname, "::1");
    await exchange(pair, { clnt: true, srvr: true });
  });

  Deno.test(`dgramConnection() with the ${backend} backend can be disposed twice, and removes the unix path it made up`, async () => {
    await using dir = await tempDir();
    const pair = await within(
      WAIT_MS,
      dgramConnection({ srvrAddr: { path: `${dir.path}/s` }, backend }),
      "dgramConnection()",
    );
    const { path } = pair.clntAddr;
    assert.ok(exists(path), "the client's socket file is missing");
    pair[Symbol.dispose]();
    assert.equal(pair.clntS.state, "closed");
    assert.equal(pair.srvrS.state, "closed");
    assert.ok(!exists(path), `${path} was left behind`);
    pair[Symbol.dispose]();
    assert.equal(pair.srvrS.state, "closed");
  });
}

// ---------------------------------------------------------- socket options

for (const backend of BACKENDS) {
  Deno.test(`dgramConnection() with the ${backend} backend sets srvrOptions and clntOptions: SO_RCVBUF reads back doubled, SO_BROADCAST on`, async () => {
    using pair = await within(
      WAIT_MS,
      dgramConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        srvrOptions: { SO_RCVBUF: 65536 },
        clntOptions: { SO_BROADCAST: true, SO_RCVBUF: 32768 },
        backend,
      }),
      "dgramConnection()",
    );
    assert.equal(await pair.srvrS.getsockopt("SO_RCVBUF"), 2 * 65536);
    assert.equal(await pair.clntS.getsockopt("SO_RCVBUF"), 2 * 32768);
    assert.equal(await pair.clntS.getsockopt("SO_BROADCAST"), true);
    assert.equal(await pair.srvrS.getsockopt("SO_BROADCAST"), false);
    await exchange(pair, { clnt: true, srvr: true });
  });

  Deno.test(`dgramConnection() with the ${backend} backend sets srvrOptions before bind(): SO_REUSEADDR lets the server share a port`, async () => {
    const [port] = freePorts("127.0.0.1");
    const addr = { hostname: "127.0.0.1", port };
    using held = socket({ domain: "inet", type: "dgram", backend: "posix" });
    await held.setsockopt("SO_REUSEADDR", true);
    await held.bind(addr);
    // Without the option, the port is taken.
    await assert.rejects(
      dgramConnection({ srvrAddr: addr, backend }),
      (error) => assertFailedAt(error, "bind server", "EADDRINUSE"),
    );
    // Set before bind(), it lets both sockets hold the port.
    using pair = await within(
      WAIT_MS,
      dgramConnection({
        srvrAddr: addr,
        srvrOptions: { SO_REUSEADDR: true },
        srvrConnect: true,
        backend,
      }),
      "dgramConnection()",
    );
    assert.equal((pair.srvrAddr as InetAddr).port, port);
    assert.equal(await pair.srvrS.getsockopt("SO_REUSEADDR"), true);
    // Connected to the client, the server gets the client's datagrams.
    await exchange(pair, { clnt: true, srvr: true });
  });
}

// ------------------------------------------------------------- bad input

interface BadInput {
  what: string;
  options: DgramConnectionOptions;
  code: string;
  message: RegExp;
}

const NO_DIR = "/nonexistent-sockfsm-dir";
const INET: InetAddr = { hostname: "127.0.0.1", port: 0 };

const badInputs: BadInput[] = [
  {
    what: "a missing srvrAddr",
    options: {} as DgramConnectionOptions,
    code: "EINVAL",
    message: /srvrAddr is required/,
  },
  {
    what: "port 65536",
    options: { srvrAddr: { hostname: "127.0.0.1", port: 65536 } },
    code: "EINVAL",
    message: /srvrAddr.*"port" must be from 0 to 65535, got 65536/,
  },
  {
    what: 'hostname "localhost" (names are not resolved)',
    options: { srvrAddr: { hostname: "localhost", port: 0 } },
    code: "EINVAL",
    message: /"localhost" is not an IP literal/,
  },
  {
    what: "wildcard srvrAddr 0.0.0.0",
    options: { srvrAddr: { hostname: "0.0.0.0", port: 0 } },
    code: "EINVAL",
    message: /0\.0\.0\.0:0 is a wildcard address.*srvrWild: true/,
  },
  {
    what: "an inet6 clntAddr with an inet srvrAddr",
    options: { srvrAddr: INET, clntAddr: { hostname: "::1", port: 0 } },
    code: "EAFNOSUPPORT",
    message: /clntAddr is an? inet6 address but the domain is inet/,
  },
  {
    what: "an inet clntAddr with a unix srvrAddr",
    options: { srvrAddr: { path: `${NO_DIR}/s` }, clntAddr: INET },
    code: "EINVAL",
    message: /clntAddr is an? inet address but the domain is unix/,
  },
  {
    what: "proto 6 (TCP)",
    options: { srvrAddr: INET, proto: 6 },
    code: "EPROTONOSUPPORT",
    message: /inet dgram socket with protocol 6.*17 \(IPPROTO_UDP\)/,
  },
  {
    what: "srvrWild with a unix srvrAddr",
    options: { srvrAddr: { path: `${NO_DIR}/s` }, srvrWild: true },
    code: "EINVAL",
    message: /srvrWild applies to inet and inet6/,
  },
  {
    what: 'srvrConnect "yes"',
    options: { srvrAddr: INET, srvrConnect: "yes" as unknown as boolean },
    code: "EINVAL",
    message: /srvrConnect must be true or false, got "yes"/,
  },
  {
    what: "clntConnect 1",
    options: { srvrAddr: INET, clntConnect: 1 as unknown as boolean },
    code: "EINVAL",
    message: /clntConnect must be true or false, got 1/,
  },
  {
    what: "a unix srvrAddr too long to put the client's path next to it",
    options: { srvrAddr: { path: `/tmp/${"s".repeat(95)}` } },
    code: "EINVAL",
    message: /client's path next to the server's.*too long.*pass clntAddr/,
  },
  {
    what: "srvrOptions that is not a record",
    options: {
      srvrAddr: INET,
      srvrOptions: ["SO_RCVBUF"] as unknown as SocketOptionRecord,
    },
    code: "EINVAL",
    message: /srvrOptions must be a record of option names and values/,
  },
  {
    what: "an unknown option in srvrOptions",
    options: {
      srvrAddr: INET,
      srvrOptions: { SO_FROBNICATE: true } as SocketOptionRecord,
    },
    code: "ENOPROTOOPT",
    message: /In srvrOptions: .*no option "SO_FROBNICATE".*SO_RCVBUF/,
  },
  {
    what: "a read-only option in clntOptions",
    options: {
      srvrAddr: INET,
      clntOptions: { SO_TYPE: "dgram" } as SocketOptionRecord,
    },
    code: "ENOPROTOOPT",
    message: /In clntOptions: .*SO_TYPE can only be read/,
  },
  {
    what: "a bad SO_RCVBUF value in clntOptions",
    options: { srvrAddr: INET, clntOptions: { SO_RCVBUF: -1 } },
    code: "EINVAL",
    message: /In clntOptions: Cannot set SO_RCVBUF to -1: it takes a size/,
  },
  {
    what: "a bad SO_BROADCAST value in srvrOptions",
    options: {
      srvrAddr: INET,
      srvrOptions: { SO_BROADCAST: 1 as unknown as boolean },
    },
    code: "EINVAL",
    message: /In srvrOptions: Cannot set SO_BROADCAST to 1: it takes true/,
  },
  {
    what: "TCP_NODELAY on a UDP socket",
    options: { srvrAddr: INET, srvrOptions: { TCP_NODELAY: true } },
    code: "ENOPROTOOPT",
    message: /In srvrOptions: Cannot set TCP_NODELAY on an inet dgram socket/,
  },
  {
    what: "TCP_NODELAY on a unix datagram socket",
    options: {
      srvrAddr: { path: `${NO_DIR}/s` },
      clntOptions: { TCP_NODELAY: true },
    },
    code: "EOPNOTSUPP",
    message: /In clntOptions: Cannot set TCP_NODELAY on a unix dgram socket/,
  },
  {
    what: "IPV6_V6ONLY on an inet socket",
    options: { srvrAddr: INET, clntOptions: { IPV6_V6ONLY: true } },
    code: "ENOPROTOOPT",
    message: /IPV6_V6ONLY on an inet dgram socket/,
  },
];

for (const backend of BACKENDS) {
  for (const bad of badInputs) {
    Deno.test(`dgramConnection() with the ${backend} backend refuses ${bad.what} before any socket exists`, async () => {
      const callerOptions = structuredClone(bad.options);
      await assertRefusedUpFront(
        (onTransition) =>
          dgramConnection({ ...bad.options, backend, onTransition }),
        { op: "dgramConnection", code: bad.code, message: bad.message },
      );
      assert.deepEqual(bad.options, callerOptions);
    });
  }
}

Deno.test("dgramConnection() refuses an unknown backend before any socket exists", async () => {
  await assertRefusedUpFront(
    (onTransition) =>
      dgramConnection({
        srvrAddr: INET,
        backend: "bsd" as Backend,
        onTransition,
      }),
    {
      op: "dgramConnection",
      code: "EINVAL",
      message: /backend "bsd".*use "deno".*or "posix"/,
    },
  );
});

// ------------------------------------------------------ failure injection

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6", "unix"] as const) {
    Deno.test(`dgramConnection() with the ${backend} backend fails at "bind server" with EADDRINUSE when the ${domain} server address is taken, leaving nothing open`, async () => {
      await using dir = domain === "unix" ? await tempDir() : undefined;
      const srvrAddr: SocketAddr = domain === "unix"
        ? { path: `${dir!.path}/srvr.sock` }
        : { hostname: LOOPBACK[domain], port: freePorts(LOOPBACK[domain])[0] };
      using _held = await holdDgram(domain, srvrAddr);
      const trace = new Trace();
      await assert.rejects(
        dgramConnection({
          srvrAddr,
          backend,
          onTransition: trace.onTransition,
        }),
        (error) => assertFailedAt(error, "bind server", "EADDRINUSE"),
      );
      assert.deepEqual(trace.roles(), new Set(["server"]));
      trace.assertAllClosed();
    });

    Deno.test(`dgramConnection() with the ${backend} backend fails at "bind client" with EADDRINUSE when the ${domain} client address is taken, and closes the server socket`, async () => {
      await using dir = domain === "unix" ? await tempDir() : undefined;
      let srvrAddr: SocketAddr;
      let clntAddr: SocketAddr;
      if (domain === "unix") {
        srvrAddr = { path: `${dir!.path}/srvr.sock` };
        clntAddr = { path: `${dir!.path}/clnt.sock` };
      } else {
        const [srvrPort, clntPort] = freePorts(LOOPBACK[domain], 2);
        srvrAddr = { hostname: LOOPBACK[domain], port: srvrPort };
        clntAddr = { hostname: LOOPBACK[domain], port: clntPort };
      }
      using _held = await holdDgram(domain, clntAddr);
      const trace = new Trace();
      await assert.rejects(
        dgramConnection({
          srvrAddr,
          clntAddr,
          backend,
          onTransition: trace.onTransition,
        }),
        (error) => assertFailedAt(error, "bind client", "EADDRINUSE"),
      );
      assert.deepEqual(trace.roles(), new Set(["server", "client"]));
      trace.assertAllClosed();
      trace.assertClosedInReverse();
      // The server's address is free again: its socket was really closed.
      // (The deno backend frees a UDP port an event-loop turn after close(),
      // and its own bind() waits for that.)
      if ("path" in srvrAddr && exists(srvrAddr.path)) {
        Deno.removeSync(srvrAddr.path); // close(2) leaves the file
      }
      using again = await holdDgram(domain, srvrAddr, backend);
      assert.equal(again.state, "bound");
    });
  }

  Deno.test(`dgramConnection() with the ${backend} backend fails at "bind client" with EADDRNOTAVAIL for a client address that is not local, leaving nothing open`, async () => {
    const trace = new Trace();
    await assert.rejects(
      dgramConnection({
        srvrAddr: INET,
        // TEST-NET-1: never an address of this machine, so bind() fails.
        clntAddr: { hostname: "192.0.2.1", port: 0 },
        backend,
        onTransition: trace.onTransition,
      }),
      (error) => assertFailedAt(error, "bind client", "EADDRNOTAVAIL"),
    );
    assert.deepEqual(trace.roles(), new Set(["server", "client"]));
    trace.assertAllClosed();
    trace.assertClosedInReverse();
  });

  Deno.test(`dgramConnection() with the ${backend} backend fails at "connect client" with ENOENT when the server's unix socket file is gone, and removes the path it made up`, async () => {
    await using dir = await tempDir();
    const srvrPath = `${dir.path}/srvr.sock`;
    const trace = new Trace();
    await assert.rejects(
      dgramConnection({
        srvrAddr: { path: srvrPath },
        backend,
        onTransition: (role, change) => {
          trace.onTransition(role, change);
          if (role === "server" && change.to === "bound") {
            Deno.removeSync(srvrPath);
          }
        },
      }),
      (error) => assertFailedAt(error, "connect client", "ENOENT"),
    );
    assert.deepEqual(trace.roles(), new Set(["server", "client"]));
    trace.assertAllClosed();
    trace.assertClosedInReverse();
    assert.deepEqual([...Deno.readDirSync(dir.path)], [], "a file was left");
  });

  Deno.test(`dgramConnection() with the ${backend} backend fails at "connect server" with ENOENT when the client's unix socket file is gone, leaving nothing open`, async () => {
    await using dir = await tempDir();
    const clntPath = `${dir.path}/clnt.sock`;
    const trace = new Trace();
    await assert.rejects(
      dgramConnection({
        srvrAddr: { path: `${dir.path}/srvr.sock` },
        clntAddr: { path: clntPath },
        backend,
        onTransition: (role, change) => {
          trace.onTransition(role, change);
          if (role === "client" && change.to === "connected") {
            Deno.removeSync(clntPath);
          }
        },
      }),
      (error) => assertFailedAt(error, "connect server", "ENOENT"),
    );
    assert.deepEqual(trace.roles(), new Set(["server", "client"]));
    trace.assertAllClosed();
    trace.assertClosedInReverse();
  });
}
