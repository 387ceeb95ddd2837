// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The procedures' `signal`: an abort at any step closes every socket the
 * procedure made and rejects with `ECANCELED` (or `ETIMEDOUT`) naming the
 * step; an already-aborted signal is refused before any socket exists; the
 * procedure stops listening to the signal when it ends.
 */
import assert from "node:assert/strict";
import { mock } from "node:test";
import {
  type Backend,
  dgramConnection,
  type DgramConnectionStep,
  genConnection,
  type ProcedureStep,
  socket,
  type SocketAddr,
  type SocketError,
  type SocketState,
  type SocketType,
  type StateChange,
  streamConnection,
  type StreamConnectionStep,
} from "../mod.ts";
import {
  openLibc,
  SOCK_STREAM,
  sysBind,
  sysClose,
  sysGetsockname,
  sysListen,
  sysSocket,
} from "../steps/libc.ts";
import { AF_INET } from "../steps/sockaddr.ts";
import { freePort, LOOPBACK, tempDir, within } from "./_net.ts";
import {
  assertAddressFree,
  assertFdsBack,
  assertProcedureFailedAt,
  openFds,
  redirectConnect,
  Trace,
  watchSockets,
} from "./_procedure.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];
const DOMAINS = ["inet", "inet6", "unix"] as const;

/** How long any one procedure of these tests may take. */
const WAIT_MS = 5000;

/** What makes the test abort its controller, at a known step. */
type Trigger =
  /** In the tracer, when `role` enters `state` (the first time). */
  | { on: "state"; role: string; state: SocketState }
  /** When the procedure makes its `nth` call of `method` on any socket. */
  | { on: "call"; method: "setsockopt" | "getsockname"; nth: number }
  /**
   * On a timer, once `role` entered `state`: for a step that waits (the
   * client's connect is sent elsewhere, so the accept never completes).
   */
  | { on: "wait"; role: string; state: SocketState };

interface StepCase<S extends ProcedureStep> {
  step: S;
  trigger: Trigger;
  /** The state of the step's socket when the signal aborts. */
  state: SocketState;
  /** Only where the server has a port (inet, inet6). */
  ipOnly?: boolean;
}

/** What the trigger says, for a test's name. */
function describeTrigger(trigger: Trigger): string {
  switch (trigger.on) {
    case "state":
      return `when the ${trigger.role} enters "${trigger.state}"`;
    case "call":
      return `at its call ${trigger.nth} of ${trigger.method}()`;
    case "wait":
      return `while the accept waits (the client's connect sent elsewhere)`;
  }
}

const STREAM_STEPS: StepCase<StreamConnectionStep>[] = [
  {
    step: "set server options",
    trigger: { on: "call", method: "setsockopt", nth: 1 },
    state: "created",
  },
  {
    step: "bind server",
    trigger: { on: "state", role: "listener", state: "binding" },
    state: "binding",
  },
  {
    step: "get server port",
    trigger: { on: "call", method: "getsockname", nth: 1 },
    state: "bound",
    ipOnly: true,
  },
  {
    step: "listen",
    trigger: { on: "state", role: "listener", state: "opening" },
    state: "opening",
  },
  {
    step: "set client options",
    trigger: { on: "call", method: "setsockopt", nth: 2 },
    state: "created",
  },
  {
    step: "bind client",
    trigger: { on: "state", role: "client", state: "binding" },
    state: "binding",
  },
  {
    step: "connect client",
    trigger: { on: "state", role: "client", state: "connecting" },
    state: "connecting",
  },
  {
    step: "accept",
    trigger: { on: "wait", role: "client", state: "connected" },
    state: "listening",
    ipOnly: true,
  },
  {
    step: "close listener",
    trigger: { on: "state", role: "listener", state: "closed" },
    state: "closed",
  },
];

const DGRAM_STEPS: StepCase<DgramConnectionStep>[] = [
  {
    step: "set server options",
    trigger: { on: "call", method: "setsockopt", nth: 1 },
    state: "created",
  },
  {
    step: "bind server",
    trigger: { on: "state", role: "server", state: "binding" },
    state: "binding",
  },
  {
    step: "get server port",
    trigger: { on: "call", method: "getsockname", nth: 1 },
    state: "bound",
    ipOnly: true,
  },
  {
    step: "set client options",
    trigger: { on: "call", method: "setsockopt", nth: 2 },
    state: "created",
  },
  {
    step: "bind client",
    trigger: { on: "state", role: "client", state: "binding" },
    state: "binding",
  },
  {
    step: "get client address",
    // The server's port is read first, where it has one.
    trigger: { on: "call", method: "getsockname", nth: 0 },
    state: "bound",
  },
  {
    step: "connect client",
    trigger: { on: "state", role: "client", state: "connecting" },
    state: "connecting",
  },
  {
    step: "connect server",
    trigger: { on: "state", role: "server", state: "connecting" },
    state: "connecting",
  },
];

