// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A second `connect()` while a TCP socket's blocking attempt is in flight,
 * as Linux answers it and as sockfsm does. The kernel's side: two child
 * processes take the same socket (`pidfd_getfd(2)`, as two threads would
 * share it) and each makes a blocking `connect(2)` towards a listener whose
 * queue is full, so the first SYN is dropped; then the test frees a place
 * (the retransmitted SYN, about 1 s in, connects) or closes the listener
 * (it is reset). sockfsm's side: two `connect()`s of one socket, on each
 * backend, in the same two stories. The machine says the second call joins
 * the attempt (`meta: { waits, joins }`), and the answers must be Linux's.
 */
import assert from "node:assert/strict";
import { type Backend, type Socket, socket, type SocketError } from "../mod.ts";
import { SocketGraph } from "../machine/graph.ts";
import { socketMachine } from "../machine/socket_machine.ts";
import {
  AF_INET,
  type Libc,
  openLibc,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  sysAccept4,
  sysBind,
  sysClose,
  sysConnect,
  sysGetsockname,
  sysListen,
  sysSocket,
} from "../steps/libc.ts";
import type { SocketAddr } from "../machine/address.ts";
import { canRunDeno, NO_RUN } from "./_child.ts";
import { within } from "./_net.ts";

const BACKENDS: readonly Backend[] = ["deno", "posix"];
const WAITER = new URL("./_connect_waiter.ts", import.meta.url).pathname;
/** Long enough for the SYN retransmitted about 1 s in, and its answer. */
const SETTLE_MS = 10_000;

type Story = "connects" | "refused";

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

/** What Linux answers the two blocking connect(2)s in `story`, sorted. */
async function kernelAnswers(story: Story): Promise<string[]> {
  using libc = openLibc();
  const { listener, first, addr } = fullLibcListener(libc);
  const client = must(sysSocket(libc, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  let listening = true;
  const waiters: Waiter[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const waiter = startWaiter(client, addr);
      waiters.push(waiter);
      await within(30_000, waiter.ready, `waiter ${i + 1} to start`);
    }
    // Both are inside connect(2), and neither has an answer.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(waiters.map((w) => w.answered), [false, false]);
    if (story === "connects") {
      sysClose(libc, must(sysAccept4(libc, listener, 0)));
    } else {
      sysClose(libc, listener);
      listening = false;
    }
    const answers = await within(
      SETTLE_MS,
      Promise.all(waiters.map((w) => w.answer)),
      "the two connect(2)s",
    );
    return answers.sort();
  } finally {
    for (const waiter of waiters) await waiter[Symbol.asyncDispose]();
    sysClose(libc, client);
    sysClose(libc, first);
    if (listening) sysClose(libc, listener);
  }
}

/** What sockfsm answers two connect()s of one `backend` socket in `story`. */
async function sockfsmAnswers(
  backend: Backend,
  story: Story,
): Promise<{ answers: string[]; state: string }> {
  const listener = socket({ domain: "inet", backend: "posix" });
  const first = socket({ domain: "inet", backend });
  using client = socket({ domain: "inet", backend });
  const accepted: Socket[] = [];
  try {
    await listener.bind({ hostname: "127.0.0.1", port: 0 });
    await listener.listen(0);
    const addr: SocketAddr = listener.getsockname();
    await first.connect(addr);
    const answered: string[] = [];
    const answerOf = (call: Promise<void>) =>
      call.then(() => "0", (error: SocketError) => error.code).then(
        (answer) => {
          answered.push(answer);
          return answer;
        },
      );
    const calls = [answerOf(client.connect(addr))];
    assert.equal(client.state, "connecting");
    calls.push(answerOf(client.connect(addr)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(answered, [], "both connect()s wait for the attempt");
    if (story === "connects") accepted.push(await listener.accept());
    else listener.close();
    const answers = await within(
      SETTLE_MS,
      Promise.all(calls),
      "the two connect()s",
    );
    return { answers, state: client.state };
  } finally {
    for (const sock of accepted) sock.close();
    first.close();
    listener[Symbol.dispose]();
  }
}

Deno.test("the machine makes a TCP connect() during another's attempt join it, and a datagram or unix one wait for it", () => {
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
      assert.equal(
        second.joins === true,
        domain !== "unix" && type === "stream",
        `${domain} ${type}: joins`,
      );
    }
  }
});

Deno.test({
  name:
    "Linux answers two blocking TCP connect()s of one socket 0 each once its attempt connects, and sockfsm's two connect()s resolve as well, on both backends",
  ignore: !canRunDeno,
  async fn() {
    assert.deepEqual(await kernelAnswers("connects"), ["0", "0"]);
    for (const backend of BACKENDS) {
      const { answers, state } = await sockfsmAnswers(backend, "connects");
      assert.deepEqual(answers, ["0", "0"], backend);
      assert.equal(state, "connected", backend);
    }
  },
});

Deno.test({
  name:
    "when the attempt two blocking TCP connect()s wait for is refused, Linux gives one ECONNREFUSED and the other EPIPE; so does sockfsm, the first connect() taking the error, on both backends",
  ignore: !canRunDeno,
  async fn() {
    assert.deepEqual(await kernelAnswers("refused"), ["ECONNREFUSED", "EPIPE"]);
    for (const backend of BACKENDS) {
      const { answers, state } = await sockfsmAnswers(backend, "refused");
      assert.deepEqual(answers, ["ECONNREFUSED", "EPIPE"], backend);
      assert.equal(state, "created", backend);
    }
  },
});

if (!canRunDeno) {
  console.log(`second_connect_test: kernel checks ignored, ${NO_RUN}`);
}
