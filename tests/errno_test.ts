// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The Deno backend answers as the kernel does: each case runs on the Deno
 * backend and on the posix backend (the kernel's own answer, one libc call
 * per step), and the two must agree.
 */
import assert from "node:assert/strict";
import { type Backend, type Socket, socket, SocketError } from "../mod.ts";
import { freePort, LOOPBACK, settlesWithin, tempDir, within } from "./_net.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const PROMPT_MS = 2000;

/** `"ok"`, or the errno of the `SocketError` the call rejected with. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await within(PROMPT_MS, call, "the call");
    return "ok";
  } catch (error) {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.match(error.message, new RegExp(error.code));
    return error.code;
  }
}

/** What `scenario` answers on each backend, by backend. */
async function onBoth(
  scenario: (backend: Backend) => Promise<string>,
): Promise<Record<Backend, string>> {
  const answers = {} as Record<Backend, string>;
  for (const backend of BACKENDS) answers[backend] = await scenario(backend);
  return answers;
}

for (const domain of ["inet", "inet6"] as const) {
  Deno.test(`connect() to port 0 is ECONNREFUSED on the deno backend, as the kernel answers (${domain})`, async () => {
    const answers = await onBoth(async (backend) => {
      using sock = socket({ domain, backend });
      const code = await outcome(
        sock.connect({ hostname: LOOPBACK[domain], port: 0 }),
      );
      // Refused as any connect: the socket can connect again.
      assert.equal(sock.state, "created");
      return code;
    });
    assert.deepEqual(answers, { deno: "ECONNREFUSED", posix: "ECONNREFUSED" });
  });
}

Deno.test("connect() to port 0 from a bound deno-backend client is ECONNREFUSED, as the kernel answers", async () => {
  const answers = await onBoth(async (backend) => {
    using sock = socket({ domain: "inet", backend });
    await sock.bind({ hostname: LOOPBACK.inet, port: 0 });
    return await outcome(sock.connect({ hostname: LOOPBACK.inet, port: 0 }));
  });
  assert.deepEqual(answers, { deno: "ECONNREFUSED", posix: "ECONNREFUSED" });
});

/** A connected pair whose client (of `backend`) was bound before connect(). */
async function boundClientPair(backend: Backend): Promise<{
  client: Socket<"inet">;
  peer: Socket<"inet">;
  [Symbol.dispose](): void;
}> {
  using server = socket({ domain: "inet", backend: "posix" });
  await server.bind({ hostname: LOOPBACK.inet, port: 0 });
  await server.listen();
  const client = socket({ domain: "inet", backend });
  await client.bind({ hostname: LOOPBACK.inet, port: 0 });
  const accepting = server.accept();
  await within(PROMPT_MS, client.connect(server.getsockname()), "connect()");
  const peer = await within(PROMPT_MS, accepting, "accept()");
  return {
    client,
    peer,
    [Symbol.dispose]() {
      if (client.state !== "closed") client.close();
      if (peer.state !== "closed") peer.close();
    },
  };
}

Deno.test("recv() waiting on a bound deno-backend client rejects EBADF when the socket is closed, as on the posix backend", async () => {
  const answers = await onBoth(async (backend) => {
    using pair = await boundClientPair(backend);
    const receiving = outcome(pair.client.recv());
    assert.equal(await settlesWithin(receiving, 50), false, "recv() waits");
    pair.client.close();
    return await receiving;
  });
  assert.deepEqual(answers, { deno: "EBADF", posix: "EBADF" });
});

Deno.test("send() on a bound deno-backend client whose peer resets meanwhile rejects as the posix backend does (ECONNRESET)", async () => {
  const answers = await onBoth(async (backend) => {
    using pair = await boundClientPair(backend);
    // More than the kernel's buffers hold: the send() waits on the peer.
    const sending = outcome(pair.client.send(new Uint8Array(64 << 20)));
    assert.equal(await settlesWithin(sending, 100), false, "send() waits");
    await pair.peer.setsockopt("SO_LINGER", { onoff: true, linger: 0 });
    pair.peer.close(); // RST
    return await sending;
  });
  assert.ok(
    answers.posix === "ECONNRESET" || answers.posix === "EPIPE",
    `the kernel answered ${answers.posix}`,
  );
  assert.deepEqual(answers, { deno: answers.posix, posix: answers.posix });
});

Deno.test("send() on a bound deno-backend client after the peer's reset arrived rejects as the posix backend does", async () => {
  const answers = await onBoth(async (backend) => {
    using pair = await boundClientPair(backend);
    await pair.peer.setsockopt("SO_LINGER", { onoff: true, linger: 0 });
    pair.peer.close(); // RST
    await new Promise((resolve) => setTimeout(resolve, 100));
    const first = await outcome(
      pair.client.send(new TextEncoder().encode("x")),
    );
    const second = await outcome(
      pair.client.send(new TextEncoder().encode("x")),
    );
    return `${first} ${second}`;
  });
  assert.equal(answers.posix, "ECONNRESET EPIPE");
  assert.deepEqual(answers, { deno: answers.posix, posix: answers.posix });
});

