// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Faults in the middle of a call: a peer that resets or closes the
 * connection, and `close()` while `connect()`, `accept()`, `recv()` or
 * `send()` waits. Each scenario runs on both backends; where the outcome is
 * the kernel's (a reset, an end of stream, a refused connect), the Deno
 * backend's answer is checked against the posix backend's in the same
 * scenario, and the posix backend's against what Linux gives. Every test
 * counts this process's open descriptors before and after, and every wait
 * is bounded.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Domain,
  type Socket,
  socket,
  type SocketAddr,
  SocketError,
  type StreamConnection,
  streamConnection,
} from "../mod.ts";
import { baselineFds, openFds } from "../tools/_fds.ts";
import { LOOPBACK, settlesWithin, tempDir, within } from "./_net.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const DOMAINS = ["inet", "unix"] as const satisfies readonly Domain[];
/** A call that a fault or a close() ends must settle this soon. */
const PROMPT_MS = 1000;
/** Bounds the waits that are not about promptness. */
const LIMIT_MS = 10_000;
/** How long a call must stay pending to count as waiting. */
const WAITING_MS = 200;
const KIB = 1024;

/**
 * Addresses for one test (loopback port 0, or fresh paths in a temporary
 * directory), and this process's descriptor count when it began, checked
 * on dispose once the directory is gone.
 */
async function arena(
  domain: Domain,
): Promise<AsyncDisposable & { addr(): SocketAddr }> {
  const fds = await baselineFds();
  const dir = domain === "unix" ? await tempDir() : undefined;
  let n = 0;
  return {
    addr: () =>
      dir ? { path: `${dir.path}/s${++n}` } : {
        hostname: LOOPBACK[domain as "inet" | "inet6"],
        port: 0,
      },
    async [Symbol.asyncDispose]() {
      await dir?.remove();
      await fdsBackTo(fds);
    },
  };
}

/**
 * Waits (bounded) until this process has `fds` descriptors open again: a
 * backend may release a descriptor a moment after the call that held it
 * settled.
 */
async function fdsBackTo(fds: number): Promise<void> {
  const deadline = performance.now() + PROMPT_MS;
  let now = openFds();
  while (now !== fds && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    now = openFds();
  }
  assert.equal(now, fds, `${now - fds} descriptors leaked`);
}

/** Asserts `error` is our `SocketError` with `code` from `op`. */
function isSocketError(error: unknown, code: string, op: string): true {
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.op, op);
  return true;
}

/**
 * Closes `sock` while its call `op` (`pending`) waits, and checks that the
 * call rejects with `EBADF` promptly.
 */
async function closeDuring(
  sock: Socket,
  pending: Promise<unknown>,
  op: string,
): Promise<void> {
  assert.equal(await settlesWithin(pending, WAITING_MS), false, `${op} waits`);
  sock.close();
  await assert.rejects(
    within(PROMPT_MS, pending, `${op}() after close()`),
    (error) => isSocketError(error, "EBADF", op),
  );
  assert.equal(sock.state, "closed");
}

/**
 * Whether `promise` is still pending after `ms`; unlike `settlesWithin()`,
 * answers as soon as it settles.
 */
async function pendingAfter(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"pending">((resolve) => {
    timer = setTimeout(() => resolve("pending"), ms);
  });
  const settled = promise.then(() => "settled", () => "settled");
  try {
    return await Promise.race([settled, late]) === "pending";
  } finally {
    clearTimeout(timer);
  }
}

/** What a call gave: the errno of its `SocketError`, or its value. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    const value = await within(LIMIT_MS, call, "the call");
    return value instanceof Uint8Array ? `${value.length} bytes` : "ok";
  } catch (error) {
    if (error instanceof SocketError) return error.code;
    throw error;
  }
}

/** A connected pair whose client may be bound first (`clntAddr`). */
function pair(
  backend: Backend,
  srvrAddr: SocketAddr,
  clntAddr?: SocketAddr,
): Promise<StreamConnection> {
  return streamConnection({ srvrAddr, backend, clntAddr: clntAddr ?? null });
}

/** Sends `data` from `from`, then reads it whole at `to`. */
async function transfer(from: Socket, to: Socket, data: Uint8Array) {
  await from.send(data);
  let got = 0;
  while (got < data.length) {
    const chunk = await to.recv(data.length - got);
    assert.ok(chunk.length > 0, "the stream ended early");
    got += chunk.length;
  }
}

