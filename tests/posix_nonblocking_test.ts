// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the posix backend's non-blocking sockets (`O_NONBLOCK`) and of
 * `ready()`, straight on the `SysSocket`: a call that would wait rejects at
 * once (`EAGAIN`; `EINPROGRESS` for a TCP `connect`, whose attempt goes on
 * in the kernel), each later `connect` is one `connect(2)` that reports how
 * the attempt went, and `ready()` is `poll(2)`.
 */
import assert from "node:assert/strict";
import type { InetAddr, SocketAddr } from "../machine/address.ts";
import type { SysSocket } from "../machine/effects.ts";
import { libcHolders } from "../steps/libc_lease.ts";
import { settlesWithin, within } from "./_net.ts";
import {
  bytes,
  closedMeanwhile,
  DOMAINS,
  IP_DOMAINS,
  NEVER,
  PROMPT_MS,
  socketError,
  SysArena,
} from "./_posix.ts";

/** How long a call may take to count as "at once". */
const AT_ONCE_MS = 100;

/** Asserts that `call` rejects like `check`, and within `AT_ONCE_MS`. */
async function rejectsAtOnce(
  call: () => Promise<unknown>,
  check: (error: unknown) => true,
): Promise<void> {
  const start = performance.now();
  await assert.rejects(within(PROMPT_MS, call(), "the call"), check);
  const took = performance.now() - start;
  assert.ok(took < AT_ONCE_MS, `it took ${took.toFixed(0)} ms`);
}

/**
 * Connects a non-blocking `client` as C does: `connect`, then, on
 * `EINPROGRESS`, `ready("write")` and `connect` again, which says 0.
 */
async function connectNonblocking(
  client: SysSocket,
  addr: SocketAddr,
): Promise<void> {
  try {
    await client.connect(addr, NEVER);
    return;
  } catch (error) {
    socketError("EINPROGRESS", "connect")(error);
  }
  await within(PROMPT_MS, client.ready("write", undefined), "ready()");
  await client.connect(addr, NEVER);
}

/** A connected pair of non-blocking stream sockets. */
async function nonblockingPair(
  arena: SysArena,
): Promise<{ client: SysSocket; peer: SysSocket }> {
  const server = await arena.listener(undefined, true);
  const client = arena.socket("stream", true);
  await connectNonblocking(client, server.local!);
  await within(PROMPT_MS, server.ready("read", undefined), "ready()");
  const peer = arena.own(await server.accept());
  return { client, peer };
}

/** A TCP address on loopback where nothing listens (free a moment ago). */
async function deadAddr(arena: SysArena): Promise<SocketAddr> {
  const probe = await arena.bound("stream");
  const dead = probe.local!;
  probe.close();
  return dead;
}

