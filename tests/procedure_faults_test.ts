// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The procedures under faults of their caller: a tracer that throws never
 * leaks a socket or leaves one between states, and options they do not
 * know, or of the wrong kind, are refused before any socket exists.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  dgramConnection,
  genConnection,
  type SocketAddr,
  type SocketState,
  type StateChange,
  streamConnection,
} from "../mod.ts";
import { freePort, LOOPBACK, tempDir, within } from "./_net.ts";
import {
  assertAddressFree,
  assertFdsBack,
  assertRefusedUpFront,
  openFds,
  Trace,
} from "./_procedure.ts";

const BACKENDS = ["deno", "posix"] as const satisfies readonly Backend[];

/** How long any one procedure of these tests may take. */
const WAIT_MS = 5000;

// ------------------------------------------------------ a tracer that throws

for (const backend of BACKENDS) {
  Deno.test(`streamConnection() with the ${backend} backend and a tracer that always throws rejects with the tracer's error 100 times, leaving no descriptor open and nothing listening`, async () => {
    const port = freePort("127.0.0.1");
    const fds = openFds();
    for (let i = 0; i < 100; i++) {
      const boom = new Error("boom");
      await assert.rejects(
        within(
          WAIT_MS,
          streamConnection({
            srvrAddr: { hostname: "127.0.0.1", port },
            backend,
            onTransition() {
              throw boom;
            },
          }),
          "streamConnection() with a throwing tracer",
        ),
        (error) => error === boom,
      );
    }
    await assertFdsBack(fds);
    await assertAddressFree({ hostname: "127.0.0.1", port }, "stream", backend);
  });
}

/** Where a tracer throws: when `role` enters `state` (the first time). */
interface ThrowCase {
  role: string;
  state: SocketState;
  /** The state the step brings the role to (the step completes). */
  then?: SocketState;
  /** The server's port stays in TIME_WAIT: a connection was made. */
  connected?: boolean;
}

const STREAM_THROWS: ThrowCase[] = [
  { role: "listener", state: "binding", then: "bound" },
  { role: "listener", state: "opening", then: "listening" },
  { role: "client", state: "binding", then: "bound" },
  { role: "client", state: "connecting", then: "connected" },
  { role: "accepted", state: "connected", connected: true },
  { role: "listener", state: "closed", connected: true },
];

const DGRAM_THROWS: ThrowCase[] = [
  { role: "server", state: "binding", then: "bound" },
  { role: "client", state: "binding", then: "bound" },
  { role: "client", state: "connecting", then: "connected" },
  { role: "server", state: "connecting", then: "connected" },
];

/**
 * A tracer that records into `trace` and throws `thrown` when the case's
 * role enters its state.
 */
function throwingTracer(
  c: ThrowCase,
  trace: Trace<string>,
  thrown: unknown,
): (role: string, change: StateChange) => void {
  let threw = false;
  return (role, change) => {
    trace.onTransition(role, change);
    if (threw || role !== c.role || change.to !== c.state) return;
    threw = true;
    throw thrown;
  };
}

/** Asserts that the step the tracer threw in went on to its end state. */
function assertStepCompleted(c: ThrowCase, trace: Trace<string>): void {
  if (c.then === undefined) return;
  const states = trace.states(c.role);
  assert.equal(
    states[states.indexOf(c.state) + 1],
    c.then,
    `the ${c.role} did not finish the step: ${states.join(" -> ")}`,
  );
}

for (const backend of BACKENDS) {
  for (const domain of ["inet", "inet6", "unix"] as const) {
    for (const c of STREAM_THROWS) {
      // Over unix the client is left unbound here: it never binds.
      if (c.role === "client" && c.state === "binding" && domain === "unix") {
        continue;
      }
      Deno.test(`streamConnection() with the ${backend} backend over ${domain} and a tracer that throws when the ${c.role} enters "${c.state}" lets the step complete, closes every socket and rejects with the tracer's error unchanged`, async () => {
        await using dir = domain === "unix" ? await tempDir() : undefined;
        const srvrAddr: SocketAddr = domain === "unix"
          ? { path: `${dir!.path}/srvr.sock` }
          : { hostname: LOOPBACK[domain], port: freePort(LOOPBACK[domain]) };
        const clntAddr: SocketAddr | undefined = domain === "unix"
          ? undefined
          : { hostname: LOOPBACK[domain], port: 0 };
        const thrown = { not: "an Error" }; // rejected as it is, unwrapped
        const trace = new Trace<string>();
        const fds = openFds();
        await assert.rejects(
          within(
            WAIT_MS,
            streamConnection({
              srvrAddr,
              clntAddr,
              backend,
              onTransition: throwingTracer(c, trace, thrown),
            }),
            "streamConnection() with a throwing tracer",
          ),
          (error) => error === thrown,
        );
        assertStepCompleted(c, trace);
        trace.assertAllClosed();
        await assertFdsBack(fds);
        await assertAddressFree(srvrAddr, "stream", backend, {
          bind: !c.connected || !("port" in srvrAddr),
        });
      });
    }

    for (const c of DGRAM_THROWS) {
      Deno.test(`dgramConnection() with the ${backend} backend over ${domain} and a tracer that throws when the ${c.role} enters "${c.state}" lets the step complete, closes every socket and rejects with the tracer's error unchanged`, async () => {
        await using dir = domain === "unix" ? await tempDir() : undefined;
        const srvrAddr: SocketAddr = domain === "unix"
          ? { path: `${dir!.path}/srvr.sock` }
          : { hostname: LOOPBACK[domain], port: freePort(LOOPBACK[domain]) };
        const thrown = new TypeError("the tracer's own bug");
        const trace = new Trace<string>();
        const fds = openFds();
        await assert.rejects(
          within(
            WAIT_MS,
            dgramConnection({
              srvrAddr,
              backend,
              onTransition: throwingTracer(c, trace, thrown),
            }),
            "dgramConnection() with a throwing tracer",
          ),
          (error) => error === thrown,
        );
        assertStepCompleted(c, trace);
        trace.assertAllClosed();
        trace.assertClosedInReverse();
        await assertFdsBack(fds);
        await assertAddressFree(srvrAddr, "dgram", backend);
        if (dir !== undefined) {
          // The client's made-up path is removed too.
          assert.deepEqual([...Deno.readDirSync(dir.path)], []);
        }
      });
    }
  }

  Deno.test(`streamConnection() with the ${backend} backend reports the tracer's error, not the failure of a later step, when the tracer threw first`, async () => {
    const thrown = new Error("first");
    const trace = new Trace<string>();
    await assert.rejects(
      streamConnection({
        srvrAddr: { hostname: "127.0.0.1", port: 0 },
        // TEST-NET-1 is not local: "bind client" would fail EADDRNOTAVAIL.
        clntAddr: { hostname: "192.0.2.1", port: 0 },
        backend,
        onTransition: throwingTracer(
          { role: "client", state: "binding" },
          trace,
          thrown,
        ),
      }),
      (error) => error === thrown,
    );
    trace.assertAllClosed();
  });
}

