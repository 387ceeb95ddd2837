// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A PCO that dies: its agent's process killed (`SIGKILL`, through `kill(2)`)
 * in the middle of a procedure, or while calls on its sockets wait. The
 * procedure rejects with a `SocketError` naming the dead PCO and the step,
 * the sockets on the side that survives are closed, every call waiting on
 * the dead PCO's sockets rejects promptly with `EIO` naming it, and every
 * call after at once. Loopback only.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  localPco,
  type Pco,
  processPco,
  SocketError,
  type StateChange,
  streamConnection,
  type StreamRole,
  workerPco,
} from "../mod.ts";
import { within } from "./_net.ts";
import { killNow } from "./_pco.ts";
import { assertAddressFree, redirectConnect, Trace } from "./_procedure.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const WAIT_MS = 10_000;
/** How soon a call waiting on a dead PCO's socket must reject. */
const PROMPT_MS = 2000;
const INET = { hostname: "127.0.0.1", port: 0 };

/** The procedure's failure (it must fail), within `WAIT_MS`. */
async function failureOf(run: Promise<unknown>): Promise<SocketError> {
  const settled = await within(
    WAIT_MS,
    run.then(
      (pair) => {
        (pair as Disposable)[Symbol.dispose]();
        return undefined;
      },
      (error: unknown) => error,
    ),
    "the procedure",
  );
  assert.ok(settled !== undefined, "the procedure did not fail");
  assert.ok(settled instanceof SocketError, `not a SocketError: ${settled}`);
  return settled;
}

/**
 * Asserts that `error` is the procedure's failure at one of `steps`, naming
 * `pco` as the PCO that died and why (a `SIGKILL`).
 */
function assertNamesDeath(
  error: SocketError,
  pco: Pco,
  steps: readonly string[],
): void {
  assert.equal(error.op, "streamConnection");
  assert.equal(error.pco, pco.name, error.message);
  assert.ok(
    error.step !== undefined && steps.includes(error.step),
    `failed at step ${
      JSON.stringify(error.step)
    }, not at ${steps}: ${error.message}`,
  );
  assert.ok(
    error.message.includes(`step "${error.step}"`),
    `the message does not name the step: ${error.message}`,
  );
  assert.ok(
    error.message.includes(`PCO "${pco.name}" died`) &&
      error.message.includes("SIGKILL"),
    `the message does not say the PCO died of SIGKILL: ${error.message}`,
  );
}

/** A tracer that also runs `then` on the first change `when` matches. */
function tracing(
  trace: Trace<StreamRole>,
  when: (role: StreamRole, change: StateChange) => boolean,
  then: () => void,
): (role: StreamRole, change: StateChange) => void {
  let done = false;
  return (role, change) => {
    trace.onTransition(role, change);
    if (!done && when(role, change)) {
      done = true;
      then();
    }
  };
}

/** Asserts that the PCO has ended, and that close() resolves at once. */
async function assertEnded(pco: Pco): Promise<void> {
  assert.equal(pco.ended, true);
  await within(WAIT_MS, pco.close(), `close() of the dead PCO "${pco.name}"`);
  await assert.rejects(pco.socket({ domain: "inet" }), (error: unknown) => {
    assert.ok(error instanceof SocketError);
    assert.equal(error.code, "EIO");
    assert.equal(error.pco, pco.name);
    return true;
  });
}

for (const backend of BACKENDS) {
  for (const survivor of ["local", "worker"] as const) {
    Deno.test(`streamConnection() with the ${backend} backend whose srvr process PCO is killed when the listener reaches "listening" rejects naming that PCO and the step, and closes the client in the ${survivor} PCO`, async () => {
      await using srvr = await processPco({ name: `killed srvr (${backend})` });
      await using clnt = survivor === "local"
        ? localPco("survivor")
        : await workerPco({ name: "survivor" });
      const trace = new Trace<StreamRole>();
      const error = await failureOf(streamConnection({
        srvrAddr: INET,
        srvr,
        clnt,
        backend,
        onTransition: tracing(
          trace,
          (role, { to }) => role === "listener" && to === "listening",
          () => killNow(srvr.pid),
        ),
      }));
      // The client's connect may reach the listener before the kernel has
      // closed it with its process, or not: the failure is at one of these.
      assertNamesDeath(error, srvr, ["connect client", "accept"]);
      trace.assertAllClosed();
      assert.deepEqual(trace.states("client").at(-1), "closed");
      await assertEnded(srvr);
    });
  }

  Deno.test(`streamConnection() with the ${backend} backend whose srvr process PCO is killed while its accept waits rejects at "accept" naming that PCO, and closes the client`, async () => {
    await using srvr = await processPco({
      name: `killed acceptor (${backend})`,
    });
    // The client connects to a decoy, so that the server's accept waits.
    using decoy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const redirect = redirectConnect(backend, decoy.addr.port, false);
    const trace = new Trace<StreamRole>();
    let error;
    try {
      error = await failureOf(streamConnection({
        srvrAddr: INET,
        srvr,
        backend,
        onTransition: tracing(
          trace,
          (role, { to }) => role === "client" && to === "connected",
          () => killNow(srvr.pid),
        ),
      }));
    } finally {
      redirect.restore();
    }
    assertNamesDeath(error, srvr, ["accept"]);
    assert.equal(error.code, "EIO", error.message);
    assert.equal(redirect.count(), 1, "the client did not connect");
    trace.assertAllClosed();
    // The client's connection was closed: the decoy reads end of stream.
    using peer = await within(WAIT_MS, decoy.accept(), "the decoy's accept");
    const got = await within(
      WAIT_MS,
      peer.read(new Uint8Array(1)),
      "the decoy's read",
    );
    assert.equal(got, null, "the client's connection is still open");
    await assertEnded(srvr);
  });
}

