// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Datagram sockets through the runtime `Socket`, on both backends and in
 * the three domains: sendto/recvfrom without a connection, a connect that
 * only records the peer, truncation, disconnect. Each outcome is also what
 * `predict()` says, under the detected kernel profile.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Domain,
  type Op,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
} from "../mod.ts";
import { LOOPBACK, predictHere, tempDir, within } from "./_net.ts";
import {
  AF_INET,
  AF_INET6,
  MSG_NOSIGNAL,
  openLibc,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  sysBind,
  sysClose,
  sysGetsockname,
  sysSend,
  sysSocket,
} from "../steps/libc.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const DOMAINS = ["inet", "inet6", "unix"] as const satisfies readonly Domain[];
const PROMPT = 2_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the model says of `ops` on a datagram socket of `domain`. */
function model(domain: Domain, ops: Op[]) {
  return predictHere(ops, { domain, type: "dgram" });
}

/** Addresses to bind datagram sockets to, fresh for each call. */
async function places(domain: Domain) {
  const dir = domain === "unix" ? await tempDir() : undefined;
  let n = 0;
  return {
    next(): SocketAddr {
      return dir
        ? { path: `${dir.path}/d${n++}.sock` }
        : { hostname: LOOPBACK[domain as "inet"], port: 0 };
    },
    async [Symbol.asyncDispose]() {
      await dir?.remove();
    },
  };
}