for (const domain of DOMAINS) {
  Deno.test(`accept() on a non-blocking posix ${domain} listener with no connection rejects with EAGAIN at once`, async () => {
    await using arena = await SysArena.open(domain);
    const server = await arena.listener(undefined, true);
    await rejectsAtOnce(() => server.accept(), (error) => {
      socketError("EAGAIN", "accept")(error);
      assert.match((error as Error).message, /non-blocking/);
      return true;
    });
  });

  Deno.test(`a non-blocking posix ${domain} listener accepts non-blocking sockets: read() with nothing to read rejects with EAGAIN at once`, async () => {
    await using arena = await SysArena.open(domain);
    const { client, peer } = await nonblockingPair(arena);
    for (const sock of [client, peer]) {
      await rejectsAtOnce(
        () => sock.read(new Uint8Array(8)),
        socketError("EAGAIN", "recv"),
      );
      await rejectsAtOnce(
        () => sock.readFrom(new Uint8Array(8)),
        socketError("EAGAIN", "recvfrom"),
      );
    }
    await client.write(bytes("now"));
    await within(PROMPT_MS, peer.ready("read", undefined), "ready()");
    assert.equal(await peer.read(new Uint8Array(8)), 3);
  });

  Deno.test(`write() on a non-blocking posix ${domain} socket whose buffers are full rejects with EAGAIN at once`, async () => {
    await using arena = await SysArena.open(domain);
    const { client } = await nonblockingPair(arena);
    const chunk = new Uint8Array(1 << 16);
    let sent = 0;
    // Nobody reads: the buffers fill up well before 256 MiB.
    for (let i = 0; i < 4096; i++) {
      try {
        sent += await client.write(chunk);
      } catch (error) {
        socketError("EAGAIN", "send")(error);
        assert.ok(sent > 0, "nothing was sent");
        await rejectsAtOnce(
          () => client.write(chunk),
          socketError("EAGAIN", "send"),
        );
        return;
      }
    }
    assert.fail(`write() never said EAGAIN (${sent} bytes sent)`);
  });

  Deno.test(`read() on a non-blocking posix ${domain} datagram socket with no datagram rejects with EAGAIN at once`, async () => {
    await using arena = await SysArena.open(domain);
    const sock = await arena.bound("dgram", true);
    await rejectsAtOnce(
      () => sock.read(new Uint8Array(8)),
      socketError("EAGAIN", "recv"),
    );
    const sender = await arena.bound("dgram");
    await sender.writeTo(bytes("dgram"), sock.local!);
    await within(PROMPT_MS, sock.ready("read", undefined), "ready()");
    assert.deepEqual(await sock.readFrom(new Uint8Array(8)), {
      count: 5,
      from: sender.local,
    });
  });

  Deno.test(`ready("read") on a posix ${domain} socket resolves when data arrives, and at once when it is there`, async () => {
    await using arena = await SysArena.open(domain);
    const server = await arena.listener();
    const { client, peer } = await arena.pair(server);
    const ready = peer.ready("read", undefined);
    assert.equal(await settlesWithin(ready, 50), false, "ready() too soon");
    await client.write(bytes("data"));
    await within(PROMPT_MS, ready, "ready()");
    // Still there: the next ready() answers at once.
    assert.equal(await settlesWithin(peer.ready("read", undefined), 0), true);
    assert.equal(await peer.read(new Uint8Array(8)), 4);
  });

  Deno.test(`close() while ready() waits on a posix ${domain} socket rejects it with EBADF at once and leaks nothing`, async () => {
    const holders = libcHolders();
    {
      await using arena = await SysArena.open(domain);
      const sock = await arena.bound("dgram", true);
      const ready = sock.ready("read", undefined);
      assert.equal(await settlesWithin(ready, 30), false, "ready() ended");
      const start = performance.now();
      sock.close();
      await assert.rejects(ready, closedMeanwhile("wait"));
      assert.ok(performance.now() - start < 1000, "close() was not prompt");
      await assert.rejects(
        sock.ready("read", undefined),
        socketError("EBADF", "wait"),
      );
    }
    assert.equal(libcHolders(), holders);
  });

  Deno.test(`ready() on a posix ${domain} socket rejects with EINTR, the signal's reason as cause, when its signal aborts`, async () => {
    await using arena = await SysArena.open(domain);
    const sock = await arena.bound("dgram");
    const stop = new AbortController();
    const ready = sock.ready("read", stop.signal);
    assert.equal(await settlesWithin(ready, 30), false, "ready() ended");
    const reason = new Error("enough");
    stop.abort(reason);
    await assert.rejects(within(PROMPT_MS, ready, "ready()"), (error) => {
      socketError("EINTR", "wait")(error);
      assert.equal((error as Error).cause, reason);
      return true;
    });
    // An aborted signal rejects before any wait, ready or not.
    await assert.rejects(
      sock.ready("write", stop.signal),
      socketError("EINTR", "wait"),
    );
    // The socket waits on: another datagram still wakes a new ready().
    const sender = await arena.bound("dgram");
    await sender.writeTo(bytes("x"), sock.local!);
    await within(PROMPT_MS, sock.ready("read", undefined), "ready()");
  });

  Deno.test(`aborting some of many ready() on a posix ${domain} socket rejects each of them, and leaves the others waiting`, async () => {
    await using arena = await SysArena.open(domain);
    const sock = await arena.bound("dgram");
    const waits = Array.from({ length: 8 }, (_, i) => {
      const stop = new AbortController();
      return { stop, i, ready: sock.ready("read", stop.signal) };
    });
    const [stopped, waiting] = [
      waits.filter(({ i }) => i % 2 === 0),
      waits.filter(({ i }) => i % 2 === 1),
    ];
    for (const { stop } of stopped) stop.abort();
    await Promise.all(stopped.map(({ ready }) =>
      assert.rejects(
        within(PROMPT_MS, ready, "an aborted ready()"),
        socketError("EINTR", "wait"),
      )
    ));
    const others = Promise.all(waiting.map(({ ready }) => ready));
    assert.equal(await settlesWithin(others, 50), false, "woken for nothing");
    const sender = await arena.bound("dgram");
    await sender.writeTo(bytes("x"), sock.local!);
    await within(PROMPT_MS, others, "ready()");
  });
}