/** The prototype of every sockfsm socket, whatever its backend. */
function socketPrototype(): Record<string, (...args: unknown[]) => unknown> {
  using sock = socket({ domain: "inet" });
  return Object.getPrototypeOf(sock);
}

/**
 * Arms `trigger` for one procedure: returns the tracer to pass (which
 * records into `trace`), the first address `getsockname()` returned (the
 * server's, once it has one), and how to disarm.
 */
function arm(
  trigger: Trigger,
  controller: AbortController,
  reason: unknown,
  trace: Trace<string>,
  nthGetsockname: number,
): {
  onTransition: (role: string, change: StateChange) => void;
  firstName(): SocketAddr | undefined;
  timers: ReturnType<typeof setTimeout>[];
  restore(): void;
} {
  const proto = socketPrototype();
  const names: SocketAddr[] = [];
  const calls = { setsockopt: 0, getsockname: 0 };
  const spies = (["setsockopt", "getsockname"] as const).map((method) => {
    const original = proto[method];
    return mock.method(
      proto,
      method,
      function (this: unknown, ...args: unknown[]) {
        calls[method]++;
        if (trigger.on === "call" && trigger.method === method) {
          const nth = trigger.nth === 0 ? nthGetsockname : trigger.nth;
          if (calls[method] === nth) controller.abort(reason);
        }
        const result = original.apply(this, args);
        if (method === "getsockname") names.push(result as SocketAddr);
        return result;
      },
    );
  });
  const timers: ReturnType<typeof setTimeout>[] = [];
  let fired = false;
  const onTransition = (role: string, change: StateChange) => {
    trace.onTransition(role, change);
    if (fired || trigger.on === "call") return;
    if (role !== trigger.role || change.to !== trigger.state) return;
    fired = true;
    if (trigger.on === "state") controller.abort(reason);
    else timers.push(setTimeout(() => controller.abort(reason), 20));
  };
  return {
    onTransition,
    firstName: () => names[0],
    timers,
    restore: () => spies.forEach((spy) => spy.mock.restore()),
  };
}

/** Asserts a cancellation of `op` at `step`, with its state and cause. */
function assertCancelledAt(
  error: unknown,
  expected: {
    op: string;
    step: ProcedureStep;
    state: SocketState | undefined;
    code?: "ECANCELED" | "ETIMEDOUT";
    cause: unknown;
  },
): true {
  const code = expected.code ?? "ECANCELED";
  assertProcedureFailedAt(error, expected.op, expected.step, code);
  const failure = error as SocketError;
  assert.equal(failure.state, expected.state);
  assert.equal(failure.cause, expected.cause);
  return true;
}

// ------------------------------------------------- an abort at every step

