// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import { mock } from "node:test";
import {
  type Backend,
  type InetAddr,
  type Socket,
  type SocketAddr,
  SocketError,
  type SocketOptionRecord,
  type StreamConnection,
  streamConnection,
  type StreamConnectionOptions,
  type StreamConnectionStep,
  type StreamRole,
} from "../mod.ts";
import { freePort, freePorts, LOOPBACK, tempDir } from "./_net.ts";
import {
  type AddrCase,
  addrCases,
  assertProcedureFailedAt,
  caseAddrs,
  describeAddrCase,
  redirectConnect,
  spyLibc,
  Trace as SharedTrace,
  WILDCARD,
} from "./_procedure.ts";

// ---------------------------------------------------------------- helpers

type IpDomain = "inet" | "inet6";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every test of the procedure runs with each backend. */
const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];

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
class Trace extends SharedTrace<StreamRole> {}

/** Asserts a failure of streamConnection() at `step` with errno `code`. */
function assertFailedAt(
  error: unknown,
  step: StreamConnectionStep,
  code: string,
): true {
  return assertProcedureFailedAt(error, "streamConnection", step, code);
}

/**
 * Records where each backend binds the server: the first `Deno.listen()`
 * (the deno backend binds with it) or the first `bind(2)` (posix).
 */
function watchServerBind(
  backend: Backend,
): { address(): SocketAddr; restore(): void } {
  if (backend === "posix") {
    const spy = spyLibc();
    return { address: () => spy.binds[0], restore: spy.restore };
  }
  const listen = mock.method(Deno, "listen");
  return {
    address() {
      const args = listen.mock.calls[0].arguments[0] as
        & Partial<Deno.TcpListenOptions>
        & Partial<Deno.UnixListenOptions>;
      return args.path !== undefined
        ? { path: args.path }
        : { hostname: args.hostname!, port: args.port! };
    },
    restore: () => listen.mock.restore(),
  };
}

// ------------------------------------------------- the matrix of connections

function describeCase(c: AddrCase, backend: Backend): string {
  return `streamConnection() with the ${backend} backend over ${
    describeAddrCase(c, "client unbound")
  }: returns a connected pair that carries data both ways`;
}