for (const domain of IP_DOMAINS) {
  Deno.test(`connect() on a non-blocking posix ${domain} TCP socket rejects with EINPROGRESS, and after ready("write") connect() resolves once, then EISCONN`, async () => {
    await using arena = await SysArena.open(domain);
    const server = await arena.listener();
    const client = arena.socket("stream", true);
    await rejectsAtOnce(
      () => client.connect(server.local!, NEVER),
      socketError("EINPROGRESS", "connect"),
    );
    // The kernel bound the socket when the attempt started.
    assert.ok((client.local as InetAddr).port > 0);
    assert.equal(client.remote, undefined);
    await within(PROMPT_MS, client.ready("write", undefined), "ready()");
    await client.connect(server.local!, NEVER);
    assert.deepEqual(client.remote, server.local);
    assert.equal(client.getOption("SO_ERROR"), null);
    await assert.rejects(
      client.connect(server.local!, NEVER),
      socketError("EISCONN", "connect"),
    );
    const peer = arena.own(await server.accept());
    assert.deepEqual(peer.remote, client.local);
  });

  Deno.test(`connect() again while a non-blocking posix ${domain} attempt is in progress rejects with EALREADY`, async () => {
    await using arena = await SysArena.open(domain);
    // A full queue: the kernel drops the SYN and the attempt goes on.
    const server = await arena.listener(0);
    const first = arena.socket();
    await first.connect(server.local!, NEVER);
    const client = arena.socket("stream", true);
    await assert.rejects(
      client.connect(server.local!, NEVER),
      socketError("EINPROGRESS", "connect"),
    );
    await rejectsAtOnce(
      () => client.connect(server.local!, NEVER),
      socketError("EALREADY", "connect"),
    );
    // Not writable while in progress.
    const stop = new AbortController();
    const writable = client.ready("write", stop.signal);
    assert.equal(await settlesWithin(writable, 50), false, "writable");
    stop.abort();
    await assert.rejects(writable, socketError("EINTR", "wait"));
  });

  Deno.test(`a refused non-blocking posix ${domain} connect() rejects with EINPROGRESS, then the next connect() reports ECONNREFUSED once`, async () => {
    await using arena = await SysArena.open(domain);
    const dead = await deadAddr(arena);
    const client = arena.socket("stream", true);
    // Linux answers EINPROGRESS even on loopback: the RST is handled after.
    await rejectsAtOnce(
      () => client.connect(dead, NEVER),
      socketError("EINPROGRESS", "connect"),
    );
    await within(PROMPT_MS, client.ready("write", undefined), "ready()");
    await assert.rejects(
      client.connect(dead, NEVER),
      socketError("ECONNREFUSED", "connect"),
    );
    // Once: the socket is reset and unbound (getsockname() still shows the
    // old port, but it was given back), so it binds and connects anew.
    await client.bind(arena.addr(), false);
    await assert.rejects(
      client.connect(dead, NEVER),
      socketError("EINPROGRESS", "connect"),
    );
  });

  Deno.test(`a refused non-blocking posix ${domain} connect() leaves ECONNREFUSED in SO_ERROR, once; the next connect() then says ECONNABORTED`, async () => {
    await using arena = await SysArena.open(domain);
    const dead = await deadAddr(arena);
    const client = arena.socket("stream", true);
    await assert.rejects(
      client.connect(dead, NEVER),
      socketError("EINPROGRESS", "connect"),
    );
    await within(PROMPT_MS, client.ready("write", undefined), "ready()");
    assert.equal(client.getOption("SO_ERROR"), "ECONNREFUSED");
    assert.equal(client.getOption("SO_ERROR"), null);
    await assert.rejects(
      client.connect(dead, NEVER),
      socketError("ECONNABORTED", "connect"),
    );
  });
}

Deno.test("connect() on a non-blocking posix unix stream socket connects at once, and to a full backlog rejects with EAGAIN at once", async () => {
  await using arena = await SysArena.open("unix");
  const server = await arena.listener(0);
  const first = arena.socket("stream", true);
  await first.connect(server.local!, NEVER);
  assert.deepEqual(first.remote, server.local);
  const second = arena.socket("stream", true);
  await rejectsAtOnce(() => second.connect(server.local!, NEVER), (error) => {
    socketError("EAGAIN", "connect")(error);
    assert.match((error as Error).message, /backlog is full/);
    return true;
  });
  // Room again: the same socket connects.
  arena.own(await server.accept());
  await second.connect(server.local!, NEVER);
  assert.deepEqual(second.remote, server.local);
});