for (const backend of BACKENDS) {
  for (const domain of DOMAINS) {
    for (const c of STREAM_STEPS) {
      if (c.ipOnly && domain === "unix") continue;
      Deno.test(
        `streamConnection() with the ${backend} backend over ${domain}, aborted at step "${c.step}" (${
          describeTrigger(c.trigger)
        }), rejects ECANCELED there, in state "${c.state}", and leaves nothing open`,
        async () => {
          await using dir = domain === "unix" ? await tempDir() : undefined;
          const ip = domain !== "unix";
          const hostname = ip ? LOOPBACK[domain] : "";
          const srvrAddr: SocketAddr = ip
            ? {
              hostname,
              port: c.step === "get server port" ? 0 : freePort(hostname),
            }
            : { path: `${dir!.path}/srvr.sock` };
          const clntAddr: SocketAddr = ip
            ? { hostname, port: 0 }
            : { path: `${dir!.path}/clnt.sock` };
          // For the accept to wait, the client connects to a decoy instead.
          using decoy = c.trigger.on === "wait"
            ? Deno.listen({ hostname, port: 0 })
            : undefined;
          const redirect = decoy &&
            redirectConnect(backend, decoy.addr.port, true);
          const controller = new AbortController();
          const reason = new Error(`stop at ${c.step}`);
          const trace = new Trace<string>();
          const armed = arm(c.trigger, controller, reason, trace, 1);
          const fds = openFds();
          try {
            await assert.rejects(
              within(
                WAIT_MS,
                streamConnection({
                  srvrAddr,
                  clntAddr,
                  backend,
                  srvrOptions: { SO_RCVBUF: 65536 },
                  clntOptions: { SO_RCVBUF: 65536 },
                  signal: controller.signal,
                  onTransition: armed.onTransition,
                }),
                "the aborted streamConnection()",
              ),
              (error) =>
                assertCancelledAt(error, {
                  op: "streamConnection",
                  step: c.step,
                  state: c.state,
                  cause: reason,
                }),
            );
          } finally {
            armed.restore();
            redirect?.restore();
            armed.timers.forEach(clearTimeout);
          }
          trace.assertAllClosed();
          // The listener closes itself at "close listener", before the rest.
          if (c.step !== "close listener") trace.assertClosedInReverse();
          await assertFdsBack(fds);
          const bound = "port" in srvrAddr && srvrAddr.port === 0
            ? armed.firstName()!
            : srvrAddr;
          // After "close listener" the connection existed: its TIME_WAIT
          // holds the port for a bind without SO_REUSEADDR on the listener.
          await assertAddressFree(bound, "stream", backend, {
            bind: c.step !== "close listener" || !("port" in bound),
          });
        },
      );
    }

    for (const c of DGRAM_STEPS) {
      if (c.ipOnly && domain === "unix") continue;
      Deno.test(
        `dgramConnection() with the ${backend} backend over ${domain}, aborted at step "${c.step}" (${
          describeTrigger(c.trigger)
        }), rejects ECANCELED there, in state "${c.state}", and leaves nothing open`,
        async () => {
          await using dir = domain === "unix" ? await tempDir() : undefined;
          const ip = domain !== "unix";
          const hostname = ip ? LOOPBACK[domain] : "";
          const srvrAddr: SocketAddr = ip
            ? {
              hostname,
              port: c.step === "get server port" ? 0 : freePort(hostname),
            }
            : { path: `${dir!.path}/srvr.sock` };
          const controller = new AbortController();
          const reason = new Error(`stop at ${c.step}`);
          const trace = new Trace<string>();
          // The client's address is read after the server's port, if any.
          const clientName = "port" in srvrAddr && srvrAddr.port === 0 ? 2 : 1;
          const armed = arm(c.trigger, controller, reason, trace, clientName);
          const fds = openFds();
          try {
            await assert.rejects(
              within(
                WAIT_MS,
                dgramConnection({
                  srvrAddr,
                  backend,
                  srvrOptions: { SO_RCVBUF: 65536 },
                  clntOptions: { SO_RCVBUF: 65536 },
                  signal: controller.signal,
                  onTransition: armed.onTransition,
                }),
                "the aborted dgramConnection()",
              ),
              (error) =>
                assertCancelledAt(error, {
                  op: "dgramConnection",
                  step: c.step,
                  state: c.state,
                  cause: reason,
                }),
            );
          } finally {
            armed.restore();
          }
          trace.assertAllClosed();
          trace.assertClosedInReverse();
          await assertFdsBack(fds);
          const bound = "port" in srvrAddr && srvrAddr.port === 0
            ? armed.firstName()!
            : srvrAddr;
          await assertAddressFree(bound, "dgram", backend);
          if (dir !== undefined) {
            // The client's path, made up next to the server's, is gone too.
            assert.deepEqual([...Deno.readDirSync(dir.path)], []);
          }
        },
      );
    }
  }
}

// ------------------------------------------------ genConnection passes it on

for (const backend of BACKENDS) {
  for (const type of ["stream", "dgram"] as const satisfies SocketType[]) {
    const op = type === "stream" ? "streamConnection" : "dgramConnection";
    Deno.test(`genConnection() with the ${backend} backend and type "${type}" passes the signal on: aborted at "connect client", it rejects ECANCELED from ${op}() and leaves nothing open`, async () => {
      const controller = new AbortController();
      const trace = new Trace<string>();
      const fds = openFds();
      await assert.rejects(
        within(
          WAIT_MS,
          genConnection({
            type,
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            backend,
            signal: controller.signal,
            onTransition: (role, change) => {
              trace.onTransition(role, change);
              if (role === "client" && change.to === "connecting") {
                controller.abort();
              }
            },
          }),
          "the aborted genConnection()",
        ),
        (error) =>
          assertCancelledAt(error, {
            op,
            step: "connect client",
            state: "connecting",
            cause: controller.signal.reason,
          }),
      );
      trace.assertAllClosed();
      await assertFdsBack(fds);
    });
  }
}