for (const backend of BACKENDS) {
  for (const domain of DOMAINS) {
    const kind = `${domain} datagram socket (${backend} backend)`;
    const make = () => socket({ domain, type: "dgram", backend });

    Deno.test(`a ${kind} sends to and receives from any address without a connection`, async () => {
      await using at = await places(domain);
      using server = make();
      await server.bind(at.next());
      using client = make();
      if (domain === "unix") await client.bind(at.next());
      const sent = await client.sendto(
        encoder.encode("ping"),
        server.getsockname(),
      );
      assert.equal(sent, 4);
      const got = await within(PROMPT, server.recvfrom(), "recvfrom");
      assert.equal(decoder.decode(got.data), "ping");
      const name = client.getsockname();
      if ("port" in name) {
        // sendto() bound the client to the wildcard address, a kernel port.
        assert.equal((got.addr as { port: number }).port, name.port);
      } else {
        assert.deepEqual(got.addr, name);
      }
      await server.sendto(encoder.encode("pong"), got.addr!);
      assert.equal(
        decoder.decode(await within(PROMPT, client.recv(), "recv")),
        "pong",
      );
      assert.equal(client.state, "bound");
      assert.equal(server.state, "bound");
    });

    if (domain !== "unix") {
      Deno.test(`sendto() on an unbound ${kind} binds an ephemeral port first, as predict() says`, async () => {
        await using at = await places(domain);
        using server = make();
        await server.bind(at.next());
        using client = make();
        await client.sendto(new Uint8Array([1]), server.getsockname());
        assert.deepEqual(await model(domain, ["sendto", "getsockname"]), [
          "ok",
          "ok:port>0",
        ]);
        assert.equal(client.state, "bound");
        assert.ok((client.getsockname() as { port: number }).port > 0);
      });
    }

    Deno.test(`connect() on a ${kind} only records the peer: send() and recv() need no address, and others' datagrams are not delivered`, async () => {
      await using at = await places(domain);
      using server = make();
      await server.bind(at.next());
      using client = make();
      await client.bind(at.next());
      using other = make();
      await other.bind(at.next());
      await client.connect(server.getsockname());
      assert.equal(client.state, "connected");
      assert.deepEqual(client.getpeername(), server.getsockname());
      // A datagram from another address is dropped by the kernel (unix:
      // refused), so the first the client receives is the server's.
      const stranger = other.sendto(
        encoder.encode("stranger"),
        client.getsockname(),
      );
      if (domain === "unix") {
        // The client is connected to another: Linux refuses the sender.
        await assert.rejects(stranger, { code: "EPERM" });
      } else {
        assert.equal(await stranger, 8); // sent, and dropped by the kernel
      }
      await server.sendto(encoder.encode("peer"), client.getsockname());
      assert.equal(
        decoder.decode(await within(PROMPT, client.recv(), "recv")),
        "peer",
      );
      await client.send(encoder.encode("hello"));
      const got = await within(PROMPT, server.recvfrom(), "recvfrom");
      assert.equal(decoder.decode(got.data), "hello");
      assert.deepEqual(got.addr, client.getsockname());
    });

    Deno.test(`recv(max) on a ${kind} returns one datagram truncated to max; the rest is gone`, async () => {
      await using at = await places(domain);
      using server = make();
      await server.bind(at.next());
      using client = make();
      await client.bind(at.next());
      await client.connect(server.getsockname());
      await client.send(encoder.encode("0123456789"));
      await client.send(encoder.encode("next"));
      await client.send(new Uint8Array(0));
      assert.equal(
        decoder.decode(await within(PROMPT, server.recv(4), "recv")),
        "0123",
      );
      assert.equal(
        decoder.decode(await within(PROMPT, server.recv(), "recv")),
        "next",
      );
      // An empty datagram is a datagram, not an end of stream.
      assert.equal((await within(PROMPT, server.recv(), "recv")).length, 0);
      assert.equal(server.state, "bound");
    });

    Deno.test(`a second connect() on a ${kind} changes its peer`, async () => {
      await using at = await places(domain);
      using first = make();
      await first.bind(at.next());
      using second = make();
      await second.bind(at.next());
      using client = make();
      await client.bind(at.next());
      await client.connect(first.getsockname());
      await client.connect(second.getsockname());
      assert.deepEqual(client.getpeername(), second.getsockname());
      await client.send(encoder.encode("to second"));
      const got = await within(PROMPT, second.recvfrom(), "recvfrom");
      assert.equal(decoder.decode(got.data), "to second");
    });

    Deno.test(`disconnect() on a ${kind} forgets the peer, as predict() says`, async () => {
      await using at = await places(domain);
      using server = make();
      await server.bind(at.next());
      using client = make();
      await client.bind(at.next());
      await client.connect(server.getsockname());
      await client.disconnect();
      await assert.rejects(
        Promise.try(() => client.getpeername()),
        (error: unknown) =>
          error instanceof SocketError && error.code === "ENOTCONN",
      );
      const [, , predicted] = await model(domain, [
        "bind",
        "connect",
        "disconnect",
      ]);
      assert.equal(predicted, "ok");
      // UDP gives back the port the kernel chose for a bind to port 0.
      assert.equal(client.state, domain === "unix" ? "bound" : "created");
      await assert.rejects(client.send(new Uint8Array([1])), {
        code: domain === "unix" ? "ENOTCONN" : "EDESTADDRREQ",
      });
    });

    Deno.test(`close() during a pending recv() on a ${kind} rejects it with EBADF`, async () => {
      await using at = await places(domain);
      const sock = make();
      await sock.bind(at.next());
      const receiving = sock.recv();
      sock.close();
      await assert.rejects(
        within(PROMPT, receiving, "recv"),
        (error: unknown) =>
          error instanceof SocketError && error.code === "EBADF",
      );
    });

    Deno.test(`listen() and accept() on a ${kind} are EOPNOTSUPP, before any system call`, async () => {
      using sock = make();
      await assert.rejects(sock.listen(), { code: "EOPNOTSUPP" });
      await assert.rejects(sock.accept(), { code: "EOPNOTSUPP" });
      assert.deepEqual(await model(domain, ["listen", "accept"]), [
        "EOPNOTSUPP",
        "EOPNOTSUPP",
      ]);
      assert.equal(sock.state, "created");
    });
  }
}

