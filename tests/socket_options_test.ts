// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Socket options through the runtime `Socket`: values read back as Linux
 * reports them, the machine's refusals before any system call (each also
 * what `predict()` says), and what the options change.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Domain,
  type Op,
  type Socket,
  socket,
  SocketError,
  type SocketType,
} from "../mod.ts";
import { LOOPBACK, predictHere, within } from "./_net.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const PROMPT = 2_000;

function model(domain: Domain, type: SocketType, ops: Op[]) {
  return predictHere(ops, { domain, type });
}

/** A connected TCP pair on loopback; the listener is closed. */
async function tcpPair(
  backend: Backend,
  domain: "inet" | "inet6" = "inet",
): Promise<{ client: Socket; peer: Socket } & Disposable> {
  using server = socket({ domain, backend });
  await server.bind({ hostname: LOOPBACK[domain], port: 0 });
  await server.listen();
  const client = socket({ domain, backend });
  const accepting = server.accept();
  await client.connect(server.getsockname());
  const peer = await accepting;
  return {
    client,
    peer,
    [Symbol.dispose]() {
      client[Symbol.dispose]();
      peer[Symbol.dispose]();
    },
  };
}

/** Rejects with a SocketError of `code`, and the socket's state stays. */
async function refused(
  sock: Socket,
  call: Promise<unknown>,
  code: string,
): Promise<void> {
  const before = sock.state;
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof SocketError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.state, before);
    return true;
  });
  assert.equal(sock.state, before);
}

for (const backend of BACKENDS) {
  Deno.test(`TCP_NODELAY and SO_KEEPALIVE on a connected TCP socket read back as set (${backend} backend)`, async () => {
    using pair = await tcpPair(backend);
    for (const name of ["TCP_NODELAY", "SO_KEEPALIVE"] as const) {
      await pair.client.setsockopt(name, true);
      assert.equal(await pair.client.getsockopt(name), true, name);
      await pair.client.setsockopt(name, false);
      assert.equal(await pair.client.getsockopt(name), false, name);
    }
  });

  Deno.test(`a TCP option on a unix or UDP socket is refused before any system call, as predict() says (${backend} backend)`, async () => {
    using unix = socket({ domain: "unix", backend });
    await refused(unix, unix.setsockopt("TCP_NODELAY", true), "EOPNOTSUPP");
    assert.deepEqual(await model("unix", "stream", ["set_nodelay"]), [
      "EOPNOTSUPP",
    ]);
    using udp = socket({ domain: "inet", type: "dgram", backend });
    await refused(udp, udp.setsockopt("TCP_NODELAY", true), "ENOPROTOOPT");
    assert.deepEqual(await model("inet", "dgram", ["set_nodelay"]), [
      "ENOPROTOOPT",
    ]);
    using inet = socket({ domain: "inet", backend });
    await refused(inet, inet.setsockopt("IPV6_V6ONLY", true), "ENOPROTOOPT");
  });

  Deno.test(`IPV6_V6ONLY is set before bind() and refused with EINVAL after it, as predict() says (${backend} backend)`, async () => {
    using sock = socket({ domain: "inet6", backend });
    await sock.setsockopt("IPV6_V6ONLY", true);
    assert.equal(await sock.getsockopt("IPV6_V6ONLY"), true);
    await sock.bind({ hostname: "::1", port: 0 });
    await refused(sock, sock.setsockopt("IPV6_V6ONLY", false), "EINVAL");
    assert.deepEqual(
      await model("inet6", "stream", ["set_v6only", "bind", "set_v6only"]),
      ["ok", "ok", "EINVAL"],
    );
  });

  Deno.test(`SO_RCVBUF and SO_SNDBUF read back as Linux reports them, double what was set (${backend} backend)`, async () => {
    using sock = socket({ domain: "inet", type: "dgram", backend });
    await sock.bind({ hostname: "127.0.0.1", port: 0 });
    await sock.setsockopt("SO_RCVBUF", 65536);
    assert.equal(await sock.getsockopt("SO_RCVBUF"), 131072);
    await sock.setsockopt("SO_SNDBUF", 65536);
    assert.equal(await sock.getsockopt("SO_SNDBUF"), 131072);
  });

  Deno.test(`SO_TYPE says the socket type and SO_ERROR is null when nothing is pending (${backend} backend)`, async () => {
    using stream = socket({ domain: "inet", backend });
    using dgram = socket({ domain: "inet", type: "dgram", backend });
    await dgram.bind({ hostname: "127.0.0.1", port: 0 });
    assert.equal(await stream.getsockopt("SO_TYPE"), "stream");
    assert.equal(await dgram.getsockopt("SO_TYPE"), "dgram");
    assert.equal(await dgram.getsockopt("SO_ERROR"), null);
  });

  Deno.test(`every option call on a closed socket is EBADF (${backend} backend)`, async () => {
    const sock = socket({ domain: "inet", backend });
    sock.close();
    await refused(sock, sock.setsockopt("SO_REUSEADDR", true), "EBADF");
    await refused(sock, sock.getsockopt("SO_ERROR"), "EBADF");
    assert.deepEqual(await model("inet", "stream", ["close", "get_error"]), [
      "ok",
      "EBADF",
    ]);
  });

  Deno.test(`SO_LINGER { onoff: true, linger: 0 } makes close() reset the connection: the peer reads ECONNRESET (${backend} backend)`, async () => {
    using pair = await tcpPair(backend);
    await pair.client.setsockopt("SO_LINGER", { onoff: true, linger: 0 });
    assert.deepEqual(await pair.client.getsockopt("SO_LINGER"), {
      onoff: true,
      linger: 0,
    });
    pair.client.close();
    await assert.rejects(
      within(PROMPT, pair.peer.recv(), "recv"),
      (error: unknown) =>
        error instanceof SocketError && error.code === "ECONNRESET",
    );
  });
}

