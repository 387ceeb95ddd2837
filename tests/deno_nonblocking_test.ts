// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the deno backend's `O_NONBLOCK` emulation and `ready()`,
 * straight on the system side (`denoSocket()`): calls that would wait say
 * `EAGAIN`, a TCP connect says `EINPROGRESS`, then `EALREADY`, then its
 * outcome once, and readiness waits end as `poll(2)`'s would.
 */
import assert from "node:assert/strict";
import type { Domain, InetAddr } from "../machine/address.ts";
import type { SysSocket } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import { denoSocket } from "../steps/deno_backend.ts";
import { freePort, LOOPBACK, settlesWithin, within } from "./_net.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sockets that a test owns: all closed on dispose. */
class Sockets implements Disposable {
  readonly #all: SysSocket[] = [];

  make(
    domain: Domain,
    type: "stream" | "dgram",
    nonblocking: boolean,
  ): SysSocket {
    return this.add(denoSocket({ domain, type, nonblocking }));
  }

  add(sock: SysSocket): SysSocket {
    this.#all.push(sock);
    return sock;
  }

  [Symbol.dispose](): void {
    for (const sock of this.#all) sock.close();
  }
}

/** Asserts that `call` rejects with a `SocketError` of `code`. */
async function rejectsWith(
  call: Promise<unknown>,
  code: string,
): Promise<SocketError> {
  let caught: unknown;
  await assert.rejects(within(1000, call, code), (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof SocketError, String(caught));
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** A TCP listener on loopback (blocking unless said). */
async function tcpListener(
  sockets: Sockets,
  nonblocking = false,
): Promise<SysSocket> {
  const listener = sockets.make("inet", "stream", nonblocking);
  await listener.bind({ hostname: LOOPBACK.inet, port: 0 }, false);
  await listener.listen(undefined);
  return listener;
}

/** Connects a non-blocking TCP socket: EINPROGRESS, wait, connect again. */
async function connectNonblocking(
  sock: SysSocket,
  addr: InetAddr,
): Promise<void> {
  await rejectsWith(
    sock.connect(addr, AbortSignal.timeout(1000)),
    "EINPROGRESS",
  );
  await within(1000, sock.ready("write", undefined), "ready(write)");
  await sock.connect(addr, AbortSignal.timeout(1000));
}

/** A TCP client (non-blocking unless said) and the socket it connected to. */
async function tcpPair(
  sockets: Sockets,
  nonblocking = true,
): Promise<[SysSocket, SysSocket]> {
  const listener = await tcpListener(sockets);
  const accepting = listener.accept();
  const client = sockets.make("inet", "stream", nonblocking);
  if (nonblocking) await connectNonblocking(client, listener.local as InetAddr);
  else await client.connect(listener.local!, AbortSignal.timeout(1000));
  return [client, sockets.add(await within(1000, accepting, "accept()"))];
}

Deno.test("denoSocket() non-blocking accept() says EAGAIN with no connection queued, then accepts a blocking socket", async () => {
  using sockets = new Sockets();
  const listener = await tcpListener(sockets, true);
  await rejectsWith(listener.accept(), "EAGAIN");
  const client = sockets.make("inet", "stream", false);
  await client.connect(listener.local!, AbortSignal.timeout(1000));
  await within(1000, listener.ready("read", undefined), "ready(read)");
  const accepted = sockets.add(await listener.accept());
  assert.deepEqual(accepted.remote, client.local);
  // Linux's accept() makes a blocking socket, whatever the listener is.
  const read = accepted.read(new Uint8Array(4));
  assert.equal(await settlesWithin(read, 50), false);
  await client.write(encoder.encode("ok"));
  assert.equal(await within(1000, read, "recv()"), 2);
  await rejectsWith(listener.accept(), "EAGAIN");
});

Deno.test("denoSocket() non-blocking TCP connect() says EINPROGRESS, then EALREADY, then succeeds once", async () => {
  using sockets = new Sockets();
  const listener = await tcpListener(sockets);
  const accepting = listener.accept();
  const client = sockets.make("inet", "stream", true);
  const signal = AbortSignal.timeout(1000);
  await rejectsWith(client.connect(listener.local!, signal), "EINPROGRESS");
  await rejectsWith(client.connect(listener.local!, signal), "EALREADY");
  await within(1000, client.ready("write", undefined), "ready(write)");
  // Connected, with nothing to read: not readable.
  assert.equal(
    await settlesWithin(
      client.ready("read", AbortSignal.timeout(100)).catch(() => {}),
      30,
    ),
    false,
  );
  await client.connect(listener.local!, signal);
  assert.deepEqual(client.remote, listener.local);
  await rejectsWith(client.connect(listener.local!, signal), "EISCONN");
  sockets.add(await within(1000, accepting, "accept()"));
  assert.equal(client.getOption("SO_ERROR"), null);
});

Deno.test("denoSocket() a refused non-blocking connect() reports its error once, by connect() or by SO_ERROR", async () => {
  using sockets = new Sockets();
  const addr = { hostname: LOOPBACK.inet, port: freePort(LOOPBACK.inet) };
  const signal = AbortSignal.timeout(1000);
  // connect() again reports it; SO_ERROR then has nothing.
  const first = sockets.make("inet", "stream", true);
  await rejectsWith(first.connect(addr, signal), "EINPROGRESS");
  await within(1000, first.ready("write", undefined), "ready(write)");
  await rejectsWith(first.connect(addr, signal), "ECONNREFUSED");
  assert.equal(first.getOption("SO_ERROR"), null);
  // The socket can try again: a new attempt.
  await rejectsWith(first.connect(addr, signal), "EINPROGRESS");
  // SO_ERROR reports it; connect() then says the attempt was aborted.
  const second = sockets.make("inet", "stream", true);
  await rejectsWith(second.connect(addr, signal), "EINPROGRESS");
  await within(1000, second.ready("read", undefined), "ready(read)");
  assert.equal(second.getOption("SO_ERROR"), "ECONNREFUSED");
  assert.equal(second.getOption("SO_ERROR"), null);
  await rejectsWith(second.connect(addr, signal), "ECONNABORTED");
});

Deno.test("denoSocket() non-blocking TCP recv() says EAGAIN with nothing buffered, then returns the data and end of stream", async () => {
  using sockets = new Sockets();
  const [client, server] = await tcpPair(sockets);
  const buffer = new Uint8Array(16);
  await rejectsWith(client.read(buffer), "EAGAIN");
  await server.write(encoder.encode("hello"));
  await within(1000, client.ready("read", undefined), "ready(read)");
  const n = await client.read(buffer);
  assert.equal(decoder.decode(buffer.subarray(0, n ?? 0)), "hello");
  await rejectsWith(client.read(buffer), "EAGAIN");
  await server.shutdown("write", false);
  await within(1000, client.ready("read", undefined), "ready(read)");
  assert.equal(await client.read(buffer), null);
});

Deno.test("denoSocket() non-blocking send() takes all the bytes, and says EAGAIN while they are still being written", async () => {
  using sockets = new Sockets();
  const [client, server] = await tcpPair(sockets);
  // More than the kernel's buffers hold while the peer does not read.
  const big = new Uint8Array(32 << 20).fill(7);
  assert.equal(await client.write(big), big.length);
  await rejectsWith(client.write(encoder.encode("x")), "EAGAIN");
  const writable = client.ready("write", undefined);
  assert.equal(await settlesWithin(writable, 50), false);
  let received = 0;
  const chunk = new Uint8Array(1 << 20);
  while (received < big.length) {
    received += (await within(1000, server.read(chunk), "recv()")) ?? 0;
  }
  await within(1000, writable, "ready(write)");
  assert.equal(await client.write(encoder.encode("x")), 1);
});

Deno.test("denoSocket() non-blocking UDP recv() says EAGAIN with no datagram queued, then returns one", async () => {
  using sockets = new Sockets();
  for (const domain of ["inet", "inet6"] as const) {
    const a = sockets.make(domain, "dgram", true);
    await a.bind({ hostname: LOOPBACK[domain], port: 0 }, false);
    const b = sockets.make(domain, "dgram", true);
    await rejectsWith(a.readFrom(new Uint8Array(8)), "EAGAIN");
    await b.writeTo(encoder.encode("dgram"), a.local!);
    await within(1000, a.ready("read", undefined), "ready(read)");
    const got = await a.readFrom(new Uint8Array(8));
    // b was bound by sendto() to the wildcard: it sent from loopback.
    const port = (b.local as InetAddr).port;
    assert.deepEqual(got, {
      count: 5,
      from: { hostname: LOOPBACK[domain], port },
    });
    await rejectsWith(a.read(new Uint8Array(8)), "EAGAIN");
  }
});

Deno.test("denoSocket() ready(read) on a blocking TCP socket waits for data, which recv() then returns", async () => {
  using sockets = new Sockets();
  const [client, server] = await tcpPair(sockets, false);
  await within(1000, client.ready("write", undefined), "ready(write)");
  const readable = client.ready("read", undefined);
  assert.equal(await settlesWithin(readable, 50), false);
  await server.write(encoder.encode("data"));
  await within(1000, readable, "ready(read)");
  const buffer = new Uint8Array(2);
  assert.equal(await client.read(buffer), 2);
  assert.equal(decoder.decode(buffer), "da");
  assert.equal(await client.read(buffer), 2);
  assert.equal(decoder.decode(buffer), "ta");
  const next = client.read(buffer);
  assert.equal(await settlesWithin(next, 30), false);
  await server.write(encoder.encode("!"));
  assert.equal(await within(1000, next, "recv()"), 1);
});

Deno.test("denoSocket() ready() on a listener waits for a connection, and for write never", async () => {
  using sockets = new Sockets();
  const listener = await tcpListener(sockets);
  const stop = new AbortController();
  const writable = listener.ready("write", stop.signal);
  const readable = listener.ready("read", undefined);
  assert.equal(await settlesWithin(readable, 30), false);
  const client = sockets.make("inet", "stream", false);
  await client.connect(listener.local!, AbortSignal.timeout(1000));
  await within(1000, readable, "ready(read)");
  sockets.add(await within(1000, listener.accept(), "accept()"));
  assert.equal(await settlesWithin(writable, 30), false);
  stop.abort(new Error("enough"));
  await rejectsWith(writable, "EINTR");
});

for (const type of ["stream", "dgram"] as const) {
  Deno.test(`denoSocket() ready() on a ${type} socket rejects EBADF when closed meanwhile, and EINTR with the reason when aborted`, async () => {
    using sockets = new Sockets();
    const [sock] = type === "stream"
      ? await tcpPair(sockets)
      : [sockets.make("inet", type, true)];
    if (type === "dgram") {
      await sock.bind({ hostname: LOOPBACK.inet, port: 0 }, false);
    }
    const stop = new AbortController();
    const reason = new Error("stop waiting");
    const aborted = sock.ready("read", stop.signal);
    stop.abort(reason);
    const error = await rejectsWith(aborted, "EINTR");
    assert.equal(error.cause, reason);
    await rejectsWith(
      sock.ready("read", AbortSignal.abort(reason)),
      "EINTR",
    );
    const pending = sock.ready("read", undefined);
    assert.equal(await settlesWithin(pending, 20), false);
    sock.close();
    await rejectsWith(pending, "EBADF");
  });
}

Deno.test("denoSocket() ready(read) while a blocking accept() waits: the accept gets the first connection, ready() the next", async () => {
  using sockets = new Sockets();
  const listener = await tcpListener(sockets);
  const accepting = listener.accept();
  const readable = listener.ready("read", undefined);
  const first = sockets.make("inet", "stream", false);
  await first.connect(listener.local!, AbortSignal.timeout(1000));
  const accepted = sockets.add(await within(1000, accepting, "accept()"));
  assert.deepEqual(accepted.remote, first.local);
  assert.equal(await settlesWithin(readable, 30), false);
  const second = sockets.make("inet", "stream", false);
  await second.connect(listener.local!, AbortSignal.timeout(1000));
  await within(1000, readable, "ready(read)");
  const next = sockets.add(await within(1000, listener.accept(), "accept()"));
  assert.deepEqual(next.remote, second.local);
});

Deno.test("denoSocket() ready(read) while a blocking recv() waits: the recv gets the data, ready() waits for more", async () => {
  using sockets = new Sockets();
  const [client, server] = await tcpPair(sockets, false);
  const buffer = new Uint8Array(8);
  const reading = client.read(buffer);
  const readable = client.ready("read", undefined);
  await server.write(encoder.encode("a"));
  assert.equal(await within(1000, reading, "recv()"), 1);
  assert.equal(await settlesWithin(readable, 30), false);
  await server.write(encoder.encode("b"));
  await within(1000, readable, "ready(read)");
  assert.equal(await client.read(buffer), 1);
  assert.equal(decoder.decode(buffer.subarray(0, 1)), "b");
});
