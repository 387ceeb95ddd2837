// Copyright 2026 the sockfsm authors. MIT license.
/**
 * O_NONBLOCK sockets through the runtime `Socket`, on both backends: a call
 * that would wait answers at once, as `predict(ops, { nonblocking: true })`
 * says, and `wait()` waits for readiness without a busy loop.
 */
import assert from "node:assert/strict";
import { type Backend, type Op, socket, SocketError } from "../mod.ts";
import { freePort, predictHere, settlesWithin, within } from "./_net.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const PROMPT = 2_000;
const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

function model(ops: Op[], type: "stream" | "dgram" = "stream") {
  return predictHere(ops, { nonblocking: true, type });
}

function rejectsWith(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof SocketError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

for (const backend of BACKENDS) {
  Deno.test(`accept() and recv() on a non-blocking socket answer EAGAIN at once when nothing waits, as predict() says (${backend} backend)`, async () => {
    using server = socket({ domain: "inet", backend, nonblocking: true });
    await server.bind(LOOPBACK);
    await server.listen();
    await assert.rejects(
      within(PROMPT, server.accept(), "accept"),
      rejectsWith("EAGAIN"),
    );
    assert.deepEqual(await model(["bind", "listen", "accept"]), [
      "ok",
      "ok",
      "EAGAIN",
    ]);
    using udp = socket({
      domain: "inet",
      type: "dgram",
      backend,
      nonblocking: true,
    });
    await udp.bind(LOOPBACK);
    await assert.rejects(
      within(PROMPT, udp.recv(), "recv"),
      rejectsWith("EAGAIN"),
    );
    assert.deepEqual(await model(["bind", "recv"], "dgram"), ["ok", "EAGAIN"]);
    assert.equal(server.state, "listening");
  });

  Deno.test(`a non-blocking TCP connect() answers EINPROGRESS, then 0 once connected, then EISCONN, as predict() says (${backend} backend)`, async () => {
    using server = socket({ domain: "inet", backend });
    await server.listen();
    using client = socket({ domain: "inet", backend, nonblocking: true });
    const addr = server.getsockname();
    await assert.rejects(client.connect(addr), rejectsWith("EINPROGRESS"));
    assert.equal(client.state, "connected");
    await within(PROMPT, client.wait("write"), "wait(write)");
    await client.connect(addr);
    await assert.rejects(client.connect(addr), rejectsWith("EISCONN"));
    assert.deepEqual(await model(["connect", "connect", "connect"]), [
      "EINPROGRESS",
      "ok",
      "EISCONN",
    ]);
    using peer = await within(PROMPT, server.accept(), "accept");
    await client.send(new Uint8Array([7]));
    assert.deepEqual([...await within(PROMPT, peer.recv(), "recv")], [7]);
  });

  Deno.test(`a refused non-blocking TCP connect() reports ECONNREFUSED once, then the socket connects again (${backend} backend)`, async () => {
    // A port with nothing bound: the kernel refuses.
    const addr = { hostname: "127.0.0.1", port: freePort("127.0.0.1") };
    using client = socket({ domain: "inet", backend, nonblocking: true });
    await assert.rejects(client.connect(addr), rejectsWith("EINPROGRESS"));
    await within(PROMPT, client.wait("write"), "wait(write)");
    await assert.rejects(client.connect(addr), rejectsWith("ECONNREFUSED"));
    assert.equal(client.state, "created");
    assert.deepEqual(await model(["connect_refused", "connect"]), [
      "EINPROGRESS",
      "ECONNREFUSED",
    ]);
  });

  Deno.test(`wait("read") resolves when data arrives, and rejects with EBADF when the socket is closed (${backend} backend)`, async () => {
    using a = socket({ domain: "inet", type: "dgram", backend });
    await a.bind(LOOPBACK);
    using b = socket({ domain: "inet", type: "dgram", backend });
    await b.bind(LOOPBACK);
    const readable = b.wait("read");
    assert.equal(await settlesWithin(readable, 30), false, "ready too early");
    await a.sendto(new Uint8Array([1]), b.getsockname());
    await within(PROMPT, readable, "wait(read)");
    assert.deepEqual([...await b.recv()], [1]);
    const c = socket({ domain: "inet", type: "dgram", backend });
    await c.bind(LOOPBACK);
    const waiting = c.wait("read");
    c.close();
    await assert.rejects(within(PROMPT, waiting, "wait"), rejectsWith("EBADF"));
    await assert.rejects(c.wait("read"), rejectsWith("EBADF"));
  });

  Deno.test(`wait() stops when its signal aborts, with ECANCELED (ETIMEDOUT for a timeout) as every call (${backend} backend)`, async () => {
    using sock = socket({ domain: "inet", type: "dgram", backend });
    await sock.bind(LOOPBACK);
    const abort = new AbortController();
    const waiting = sock.wait("read", { signal: abort.signal });
    const reason = new Error("enough");
    abort.abort(reason);
    await assert.rejects(within(PROMPT, waiting, "wait"), {
      name: "SocketError",
      code: "ECANCELED",
      op: "wait",
      state: "bound",
      cause: reason,
    });
    await assert.rejects(sock.wait("read", { signal: abort.signal }), {
      code: "ECANCELED",
      message:
        "Cannot wait(): ECANCELED, its signal was already aborted, so nothing was done",
    });
    const timedOut = sock.wait("read", { signal: AbortSignal.timeout(20) });
    await assert.rejects(within(PROMPT, timedOut, "wait"), {
      code: "ETIMEDOUT",
      message:
        "Cannot finish wait(): ETIMEDOUT, its signal timed out; nothing was done",
    });
    assert.equal(sock.state, "bound");
  });
}

Deno.test("wait() refuses a readiness other than read or write, and a signal that is not an AbortSignal", async () => {
  using sock = socket({ domain: "inet" });
  await assert.rejects(sock.wait("error" as "read"), rejectsWith("EINVAL"));
  await assert.rejects(
    sock.wait("read", { signal: {} as AbortSignal }),
    rejectsWith("EINVAL"),
  );
  await assert.rejects(
    Promise.try(() => socket({ domain: "inet", nonblocking: 1 as never })),
    rejectsWith("EINVAL"),
  );
});