/** Resets the connection: `SO_LINGER` 0, then close(). */
async function reset(sock: Socket): Promise<void> {
  await sock.setsockopt("SO_LINGER", { onoff: true, linger: 0 });
  sock.close();
}

/**
 * The kernel's answers when the peer resets mid-transfer, as `receiving`
 * or sending: the call in progress, the next call of the same kind, and
 * the state the socket is then in.
 */
async function resetScenario(
  backend: Backend,
  domain: Domain,
  receiving: boolean,
  bound: boolean,
): Promise<string[]> {
  await using addrs = await arena(domain);
  using conn = await pair(
    backend,
    addrs.addr(),
    bound ? addrs.addr() : undefined,
  );
  const { clntS, srvrS } = conn;
  await transfer(clntS, srvrS, new Uint8Array(KIB).fill(1));
  await transfer(srvrS, clntS, new Uint8Array(KIB).fill(2));
  let pending: Promise<unknown>;
  if (receiving) {
    pending = clntS.recv();
  } else {
    // The peer does not read: the sends fill both buffers, then wait.
    const chunk = new Uint8Array(256 * KIB);
    pending = (async () => {
      for (let i = 0; i < 1024; i++) await clntS.send(chunk);
    })();
  }
  assert.equal(await settlesWithin(pending, WAITING_MS), false, "waits");
  await reset(srvrS);
  const during = await outcome(pending);
  const next = await outcome(
    receiving ? clntS.recv() : clntS.send(new Uint8Array(1)),
  );
  const state = clntS.state;
  clntS.close();
  assert.equal(clntS.state, "closed");
  return [during, next, state];
}

/** What Linux gives in {@linkcode resetScenario}, by domain and call. */
const RESET_EXPECTED: Record<
  (typeof DOMAINS)[number],
  Record<"recv" | "send", string[]>
> = {
  // TCP: the reset is reported once, then the connection is over.
  inet: {
    recv: ["ECONNRESET", "0 bytes", "connected"],
    send: ["ECONNRESET", "EPIPE", "connected"],
  },
  // A unix stream has no reset: a close is an end of stream, and a write
  // to a closed peer is EPIPE.
  unix: {
    recv: ["0 bytes", "0 bytes", "connected"],
    send: ["EPIPE", "EPIPE", "connected"],
  },
};

for (const domain of DOMAINS) {
  for (const call of ["recv", "send"] as const) {
    for (const bound of [false, true]) {
      const client = bound ? "a bound client" : "a client";
      Deno.test(`${call}() on ${client} whose peer resets the connection mid-transfer gives Linux's answer on the posix backend (${domain})`, async () => {
        assert.deepEqual(
          await resetScenario("posix", domain, call === "recv", bound),
          RESET_EXPECTED[domain][call],
        );
      });
      Deno.test({
        name:
          `${call}() on ${client} whose peer resets the connection mid-transfer gives on the deno backend what the posix backend gives (${domain})`,
        async fn() {
          assert.deepEqual(
            await resetScenario("deno", domain, call === "recv", bound),
            await resetScenario("posix", domain, call === "recv", bound),
          );
        },
      });
    }
  }
}

