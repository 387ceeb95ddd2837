// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the deno backend's datagram sockets, straight on the system side
 * (`denoSocket()`): UDP through `node:dgram` with the association kept by
 * the backend, as Linux keeps it (the peer's datagrams only, truncation,
 * empty datagrams, a second connect, disconnect giving back the port), and
 * unix datagram sockets through the posix backend when FFI is granted.
 */
import assert from "node:assert/strict";
import type { InetAddr, SocketAddr } from "../machine/address.ts";
import type { SysSocket } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import { denoSocket } from "../steps/deno_backend.ts";
import { LOOPBACK, settlesWithin, tempDir, within } from "./_net.ts";

const INET = ["inet", "inet6"] as const;
type Inet = typeof INET[number];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Datagram sockets that a test owns: all closed on dispose. */
class Sockets implements Disposable {
  readonly #all: SysSocket[] = [];

  udp(domain: Inet, nonblocking = false): SysSocket {
    return this.add(denoSocket({ domain, type: "dgram", nonblocking }));
  }

  add(sock: SysSocket): SysSocket {
    this.#all.push(sock);
    return sock;
  }

  [Symbol.dispose](): void {
    for (const sock of this.#all) sock.close();
  }
}

/** A UDP socket bound to the loopback address, with its address. */
async function bound(
  sockets: Sockets,
  domain: Inet,
): Promise<[SysSocket, InetAddr]> {
  const sock = sockets.udp(domain);
  await sock.bind({ hostname: LOOPBACK[domain], port: 0 }, false);
  return [sock, sock.local as InetAddr];
}

/** Receives one datagram (bounded wait): its text and sender. */
async function receive(
  sock: SysSocket,
  size = 1024,
): Promise<{ text: string; from: SocketAddr | undefined }> {
  const buffer = new Uint8Array(size);
  const got = await within(1000, sock.readFrom(buffer), "recvfrom()");
  return {
    text: decoder.decode(buffer.subarray(0, got.count ?? 0)),
    from: got.from,
  };
}

/** Whether a datagram comes within `ms`, without taking one. */
async function nothingArrives(sock: SysSocket, ms = 100): Promise<boolean> {
  const stop = new AbortController();
  const ready = sock.ready("read", stop.signal);
  const settled = await settlesWithin(ready, ms);
  stop.abort();
  await ready.catch(() => {});
  return !settled;
}

for (const domain of INET) {
  Deno.test(`denoSocket() ${domain} UDP sends datagrams both ways with sendto() and recvfrom(), naming the sender`, async () => {
    using sockets = new Sockets();
    const [a, aAddr] = await bound(sockets, domain);
    const [b, bAddr] = await bound(sockets, domain);
    assert.equal(await a.writeTo(encoder.encode("ping"), bAddr), 4);
    assert.deepEqual(await receive(b), { text: "ping", from: aAddr });
    assert.equal(await b.writeTo(encoder.encode("pong"), aAddr), 4);
    assert.deepEqual(await receive(a), { text: "pong", from: bAddr });
  });

  Deno.test(`denoSocket() ${domain} UDP sendto() on an unbound socket binds an ephemeral port, as the kernel does`, async () => {
    using sockets = new Sockets();
    const [b, bAddr] = await bound(sockets, domain);
    const a = sockets.udp(domain);
    assert.equal(a.local === undefined, true);
    await a.writeTo(encoder.encode("x"), bAddr);
    const local = a.local as InetAddr;
    assert.equal(local.hostname, domain === "inet" ? "0.0.0.0" : "::");
    assert.ok(local.port > 0);
    const got = await receive(b);
    assert.equal((got.from as InetAddr).port, local.port);
  });

  Deno.test(`denoSocket() ${domain} UDP connect() binds a port, shows the source address, and send()/recv() go to and from the peer`, async () => {
    using sockets = new Sockets();
    const [b, bAddr] = await bound(sockets, domain);
    const a = sockets.udp(domain);
    await a.connect(bAddr, AbortSignal.timeout(1000));
    const local = a.local as InetAddr;
    assert.deepEqual(a.remote, bAddr);
    assert.equal(local.hostname, LOOPBACK[domain]);
    assert.ok(local.port > 0);
    assert.equal(await a.write(encoder.encode("hello")), 5);
    assert.deepEqual(await receive(b), { text: "hello", from: local });
    await b.writeTo(encoder.encode("back"), local);
    const buffer = new Uint8Array(16);
    const n = await within(1000, a.read(buffer), "recv()");
    assert.equal(decoder.decode(buffer.subarray(0, n ?? 0)), "back");
  });

  Deno.test(`denoSocket() ${domain} UDP connected socket is not given datagrams from a third party`, async () => {
    using sockets = new Sockets();
    const [a, aAddr] = await bound(sockets, domain);
    const [b, bAddr] = await bound(sockets, domain);
    const [c] = await bound(sockets, domain);
    await a.connect(bAddr, AbortSignal.timeout(1000));
    await c.writeTo(encoder.encode("from c"), aAddr);
    await b.writeTo(encoder.encode("from b"), aAddr);
    assert.deepEqual(await receive(a), { text: "from b", from: bAddr });
    assert.ok(await nothingArrives(a), "c's datagram was delivered");
  });

  Deno.test(`denoSocket() ${domain} UDP recv() truncates a datagram to the buffer and discards the rest`, async () => {
    using sockets = new Sockets();
    const [a, aAddr] = await bound(sockets, domain);
    const [b] = await bound(sockets, domain);
    await b.writeTo(encoder.encode("0123456789"), aAddr);
    await b.writeTo(encoder.encode("next"), aAddr);
    assert.equal((await receive(a, 4)).text, "0123");
    assert.equal((await receive(a)).text, "next");
  });

  Deno.test(`denoSocket() ${domain} UDP an empty datagram reads as 0`, async () => {
    using sockets = new Sockets();
    const [a, aAddr] = await bound(sockets, domain);
    const [b, bAddr] = await bound(sockets, domain);
    assert.equal(await b.writeTo(new Uint8Array(0), aAddr), 0);
    const got = await within(
      1000,
      a.readFrom(new Uint8Array(8)),
      "recvfrom()",
    );
    assert.deepEqual(got, { count: 0, from: bAddr });
  });

  Deno.test(`denoSocket() ${domain} UDP a second connect() changes the peer`, async () => {
    using sockets = new Sockets();
    const [a, aAddr] = await bound(sockets, domain);
    const [b, bAddr] = await bound(sockets, domain);
    const [c, cAddr] = await bound(sockets, domain);
    await a.connect(bAddr, AbortSignal.timeout(1000));
    await a.connect(cAddr, AbortSignal.timeout(1000));
    assert.deepEqual(a.remote, cAddr);
    assert.deepEqual(a.local, aAddr);
    await a.write(encoder.encode("to c"));
    assert.deepEqual(await receive(c), { text: "to c", from: aAddr });
    await b.writeTo(encoder.encode("from b"), aAddr);
    await c.writeTo(encoder.encode("from c"), aAddr);
    assert.deepEqual(await receive(a), { text: "from c", from: cAddr });
    assert.ok(await nothingArrives(a), "b's datagram was delivered");
  });

  Deno.test(`denoSocket() ${domain} UDP disconnect() forgets the peer and gives back a port the kernel chose`, async () => {
    using sockets = new Sockets();
    const [b, bAddr] = await bound(sockets, domain);
    const a = sockets.udp(domain);
    await a.connect(bAddr, AbortSignal.timeout(1000));
    const port = (a.local as InetAddr).port;
    await a.disconnect();
    assert.equal(a.remote, undefined);
    assert.equal(a.local, undefined);
    // The port is free: another socket binds it.
    const other = sockets.udp(domain);
    await other.bind({ hostname: LOOPBACK[domain], port }, false);
    // An unconnected socket takes datagrams from anyone again.
    await b.writeTo(encoder.encode("again"), other.local!);
    assert.equal((await receive(other)).text, "again");
    await assert.rejects(a.write(encoder.encode("x")), {
      code: "EDESTADDRREQ",
    });
  });

  Deno.test(`denoSocket() ${domain} UDP disconnect() keeps a port bind() chose`, async () => {
    using sockets = new Sockets();
    const [b, bAddr] = await bound(sockets, domain);
    const a = sockets.udp(domain);
    const wildcard = domain === "inet" ? "0.0.0.0" : "::";
    const [port] = await freeUdpPort(domain);
    await a.bind({ hostname: wildcard, port }, false);
    await a.connect(bAddr, AbortSignal.timeout(1000));
    assert.deepEqual(a.local, { hostname: LOOPBACK[domain], port });
    await a.disconnect();
    assert.deepEqual(a.local, { hostname: wildcard, port });
    await b.writeTo(encoder.encode("still bound"), {
      hostname: LOOPBACK[domain],
      port,
    });
    assert.equal((await receive(a)).text, "still bound");
  });

  Deno.test(`denoSocket() ${domain} UDP close() during a pending recv() rejects it with EBADF`, async () => {
    using sockets = new Sockets();
    const [a] = await bound(sockets, domain);
    const pending = a.read(new Uint8Array(8));
    assert.equal(await settlesWithin(pending, 20), false);
    a.close();
    await assert.rejects(within(1000, pending, "recv()"), (error) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EBADF");
      return true;
    });
    a.close(); // idempotent
  });

