// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Calls made while another call on the same socket is in flight. The kernel
 * holds a socket's lock only for the instant of each system call, so a
 * second call sees the socket as it was before the first or after it, data
 * calls are never refused because another call is in flight, and where
 * Linux has an answer for a call that overlaps a blocking one, that answer.
 * Every test runs on both backends, for inet, inet6 and unix.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Domain,
  socket,
  type SocketAddr,
  type SocketError,
  streamConnection,
} from "../mod.ts";
import { LOOPBACK, recvAll, tempDir, within } from "./_net.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const DOMAINS: readonly Domain[] = ["inet", "inet6", "unix"];
/** Bounds every wait of these tests. */
const LIMIT_MS = 20_000;
const MIB = 1024 * 1024;

/** Addresses for one test: loopback port 0, or fresh paths in a temp dir. */
async function addresses(
  domain: Domain,
): Promise<AsyncDisposable & { next(): SocketAddr }> {
  if (domain !== "unix") {
    const hostname = LOOPBACK[domain];
    return {
      next: () => ({ hostname, port: 0 }),
      [Symbol.asyncDispose]() {
        return Promise.resolve();
      },
    };
  }
  const dir = await tempDir();
  let n = 0;
  return {
    next: () => ({ path: `${dir.path}/s${++n}` }),
    [Symbol.asyncDispose]: () => dir.remove(),
  };
}

