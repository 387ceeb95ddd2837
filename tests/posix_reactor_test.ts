// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The posix backend's reactor and libc lifetime: waiting calls share one
 * epoll set and one thread of Deno's pool, libc is resolved once per
 * process and left as no resource, and the reactor holds nothing once its
 * sockets close.
 *
 * The 10,000-connection case needs a descriptor per end: 20,000 and more,
 * beyond one process's hard limit here (20,000). So the posix ends (the
 * accepted sockets, each with a recv() waiting) live in a subprocess whose
 * limit `prlimit` sets, and their peers are `Deno.connect()` connections
 * of the test's own process. Run as a program, this file is that
 * subprocess:
 *
 *     prlimit --nofile=12000 deno run --allow-net=127.0.0.1 --allow-ffi \
 *       --allow-read tests/posix_reactor_test.ts 10000
 *
 * It prints `{"port"}` once it listens, `{"ready"}` once every connection
 * has a recv() waiting and its checks are done, then the summary once its
 * peers have sent one byte to connection `idle / 2` and closed.
 */
import assert from "node:assert/strict";
import { mock } from "node:test";
import { type Socket, socket, streamConnection } from "../mod.ts";
import { libcHolders, processLibc } from "../steps/libc_lease.ts";
import { sysGetsockname } from "../steps/libc.ts";
import { reactorState } from "../steps/posix_reactor.ts";
import { fdLimit, openFds, raiseFdLimit } from "../tools/_fds.ts";
import { canRunDeno, runDenoTest } from "./_child.ts";
import { settlesWithin, within } from "./_net.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
/** How long a call that loopback answers at once may take under load. */
const PROMPT_MS = 2000;
const IDLE = 10_000;
const CHILD_MS = 240_000;

/** `count` connected posix pairs, the accepted end of each first. */
async function pairs(count: number): Promise<[Socket, Socket][]> {
  const listener = socket({ domain: "inet", backend: "posix" });
  try {
    await listener.bind(LOOPBACK);
    await listener.listen();
    const addr = listener.getsockname();
    const made: [Socket, Socket][] = [];
    for (let i = 0; i < count; i++) {
      const client = socket({ domain: "inet", backend: "posix" });
      const accepting = listener.accept();
      await client.connect(addr);
      made.push([await accepting, client]);
    }
    return made;
  } finally {
    listener.close();
  }
}

/** What the process can still do while `waiting` recv() calls wait. */
async function stillPrompt(): Promise<Record<string, number>> {
  const took: Record<string, number> = {};
  const time = async (what: string, call: () => Promise<unknown>) => {
    const start = performance.now();
    await within(PROMPT_MS, call(), what);
    took[what] = Math.round(performance.now() - start);
  };
  const self = new URL(import.meta.url).pathname;
  await time("Deno.stat()", () => Deno.stat(self));
  await time("Deno.readTextFile()", () => Deno.readTextFile(self));
  await time("a new posix connection, and data both ways", async () => {
    using pair = await streamConnection({
      srvrAddr: LOOPBACK,
      backend: "posix",
    });
    // The server's recv() waits in the reactor until the client sends.
    const receiving = pair.srvrS.recv();
    await pair.clntS.send(new Uint8Array([1, 2, 3]));
    assert.equal((await receiving).length, 3);
  });
  return took;
}

/** What the subprocess prints last. */
interface Summary {
  idle: number;
  took: Record<string, number>;
  /** Whether the recv() whose peer sent a byte got it. */
  woke: boolean;
  /** How many of the other recv() calls gave end of stream. */
  ends: number;
  reactor: ReturnType<typeof reactorState>;
  holders: number;
  /** Inet sockets open at the end minus before the connections. */
  leaked: number;
}

/** The subprocess: `idle` accepted connections, each with a recv() waiting. */
async function child(idle: number): Promise<void> {
  await stillPrompt();
  const before = inetSockets();
  const listener = socket({ domain: "inet", backend: "posix" });
  await listener.bind(LOOPBACK);
  await listener.listen();
  console.log(JSON.stringify({ port: listener.getsockname().port }));
  const servers: Socket[] = [];
  for (let i = 0; i < idle; i++) servers.push(await listener.accept());
  listener.close();
  const receiving = servers.map((server) => server.recv());
  assert.equal(await settlesWithin(receiving[0], 20), false, "recv() ended");
  assert.equal(reactorState().waiting, idle);
  const took = await stillPrompt();
  console.log(JSON.stringify({ ready: true }));
  const got = await within(60_000, Promise.all(receiving), "the recv()s");
  for (const server of servers) server.close();
  const summary: Summary = {
    idle,
    took,
    woke: got[idle >> 1].length === 1,
    ends: got.filter((data) => data.length === 0).length,
    reactor: reactorState(),
    holders: libcHolders(),
    leaked: inetSockets() - before,
  };
  console.log(JSON.stringify(summary));
}

/**
 * How many inet sockets this process has open: the runtime may open
 * descriptors of its own under load (a unix socket pair, seen here), but
 * every socket of the test's is an inet one, and the reactor's epoll and
 * eventfd descriptors show in `reactorState()`.
 */
function inetSockets(): number {
  const { libc } = processLibc();
  let count = 0;
  for (let fd = 0; fd < fdLimit().soft; fd++) {
    const name = sysGetsockname(libc, fd);
    if (name.ok && name.value !== undefined && "port" in name.value) count++;
  }
  return count;
}

