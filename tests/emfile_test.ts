// Copyright 2026 the sockfsm authors. MIT license.
/**
 * `EMFILE`: the process has no descriptor left. In a subprocess whose
 * descriptor limit is 64 (`prlimit --nofile=64`), this file opens sockets
 * until the calls that need a descriptor fail, checks what each call and
 * `streamConnection()` give at the limit, frees a few descriptors and
 * checks the same calls work again, and prints a JSON summary that the
 * tests below check. Run as a program, this file is that subprocess:
 *
 *     prlimit --nofile=64 deno run --allow-net=127.0.0.1 --allow-ffi \
 *       tests/emfile_test.ts deno|posix
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Socket,
  socket,
  SocketError,
  streamConnection,
} from "../mod.ts";
import { baselineFds, steadyFds } from "../tools/_fds.ts";
import { within } from "./_net.ts";

const LIMIT = 64;
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
/** Bounds the subprocess, which takes about a second. */
const CHILD_MS = 60_000;

/** What a call gave: `"ok"`, or the error's fields. */
type Outcome = "ok" | {
  name: string;
  code?: string;
  op?: string;
  state?: string;
  step?: string;
  message: string;
};

/** What the subprocess prints. */
interface Summary {
  backend: Backend;
  /** The call that failed first while sockets were opened. */
  fill: Outcome;
  /** How many sockets were open (connected) when it failed. */
  held: number;
  /** At the limit. */
  atLimit: {
    socket: Outcome;
    connect: Outcome;
    accept: Outcome;
    streamConnection: Outcome;
  };
  /**
   * `streamConnection()` with `free` descriptors left, and how many
   * sockets could be opened after it failed: all `free` unless it leaked.
   */
  partial: { free: number; outcome: Outcome; reopened: number }[];
  /** After ten descriptors are freed. */
  again: {
    socket: Outcome;
    connect: Outcome;
    accept: Outcome;
    streamConnection: Outcome;
  };
  /** Descriptors open at the end minus at the start. */
  leaked: number;
}

function describe(error: unknown): Outcome {
  if (error instanceof SocketError) {
    const { name, code, op, state, step, message } = error;
    return { name, code, op, state, step, message };
  }
  return { name: (error as Error)?.name ?? "?", message: String(error) };
}

async function attempt(call: () => unknown): Promise<Outcome> {
  try {
    await call();
    return "ok";
  } catch (error) {
    return describe(error);
  }
}

/** The subprocess: prints its {@linkcode Summary} as JSON. */
async function child(backend: Backend): Promise<void> {
  {
    // The runtime opens a few descriptors of its own on first use.
    using _warm = await streamConnection({ srvrAddr: LOOPBACK, backend });
  }
  const fdsBefore = await baselineFds();
  const open: Socket[] = [];
  const make = () => {
    const sock = socket({ domain: "inet", backend });
    open.push(sock);
    return sock;
  };
  const listener = make();
  await listener.bind(LOOPBACK);
  await listener.listen();
  const addr = listener.getsockname();
  // Made before the limit: the posix backend's holds a descriptor, the Deno
  // backend's gets one only when it connects.
  const late = make();
  // Connected before the limit: accept() takes it at the limit.
  await make().connect(addr);

  /**
   * Opens connected sockets until a call fails; returns how many. Bounded,
   * should the limit not hold: the summary then says the fill succeeded.
   */
  const fill = async (): Promise<{ count: number; failed: Outcome }> => {
    for (let count = 0; count < 2 * LIMIT; count++) {
      const failed = await attempt(() => make().connect(addr));
      if (failed !== "ok") return { count, failed };
    }
    return { count: 2 * LIMIT, failed: "ok" };
  };
  const filled = await fill();
  /** Closes `n` of the connected fillers (never the listener or `late`). */
  const free = (n: number) => {
    for (let i = 0; i < n; i++) {
      const at = open.findLastIndex((s) =>
        s !== late && s !== listener && s.state === "connected"
      );
      open[at].close();
      open.splice(at, 1);
    }
  };
  // The failed filler (a socket on the Deno backend, which makes its
  // descriptor at connect) is closed: it holds nothing.
  for (const sock of open) {
    if (sock !== late && sock.state === "created") sock.close();
  }

  const atLimit = {
    socket: await attempt(() => make()),
    connect: await attempt(() => late.connect(addr)),
    accept: await attempt(async () => open.push(await listener.accept())),
    streamConnection: await attempt(() =>
      streamConnection({ srvrAddr: LOOPBACK, backend })
    ),
  };
  const partial: Summary["partial"] = [];
  for (const n of [1, 2]) {
    free(n);
    const outcome = await attempt(async () => {
      using _pair = await streamConnection({ srvrAddr: LOOPBACK, backend });
    });
    const { count } = await fill();
    partial.push({ free: n, outcome, reopened: count });
  }

  free(10);
  const again = {
    socket: await attempt(() => make()),
    connect: await attempt(() =>
      late.state === "connected" ? make().connect(addr) : late.connect(addr)
    ),
    accept: await attempt(async () => open.push(await listener.accept())),
    streamConnection: await attempt(async () => {
      using _pair = await streamConnection({ srvrAddr: LOOPBACK, backend });
    }),
  };
  for (const sock of open) if (sock.state !== "closed") sock.close();
  const summary: Summary = {
    backend,
    fill: filled.failed,
    held: filled.count,
    atLimit,
    partial,
    again,
    leaked: await steadyFds() - fdsBefore,
  };
  console.log(JSON.stringify(summary));
}