/** `length` bytes that differ from one offset to the next. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  return bytes;
}

for (const backend of BACKENDS) {
  for (const domain of DOMAINS) {
    const kind = `(${backend} backend, ${domain})`;

    Deno.test(`a reader blocked in recv() while another task sends and shuts down the write side: the peer gets all the data, then end of stream ${kind}`, async () => {
      await using addrs = await addresses(domain);
      using pair = await streamConnection({
        srvrAddr: addrs.next(),
        backend,
      });
      const { srvrS, clntS } = pair;
      const data = pattern(2 * MIB);
      // The peer echoes everything, then ends its own side.
      const echo = (async () => {
        let echoed = 0;
        for (;;) {
          const chunk = await srvrS.recv();
          if (chunk.length === 0) break;
          echoed += chunk.length;
          await srvrS.send(chunk);
        }
        await srvrS.shutdown("write");
        return echoed;
      })();
      const reader = recvAll(clntS);
      const writer = (async () => {
        for (let at = 0; at < data.length; at += 64 * 1024) {
          await clntS.send(data.subarray(at, at + 64 * 1024));
        }
        const shutting = clntS.shutdown("write");
        assert.equal(clntS.state, "shuttingDown");
        // A recv() while shutdown() is in flight is not refused: it shares
        // the echo with the reader.
        const during = clntS.recv(1);
        await shutting;
        return { during };
      })();
      const [echoed, got, { during: probe }] = await within(
        LIMIT_MS,
        Promise.all([echo, reader, writer]),
        "the full-duplex exchange",
      ).catch((error) => {
        pair[Symbol.dispose]();
        throw error;
      });
      assert.equal(echoed, data.length, "the peer got every byte");
      // The reader and the recv() made during shutdown() share the echo.
      const during = await within(
        LIMIT_MS,
        probe,
        "the recv() made during shutdown()",
      );
      assert.ok(during.length <= 1);
      assert.equal(got.length + during.length, data.length);
    });

    Deno.test(`getsockname() during bind() answers as before or after the bind, and listen() during bind() waits for it ${kind}`, async () => {
      await using addrs = await addresses(domain);
      using sock = socket({ domain, backend });
      const binding = sock.bind(addrs.next());
      assert.equal(sock.state, "binding");
      const during = sock.getsockname();
      const listening = sock.listen();
      await within(LIMIT_MS, Promise.all([binding, listening]), "bind+listen");
      assert.equal(sock.state, "listening");
      const after = sock.getsockname();
      const unbound = "path" in after
        ? { path: "" }
        : { hostname: domain === "inet6" ? "::" : "0.0.0.0", port: 0 };
      assert.ok(
        JSON.stringify(during) === JSON.stringify(after) ||
          JSON.stringify(during) === JSON.stringify(unbound),
        `during: ${JSON.stringify(during)}, after: ${JSON.stringify(after)}`,
      );
    });

    Deno.test(`close() while calls wait for bind() rejects them with EBADF and leaks nothing ${kind}`, async () => {
      await using addrs = await addresses(domain);
      const sock = socket({ domain, backend });
      const binding = sock.bind(addrs.next());
      const waiting = [sock.listen(), sock.recv(), sock.accept()];
      sock.close();
      const settled = await within(
        LIMIT_MS,
        Promise.allSettled([binding, ...waiting]),
        "the calls after close()",
      );
      for (const result of settled.slice(1)) {
        assert.equal(result.status, "rejected");
        const error = (result as PromiseRejectedResult).reason;
        assert.equal((error as SocketError).code, "EBADF", String(error));
      }
      assert.equal(sock.state, "closed");
    });

    Deno.test(`two concurrent accept() calls on one listener each get their own connection ${kind}`, async () => {
      await using addrs = await addresses(domain);
      using listener = socket({ domain, backend });
      await listener.bind(addrs.next());
      await listener.listen();
      const accepting = [listener.accept(), listener.accept()];
      using one = socket({ domain, backend });
      using two = socket({ domain, backend });
      if (domain === "unix") {
        // Named clients, so that each accepted socket's peer tells them apart.
        await one.bind(addrs.next());
        await two.bind(addrs.next());
      }
      await within(
        LIMIT_MS,
        Promise.all([
          one.connect(listener.getsockname()),
          two.connect(listener.getsockname()),
        ]),
        "the two connects",
      );
      const accepted = await within(
        LIMIT_MS,
        Promise.all(accepting),
        "the two accepts",
      );
      try {
        const peers = accepted.map((s) => JSON.stringify(s.getpeername()))
          .sort();
        const clients = [one, two].map((s) => JSON.stringify(s.getsockname()))
          .sort();
        assert.deepEqual(peers, clients);
      } finally {
        for (const s of accepted) s.close();
      }
    });

    Deno.test(`two concurrent 8 MiB send() calls arrive unmixed, in the order of the calls ${kind}`, async () => {
      await using addrs = await addresses(domain);
      using pair = await streamConnection({
        srvrAddr: addrs.next(),
        backend,
      });
      const { srvrS, clntS } = pair;
      const first = new Uint8Array(8 * MIB).fill(0xaa);
      const second = new Uint8Array(8 * MIB).fill(0xbb);
      const received = recvAll(srvrS);
      const sends = Promise.all([clntS.send(first), clntS.send(second)]);
      const sent = await within(LIMIT_MS, sends, "the two sends").catch(
        (error) => {
          pair[Symbol.dispose]();
          throw error;
        },
      );
      assert.deepEqual(sent, [first.length, second.length]);
      await clntS.shutdown("write");
      const got = await within(LIMIT_MS, received, "reading 16 MiB");
      assert.equal(got.length, 16 * MIB);
      const firstWrong = got.subarray(0, 8 * MIB).findIndex((b) => b !== 0xaa);
      const secondWrong = got.subarray(8 * MIB).findIndex((b) => b !== 0xbb);
      assert.equal(firstWrong, -1, "the first send's bytes come first, whole");
      assert.equal(secondWrong, -1, "then the second send's, whole");
    });

    Deno.test(`send(), recv() and a second connect() during connect() wait for it (TCP's second connect() resolves with it, unix's is then EISCONN), and listen() is EINVAL ${kind}`, async () => {
      await using addrs = await addresses(domain);
      using listener = socket({ domain, backend });
      await listener.bind(addrs.next());
      await listener.listen();
      using client = socket({ domain, backend });
      const accepting = listener.accept();
      const connecting = client.connect(listener.getsockname());
      assert.equal(client.state, "connecting");
      const sending = client.send(new Uint8Array([7]));
      const receiving = client.recv(1);
      // As Linux's blocking connect(2): a TCP one shares the attempt's
      // outcome; a unix one is answered by the connection it waited for.
      const again = client.connect(listener.getsockname()).then(
        () => "ok",
        (error: SocketError) => error.code,
      );
      await assert.rejects(
        client.listen(),
        (error: SocketError) => error.code === "EINVAL",
      );
      await within(LIMIT_MS, connecting, "connect");
      assert.equal(
        await within(LIMIT_MS, again, "the second connect"),
        domain === "unix" ? "EISCONN" : "ok",
      );
      using peer = await within(LIMIT_MS, accepting, "accept");
      assert.equal(await within(LIMIT_MS, sending, "send"), 1);
      assert.deepEqual(await peer.recv(1), new Uint8Array([7]));
      await peer.send(new Uint8Array([9]));
      assert.deepEqual(
        await within(LIMIT_MS, receiving, "recv"),
        new Uint8Array([9]),
      );
    });
  }
}

for (const backend of BACKENDS) {
  Deno.test(`concurrent recv() calls on a ${backend} stream socket receive in the order they were made, an aborted one giving its turn on`, async () => {
    using pair = await streamConnection({
      srvrAddr: { hostname: LOOPBACK.inet, port: 0 },
      backend,
    });
    const { srvrS, clntS } = pair;
    const stop = new AbortController();
    const first = srvrS.recv();
    const aborted = srvrS.recv(16, { signal: stop.signal });
    const third = srvrS.recv();
    stop.abort();
    await assert.rejects(within(LIMIT_MS, aborted, "the aborted recv()"), {
      code: "ECANCELED",
    });
    const text = new TextDecoder();
    for (
      const [name, pending] of [["first", first], ["third", third]] as const
    ) {
      await clntS.send(new TextEncoder().encode(name));
      const got = await within(LIMIT_MS, pending, `the ${name} recv()`);
      assert.equal(text.decode(got), name);
    }
  });
}