Deno.test('streamConnection() whose clnt process PCO is killed when the listener reaches "listening" rejects at "create client socket" naming that PCO, and closes the local listener', async () => {
  await using clnt = await processPco({ name: "killed clnt" });
  const trace = new Trace<StreamRole>();
  const port = (() => {
    using probe = Deno.listen(INET);
    return probe.addr.port;
  })();
  const error = await failureOf(streamConnection({
    srvrAddr: { hostname: "127.0.0.1", port },
    clnt,
    backend: "posix",
    onTransition: tracing(
      trace,
      (role, { to }) => role === "listener" && to === "listening",
      () => killNow(clnt.pid),
    ),
  }));
  assertNamesDeath(error, clnt, ["create client socket"]);
  assert.equal(error.code, "EIO", error.message);
  trace.assertAllClosed();
  assert.deepEqual(trace.roles(), new Set(["listener"]));
  await assertAddressFree({ hostname: "127.0.0.1", port }, "stream", "posix");
  await assertEnded(clnt);
});

Deno.test("calls waiting on the sockets of a killed process PCO reject within 2 s with EIO naming it, calls after reject at once, and the survivor reads end of stream", async () => {
  await using pco = await processPco({ name: "doomed" });
  using pair = await within(
    WAIT_MS,
    streamConnection({ srvrAddr: INET, srvr: pco, backend: "posix" }),
    "streamConnection()",
  );
  using listener = await pco.socket({ domain: "inet6", backend: "deno" });
  await listener.bind({ hostname: "::1", port: 0 });
  await listener.listen();

  const eio = (op: string) => (error: unknown) => {
    assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
    assert.equal(error.code, "EIO", error.message);
    assert.equal(error.op, op);
    assert.equal(error.pco, "doomed");
    assert.match(error.message, /PCO "doomed"/);
    assert.match(error.message, /SIGKILL/);
    return true;
  };
  const receiving = pair.srvrS.recv();
  const accepting = listener.accept();
  const killed = performance.now();
  killNow(pco.pid);
  await within(
    PROMPT_MS,
    Promise.all([
      assert.rejects(receiving, eio("recv")),
      assert.rejects(accepting, eio("accept")),
    ]),
    "the calls waiting on the dead PCO",
  );
  assert.ok(performance.now() - killed < PROMPT_MS);
  assert.equal(pco.ended, true);

  // Every call after rejects at once, without waiting for anything.
  const after = performance.now();
  await assert.rejects(pair.srvrS.send(new Uint8Array(1)), eio("send"));
  await assert.rejects(pair.srvrS.recv(), eio("recv"));
  await assert.rejects(listener.accept(), eio("accept"));
  await assert.rejects(pco.socket({ domain: "inet" }), eio("socket"));
  assert.ok(performance.now() - after < 250, "a call after the death waited");

  // The surviving end sees the connection end with the process.
  const got = await within(PROMPT_MS, pair.clntS.recv(), "the survivor's recv");
  assert.equal(got.length, 0);

  // A procedure refuses the dead PCO before making anything.
  await assert.rejects(
    streamConnection({ srvrAddr: INET, clnt: pco }),
    (error: unknown) => {
      assert.ok(error instanceof SocketError);
      assert.equal(error.code, "EIO");
      assert.equal(error.step, "check arguments");
      assert.match(error.message, /PCO "doomed", which has ended/);
      return true;
    },
  );

  await within(WAIT_MS, pco.close(), "close() of the dead PCO");
  assert.equal(pair.srvrS.state, "closed");
  assert.equal(listener.state, "closed");
});
