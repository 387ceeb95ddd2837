// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Cancellation of every call that can wait: a `signal` stops the call at
 * once with `ECANCELED` (`ETIMEDOUT` for `AbortSignal.timeout()`), and the
 * socket is left as Linux leaves it after an interrupted call: nothing
 * received is lost, a queued connection waits for the next `accept()`, a
 * TCP attempt goes on (a `connect()` again waits for it; it settles, or
 * `close()` ends it).
 * Also: options checked before any system call, `recv()`'s bound, and
 * results that hold only the bytes received. Both backends, on loopback and
 * unix sockets in a temporary directory.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  type SocketOp,
  type SocketState,
  typed,
  typedStreamConnection,
} from "../mod.ts";
import { openLibc, sysFcntl } from "../steps/libc.ts";
import { LOOPBACK, type TempDir, tempDir, within } from "./_net.ts";

/** `fcntl(2)`'s command that reads a descriptor's flags. */
const F_GETFD = 1;

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const STREAM_DOMAINS = ["inet", "inet6", "unix"] as const;
type StreamDomain = (typeof STREAM_DOMAINS)[number];
const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A rejection check: our error, its code, op, state and cause. */
function cancelled(
  code: "ECANCELED" | "ETIMEDOUT",
  op: SocketOp,
  state: SocketState,
  cause?: unknown,
): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.op, op);
    assert.equal(error.state, state);
    if (cause !== undefined) assert.equal(error.cause, cause);
    else if (code === "ETIMEDOUT") {
      assert.ok(error.cause instanceof DOMException);
      assert.equal(error.cause.name, "TimeoutError");
    }
    return true;
  };
}

/** An address to listen on: loopback port 0, or a path in `dir`. */
function listenAddr(domain: StreamDomain, dir: TempDir): SocketAddr {
  return domain === "unix"
    ? { path: `${dir.path}/s${crypto.randomUUID().slice(0, 8)}` }
    : { hostname: LOOPBACK[domain], port: 0 };
}

interface Pair extends AsyncDisposable {
  readonly listener: Socket;
  readonly client: Socket;
  readonly server: Socket;
}

/** A listener, a client connected to it, and the accepted server end. */
async function streamPair(
  backend: Backend,
  domain: StreamDomain,
): Promise<Pair> {
  const dir = await tempDir();
  const listener = socket({ domain, backend });
  const client = socket({ domain, backend });
  try {
    await listener.bind(listenAddr(domain, dir));
    await listener.listen();
    const accepting = listener.accept();
    await client.connect(listener.getsockname());
    const server = await within(2000, accepting, "accept()");
    return {
      listener,
      client,
      server,
      async [Symbol.asyncDispose]() {
        for (const sock of [server, client, listener]) sock[Symbol.dispose]();
        await dir.remove();
      },
    };
  } catch (error) {
    client.close();
    listener.close();
    await dir.remove();
    throw error;
  }
}

/** Checks that `promise` rejects as `check` says, within 1 s. */
function rejectsWithin(
  promise: Promise<unknown>,
  check: (error: unknown) => true,
  what: string,
): Promise<void> {
  return within(1000, assert.rejects(promise, check), what);
}

/**
 * Starts `call` with a signal, aborts it with `reason` a little later (once
 * the call surely waits), and checks that it rejects at once with `check`.
 */
async function abortWhileWaiting(
  call: (signal: AbortSignal) => Promise<unknown>,
  reason: unknown,
  check: (error: unknown) => true,
  what: string,
): Promise<void> {
  const controller = new AbortController();
  const waiting = call(controller.signal);
  setTimeout(() => controller.abort(reason), 30);
  await rejectsWithin(waiting, check, what);
}