Deno.test("an unknown option or a read-only one is ENOPROTOOPT, a value of the wrong type EINVAL, with what to pass", async () => {
  using sock = socket({ domain: "inet" });
  await refused(
    sock,
    sock.setsockopt("SO_NOTHING" as "SO_REUSEADDR", true),
    "ENOPROTOOPT",
  );
  await refused(
    sock,
    sock.setsockopt("SO_ERROR" as "SO_REUSEADDR", true),
    "ENOPROTOOPT",
  );
  await refused(sock, sock.setsockopt("TCP_NODELAY", 1 as never), "EINVAL");
  await refused(sock, sock.setsockopt("SO_RCVBUF", -1), "EINVAL");
  await refused(
    sock,
    sock.setsockopt("SO_LINGER", { onoff: true } as never),
    "EINVAL",
  );
  await assert.rejects(sock.setsockopt("TCP_NODELAY", "yes" as never), {
    message: 'Cannot set TCP_NODELAY to "yes": it takes true or false',
  });
});

Deno.test("SO_REUSEADDR decides whether a fixed port in TIME_WAIT can be bound again (posix backend)", async () => {
  // The side that closes first keeps its port in TIME_WAIT. Linux lets a
  // new socket bind it only when both have SO_REUSEADDR (the accepted
  // socket has its listener's).
  using server = socket({ domain: "inet", backend: "posix" });
  await server.setsockopt("SO_REUSEADDR", true);
  await server.bind({ hostname: "127.0.0.1", port: 0 });
  await server.listen();
  const { port } = server.getsockname() as { port: number };
  const client = socket({ domain: "inet", backend: "posix" });
  const accepting = server.accept();
  await client.connect({ hostname: "127.0.0.1", port });
  const peer = await accepting;
  server.close();
  peer.close(); // the accepted end closes first: TIME_WAIT on `port`
  await within(PROMPT, client.recv(), "recv"); // its FIN arrives
  client.close();
  using plain = socket({ domain: "inet", backend: "posix" });
  await assert.rejects(plain.bind({ hostname: "127.0.0.1", port }), {
    code: "EADDRINUSE",
  });
  using reusing = socket({ domain: "inet", backend: "posix" });
  await reusing.setsockopt("SO_REUSEADDR", true);
  await reusing.bind({ hostname: "127.0.0.1", port });
  assert.equal(reusing.state, "bound");
});