/** The lines a subprocess prints, one at a time. */
async function* lines(stream: ReadableStream<Uint8Array>) {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let end;
    while ((end = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, end);
      rest = rest.slice(end + 1);
    }
  }
}

/**
 * Runs {@linkcode child} under `prlimit` and plays its peers: connects
 * `idle` times, sends a byte on one connection once the child is ready,
 * then closes them all. Or says why it cannot.
 */
async function runChild(idle: number): Promise<Summary | string> {
  const limit = fdLimit();
  if (limit.soft < idle + 500) {
    const why = raiseFdLimit(idle + 500);
    if (why !== undefined) return why;
  }
  let process: Deno.ChildProcess;
  try {
    process = new Deno.Command("prlimit", {
      args: [
        `--nofile=${idle + 2000}`,
        Deno.execPath(),
        "run",
        "--allow-net=127.0.0.1",
        "--allow-ffi",
        "--allow-read",
        new URL(import.meta.url).pathname,
        String(idle),
      ],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(CHILD_MS),
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "prlimit (util-linux) is not installed";
    }
    throw error;
  }
  const errors = new Response(process.stderr).text();
  const out = lines(process.stdout);
  const next = async (what: string) => {
    const line = await within(CHILD_MS, out.next(), what);
    if (line.done) {
      throw new Error(`The subprocess ended before ${what}: ${await errors}`);
    }
    return JSON.parse(line.value);
  };
  const peers: Deno.Conn[] = [];
  try {
    const { port } = await next("it listened");
    for (let i = 0; i < idle; i++) {
      peers.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    await next("every recv() waited");
    await peers[idle >> 1].write(new Uint8Array([7]));
    for (const peer of peers.splice(0)) peer.close();
    const summary = await next("its summary");
    const status = await within(CHILD_MS, process.status, "its exit");
    assert.equal(status.code, 0, await errors);
    return summary as Summary;
  } finally {
    for (const peer of peers) peer.close();
    try {
      process.kill();
    } catch {
      // It has exited.
    }
    await process.status;
    await errors;
    await out.return(undefined);
  }
}

Deno.test({
  name:
    "10,000 idle posix connections with a recv() pending each leave new posix connections, Deno.stat() and Deno.readTextFile() prompt, and close leaving nothing behind",
  ignore: !canRunDeno,
  async fn() {
    const summary = await runChild(IDLE);
    if (typeof summary === "string") {
      console.log(`skipped: ${summary}`);
      return;
    }
    assert.equal(summary.idle, IDLE);
    assert.equal(summary.reactor.watched, 0);
    for (const [what, ms] of Object.entries(summary.took)) {
      assert.ok(ms < PROMPT_MS, `${what} took ${ms} ms`);
    }
    assert.equal(Object.keys(summary.took).length, 3, "a check did not run");
    assert.ok(summary.woke, "the recv() whose peer sent was not woken");
    assert.equal(summary.ends, IDLE - 1, "end of stream for each other recv()");
    assert.deepEqual(summary.reactor, {
      open: false,
      watched: 0,
      waiting: 0,
      running: false,
    });
    assert.equal(summary.holders, 0, "a socket still holds libc");
    assert.equal(summary.leaked, 0, "descriptors left open");
  },
});

Deno.test("100 posix recv() calls waiting at once (more than Deno's pool has threads to spare) leave Deno.stat(), Deno.readTextFile() and a new posix connection prompt", async () => {
  const before = openFds();
  const made = await pairs(100);
  try {
    const receiving = made.map(([server]) => server.recv());
    assert.equal(await settlesWithin(receiving[0], 20), false);
    const state = reactorState();
    assert.equal(state.waiting, 100);
    assert.ok(state.running, "no epoll_wait runs for the waiting calls");
    await stillPrompt();
    for (const [, client] of made) client.close();
    const got = await within(PROMPT_MS, Promise.all(receiving), "recv()s");
    assert.ok(got.every((data) => data.length === 0), "end of stream");
  } finally {
    for (const pair of made) pair.forEach((sock) => sock[Symbol.dispose]());
  }
  assert.deepEqual(reactorState(), {
    open: false,
    watched: 0,
    waiting: 0,
    running: false,
  });
  assert.equal(openFds(), before, "the reactor left a descriptor open");
});

Deno.test("libc is resolved once per process: a hundred posix procedures one after another never call Deno.dlopen()", async () => {
  processLibc();
  const dlopen = mock.method(Deno, "dlopen");
  try {
    for (let i = 0; i < 100; i++) {
      using pair = await streamConnection({
        srvrAddr: LOOPBACK,
        backend: "posix",
      });
      assert.equal(pair.srvrS.state, "connected");
    }
  } finally {
    dlopen.mock.restore();
  }
  assert.equal(dlopen.mock.callCount(), 0, "libc was opened again");
  assert.equal(libcHolders(), 0);
});

Deno.test({
  name:
    "a deno test whose first test makes the process's first posix sockets and waits passes Deno's resource and op sanitizers",
  ignore: !canRunDeno,
  async fn() {
    const child = new URL("./_posix_sanitized_child.ts", import.meta.url);
    const { code, out } = await runDenoTest([
      "--allow-net",
      "--allow-ffi",
      child.pathname,
    ]);
    assert.equal(code, 0, out);
    assert.match(out, /2 passed/);
  },
});

if (import.meta.main) await child(Number(Deno.args[0] ?? IDLE));