for (const backend of BACKENDS) {
  for (const c of addrCases()) {
    Deno.test(describeCase(c, backend), async () => {
      await using dir = c.domain === "unix" ? await tempDir() : undefined;
      const { srvrAddr, clntAddr, fixedPort } = caseAddrs(c, dir?.path);
      const callerSrvrAddr = structuredClone(srvrAddr);
      const callerClntAddr = structuredClone(clntAddr);
      const trace = new Trace();

      // The server's bind shows the address the listener was bound to.
      const serverBind = watchServerBind(backend);
      try {
        {
          using pair = await streamConnection({
            srvrAddr,
            srvrWild: c.srvrWild,
            clntAddr,
            backend,
            onTransition: trace.onTransition,
          });
          await roundTrip(pair);
          assert.equal(pair.srvrS.state, "connected");
          assert.equal(pair.clntS.state, "connected");

          // The caller's objects are left alone.
          assert.deepEqual(srvrAddr, callerSrvrAddr);
          assert.deepEqual(clntAddr, callerClntAddr);

          // The server was bound where it should be.
          const bindArgs = serverBind.address() as
            & Partial<InetAddr>
            & { path?: string };
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
        serverBind.restore();
      }
    });
  }
}

// ----------------------------------------------------------- onTransition

for (const backend of BACKENDS) {
  Deno.test(`streamConnection() with the ${backend} backend reports listener, client and accepted to onTransition, the listener from created to closed`, async () => {
    const trace = new Trace();
    {
      using pair = await streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        clntAddr: { hostname: "127.0.0.1", port: 0 },
        backend,
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

  Deno.test(`streamConnection() with the ${backend} backend connects an unbound client straight from created`, async () => {
    const trace = new Trace();
    {
      using _pair = await streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        backend,
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

  Deno.test(`streamConnection() with the ${backend} backend accepts proto 6 (IPPROTO_TCP) and an explicit domain`, async () => {
    using pair = await streamConnection({
      srvrAddr: { hostname: "::1", port: 0 },
      domain: "inet6",
      proto: 6,
      backend,
    });
    await roundTrip(pair);
    assert.equal(pair.clntS.domain, "inet6");
    assert.equal(pair.srvrS.domain, "inet6");
  });
}

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
    message: /srvr must be a PCO .* or "local", got "remote"/,
  },
  {
    what: 'clnt other than "local"',
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clnt: "remote" as "local",
    },
    code: "EINVAL",
    message: /clnt must be a PCO .* or "local", got "remote"/,
  },
  {
    what: "srvrOptions that is not a record",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      srvrOptions: "SO_KEEPALIVE" as unknown as SocketOptionRecord,
    },
    code: "EINVAL",
    message: /srvrOptions must be a record of option names and values/,
  },
  {
    what: "an unknown option in clntOptions",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntOptions: { TCP_CORK: true } as SocketOptionRecord,
    },
    code: "ENOPROTOOPT",
    message: /In clntOptions: .*no option "TCP_CORK".*TCP_NODELAY/,
  },
  {
    what: "a bad TCP_NODELAY value in clntOptions",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntOptions: { TCP_NODELAY: "yes" as unknown as boolean },
    },
    code: "EINVAL",
    message: /In clntOptions: Cannot set TCP_NODELAY to "yes": it takes true/,
  },
  {
    what: "a bad SO_LINGER value in srvrOptions",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      srvrOptions: { SO_LINGER: { onoff: true, linger: -1 } },
    },
    code: "EINVAL",
    message: /In srvrOptions: Cannot set SO_LINGER.*onoff: boolean, linger/,
  },
  {
    what: "TCP_NODELAY on a unix socket",
    options: {
      srvrAddr: { path: `${NO_DIR}/srvr.sock` },
      srvrOptions: { TCP_NODELAY: true },
    },
    code: "EOPNOTSUPP",
    message: /In srvrOptions: Cannot set TCP_NODELAY on a unix stream socket/,
  },
  {
    what: "IPV6_V6ONLY on an inet socket",
    options: {
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      clntOptions: { IPV6_V6ONLY: true },
    },
    code: "ENOPROTOOPT",
    message: /In clntOptions: Cannot set IPV6_V6ONLY on an inet stream socket/,
  },
];

for (const backend of BACKENDS) {
  for (const bad of badInputs) {
    Deno.test(`streamConnection() with the ${backend} backend refuses ${bad.what} before any socket exists`, async () => {
      const listen = mock.method(Deno, "listen");
      const connect = mock.method(Deno, "connect");
      const dlopen = mock.method(Deno, "dlopen");
      const trace = new Trace();
      try {
        await assert.rejects(
          streamConnection({
            ...bad.options,
            backend,
            onTransition: trace.onTransition,
          }),
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
        assert.equal(dlopen.mock.callCount(), 0, "Deno.dlopen() was called");
        assert.deepEqual(trace.changes, [], "a socket was created");
      } finally {
        listen.mock.restore();
        connect.mock.restore();
        dlopen.mock.restore();
      }
    });
  }
}

Deno.test("streamConnection() refuses an unknown backend before any socket exists", async () => {
  const trace = new Trace();
  await assert.rejects(
    streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      backend: "bsd" as Backend,
      onTransition: trace.onTransition,
    }),
    (error: unknown) => {
      assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
      assert.equal(error.op, "streamConnection");
      assert.equal(error.step, "check arguments");
      assert.equal(error.code, "EINVAL");
      assert.match(error.message, /backend "bsd".*use "deno".*or "posix"/);
      return true;
    },
  );
  assert.deepEqual(trace.changes, [], "a socket was created");
});