// ------------------------------------------------------------ bad options

const PROCEDURES = {
  streamConnection: {
    run: (options: object) =>
      streamConnection(
        options as Parameters<typeof streamConnection>[0],
      ),
    keys:
      '"srvrAddr", "srvrWild", "clntAddr", "domain", "proto", "backend", "srvrOptions", "clntOptions", "onTransition", "signal", "srvr", "clnt"',
  },
  dgramConnection: {
    run: (options: object) =>
      dgramConnection(options as Parameters<typeof dgramConnection>[0]),
    keys:
      '"srvrAddr", "srvrWild", "clntAddr", "domain", "proto", "backend", "srvrOptions", "clntOptions", "onTransition", "signal", "srvr", "clnt", "clntConnect", "srvrConnect"',
  },
  genConnection: {
    run: (options: object) =>
      genConnection(
        {
          type: "stream",
          ...options,
        } as Parameters<typeof genConnection>[0],
      ),
    keys:
      '"srvrAddr", "srvrWild", "clntAddr", "domain", "proto", "backend", "srvrOptions", "clntOptions", "onTransition", "signal", "srvr", "clnt", "type", "srvrConnect", "clntConnect"',
  },
};

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

for (const [op, { run, keys }] of Object.entries(PROCEDURES)) {
  for (
    const [key, hint] of [
      [
        "timeout",
        "; to bound it, pass signal: AbortSignal.timeout(ms)",
      ],
      ["signall", ""],
    ] as const
  ) {
    Deno.test(`${op}() refuses the unknown option "${key}" with EINVAL, naming it and the options it knows, before any socket exists`, async () => {
      await assertRefusedUpFront(
        (onTransition) =>
          run({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            onTransition,
            [key]: 5000,
          }),
        {
          op,
          code: "EINVAL",
          message: new RegExp(
            `^Cannot create a connection: unknown option "${key}"; the options are ${
              escape(keys)
            }${escape(hint)}$`,
          ),
        },
      );
    });
  }

  for (
    const [what, signal] of [
      ["an object", { aborted: true }],
      ["a string", "abort"],
      ["an AbortController", new AbortController()],
      ["null", null],
    ] as const
  ) {
    Deno.test(`${op}() refuses a signal that is ${what}, not an AbortSignal, with EINVAL before any socket exists`, async () => {
      await assertRefusedUpFront(
        (onTransition) =>
          run({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            onTransition,
            signal,
          }),
        {
          // genConnection() hands them to the procedure it picks.
          op: op === "genConnection" ? "streamConnection" : op,
          code: "EINVAL",
          message: /signal must be an AbortSignal.*got/,
        },
      );
    });
  }

  for (
    const [what, onTransition] of [
      ["a number", 5],
      ["a string", "log"],
      ["null", null],
    ] as const
  ) {
    Deno.test(`${op}() refuses an onTransition that is ${what}, not a function, with EINVAL before any socket exists`, async () => {
      await assertRefusedUpFront(
        () =>
          run({
            srvrAddr: { hostname: "127.0.0.1", port: 0 },
            onTransition,
          }),
        {
          op: op === "genConnection" ? "streamConnection" : op,
          code: "EINVAL",
          message: /onTransition must be a function.*got/,
        },
      );
    });
  }
}

Deno.test('genConnection() of type "dgram" refuses a srvr or clnt that is not a PCO with EINVAL before any socket exists', async () => {
  for (const name of ["srvr", "clnt"]) {
    await assertRefusedUpFront(
      (onTransition) =>
        genConnection({
          type: "dgram",
          srvrAddr: { hostname: "127.0.0.1", port: 0 },
          onTransition,
          [name]: "remote",
        } as never),
      {
        op: "dgramConnection",
        code: "EINVAL",
        message: new RegExp(
          `${name} must be a PCO \\(localPco\\(\\), await workerPco\\(\\), await processPco\\(\\)\\) or "local", got "remote"`,
        ),
      },
    );
  }
});