  Deno.test(`denoSocket() ${domain} UDP bind() to an address in use fails with EADDRINUSE, leaving nothing open`, async () => {
    using sockets = new Sockets();
    const [, aAddr] = await bound(sockets, domain);
    const b = sockets.udp(domain);
    await assert.rejects(b.bind(aAddr, false), (error) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EADDRINUSE");
      return true;
    });
    assert.equal(b.local, undefined);
    await b.bind({ hostname: LOOPBACK[domain], port: 0 }, false);
  });

  Deno.test(`denoSocket() ${domain} UDP close() frees the port for the next bind() at once`, async () => {
    using sockets = new Sockets();
    const [a, aAddr] = await bound(sockets, domain);
    a.close();
    const b = sockets.udp(domain);
    await b.bind(aAddr, false);
    assert.deepEqual(b.local, aAddr);
  });
}

/** A UDP port nothing is bound to (a moment ago). */
async function freeUdpPort(domain: Inet): Promise<[number]> {
  const probe = denoSocket({ domain, type: "dgram", nonblocking: false });
  try {
    await probe.bind({ hostname: LOOPBACK[domain], port: 0 }, false);
    return [(probe.local as InetAddr).port];
  } finally {
    probe.close();
  }
}

Deno.test({
  name:
    "denoSocket() unix datagram sockets work through the posix backend with --allow-ffi",
  ignore: Deno.permissions.querySync({ name: "ffi" }).state !== "granted",
  async fn() {
    await using dir = await tempDir();
    using sockets = new Sockets();
    const kind = { domain: "unix", type: "dgram", nonblocking: false } as const;
    const a = sockets.add(denoSocket(kind));
    const b = sockets.add(denoSocket(kind));
    const aAddr = { path: `${dir.path}/a.sock` };
    const bAddr = { path: `${dir.path}/b.sock` };
    await a.bind(aAddr, false);
    await b.bind(bAddr, false);
    await a.writeTo(encoder.encode("over unix"), bAddr);
    assert.deepEqual(await receive(b), { text: "over unix", from: aAddr });
  },
});