// ------------------------------------------------------ failure injection

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6", "unix"] as const) {
    Deno.test(`streamConnection() with the ${backend} backend fails at "bind server" with EADDRINUSE when the ${domain} server address is taken, leaving nothing open`, async () => {
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
          streamConnection({
            srvrAddr,
            backend,
            onTransition: trace.onTransition,
          }),
          (error) => assertFailedAt(error, "bind server", "EADDRINUSE"),
        );
        assert.deepEqual(trace.roles(), new Set(["listener"]));
        trace.assertAllClosed();
        trace.assertClosedInReverse();
      } finally {
        held.close();
      }
    });

    Deno.test(`streamConnection() with the ${backend} backend fails at "bind client" with EADDRINUSE when the ${domain} client address is taken, and closes the server socket`, async () => {
      await using dir = domain === "unix" ? await tempDir() : undefined;
      let srvrAddr: SocketAddr;
      let held: Deno.Listener;
      if (domain === "unix") {
        srvrAddr = { path: `${dir!.path}/srvr.sock` };
        held = Deno.listen({
          transport: "unix",
          path: `${dir!.path}/clnt.sock`,
        });
      } else {
        srvrAddr = {
          hostname: LOOPBACK[domain],
          port: freePort(LOOPBACK[domain]),
        };
        held = Deno.listen({ hostname: LOOPBACK[domain], port: 0 });
      }
      const clntAddr: SocketAddr = domain === "unix"
        ? { path: `${dir!.path}/clnt.sock` }
        : {
          hostname: LOOPBACK[domain],
          port: (held.addr as Deno.NetAddr).port,
        };
      const trace = new Trace();
      try {
        await assert.rejects(
          streamConnection({
            srvrAddr,
            clntAddr,
            backend,
            onTransition: trace.onTransition,
          }),
          (error) => assertFailedAt(error, "bind client", "EADDRINUSE"),
        );
        assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
        trace.assertAllClosed();
        trace.assertClosedInReverse();
        if ("path" in srvrAddr && backend === "posix") {
          // close(2) leaves a unix socket's file; only the deno backend
          // (Deno) removes it.
          assert.ok(Deno.lstatSync(srvrAddr.path).isSocket);
          Deno.removeSync(srvrAddr.path);
        }
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

  Deno.test(`streamConnection() with the ${backend} backend fails at "bind client" with EADDRNOTAVAIL for a client address that is not local, leaving nothing open`, async () => {
    const trace = new Trace();
    await assert.rejects(
      streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        // TEST-NET-1: never an address of this machine, so bind() fails.
        clntAddr: { hostname: "192.0.2.1", port: 0 },
        backend,
        onTransition: trace.onTransition,
      }),
      (error) => assertFailedAt(error, "bind client", "EADDRNOTAVAIL"),
    );
    assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
    trace.assertAllClosed();
    trace.assertClosedInReverse();
  });

  for (const withClnt of [false, true]) {
    Deno.test(`streamConnection() with the ${backend} backend fails at "connect client" with ENOENT when the unix socket file is gone (client ${withClnt ? "bound" : "unbound"}), leaving nothing open`, async () => {
      await using dir = await tempDir();
      const srvrPath = `${dir.path}/srvr.sock`;
      const trace = new Trace();
      await assert.rejects(
        streamConnection({
          srvrAddr: { path: srvrPath },
          clntAddr: withClnt ? { path: `${dir.path}/clnt.sock` } : undefined,
          backend,
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
}

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6"] as const) {
    Deno.test(`streamConnection() with the ${backend} backend fails at "connect client" with ECONNREFUSED when nothing listens (${domain}), leaving nothing open`, async () => {
      const hostname = LOOPBACK[domain];
      const redirect = redirectConnect(backend, freePort(hostname), false);
      const trace = new Trace();
      try {
        await assert.rejects(
          streamConnection({
            srvrAddr: { hostname, port: 0 },
            backend,
            onTransition: trace.onTransition,
          }),
          (error) => assertFailedAt(error, "connect client", "ECONNREFUSED"),
        );
        assert.equal(redirect.count(), 1);
        assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
        trace.assertAllClosed();
        trace.assertClosedInReverse();
      } finally {
        redirect.restore();
      }
    });
  }

  Deno.test(`streamConnection() with the ${backend} backend fails at "connect client" with ECONNREFUSED for a bound client when nothing listens, and frees the client address`, async () => {
    const [deadPort, clntPort] = freePorts("127.0.0.1", 2);
    const redirect = redirectConnect(backend, deadPort, true);
    const trace = new Trace();
    try {
      await assert.rejects(
        streamConnection({
          srvrAddr: { hostname: "127.0.0.1", port: 0 },
          clntAddr: { hostname: "127.0.0.1", port: clntPort },
          backend,
          onTransition: trace.onTransition,
        }),
        (error) => assertFailedAt(error, "connect client", "ECONNREFUSED"),
      );
      assert.equal(redirect.count(), 1);
      assert.deepEqual(trace.roles(), new Set(["listener", "client"]));
      trace.assertAllClosed();
      trace.assertClosedInReverse();
      // The client's address is free again.
      Deno.listen({ hostname: "127.0.0.1", port: clntPort }).close();
    } finally {
      redirect.restore();
    }
  });
}

// ---------------------------------------------------------- socket options

for (const backend of BACKENDS) {
  Deno.test(`streamConnection() with the ${backend} backend sets clntOptions on the client, and srvrOptions on the listener, which the accepted socket inherits`, async () => {
    const trace = new Trace();
    using pair = await streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      srvrOptions: { SO_KEEPALIVE: true, TCP_NODELAY: true },
      clntOptions: { TCP_NODELAY: true, SO_RCVBUF: 65536 },
      backend,
      onTransition: trace.onTransition,
    });
    assert.equal(await pair.clntS.getsockopt("TCP_NODELAY"), true);
    assert.equal(await pair.clntS.getsockopt("SO_RCVBUF"), 2 * 65536);
    assert.equal(await pair.clntS.getsockopt("SO_KEEPALIVE"), false);
    // Linux copies the listener's options to the sockets it accepts.
    assert.equal(await pair.srvrS.getsockopt("SO_KEEPALIVE"), true);
    assert.equal(await pair.srvrS.getsockopt("TCP_NODELAY"), true);
    await roundTrip(pair);
    // Options do not change a socket's state.
    assert.deepEqual(trace.states("listener").slice(0, 3), [
      "created",
      "binding",
      "bound",
    ]);
  });

  Deno.test(`streamConnection() with the ${backend} backend sets the options before bind(): IPV6_V6ONLY, which a socket with a port refuses, is on at both ends`, async () => {
    const [clntPort] = freePorts("::1");
    using pair = await streamConnection({
      srvrAddr: { hostname: "::1", port: 0 },
      clntAddr: { hostname: "::1", port: clntPort },
      srvrOptions: { IPV6_V6ONLY: true },
      clntOptions: { IPV6_V6ONLY: true },
      backend,
    });
    // Once bound, the machine refuses it, as Linux does.
    await assert.rejects(
      pair.clntS.setsockopt("IPV6_V6ONLY", false),
      (error: unknown) =>
        error instanceof SocketError && error.code === "EINVAL",
    );
    assert.equal(await pair.clntS.getsockopt("IPV6_V6ONLY"), true);
    assert.equal(await pair.srvrS.getsockopt("IPV6_V6ONLY"), true);
    await roundTrip(pair);
  });
}

// ------------------------------------------------------ the README example

for (const backend of BACKENDS) {
  Deno.test(`streamConnection() with the ${backend} backend works as in the README, and disposing the pair twice does not throw`, async () => {
    using pair = await streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      backend,
    });
    await pair.clntS.send(encoder.encode("hello"));
    assert.equal(decoder.decode(await pair.srvrS.recv()), "hello");
    await assert.rejects(
      pair.clntS.listen(),
      (error: unknown) =>
        error instanceof SocketError && error.code === "EINVAL",
    );
    pair[Symbol.dispose]();
    assert.equal(pair.clntS.state, "closed");
    assert.equal(pair.srvrS.state, "closed");
    pair[Symbol.dispose]();
    assert.equal(pair.clntS.state, "closed");
  });
}