/** Lets the backends finish what close() stopped (a poll, a connect op). */
async function windDown(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const backend of BACKENDS) {
  for (const domain of STREAM_DOMAINS) {
    const kind = `${backend} ${domain} stream`;

    Deno.test(`recv() on a ${kind} socket aborted while it waits rejects ECANCELED with the reason, and the data that comes later is not lost`, async () => {
      await using pair = await streamPair(backend, domain);
      const reason = new Error("stop");
      await abortWhileWaiting(
        (signal) => pair.server.recv(100, { signal }),
        reason,
        cancelled("ECANCELED", "recv", "connected", reason),
        "the aborted recv()",
      );
      assert.equal(pair.server.state, "connected");
      await pair.client.send(encode("after the abort"));
      const got = await within(1000, pair.server.recv(100), "the next recv()");
      assert.equal(decode(got), "after the abort");
    });

    Deno.test(`recvInto() on a ${kind} socket aborted while it waits consumes nothing, and the readable still reads what comes`, async () => {
      await using pair = await streamPair(backend, domain);
      const buffer = new Uint8Array(16);
      await abortWhileWaiting(
        (signal) => pair.server.recvInto(buffer, { signal }),
        "enough",
        cancelled("ECANCELED", "recv", "connected", "enough"),
        "the aborted recvInto()",
      );
      await pair.client.send(encode("stream"));
      await pair.client.shutdown("write");
      // The aborted call's buffer is not written after it rejected.
      assert.deepEqual(buffer, new Uint8Array(16));
      const text = await within(
        1000,
        new Response(pair.server.readable).text(),
        "the readable",
      );
      assert.equal(text, "stream");
    });

    Deno.test(`recv() on a ${kind} socket with AbortSignal.timeout() rejects ETIMEDOUT`, async () => {
      await using pair = await streamPair(backend, domain);
      const started = Date.now();
      await rejectsWithin(
        pair.server.recv(10, { signal: AbortSignal.timeout(50) }),
        cancelled("ETIMEDOUT", "recv", "connected"),
        "recv() with a timeout",
      );
      assert.ok(Date.now() - started >= 40);
    });

    Deno.test(`recv() on a ${kind} socket with a signal already aborted rejects before any call and leaves the queued data`, async () => {
      await using pair = await streamPair(backend, domain);
      await pair.client.send(encode("queued"));
      const reason = new Error("before");
      await assert.rejects(
        pair.server.recv(100, { signal: AbortSignal.abort(reason) }),
        cancelled("ECANCELED", "recv", "connected", reason),
      );
      await assert.rejects(
        pair.server.recvInto(new Uint8Array(4), {
          signal: AbortSignal.abort(reason),
        }),
        cancelled("ECANCELED", "recv", "connected", reason),
      );
      await assert.rejects(
        pair.client.send(encode("never"), {
          signal: AbortSignal.abort(reason),
        }),
        cancelled("ECANCELED", "send", "connected", reason),
      );
      await pair.client.shutdown("write");
      const got = await within(1000, recvAllOf(pair.server), "the data");
      assert.equal(decode(got), "queued");
    });

    Deno.test(`accept() on a ${kind} listener aborted while it waits rejects ECANCELED, keeps listening, and the next accept() gets the connection`, async () => {
      await using dir = await tempDir();
      using listener = socket({ domain, backend });
      await listener.bind(listenAddr(domain, dir));
      await listener.listen();
      await abortWhileWaiting(
        (signal) => listener.accept({ signal }),
        "no more",
        cancelled("ECANCELED", "accept", "listening", "no more"),
        "the aborted accept()",
      );
      assert.equal(listener.state, "listening");
      using client = socket({ domain, backend });
      await client.connect(listener.getsockname());
      using server = await within(1000, listener.accept(), "the next accept()");
      assert.deepEqual(server.getpeername(), client.getsockname());
      await client.send(encode("hi"));
      assert.equal(decode(await within(1000, server.recv(), "recv()")), "hi");
    });

    Deno.test(`accept() on a ${kind} listener with AbortSignal.timeout() rejects ETIMEDOUT`, async () => {
      await using dir = await tempDir();
      using listener = socket({ domain, backend });
      await listener.bind(listenAddr(domain, dir));
      await listener.listen();
      await rejectsWithin(
        listener.accept({ signal: AbortSignal.timeout(50) }),
        cancelled("ETIMEDOUT", "accept", "listening"),
        "accept() with a timeout",
      );
    });

    Deno.test(`send() on a ${kind} socket aborted while it waits says how many bytes had gone out, and later sends follow them in order`, async () => {
      await using pair = await streamPair(backend, domain);
      // More than the kernel's buffers hold: send() waits for the peer.
      const big = new Uint8Array(64 << 20).fill(7);
      const controller = new AbortController();
      const sending = pair.client.send(big, { signal: controller.signal });
      setTimeout(() => controller.abort("full"), 200);
      let reported = -1;
      await within(
        2000,
        assert.rejects(sending, (error) => {
          cancelled("ECANCELED", "send", "connected", "full")(error);
          const match = /(\d+) of (\d+) bytes had gone out/.exec(
            (error as Error).message,
          );
          assert.ok(match, (error as Error).message);
          reported = Number(match[1]);
          assert.equal(Number(match[2]), big.length);
          return true;
        }),
        "the aborted send()",
      );
      assert.ok(reported >= 0 && reported < big.length);
      // The writable, too, goes on after the aborted send.
      const writer = pair.client.writable.getWriter();
      const tail = writer.write(encode("tail"));
      const all = await within(
        10000,
        (async () => {
          const got = recvAllOf(pair.server);
          await tail;
          await writer.close(); // shutdown("write")
          return await got;
        })(),
        "the peer reading it all",
      );
      const prefix = all.length - 4;
      assert.equal(decode(all.subarray(prefix)), "tail");
      assert.ok(all.subarray(0, prefix).every((byte) => byte === 7));
      // posix stops before send(2); Deno cannot stop a write it started.
      if (backend === "posix") assert.equal(prefix, reported);
      else assert.ok(prefix >= reported && prefix <= big.length);
    });
  }

  Deno.test(`connect() of a ${backend} TCP socket aborted while the SYN goes unanswered stays "connecting", and a connect() again waits for the same attempt and resolves once it connects`, async () => {
    await using full = await fullListener(backend);
    const { listener, addr } = full;
    using client = socket({ domain: "inet", backend });
    const reason = new Error("give up");
    await abortWhileWaiting(
      (signal) => client.connect(addr, { signal }),
      reason,
      cancelled("ECANCELED", "connect", "created", reason),
      "the aborted connect()",
    );
    assert.equal(client.state, "connecting");
    // As Linux's blocking connect(2) after EINTR: it waits for the attempt.
    let answered = false;
    const again = client.connect(addr).finally(() => answered = true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(answered, false, "the second connect() waits");
    // Room in the queue: the kernel's next SYN (about 1 s in) connects.
    using accepted = await within(1000, listener.accept(), "accept()");
    await within(5000, again, "the second connect()");
    assert.equal(client.state, "connected");
    using second = await within(1000, listener.accept(), "accept()");
    assert.deepEqual(second.getpeername(), client.getsockname());
    await client.send(encode("made it"));
    assert.equal(
      decode(await within(1000, second.recv(), "recv()")),
      "made it",
    );
    assert.ok(accepted.state === "connected");
  });

  Deno.test(`connect() of a ${backend} TCP socket aborted by AbortSignal.timeout() rejects ETIMEDOUT, and close() ends the attempt`, async () => {
    await using full = await fullListener(backend);
    const { listener, first, addr } = full;
    const client = socket({ domain: "inet", backend });
    await rejectsWithin(
      client.connect(addr, { signal: AbortSignal.timeout(100) }),
      cancelled("ETIMEDOUT", "connect", "created"),
      "connect() with a timeout",
    );
    assert.equal(client.state, "connecting");
    client.close();
    assert.equal(client.state, "closed");
    await windDown();
    // The listener's queue holds only the first connection.
    using one = await within(1000, listener.accept(), "accept()");
    assert.deepEqual(one.getpeername(), first.getsockname());
  });

  Deno.test(`recvfrom() on a ${backend} UDP socket aborted while it waits consumes nothing: the next recvfrom() gets the datagram`, async () => {
    using receiver = socket({ domain: "inet", type: "dgram", backend });
    await receiver.bind({ hostname: "127.0.0.1", port: 0 });
    using sender = socket({ domain: "inet", type: "dgram", backend });
    await abortWhileWaiting(
      (signal) => receiver.recvfrom(100, { signal }),
      "stop",
      cancelled("ECANCELED", "recvfrom", "bound", "stop"),
      "the aborted recvfrom()",
    );
    await sender.sendto(encode("dgram"), receiver.getsockname());
    const { data, addr } = await within(
      1000,
      receiver.recvfrom(),
      "recvfrom()",
    );
    assert.equal(decode(data), "dgram");
    assert.equal(data.buffer.byteLength, 5);
    assert.equal(addr?.port, sender.getsockname().port);
    // sendto() with an aborted signal sends nothing.
    await assert.rejects(
      sender.sendto(encode("no"), receiver.getsockname(), {
        signal: AbortSignal.abort("x"),
      }),
      cancelled("ECANCELED", "sendto", "bound", "x"),
    );
    await assert.rejects(
      receiver.recv(10, { signal: AbortSignal.timeout(100) }),
      cancelled("ETIMEDOUT", "recv", "bound"),
    );
  });

  Deno.test(`recvfrom() on a ${backend} unix datagram socket aborted while it waits rejects ECANCELED and keeps what comes`, async () => {
    await using dir = await tempDir();
    using receiver = socket({ domain: "unix", type: "dgram", backend });
    await receiver.bind({ path: `${dir.path}/r` });
    using sender = socket({ domain: "unix", type: "dgram", backend });
    await rejectsWithin(
      receiver.recvfrom(100, { signal: AbortSignal.timeout(50) }),
      cancelled("ETIMEDOUT", "recvfrom", "bound"),
      "recvfrom() with a timeout",
    );
    await sender.sendto(encode("unix"), { path: `${dir.path}/r` });
    const { data } = await within(1000, receiver.recvfrom(), "recvfrom()");
    assert.equal(decode(data), "unix");
  });

  Deno.test(`accept() options on a ${backend} listener are checked before accept(2): nothing is accepted, no descriptor opened`, async () => {
    using listener = socket({ domain: "inet", backend });
    await listener.bind({ hostname: "127.0.0.1", port: 0 });
    await listener.listen();
    using client = socket({ domain: "inet", backend });
    await client.connect(listener.getsockname());
    // Let the connection reach the accept queue (and a background accept).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = openFds();
    for (
      const bad of [
        null,
        5,
        "x",
        { onTransition: 5 },
        { signal: "x" },
        { timeout: 100 },
      ]
    ) {
      await assert.rejects(
        listener.accept(bad as never),
        (error: unknown) => {
          assert.ok(error instanceof SocketError);
          assert.equal(error.code, "EINVAL");
          assert.equal(error.op, "accept");
          assert.equal(error.state, "listening");
          return true;
        },
      );
    }
    assert.equal(openFds(), before);
    // The peer was never accepted and dropped: it reads no end of stream.
    await assert.rejects(
      client.recv(1, { signal: AbortSignal.timeout(100) }),
      { code: "ETIMEDOUT" },
    );
    using server = await within(1000, listener.accept(), "accept()");
    assert.deepEqual(server.getpeername(), client.getsockname());
  });
}

/**
 * The number of open descriptors of this process, as `/proc/self/fd`
 * lists them (which Deno reads only with --allow-all): `fcntl(F_GETFD)`
 * through libc on every descriptor below the limit that matters here.
 */
function openFds(): number {
  using libc = openLibc();
  let open = 0;
  for (let fd = 0; fd < 4096; fd++) {
    if (sysFcntl(libc, fd, F_GETFD, 0).ok) open++;
  }
  return open;
}

/**
 * A TCP listener whose accept queue is full (`listen(0)` and one
 * connection, `first`, not accepted): it drops SYNs, so a `connect()` to
 * `addr` waits, and the kernel tries again about 1 s later.
 */
async function fullListener(backend: Backend): Promise<
  AsyncDisposable & {
    readonly listener: Socket;
    readonly first: Socket;
    readonly addr: SocketAddr;
  }
> {
  const listener = socket({ domain: "inet", backend: "posix" });
  const first = socket({ domain: "inet", backend });
  try {
    await listener.bind({ hostname: "127.0.0.1", port: 0 });
    await listener.listen(0);
    await first.connect(listener.getsockname());
  } catch (error) {
    first.close();
    listener.close();
    throw error;
  }
  return {
    listener,
    first,
    addr: listener.getsockname(),
    [Symbol.asyncDispose]() {
      first[Symbol.dispose]();
      listener[Symbol.dispose]();
      return Promise.resolve();
    },
  };
}

async function recvAllOf(sock: Socket): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (;;) {
    const chunk = await sock.recv(1 << 20);
    if (chunk.length === 0) break;
    chunks.push(chunk);
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

Deno.test("an unknown option key is EINVAL naming it and the keys that exist, on every call that takes options", async () => {
  await using pair = await streamPair("deno", "inet");
  const addr = pair.listener.getsockname();
  const calls: [SocketOp, () => Promise<unknown>][] = [
    ["recv", () => pair.server.recv(10, { timeout: 5 } as never)],
    [
      "recv",
      () => pair.server.recvInto(new Uint8Array(1), { timeout: 5 } as never),
    ],
    ["recvfrom", () => pair.server.recvfrom(10, { timeout: 5 } as never)],
    ["send", () => pair.client.send(encode("x"), { timeout: 5 } as never)],
    [
      "sendto",
      () => pair.client.sendto(encode("x"), addr, { timeout: 5 } as never),
    ],
    ["connect", () => pair.client.connect(addr, { timeout: 5 } as never)],
    ["wait", () => pair.client.wait("read", { timeout: 5 } as never)],
  ];
  for (const [op, call] of calls) {
    await assert.rejects(call(), (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EINVAL");
      assert.equal(error.op, op);
      assert.match(
        error.message,
        /unknown option "timeout"; the options are "signal"/,
      );
      return true;
    });
  }
  await assert.rejects(pair.listener.accept({ timeout: 5 } as never), {
    code: "EINVAL",
    message:
      /unknown option "timeout"; the options are "signal", "onTransition"/,
  });
  await assert.rejects(pair.server.recv(10, null as never), {
    code: "EINVAL",
    message: /the options must be an object or undefined, got null/,
  });
  await assert.rejects(
    pair.server.recv(10, { signal: 5 } as never),
    { code: "EINVAL", message: /"signal" must be an AbortSignal, got 5/ },
  );
  // Nothing was consumed or sent by the refused calls.
  assert.equal(pair.client.state, "connected");
});

Deno.test("bad arguments reject with EINVAL naming the value, never a TypeError or RangeError", async () => {
  await using pair = await streamPair("deno", "inet");
  const cases: [SocketOp, () => Promise<unknown>, RegExp][] = [
    ["recv", () => pair.server.recv(Symbol("s") as never), /Symbol\(s\)/],
    ["recv", () => pair.server.recv(Object.create(null)), /got \{\}/],
    [
      "recv",
      () => pair.server.recv(2 ** 53),
      /9007199254740992; to receive more at once, use recvInto\(\)/,
    ],
    [
      "recv",
      () => pair.server.recv(64 * 1024 * 1024 + 1),
      /from 1 to 67108864/,
    ],
    ["recvfrom", () => pair.server.recvfrom(2 ** 32), /4294967296/],
    ["recv", () => pair.server.recvInto(5 as never), /got 5/],
    ["send", () => pair.client.send(5 as never), /got 5/],
    [
      "sendto",
      () => pair.client.sendto("x" as never, pair.listener.getsockname()),
      /got "x"/,
    ],
    ["shutdown", () => pair.client.shutdown(1n as never), /got 1n/],
    ["listen", () => pair.listener.listen(Symbol("b") as never), /Symbol\(b\)/],
  ];
  for (const [op, call, message] of cases) {
    await assert.rejects(call(), (error: unknown) => {
      assert.ok(error instanceof SocketError, String(error));
      assert.equal(error.code, "EINVAL");
      assert.equal(error.op, op);
      assert.match(error.message, message);
      return true;
    });
  }
});

for (const backend of BACKENDS) {
  Deno.test(`recv() and recvfrom() with the ${backend} backend return only the bytes received, in a right-sized buffer`, async () => {
    await using pair = await streamPair(backend, "inet");
    await pair.client.send(encode("hello"));
    const got = await within(1000, pair.server.recv(), "recv()");
    assert.equal(decode(got), "hello");
    assert.equal(got.buffer.byteLength, 5);
    await pair.client.send(encode("abc"));
    const { data } = await within(
      1000,
      pair.server.recvfrom(1 << 20),
      "recvfrom()",
    );
    assert.equal(decode(data), "abc");
    assert.equal(data.buffer.byteLength, 3);
    // A full buffer is returned as it is.
    await pair.client.send(encode("xy"));
    const full = await within(1000, pair.server.recv(2), "recv(2)");
    assert.equal(full.buffer.byteLength, 2);
    // A result is the caller's: later reads, even at once, never change it.
    const both = [pair.server.recv(), pair.server.recv()];
    await pair.client.send(encode("one"));
    const first = await within(1000, both[0], "the first recv()");
    await pair.client.send(encode("two"));
    const second = await within(1000, both[1], "the second recv()");
    const third = pair.server.recv();
    await pair.client.send(encode("333"));
    await within(1000, third, "the third recv()");
    assert.deepEqual(
      [decode(got), decode(first), decode(second), decode(full)],
      ["hello", "one", "two", "xy"],
    );
  });
}

Deno.test("connect() of a posix unix socket aborted while the listener's backlog is full stops, as Linux does: the socket is unconnected and can connect again", async () => {
  await using dir = await tempDir();
  using listener = socket({ domain: "unix", backend: "posix" });
  await listener.bind({ path: `${dir.path}/full` });
  await listener.listen(0);
  using first = socket({ domain: "unix", backend: "posix" });
  await first.connect({ path: `${dir.path}/full` });
  using client = socket({ domain: "unix", backend: "posix" });
  await abortWhileWaiting(
    (signal) => {
      const connecting = client.connect({ path: `${dir.path}/full` }, {
        signal: signal,
      });
      assert.equal(client.state, "connecting");
      return connecting;
    },
    "full",
    cancelled("ECANCELED", "connect", "created", "full"),
    "the aborted connect()",
  );
  assert.equal(client.state, "created");
  using one = await within(1000, listener.accept(), "accept()");
  await within(1000, client.connect({ path: `${dir.path}/full` }), "connect()");
  assert.equal(client.state, "connected");
  using two = await within(1000, listener.accept(), "accept()");
  assert.equal(one.state, "connected");
  assert.equal(two.state, "connected");
});

Deno.test("the typed API's recv(), recvInto(), send() and accept() take the signal too", async () => {
  using pair = await typedStreamConnection({
    srvrAddr: { hostname: "127.0.0.1", port: 0 },
  });
  await rejectsWithin(
    pair.srvrS.recv(10, { signal: AbortSignal.timeout(50) }),
    cancelled("ETIMEDOUT", "recv", "connected"),
    "the typed recv()",
  );
  await assert.rejects(
    pair.srvrS.recvInto(new Uint8Array(4), { signal: AbortSignal.abort("x") }),
    cancelled("ECANCELED", "recv", "connected", "x"),
  );
  await assert.rejects(
    pair.clntS.send(encode("x"), { signal: AbortSignal.abort("y") }),
    cancelled("ECANCELED", "send", "connected", "y"),
  );
  const listening = await (await typed(socket({ domain: "inet" })).bind({
    hostname: "127.0.0.1",
    port: 0,
  })).listen();
  try {
    await rejectsWithin(
      listening.accept({ signal: AbortSignal.timeout(50) }),
      cancelled("ETIMEDOUT", "accept", "listening"),
      "the typed accept()",
    );
  } finally {
    listening.close();
  }
  await pair.clntS.send(encode("still"));
  assert.equal(
    decode(await within(1000, pair.srvrS.recv(), "recv()")),
    "still",
  );
});