Deno.test("sendto() on a connected unix stream socket is EISCONN, and on a TCP one it sends as send() does", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/s.sock`;
  using server = socket({ domain: "unix" });
  await server.bind({ path });
  await server.listen();
  using client = socket({ domain: "unix" });
  const accepting = server.accept();
  await client.connect({ path });
  using peer = await accepting;
  await assert.rejects(client.sendto(new Uint8Array([1]), { path }), {
    code: "EISCONN",
  });
  assert.equal(peer.state, "connected");

  using tcpServer = socket({ domain: "inet" });
  await tcpServer.listen();
  using tcp = socket({ domain: "inet" });
  const tcpAccepting = tcpServer.accept();
  await tcp.connect(tcpServer.getsockname());
  using tcpPeer = await tcpAccepting;
  await tcp.sendto(encoder.encode("any address"), {
    hostname: "127.0.0.1",
    port: 9,
  });
  assert.equal(
    decoder.decode(await within(PROMPT, tcpPeer.recv(), "recv")),
    "any address",
  );
  // recvfrom() on TCP: the data, and no address (the kernel gives none).
  await tcpPeer.send(encoder.encode("x"));
  const got = await within(PROMPT, tcp.recvfrom(), "recvfrom");
  assert.equal(decoder.decode(got.data), "x");
  assert.equal(got.addr, undefined);
});

async function udpPair(backend: Backend): Promise<[Socket, Socket]> {
  const a = socket({ domain: "inet", type: "dgram", backend });
  await a.bind({ hostname: "127.0.0.1", port: 0 });
  const b = socket({ domain: "inet", type: "dgram", backend });
  await b.bind({ hostname: "127.0.0.1", port: 0 });
  await a.connect(b.getsockname());
  await b.connect(a.getsockname());
  return [a, b];
}

for (const backend of BACKENDS) {
  Deno.test(`a connected UDP pair (${backend} backend) exchanges datagrams both ways with send() and recv()`, async () => {
    const [a, b] = await udpPair(backend);
    using _a = a;
    using _b = b;
    for (let i = 0; i < 10; i++) {
      await a.send(encoder.encode(`a${i}`));
      assert.equal(
        decoder.decode(await within(PROMPT, b.recv(), "recv")),
        `a${i}`,
      );
      await b.send(encoder.encode(`b${i}`));
      assert.equal(
        decoder.decode(await within(PROMPT, a.recv(), "recv")),
        `b${i}`,
      );
    }
  });
}

/**
 * What Linux answers `send()` without a peer on a fresh UDP socket, then
 * whether it shows a port, then `bind()` to the loopback address: a socket
 * of libc's own.
 */
function kernelSendWithoutPeer(domain: "inet" | "inet6"): unknown[] {
  using libc = openLibc();
  const family = domain === "inet" ? AF_INET : AF_INET6;
  const made = sysSocket(libc, family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert.ok(made.ok, "socket(2)");
  try {
    const sent = sysSend(libc, made.value, new Uint8Array([1]), MSG_NOSIGNAL);
    const name = sysGetsockname(libc, made.value);
    const bound = sysBind(libc, made.value, {
      hostname: LOOPBACK[domain],
      port: 0,
    });
    return [
      sent.ok ? "ok" : sent.errno,
      name.ok && name.value !== undefined && "port" in name.value &&
      name.value.port !== 0,
      bound.ok ? "ok" : bound.errno,
    ];
  } finally {
    sysClose(libc, made.value);
  }
}

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6"] as const) {
    Deno.test(`send() without a peer on an unbound ${domain} UDP socket (${backend} backend) is EDESTADDRREQ and binds an ephemeral port, as Linux does: getsockname() shows it, bind() is EINVAL`, async () => {
      const kernel = kernelSendWithoutPeer(domain);
      assert.deepEqual(kernel, ["EDESTADDRREQ", true, "EINVAL"], "Linux");
      using sock = socket({ domain, type: "dgram", backend });
      const answers: unknown[] = [];
      await sock.send(new Uint8Array([1])).catch((error: SocketError) =>
        answers.push(error.code)
      );
      assert.equal(sock.state, "bound");
      const name = sock.getsockname();
      answers.push("port" in name && name.port !== 0);
      await sock.bind({ hostname: LOOPBACK[domain], port: 0 }).then(
        () => answers.push("ok"),
        (error: SocketError) => answers.push(error.code),
      );
      assert.deepEqual(answers, kernel);
      assert.deepEqual(
        await model(domain, ["send", "bind"]),
        ["EDESTADDRREQ", "EINVAL"],
      );
    });
  }
}