for (const backend of BACKENDS) {
  Deno.test({
    name:
      `the ECONNRESET of a recv() whose peer reset the connection says the socket was connected (${backend} backend)`,
    async fn() {
      await using addrs = await arena("inet");
      using conn = await pair(backend, addrs.addr());
      const receiving = conn.clntS.recv();
      await reset(conn.srvrS);
      await assert.rejects(within(LIMIT_MS, receiving, "recv()"), {
        code: "ECONNRESET",
        state: "connected",
      });
    },
  });

  for (const domain of DOMAINS) {
    const kind = `(${backend} backend, ${domain})`;

    Deno.test(`recv() resolves with end of stream when the peer closes during it ${kind}`, async () => {
      await using addrs = await arena(domain);
      using conn = await pair(backend, addrs.addr());
      await transfer(conn.srvrS, conn.clntS, new Uint8Array(KIB).fill(3));
      const receiving = conn.clntS.recv();
      assert.equal(await settlesWithin(receiving, WAITING_MS), false);
      conn.srvrS.close();
      const got = await within(PROMPT_MS, receiving, "recv() after the close");
      assert.equal(got.length, 0);
      assert.equal(conn.clntS.state, "connected");
      conn.clntS.close();
      assert.equal(conn.clntS.state, "closed");
    });

    Deno.test({
      name:
        `close() during a connect() that waits for a full backlog rejects it with EBADF promptly and leaks nothing ${kind}`,
      async fn() {
        await using addrs = await arena(domain);
        using listener = socket({ domain, backend });
        await listener.bind(addrs.addr());
        await listener.listen(0);
        // Fill the backlog until a connect() waits (one connection on
        // Linux with a backlog of 0; more where the backend ignores it).
        const fillers: Socket[] = [];
        try {
          let connecting: Promise<void> | undefined;
          let client: Socket | undefined;
          for (let i = 0; i < 2048 && connecting === undefined; i++) {
            client = socket({ domain, backend });
            fillers.push(client);
            const attempt = client.connect(listener.getsockname());
            if (await pendingAfter(attempt, WAITING_MS)) connecting = attempt;
            else await attempt;
          }
          assert.ok(connecting && client, "a connect() waits");
          assert.equal(client.state, "connecting");
          client.close();
          await assert.rejects(
            within(PROMPT_MS, connecting, "connect() after close()"),
            (error) => isSocketError(error, "EBADF", "connect"),
          );
          assert.equal(client.state, "closed");
        } finally {
          for (const filler of fillers) {
            if (filler.state !== "closed") filler.close();
          }
        }
      },
    });

    Deno.test(`close() during accept() rejects every pending accept() with EBADF promptly ${kind}`, async () => {
      await using addrs = await arena(domain);
      const listener = socket({ domain, backend });
      await listener.bind(addrs.addr());
      await listener.listen();
      const accepting = [listener.accept(), listener.accept()];
      assert.equal(await settlesWithin(accepting[0], WAITING_MS), false);
      listener.close();
      const settled = await within(
        PROMPT_MS,
        Promise.allSettled(accepting),
        "accept() after close()",
      );
      for (const result of settled) {
        assert.equal(result.status, "rejected");
        isSocketError(result.reason, "EBADF", "accept");
      }
      assert.equal(listener.state, "closed");
    });

    Deno.test(`a listener closed during accept() refuses connections afterwards, as the posix backend does ${kind}`, async () => {
      const refusedAfterClose = async (backend: Backend) => {
        await using addrs = await arena(domain);
        const listener = socket({ domain, backend });
        await listener.bind(addrs.addr());
        await listener.listen();
        const addr = listener.getsockname();
        const accepting = listener.accept();
        assert.equal(await settlesWithin(accepting, WAITING_MS), false);
        listener.close();
        const accepted = await outcome(accepting);
        using client = socket({ domain, backend });
        return [accepted, await outcome(client.connect(addr)), client.state];
      };
      const kernel = await refusedAfterClose("posix");
      assert.deepEqual(kernel, ["EBADF", "ECONNREFUSED", "created"]);
      // The Deno backend's unix listener removes its socket file on close
      // (Deno does; the README's table of differences says so): the path
      // is then missing.
      const removesFile = backend === "deno" && domain === "unix";
      assert.deepEqual(
        await refusedAfterClose(backend),
        removesFile ? ["EBADF", "ENOENT", "created"] : kernel,
      );
    });

    for (const bound of [false, true]) {
      const client = bound ? "a bound client" : "a client";
      Deno.test({
        name:
          `close() during recv() on ${client} rejects it with EBADF promptly, and the peer reads end of stream ${kind}`,
        async fn() {
          await using addrs = await arena(domain);
          using conn = await pair(
            backend,
            addrs.addr(),
            bound ? addrs.addr() : undefined,
          );
          await closeDuring(conn.clntS, conn.clntS.recv(), "recv");
          const end = await within(PROMPT_MS, conn.srvrS.recv(), "peer recv()");
          assert.equal(end.length, 0);
        },
      });
    }

    Deno.test(`close() during a large send() to a peer that does not read rejects it with EBADF promptly and leaks nothing ${kind}`, async () => {
      await using addrs = await arena(domain);
      using conn = await pair(backend, addrs.addr());
      const big = new Uint8Array(16 * KIB * KIB);
      await closeDuring(conn.clntS, conn.clntS.send(big), "send");
    });
  }
}