/** Runs {@linkcode child} under `prlimit`, or says why it cannot. */
async function runChild(backend: Backend): Promise<Summary | string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), CHILD_MS);
  try {
    const { code, stdout, stderr } = await within(
      CHILD_MS + 1000,
      new Deno.Command("prlimit", {
        args: [
          `--nofile=${LIMIT}:${LIMIT}`,
          Deno.execPath(),
          "run",
          "--allow-net=127.0.0.1",
          "--allow-ffi",
          new URL(import.meta.url).pathname,
          backend,
        ],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
        signal: abort.signal,
      }).output(),
      "the EMFILE subprocess",
    );
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, `the subprocess failed:\n${out}\n${err}`);
    return JSON.parse(out.trim().split("\n").at(-1)!) as Summary;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "prlimit (util-linux) is not installed";
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts `outcome` is our `EMFILE` from `op`. */
function isEmfile(outcome: Outcome, op: string, what: string): void {
  assert.notEqual(outcome, "ok", `${what} succeeded at the limit`);
  if (outcome === "ok") return;
  assert.equal(outcome.name, "SocketError", `${what}: ${outcome.message}`);
  assert.equal(outcome.code, "EMFILE", `${what}: ${outcome.message}`);
  assert.equal(outcome.op, op, what);
  // Our message: the call, then the errno (a procedure names its step).
  assert.match(
    outcome.message,
    /^(streamConnection\(\) failed at step "[^"]+": )?Cannot .*EMFILE/,
    what,
  );
}

/** Where `streamConnection()` fails with `free` descriptors left. */
const STEPS: Record<Backend, Record<number, string>> = {
  // Deno makes a descriptor at listen, connect and accept.
  deno: { 0: "bind server", 1: "connect client", 2: "accept" },
  // libc makes one at socket() and at accept().
  posix: { 0: "create server socket", 1: "create client socket", 2: "accept" },
};

for (const backend of ["deno", "posix"] as const) {
  Deno.test(`socket(), connect(), accept() and streamConnection() fail with EMFILE at the descriptor limit, leak nothing, and work again once descriptors are free (${backend} backend)`, async () => {
    const summary = await runChild(backend);
    if (typeof summary === "string") {
      console.log(`skipped: ${summary}`);
      return;
    }
    // The fill stops at the call that makes a descriptor: socket() on the
    // posix backend, connect() on the Deno backend, which has none before.
    const fillOp = backend === "posix" ? "socket" : "connect";
    isEmfile(summary.fill, fillOp, "the fill");
    assert.ok(summary.held > 20 && summary.held < LIMIT, `${summary.held}`);
    if (backend === "deno" && summary.fill !== "ok") {
      assert.equal(summary.fill.state, "created");
    }

    const { atLimit } = summary;
    if (backend === "posix") {
      isEmfile(atLimit.socket, "socket", "socket()");
      assert.equal(atLimit.connect, "ok", "a made socket needs no more");
    } else {
      assert.equal(atLimit.socket, "ok", "no descriptor before connect()");
      isEmfile(atLimit.connect, "connect", "connect()");
      if (atLimit.connect !== "ok") {
        assert.equal(atLimit.connect.state, "created");
      }
    }
    isEmfile(atLimit.accept, "accept", "accept()");
    if (atLimit.accept !== "ok") {
      assert.equal(atLimit.accept.state, "listening");
    }
    isEmfile(atLimit.streamConnection, "streamConnection", "the procedure");
    if (atLimit.streamConnection !== "ok") {
      assert.equal(atLimit.streamConnection.step, STEPS[backend][0]);
      assert.match(
        atLimit.streamConnection.message,
        new RegExp(
          `^streamConnection\\(\\) failed at step "${
            STEPS[backend][0]
          }": Cannot .*EMFILE`,
        ),
      );
    }
    for (const { free, outcome, reopened } of summary.partial) {
      const what = `the procedure with ${free} free`;
      isEmfile(outcome, "streamConnection", what);
      if (outcome !== "ok") assert.equal(outcome.step, STEPS[backend][free]);
      assert.equal(reopened, free, `${what} leaked ${free - reopened}`);
    }

    assert.deepEqual(summary.again, {
      socket: "ok",
      connect: "ok",
      accept: "ok",
      streamConnection: "ok",
    });
    assert.equal(summary.leaked, 0, "descriptors leaked in the subprocess");
  });
}

if (import.meta.main) {
  const backend = Deno.args[0];
  if (backend !== "deno" && backend !== "posix") {
    console.error("usage: emfile_test.ts deno|posix");
    Deno.exit(2);
  }
  await child(backend);
}
