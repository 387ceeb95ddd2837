// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Tests of the posix backend's datagram sockets, straight on the
 * `SysSocket`: each call is `sendto(2)`, `recvfrom(2)`, `connect(2)`…, so
 * what the kernel does (a connected socket that hears only its peer, a
 * datagram truncated to the buffer, an empty datagram, a port given back on
 * disconnect) shows through.
 */
import assert from "node:assert/strict";
import type { InetAddr, SocketAddr } from "../machine/address.ts";
import type { SysSocket } from "../machine/effects.ts";
import { libcHolders } from "../steps/libc_lease.ts";
import { LOOPBACK, settlesWithin, within } from "./_net.ts";
import {
  bytes,
  closedMeanwhile,
  decoder,
  DOMAINS,
  IP_DOMAINS,
  NEVER,
  PROMPT_MS,
  socketError,
  SysArena,
} from "./_posix.ts";

/** The next datagram `sock` receives, as text, with its sender. */
async function receive(
  sock: SysSocket,
  size = 64,
): Promise<{ text: string; from: SocketAddr | undefined }> {
  const buffer = new Uint8Array(size);
  const { count, from } = await within(
    PROMPT_MS,
    sock.readFrom(buffer),
    "readFrom()",
  );
  assert.notEqual(count, null, "a datagram socket read end of stream");
  return { text: decoder.decode(buffer.subarray(0, count!)), from };
}

/**
 * An address for a datagram socket to bind to that is not port 0 (the
 * kernel gives back a port it chose on disconnect): a unix path, or a UDP
 * port free a moment ago.
 */
async function chosenAddr(arena: SysArena): Promise<SocketAddr> {
  if (arena.domain === "unix") return arena.addr();
  const probe = await arena.bound("dgram");
  const free = probe.local!;
  probe.close();
  return free;
}

/** Asserts that nothing is ready to read on `sock` for a while. */
async function nothingArrives(sock: SysSocket): Promise<void> {
  const stop = new AbortController();
  const ready = sock.ready("read", stop.signal);
  assert.equal(await settlesWithin(ready, 50), false, "a datagram arrived");
  stop.abort();
  await assert.rejects(ready, socketError("EINTR", "wait"));
}

for (const domain of DOMAINS) {
  Deno.test(`posix ${domain} datagram sockets exchange datagrams with writeTo() and readFrom(), which names the sender`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const b = await arena.bound("dgram");
    assert.equal(await a.writeTo(bytes("ping"), b.local!), 4);
    const ping = await receive(b);
    assert.deepEqual(ping, { text: "ping", from: a.local });
    assert.equal(await b.writeTo(bytes("pong"), ping.from!), 4);
    assert.deepEqual(await receive(a), { text: "pong", from: b.local });
    assert.equal(a.remote, undefined);
  });

  Deno.test(`connect() on a posix ${domain} datagram socket records the peer, and write() and read() need no address`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const b = await arena.bound("dgram");
    await a.connect(b.local!, NEVER);
    assert.deepEqual(a.remote, b.local);
    assert.equal(await a.write(bytes("hello")), 5);
    assert.deepEqual(await receive(b), { text: "hello", from: a.local });
    await b.connect(a.local!, NEVER);
    await b.write(bytes("back"));
    const buffer = new Uint8Array(16);
    assert.equal(await within(PROMPT_MS, a.read(buffer), "read()"), 4);
    assert.equal(decoder.decode(buffer.subarray(0, 4)), "back");
  });

  Deno.test(`a connected posix ${domain} datagram socket receives nothing from a third socket`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const peer = await arena.bound("dgram");
    const stranger = await arena.bound("dgram");
    await a.connect(peer.local!, NEVER);
    if (domain === "unix") {
      // Linux refuses it at the sender: the target is connected elsewhere.
      await assert.rejects(
        stranger.writeTo(bytes("stranger"), a.local!),
        socketError("EPERM", "sendto"),
      );
    } else {
      // UDP sends it; a's kernel drops it for not coming from the peer.
      assert.equal(await stranger.writeTo(bytes("stranger"), a.local!), 8);
    }
    await peer.writeTo(bytes("peer"), a.local!);
    assert.deepEqual(await receive(a), { text: "peer", from: peer.local });
    await nothingArrives(a);
  });

  Deno.test(`read() on a posix ${domain} datagram socket truncates a datagram to the buffer and discards the rest`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const b = await arena.bound("dgram");
    await a.writeTo(bytes("abcdef"), b.local!);
    await a.writeTo(bytes("gh"), b.local!);
    await a.writeTo(bytes("ijklmn"), b.local!);
    const small = new Uint8Array(3);
    assert.equal(await within(PROMPT_MS, b.read(small), "read()"), 3);
    assert.equal(decoder.decode(small), "abc");
    assert.deepEqual(await receive(b), { text: "gh", from: a.local });
    // readFrom() truncates too.
    assert.deepEqual(await receive(b, 4), { text: "ijkl", from: a.local });
  });

  Deno.test(`an empty datagram on a posix ${domain} socket reads as count 0, not end of stream`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const b = await arena.bound("dgram");
    assert.equal(await a.writeTo(new Uint8Array(0), b.local!), 0);
    await a.writeTo(new Uint8Array(0), b.local!);
    const buffer = new Uint8Array(8);
    assert.equal(await within(PROMPT_MS, b.read(buffer), "read()"), 0);
    assert.deepEqual(
      await within(PROMPT_MS, b.readFrom(buffer), "readFrom()"),
      { count: 0, from: a.local },
    );
  });

  Deno.test(`a second connect() on a posix ${domain} datagram socket changes its peer`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const first = await arena.bound("dgram");
    const second = await arena.bound("dgram");
    await a.connect(first.local!, NEVER);
    await a.connect(second.local!, NEVER);
    assert.deepEqual(a.remote, second.local);
    await a.write(bytes("to second"));
    assert.deepEqual(await receive(second), {
      text: "to second",
      from: a.local,
    });
    await second.writeTo(bytes("from second"), a.local!);
    assert.deepEqual(await receive(a), {
      text: "from second",
      from: second.local,
    });
  });

  Deno.test(`disconnect() on a posix ${domain} datagram socket bound to a chosen address forgets the peer, keeps the address, and it hears anyone again`, async () => {
    await using arena = await SysArena.open(domain);
    const chosen = await chosenAddr(arena);
    const a = arena.socket("dgram");
    await a.bind(chosen, false);
    const peer = await arena.bound("dgram");
    const other = await arena.bound("dgram");
    await a.connect(peer.local!, NEVER);
    await a.disconnect();
    assert.equal(a.remote, undefined);
    assert.deepEqual(a.local, chosen);
    await other.writeTo(bytes("anyone"), a.local!);
    assert.deepEqual(await receive(a), { text: "anyone", from: other.local });
    // Without a peer, send(2) has nowhere to go.
    await assert.rejects(
      a.write(bytes("x")),
      socketError(domain === "unix" ? "ENOTCONN" : "EDESTADDRREQ", "send"),
    );
  });

  Deno.test(`a datagram too big for a posix ${domain} socket is refused whole with EMSGSIZE`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const b = await arena.bound("dgram");
    // UDP's limit is 65507 bytes; a unix datagram must fit the send buffer.
    const size = domain === "unix" ? 1 << 20 : 70_000;
    await assert.rejects(
      a.writeTo(new Uint8Array(size), b.local!),
      socketError("EMSGSIZE", "sendto"),
    );
    await a.connect(b.local!, NEVER);
    await assert.rejects(
      a.write(new Uint8Array(size)),
      socketError("EMSGSIZE", "send"),
    );
  });

  Deno.test(`close() while read() waits on a posix ${domain} datagram socket rejects it with EBADF at once and leaks nothing`, async () => {
    const holders = libcHolders();
    {
      await using arena = await SysArena.open(domain);
      const a = await arena.bound("dgram");
      const reading = a.read(new Uint8Array(8));
      const receiving = a.readFrom(new Uint8Array(8));
      assert.equal(await settlesWithin(reading, 30), false, "read() ended");
      const start = performance.now();
      a.close();
      await Promise.all([
        assert.rejects(reading, closedMeanwhile("recv")),
        assert.rejects(receiving, closedMeanwhile("recvfrom")),
      ]);
      assert.ok(performance.now() - start < 1000, "close() was not prompt");
    }
    assert.equal(libcHolders(), holders);
  });
}