// ------------------------------------------------ a signal aborted already

const PROCEDURES = {
  streamConnection: (signal: AbortSignal, onTransition: () => void) =>
    streamConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      signal,
      onTransition,
    }),
  dgramConnection: (signal: AbortSignal, onTransition: () => void) =>
    dgramConnection({
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      signal,
      onTransition,
    }),
  genConnection: (signal: AbortSignal, onTransition: () => void) =>
    genConnection({
      type: "dgram",
      srvrAddr: { hostname: "127.0.0.1", port: 0 },
      signal,
      onTransition,
    }),
};

for (const [name, run] of Object.entries(PROCEDURES)) {
  const op = name === "genConnection" ? "dgramConnection" : name;
  for (
    const [what, reason, code] of [
      ["an aborted signal", new Error("never mind"), "ECANCELED"],
      [
        "a timed-out signal",
        new DOMException("Signal timed out.", "TimeoutError"),
        "ETIMEDOUT",
      ],
    ] as const
  ) {
    Deno.test(`${name}() with ${what} rejects ${code} at "check arguments" before any socket exists`, async () => {
      const watch = watchSockets();
      const changes: unknown[] = [];
      try {
        await assert.rejects(
          run(AbortSignal.abort(reason), () => changes.push(1)),
          (error) =>
            assertCancelledAt(error, {
              op,
              step: "check arguments",
              state: undefined,
              code,
              cause: reason,
            }),
        );
        assert.deepEqual(watch.calls(), [], "a socket was made");
        assert.deepEqual(changes, [], "a socket changed state");
      } finally {
        watch.restore();
      }
    });
  }
}

// ------------------------------------------------------- waits that time out

/**
 * A TCP listener on loopback whose accept queue is full (backlog 0 and one
 * connection queued, never accepted): Linux drops the SYN of any other
 * connect, which then waits (it would retry for about two minutes).
 */
async function fullListener(): Promise<
  { port: number; [Symbol.dispose](): void }
> {
  // Through libc of its own, so that the posix backend's libc stays closed
  // until the test watches it.
  const libc = openLibc();
  const made = sysSocket(libc, AF_INET, SOCK_STREAM, 0);
  assert.ok(made.ok, "socket(2) failed");
  const fd = made.value;
  const close = () => {
    sysClose(libc, fd);
    libc.close();
  };
  try {
    assert.ok(sysBind(libc, fd, { hostname: "127.0.0.1", port: 0 }).ok);
    assert.ok(sysListen(libc, fd, 0).ok);
    const name = sysGetsockname(libc, fd);
    assert.ok(name.ok && name.value !== undefined && "port" in name.value);
    const { port } = name.value;
    const queued = await within(
      WAIT_MS,
      Deno.connect({ hostname: "127.0.0.1", port }),
      "the connect that fills the accept queue",
    );
    return {
      port,
      [Symbol.dispose]() {
        queued.close();
        close();
      },
    };
  } catch (error) {
    close();
    throw error;
  }
}

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6"] as const) {
    Deno.test(`streamConnection() with the ${backend} backend over ${domain} and AbortSignal.timeout(50) rejects ETIMEDOUT at "accept" while the accept waits, and leaves nothing open`, async () => {
      const hostname = LOOPBACK[domain];
      using decoy = Deno.listen({ hostname, port: 0 });
      const redirect = redirectConnect(backend, decoy.addr.port, false);
      const port = freePort(hostname);
      const trace = new Trace<string>();
      const fds = openFds();
      const signal = AbortSignal.timeout(50);
      const started = performance.now();
      try {
        await assert.rejects(
          within(
            WAIT_MS,
            streamConnection({
              srvrAddr: { hostname, port },
              backend,
              signal,
              onTransition: trace.onTransition,
            }),
            "streamConnection() with a timeout",
          ),
          (error) =>
            assertCancelledAt(error, {
              op: "streamConnection",
              step: "accept",
              state: "listening",
              code: "ETIMEDOUT",
              cause: signal.reason,
            }),
        );
      } finally {
        redirect.restore();
      }
      assert.ok(performance.now() - started >= 45, "rejected too early");
      assert.equal(redirect.count(), 1, "the client did not connect");
      trace.assertAllClosed();
      trace.assertClosedInReverse();
      await assertFdsBack(fds);
      // The client's connection was closed: its peer reads end of stream.
      using peer = await within(WAIT_MS, decoy.accept(), "the decoy's accept");
      const got = await within(
        WAIT_MS,
        peer.read(new Uint8Array(1)),
        "the decoy's read",
      );
      assert.equal(got, null, "the client's connection is still open");
      await assertAddressFree({ hostname, port }, "stream", backend);
    });
  }

  Deno.test(`streamConnection() with the ${backend} backend stops a connect that waits (its SYN dropped by a full listener) at once when aborted, rejecting ECANCELED at "connect client"`, async () => {
    using full = await fullListener();
    const redirect = redirectConnect(backend, full.port, false);
    const controller = new AbortController();
    const trace = new Trace<string>();
    const fds = openFds();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abortedAt = 0;
    try {
      await assert.rejects(
        within(
          WAIT_MS,
          streamConnection({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            backend,
            signal: controller.signal,
            onTransition: (role, change) => {
              trace.onTransition(role, change);
              if (role === "client" && change.to === "connecting") {
                // Long enough that the connect is really waiting.
                timer = setTimeout(() => {
                  abortedAt = performance.now();
                  controller.abort();
                }, 300);
              }
            },
          }),
          "the aborted streamConnection()",
        ),
        (error) =>
          assertCancelledAt(error, {
            op: "streamConnection",
            step: "connect client",
            state: "connecting",
            cause: controller.signal.reason,
          }),
      );
    } finally {
      clearTimeout(timer);
      redirect.restore();
    }
    assert.ok(abortedAt > 0, "the connect did not wait for the abort");
    assert.ok(
      performance.now() - abortedAt < 1000,
      "the procedure did not stop at once",
    );
    assert.equal(redirect.count(), 1);
    trace.assertAllClosed();
    trace.assertClosedInReverse();
    await assertFdsBack(fds);
  });
}