for (const target of ["missing", "stale"] as const) {
  Deno.test(`listen() on a bound unix socket whose connect() failed (${target} target) succeeds on the deno backend, as on the kernel`, async () => {
    await using dir = await tempDir();
    let n = 0;
    const answers = await onBoth(async (backend) => {
      const to = { path: `${dir.path}/${backend}-target.sock` };
      if (target === "stale") {
        // A socket file with nothing behind it: its listener is closed.
        using old = socket({ domain: "unix", backend: "posix" });
        await old.bind(to);
        await old.listen();
      }
      using sock = socket({ domain: "unix", backend });
      const path = `${dir.path}/${backend}-${n++}.sock`;
      await sock.bind({ path });
      const connected = await outcome(sock.connect(to));
      const listened = await outcome(sock.listen());
      // The socket listens at its path: a client gets through.
      using client = socket({ domain: "unix", backend: "posix" });
      const accepting = sock.accept();
      await within(PROMPT_MS, client.connect({ path }), "connect()");
      using _peer = await within(PROMPT_MS, accepting, "accept()");
      return `${connected} ${listened}`;
    });
    const refused = target === "missing" ? "ENOENT" : "ECONNREFUSED";
    assert.deepEqual(answers, {
      deno: `${refused} ok`,
      posix: `${refused} ok`,
    });
  });
}

for (const bound of [false, true]) {
  const client = bound ? "bound client" : "client";
  Deno.test(`unix connect() of a blocking ${client} to a full backlog waits until the listener accepts, on both backends`, async () => {
    await using dir = await tempDir();
    for (const backend of BACKENDS) {
      using listener = socket({ domain: "unix", backend: "posix" });
      const path = `${dir.path}/${backend}-${bound}.sock`;
      await listener.bind({ path });
      await listener.listen(0); // room for one connection
      using first = socket({ domain: "unix", backend: "posix" });
      await within(PROMPT_MS, first.connect({ path }), "first connect()");
      using sock = socket({ domain: "unix", backend });
      if (bound) await sock.bind({ path: `${path}-clnt` });
      const connecting = outcome(sock.connect({ path }));
      assert.equal(
        await settlesWithin(connecting, 150),
        false,
        `${backend}: connect() waits while the backlog is full`,
      );
      using _a = await within(PROMPT_MS, listener.accept(), "accept()");
      using _b = await within(PROMPT_MS, listener.accept(), "accept()");
      assert.equal(await connecting, "ok", backend);
      assert.equal(sock.state, "connected");
    }
  });

  Deno.test(`unix connect() of a blocking ${client} waiting on a full backlog rejects EBADF when closed, on both backends`, async () => {
    await using dir = await tempDir();
    for (const backend of BACKENDS) {
      using listener = socket({ domain: "unix", backend: "posix" });
      const path = `${dir.path}/${backend}-${bound}.sock`;
      await listener.bind({ path });
      await listener.listen(0);
      using first = socket({ domain: "unix", backend: "posix" });
      await within(PROMPT_MS, first.connect({ path }), "first connect()");
      const sock = socket({ domain: "unix", backend });
      if (bound) await sock.bind({ path: `${path}-clnt` });
      const connecting = outcome(sock.connect({ path }));
      assert.equal(await settlesWithin(connecting, 100), false, backend);
      sock.close();
      assert.equal(await connecting, "EBADF", backend);
    }
  });
}

Deno.test("listen(-0) answers as listen(0) on both backends", async () => {
  const answers = await onBoth(async (backend) => {
    const codes = [];
    for (const backlog of [-0, 0]) {
      using sock = socket({ domain: "inet", backend });
      await sock.bind({ hostname: LOOPBACK.inet, port: 0 });
      codes.push(await outcome(sock.listen(backlog)));
      // It listens: a connect() gets through.
      using client = socket({ domain: "inet", backend: "posix" });
      await within(PROMPT_MS, client.connect(sock.getsockname()), "connect");
    }
    return codes.join(" ");
  });
  assert.deepEqual(answers, { deno: "ok ok", posix: "ok ok" });
});

Deno.test("connect() to a port with nothing bound is ECONNREFUSED on both backends, with the state at the call", async () => {
  const port = freePort(LOOPBACK.inet);
  for (const backend of BACKENDS) {
    using sock = socket({ domain: "inet", backend });
    await assert.rejects(
      sock.connect({ hostname: LOOPBACK.inet, port }),
      (error: SocketError) => {
        assert.equal(error.code, "ECONNREFUSED");
        assert.equal(error.state, "created");
        return true;
      },
    );
  }
});