for (const domain of IP_DOMAINS) {
  Deno.test(`connect() binds an unbound posix ${domain} UDP socket to a port the kernel picks, and disconnect() gives it back`, async () => {
    await using arena = await SysArena.open(domain);
    const a = arena.socket("dgram");
    const peer = await arena.bound("dgram");
    await a.connect(peer.local!, NEVER);
    const chosen = a.local as InetAddr;
    assert.ok(chosen.port > 0, `port ${chosen.port}`);
    await a.write(bytes("hi"));
    assert.deepEqual(await receive(peer), { text: "hi", from: chosen });

    await a.disconnect();
    assert.equal(a.remote, undefined);
    assert.equal((a.local as InetAddr).port, 0);
    // Sending binds it again, and it hears whoever it gave its address.
    await a.writeTo(bytes("again"), peer.local!);
    const again = await receive(peer);
    assert.equal(again.text, "again");
    assert.ok((again.from as InetAddr).port > 0);
    const other = await arena.bound("dgram");
    await other.writeTo(bytes("anyone"), again.from!);
    assert.deepEqual(await receive(a), { text: "anyone", from: other.local });
  });
}

for (const domain of IP_DOMAINS) {
  Deno.test(`disconnect() on a posix ${domain} UDP socket bound to port 0 gives back the port the kernel chose, keeps the address, and it can bind again`, async () => {
    await using arena = await SysArena.open(domain);
    const a = await arena.bound("dgram");
    const peer = await arena.bound("dgram");
    await a.connect(peer.local!, NEVER);
    await a.disconnect();
    const local = a.local as InetAddr;
    assert.deepEqual(local, { hostname: LOOPBACK[domain], port: 0 });
    // Linux keeps a port only when bind() chose it (SOCK_BINDPORT_LOCK).
    await a.bind(arena.addr(), false);
    assert.ok((a.local as InetAddr).port > 0);
  });
}

// ----------------------------------------------- the same calls on streams

for (const domain of DOMAINS) {
  Deno.test(`readFrom() and writeTo() on a posix ${domain} stream carry data, and recvfrom(2) names no sender`, async () => {
    await using arena = await SysArena.open(domain);
    const server = await arena.listener();
    const { client, peer } = await arena.pair(server);
    if (domain === "unix") {
      // A unix stream takes no address once connected.
      await assert.rejects(
        client.writeTo(bytes("x"), server.local!),
        socketError("EISCONN", "sendto"),
      );
      await client.write(bytes("data"));
    } else {
      // TCP ignores the address.
      assert.equal(await client.writeTo(bytes("data"), arena.addr()), 4);
    }
    const got = await receive(peer);
    assert.equal(got.text, "data");
    // TCP names no sender; nor does a unix stream whose client is unbound.
    assert.equal(got.from, undefined);
    client.close();
    assert.deepEqual(
      await within(PROMPT_MS, peer.readFrom(new Uint8Array(8)), "readFrom()"),
      { count: null, from: undefined },
    );
  });
}
