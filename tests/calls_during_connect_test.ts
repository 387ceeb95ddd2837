// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Calls made while a TCP socket's blocking `connect()` waits, as Linux
 * answers them and as sockfsm does. The kernel's side: child processes take
 * the same socket (`pidfd_getfd(2)`, as threads would share it) and each
 * makes a blocking `connect(2)` towards a listener whose queue is full, so
 * the first SYN is dropped; then the test frees a place (the retransmitted
 * SYN, about 1 s in, connects), closes the listener (it is reset), or
 * shuts the socket down or disconnects it (`connect(AF_UNSPEC)`), which
 * ends the attempt. sockfsm's side: the same stories with `connect()`s of
 * one socket, on each backend. The machine says a second `connect()` joins
 * the attempt (`meta: { waits, joins }`) and a `shutdown()` or
 * `disconnect()` stops it (`meta: { stops }`); the answers must be Linux's.
 */
import assert from "node:assert/strict";
import {
  type Backend,
  type Pco,
  processPco,
  type Socket,
  socket,
  type SocketError,
  workerPco,
} from "../mod.ts";
import { SocketGraph } from "../machine/graph.ts";
import { type SocketEvent, socketMachine } from "../machine/socket_machine.ts";
import {
  AF_INET,
  type Libc,
  openLibc,
  SHUT_WR,
  SO_ERROR,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  SOL_SOCKET,
  sysAccept4,
  sysBind,
  sysClose,
  sysConnect,
  sysConnectUnspec,
  sysGetsockname,
  sysGetsockoptInt,
  sysListen,
  sysShutdown,
  sysSocket,
} from "../steps/libc.ts";
import { errnoName } from "../machine/errno.ts";
import type { SocketAddr } from "../machine/address.ts";
import { canRunDeno, NO_RUN } from "./_child.ts";
import { within } from "./_net.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const WAITER = new URL("./_connect_waiter.ts", import.meta.url).pathname;
/** Long enough for the SYN retransmitted about 1 s in, and its answer. */
const SETTLE_MS = 10_000;

/**
 * What happens while the connect()s wait: the listener frees a place (the
 * next SYN connects) or goes (the next SYN is reset), with two connect()s
 * waiting; or, with one waiting, the socket's own `shutdown(SHUT_WR)` or
 * `connect(AF_UNSPEC)`.
 */
type Story = "connects" | "refused" | "shutdown" | "disconnect";

/** What a story's calls answered: `"0"` or the errno, and `SO_ERROR`. */
interface Answers {
  /** The waiting connect()s' answers, sorted. */
  readonly connects: readonly string[];
  /** The story's own call (`shutdown`, `disconnect`), if it has one. */
  readonly own?: string;
  /** `SO_ERROR` afterwards: an errno, or `"none"`. */
  readonly pending: string;
}

/** How many connect()s wait in `story`. */
function waitersOf(story: Story): number {
  return story === "connects" || story === "refused" ? 2 : 1;
}

/** A value of a call that must succeed. */
function must<T>(
  result: { ok: true; value: T } | { ok: false; errno: unknown },
): T {
  if (!result.ok) throw new Error(`a libc call failed: ${result.errno}`);
  return result.value;
}

/** A child making a blocking connect(2) on this process's socket `fd`. */
interface Waiter extends AsyncDisposable {
  /** Resolves once the child holds the socket and is about to connect. */
  readonly ready: Promise<void>;
  /** The kernel's answer to its connect(2): `"0"` or the errno. */
  readonly answer: Promise<string>;
  /** Whether it has answered yet. */
  answered: boolean;
}

/** Starts a child that connects this process's socket `fd` to `addr`. */
function startWaiter(fd: number, addr: { hostname: string; port: number }) {
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-ffi",
      WAITER,
      String(Deno.pid),
      String(fd),
      addr.hostname,
      String(addr.port),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        return JSON.parse(line);
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("the waiter ended without answering");
      buffered += value;
    }
  };
  const ready = next().then((said) => {
    if (said.unavailable !== undefined) {
      throw new Error(`the waiter cannot take the socket: ${said.unavailable}`);
    }
  });
  const waiter: Waiter = {
    ready,
    answer: ready.then(next).then((said) => {
      waiter.answered = true;
      return String(said.answer);
    }),
    answered: false,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has ended.
      }
      waiter.answer.catch(() => {});
      await lines.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await child.status;
    },
  };
  return waiter;
}

/**
 * A TCP listener on 127.0.0.1 whose queue holds one connection, full. Its
 * sockets are close-on-exec: a child holding the listener would keep it
 * listening after the test closed it.
 */