for (const backend of BACKENDS) {
  Deno.test(`streamConnection() with the ${backend} backend whose tracer threw while the connect waits still stops at the signal's abort, and rejects with the tracer's error`, async () => {
    using full = await fullListener();
    const redirect = redirectConnect(backend, full.port, false);
    const controller = new AbortController();
    const thrown = new Error("the tracer's");
    const trace = new Trace<string>();
    const fds = openFds();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await assert.rejects(
        within(
          WAIT_MS,
          streamConnection({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            backend,
            signal: controller.signal,
            onTransition: (role, change) => {
              trace.onTransition(role, change);
              if (role === "client" && change.to === "connecting") {
                timer = setTimeout(() => controller.abort(), 200);
                throw thrown;
              }
            },
          }),
          "streamConnection() whose tracer threw",
        ),
        (error) => error === thrown,
      );
    } finally {
      clearTimeout(timer);
      redirect.restore();
    }
    assert.equal(controller.signal.aborted, true);
    trace.assertAllClosed();
    await assertFdsBack(fds);
  });
}

// ------------------------------------------------ one signal, many procedures

Deno.test("streamConnection() and dgramConnection() stop listening to their signal when they end: 10,000 procedures leave no listener on one long-lived signal", async () => {
  const controller = new AbortController();
  const { signal } = controller;
  const live = new Set<unknown>();
  let added = 0;
  const add = mock.method(signal, "addEventListener", function (
    this: AbortSignal,
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: AddEventListenerOptions,
  ) {
    added++;
    live.add(listener);
    return EventTarget.prototype.addEventListener.call(
      this,
      type,
      listener,
      options,
    );
  });
  const remove = mock.method(signal, "removeEventListener", function (
    this: AbortSignal,
    type: string,
    listener: EventListenerOrEventListenerObject,
  ) {
    live.delete(listener);
    return EventTarget.prototype.removeEventListener.call(
      this,
      type,
      listener,
    );
  });
  const fds = openFds();
  try {
    for (let i = 0; i < 9_000; i++) {
      using _pair = await dgramConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        signal,
      });
    }
    for (let i = 0; i < 1_000; i++) {
      using _pair = await streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        signal,
      });
    }
    // A failed procedure stops listening too.
    for (let i = 0; i < 100; i++) {
      await assert.rejects(
        streamConnection({
          srvrAddr: { hostname: "127.0.0.1", port: 0 },
          clntAddr: { hostname: "192.0.2.1", port: 0 }, // not local
          signal,
        }),
        { code: "EADDRNOTAVAIL" },
      );
    }
  } finally {
    add.mock.restore();
    remove.mock.restore();
  }
  assert.equal(added, 10_100);
  assert.equal(live.size, 0, `${live.size} listeners left on the signal`);
  await assertFdsBack(fds);
});