function fullLibcListener(libc: Libc) {
  const listener = must(
    sysSocket(libc, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
  );
  must(sysBind(libc, listener, { hostname: "127.0.0.1", port: 0 }));
  must(sysListen(libc, listener, 0));
  const addr = must(sysGetsockname(libc, listener)) as {
    hostname: string;
    port: number;
  };
  const first = must(sysSocket(libc, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  must(sysConnect(libc, first, addr));
  return { listener, first, addr };
}

/** What Linux answers in `story`: blocking connect(2)s in child processes. */
async function kernelAnswers(story: Story): Promise<Answers> {
  using libc = openLibc();
  const { listener, first, addr } = fullLibcListener(libc);
  const client = must(sysSocket(libc, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  let listening = true;
  const waiters: Waiter[] = [];
  try {
    for (let i = 0; i < waitersOf(story); i++) {
      const waiter = startWaiter(client, addr);
      waiters.push(waiter);
      await within(30_000, waiter.ready, `waiter ${i + 1} to start`);
    }
    // Each is inside connect(2), and none has an answer.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(waiters.every((w) => !w.answered), "the connect(2)s wait");
    let own: string | undefined;
    if (story === "connects") {
      sysClose(libc, must(sysAccept4(libc, listener, 0)));
    } else if (story === "refused") {
      sysClose(libc, listener);
      listening = false;
    } else {
      const done = story === "shutdown"
        ? sysShutdown(libc, client, SHUT_WR)
        : sysConnectUnspec(libc, client);
      own = done.ok ? "0" : String(done.errno);
    }
    const connects = await within(
      SETTLE_MS,
      Promise.all(waiters.map((w) => w.answer)),
      "the connect(2)s",
    );
    const error = must(sysGetsockoptInt(libc, client, SOL_SOCKET, SO_ERROR));
    return {
      connects: connects.sort(),
      ...(own !== undefined && { own }),
      pending: error === 0 ? "none" : errnoName(error) ?? String(error),
    };
  } finally {
    for (const waiter of waiters) await waiter[Symbol.asyncDispose]();
    sysClose(libc, client);
    sysClose(libc, first);
    if (listening) sysClose(libc, listener);
  }
}

/** What sockfsm answers in `story`, with a `backend` socket; its state. */
async function sockfsmAnswers(
  backend: Backend,
  story: Story,
  pco?: Pco,
): Promise<Answers & { readonly state: string }> {
  const listener = socket({ domain: "inet", backend: "posix" });
  const first = socket({ domain: "inet", backend });
  using client = pco === undefined
    ? socket({ domain: "inet", backend })
    : await pco.socket({ domain: "inet", backend });
  const accepted: Socket[] = [];
  const answerOf = (call: Promise<unknown>) =>
    call.then(() => "0", (error: SocketError) => error.code);
  try {
    await listener.bind({ hostname: "127.0.0.1", port: 0 });
    await listener.listen(0);
    const addr: SocketAddr = listener.getsockname();
    await first.connect(addr);
    let answered = 0;
    const calls: Promise<string>[] = [];
    for (let i = 0; i < waitersOf(story); i++) {
      calls.push(answerOf(client.connect(addr)).finally(() => answered++));
      assert.equal(client.state, "connecting");
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(answered, 0, "the connect()s wait for the attempt");
    let own: string | undefined;
    if (story === "connects") accepted.push(await listener.accept());
    else if (story === "refused") listener.close();
    else {
      own = await within(
        1000,
        answerOf(
          story === "shutdown" ? client.shutdown("write") : client.disconnect(),
        ),
        `${story}()`,
      );
    }
    const connects = await within(SETTLE_MS, Promise.all(calls), "connect()s");
    const error = await client.getsockopt("SO_ERROR");
    return {
      connects: connects.sort(),
      ...(own !== undefined && { own }),
      pending: error ?? "none",
      state: client.state,
    };
  } finally {
    for (const sock of accepted) sock.close();
    first.close();
    listener[Symbol.dispose]();
  }
}

Deno.test("the machine makes a TCP connect() during another's attempt join it and a TCP shutdown() or disconnect() stop it; a datagram or unix socket's wait for it", () => {
  const graph = new SocketGraph(socketMachine);
  for (const domain of ["inet", "inet6", "unix"] as const) {
    for (const type of ["stream", "dgram"] as const) {
      const start = graph.start({ domain, type });
      const connect = { type: "CONNECT", family: domain } as const;
      const first = graph.step(start, connect);
      assert.ok(first.allowed);
      assert.equal(first.next.state, "connecting");
      const second = graph.step(first.next, connect);
      assert.ok(!second.allowed && second.waits, `${domain} ${type} waits`);
      const tcp = domain !== "unix" && type === "stream";
      assert.equal(second.joins === true, tcp, `${domain} ${type}: joins`);
      const stops = (event: SocketEvent) => {
        const step = graph.step(first.next, event);
        if (!step.allowed) return step.waits ? "waits" : step.errno;
        assert.equal(step.next.state, "connecting", "the attempt settles it");
        return `stops: ${step.stops}, pending: ${step.next.facts.error}`;
      };
      assert.deepEqual(
        [
          stops({ type: "SHUTDOWN", how: "write" }),
          stops({ type: "DISCONNECT" }),
        ],
        tcp
          ? [
            "stops: ECONNRESET, pending: undefined",
            "stops: EPIPE, pending: ECONNRESET",
          ]
          : [
            "waits",
            // Linux refuses AF_UNSPEC on a unix stream socket at once.
            domain === "unix" && type === "stream" ? "EINVAL" : "waits",
          ],
        `${domain} ${type}`,
      );
    }
  }
});

/** Linux's answers in `story`, then sockfsm's on each backend: the same. */
async function sameAsLinux(
  story: Story,
  expected: Answers,
  state: string,
): Promise<void> {
  assert.deepEqual(await kernelAnswers(story), expected, "Linux");
  for (const backend of BACKENDS) {
    const { state: after, ...answers } = await sockfsmAnswers(backend, story);
    assert.deepEqual(answers, expected, backend);
    assert.equal(after, state, `${backend}: the state after`);
  }
}

Deno.test({
  name:
    "Linux answers two blocking TCP connect()s of one socket 0 each once its attempt connects, and sockfsm's two connect()s resolve as well, on both backends",
  ignore: !canRunDeno,
  fn: () =>
    sameAsLinux(
      "connects",
      { connects: ["0", "0"], pending: "none" },
      "connected",
    ),
});

Deno.test({
  name:
    "when the attempt two blocking TCP connect()s wait for is refused, Linux gives one ECONNREFUSED and the other EPIPE; so does sockfsm, the first connect() taking the error, on both backends",
  ignore: !canRunDeno,
  fn: () =>
    sameAsLinux(
      "refused",
      { connects: ["ECONNREFUSED", "EPIPE"], pending: "none" },
      "created",
    ),
});

Deno.test({
  name:
    "shutdown() of a TCP socket whose blocking connect() waits disconnects it: 0, and the connect() fails ECONNRESET with no error left pending, in Linux and in sockfsm on both backends",
  ignore: !canRunDeno,
  fn: () =>
    sameAsLinux(
      "shutdown",
      { connects: ["ECONNRESET"], own: "0", pending: "none" },
      "created",
    ),
});

Deno.test({
  name:
    "connect(AF_UNSPEC) of a TCP socket whose blocking connect() waits disconnects it: 0, and the connect() fails EPIPE with ECONNRESET left pending, in Linux and in sockfsm on both backends",
  ignore: !canRunDeno,
  fn: () =>
    sameAsLinux(
      "disconnect",
      { connects: ["EPIPE"], own: "0", pending: "ECONNRESET" },
      "created",
    ),
});

Deno.test("close() while two connect()s of a TCP socket wait rejects both with EBADF, each with the state it was called in, on both backends", async () => {
  for (const backend of BACKENDS) {
    using listener = socket({ domain: "inet", backend: "posix" });
    await listener.bind({ hostname: "127.0.0.1", port: 0 });
    await listener.listen(0);
    using first = socket({ domain: "inet", backend });
    await first.connect(listener.getsockname());
    const client = socket({ domain: "inet", backend });
    const outcome = (call: Promise<void>) =>
      call.then(
        () => "ok",
        (error: SocketError) => `${error.code} ${error.state}`,
      );
    const calls = [
      outcome(client.connect(listener.getsockname())),
      outcome(client.connect(listener.getsockname())),
    ];
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.close();
    assert.deepEqual(
      await within(1000, Promise.all(calls), "the connect()s"),
      ["EBADF created", "EBADF connecting"],
      backend,
    );
  }
});

Deno.test({
  name:
    "shutdown() and disconnect() of a worker's or process's TCP socket whose connect() waits disconnect it there as here, on both backends",
  ignore: !canRunDeno,
  async fn() {
    const expected: Record<"shutdown" | "disconnect", Answers> = {
      shutdown: { connects: ["ECONNRESET"], own: "0", pending: "none" },
      disconnect: { connects: ["EPIPE"], own: "0", pending: "ECONNRESET" },
    };
    await using worker = await workerPco({ startTimeout: 60_000 });
    await using process = await processPco({ startTimeout: 60_000 });
    for (const pco of [worker, process]) {
      for (const story of ["shutdown", "disconnect"] as const) {
        for (const backend of BACKENDS) {
          const { state, ...answers } = await sockfsmAnswers(
            backend,
            story,
            pco,
          );
          const what = `${pco.name}, ${story}, ${backend}`;
          assert.deepEqual(answers, expected[story], what);
          assert.equal(state, "created", what);
        }
      }
    }
  },
});

if (!canRunDeno) {
  console.log(`calls_during_connect_test: kernel checks ignored, ${NO_RUN}`);
}
