// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The child process of `sandbox_test.ts` and `error_state_test.ts`: runs
 * one scenario under the permissions its parent gave it, and prints what
 * each call answered as one JSON line.
 *
 * `deno run [flags] tests/_sandbox_child.ts <scenario> <JSON arguments>`
 */
import {
  type Backend,
  type Domain,
  processPco,
  type Socket,
  socket,
  SocketError,
  type SocketType,
  workerPco,
} from "../mod.ts";

/** What one call answered. */
export interface Answer {
  readonly backend: Backend;
  readonly call: string;
  /** `"ok"`, or the errno. */
  readonly code: string;
  readonly message?: string;
  readonly state?: string | undefined;
  /** A fresh socket's state after the call failed, and its port. */
  readonly after?: { readonly state: string; readonly port?: number };
}

/** The arguments of the `sandbox` scenario. */
export interface SandboxArgs {
  /** The one port of 127.0.0.1 the child may use, where a server listens. */
  readonly allowed: number;
  /** Another port of 127.0.0.1 where a server listens. */
  readonly other: number;
  /** A port of ::1 where a server listens. */
  readonly v6: number;
  /** A UDP port of ::1 where a socket is bound. */
  readonly v6udp: number;
  /** A directory the child may not read or write. */
  readonly dir: string;
  /** A path where the child may listen (read, write, net `unix:`). */
  readonly own: string;
}

/** The arguments of the `noffi` scenario. */
export interface NoFfiArgs {
  /** A directory the child may read and write, with a listener at `server`. */
  readonly dir: string;
  readonly server: string;
}

const BACKENDS: readonly Backend[] = ["deno", "posix"];

async function answer(
  backend: Backend,
  call: string,
  run: () => Promise<unknown>,
): Promise<Answer> {
  try {
    await run();
    return { backend, call, code: "ok" };
  } catch (error) {
    if (!(error instanceof SocketError)) {
      return { backend, call, code: "not a SocketError", message: `${error}` };
    }
    const { code, message, state } = error;
    return { backend, call, code, message, state };
  }
}

/** A call on a fresh socket, closed afterwards. */
function fresh(
  backend: Backend,
  domain: Domain,
  type: SocketType,
  call: string,
  run: (sock: Socket) => Promise<unknown>,
): Promise<Answer> {
  let after: Answer["after"];
  return answer(backend, call, async () => {
    using sock = socket({ domain, type, backend });
    try {
      await run(sock);
    } catch (error) {
      // What the failed call left, as the socket and its kernel report it.
      const name = sock.getsockname();
      after = { state: sock.state, ...("port" in name && { port: name.port }) };
      throw error;
    }
  }).then((answered) => after ? { ...answered, after } : answered);
}

async function sandbox(args: SandboxArgs): Promise<Answer[]> {
  const answers: Answer[] = [];
  const ping = new TextEncoder().encode("ping");
  for (const backend of BACKENDS) {
    answers.push(
      await fresh(
        backend,
        "inet",
        "stream",
        "connect allowed",
        (s) => s.connect({ hostname: "127.0.0.1", port: args.allowed }),
      ),
      await fresh(
        backend,
        "inet",
        "stream",
        "connect other port",
        (s) => s.connect({ hostname: "127.0.0.1", port: args.other }),
      ),
      await fresh(
        backend,
        "inet6",
        "stream",
        "connect ::1",
        (s) => s.connect({ hostname: "::1", port: args.v6 }),
      ),
      await fresh(
        backend,
        "inet",
        "stream",
        "bind port 0",
        (s) => s.bind({ hostname: "127.0.0.1", port: 0 }),
      ),
      await fresh(
        backend,
        "inet6",
        "stream",
        "bind ::1",
        (s) => s.bind({ hostname: "::1", port: 0 }),
      ),
      await fresh(
        backend,
        "inet",
        "stream",
        "listen unbound",
        (s) => s.listen(),
      ),
      await fresh(
        backend,
        "unix",
        "stream",
        "bind unix",
        (s) => s.bind({ path: `${args.dir}/s.sock` }),
      ),
      await fresh(
        backend,
        "unix",
        "stream",
        "connect unix",
        (s) => s.connect({ path: `${args.dir}/s.sock` }),
      ),
      await answer(backend, "connect unix from a listener", async () => {
        using sock = socket({ domain: "unix", backend });
        await sock.bind({ path: args.own });
        await sock.listen();
        await sock.connect({ path: `${args.dir}/s.sock` });
      }),
      await fresh(
        backend,
        "inet6",
        "dgram",
        "sendto ::1",
        (s) => s.sendto(ping, { hostname: "::1", port: args.v6udp }),
      ),
      await fresh(
        backend,
        "inet",
        "dgram",
        "sendto another port from a bound socket",
        async (s) => {
          // UDP's port of the allowed number is the child's to bind; the
          // other backend's socket may still be closing (node:dgram's close
          // is asynchronous), hence SO_REUSEADDR.
          await s.setsockopt("SO_REUSEADDR", true);
          await s.bind({ hostname: "127.0.0.1", port: args.allowed });
          await s.sendto(ping, { hostname: "127.0.0.1", port: args.other });
        },
      ),
      await fresh(
        backend,
        "inet6",
        "dgram",
        "connect udp ::1",
        (s) => s.connect({ hostname: "::1", port: args.v6udp }),
      ),
    );
  }
  return answers;
}

async function noFfi(args: NoFfiArgs): Promise<Answer[]> {
  return [
    await fresh("deno", "unix", "stream", "bound unix client", async (s) => {
      await s.bind({ path: `${args.dir}/client.sock` });
      await s.connect({ path: args.server });
    }),
  ];
}

/**
 * `accept()` when the process has no descriptor left: the listener's
 * connection waits, and `EMFILE` comes with the listener's state; once a
 * descriptor is free, the same `accept()` works.
 */
async function emfile(): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const backend of BACKENDS) {
    using listener = socket({ domain: "inet", backend });
    await listener.bind({ hostname: "127.0.0.1", port: 0 });
    await listener.listen();
    using client = socket({ domain: "inet", backend: "posix" });
    await client.connect(listener.getsockname());
    await new Promise((resolve) => setTimeout(resolve, 20));
    const held: Deno.FsFile[] = [];
    try {
      for (;;) held.push(Deno.openSync("/dev/null"));
    } catch {
      // No descriptor left.
    }
    answers.push(
      await answer(backend, "accept", async () => {
        const peer = await listener.accept();
        peer.close();
      }),
    );
    for (const file of held) file.close();
    answers.push(
      await answer(backend, "accept again", async () => {
        using _peer = await listener.accept();
      }),
    );
  }
  return answers;
}

/** Lowers this process's soft `RLIMIT_NOFILE` to `limit` (libc, FFI). */
function lowerFdLimit(limit: number): void {
  const libc = Deno.dlopen("libc.so.6", {
    setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  });
  try {
    const RLIMIT_NOFILE = 7;
    const rlimit = new BigUint64Array(2);
    if (libc.symbols.getrlimit(RLIMIT_NOFILE, rlimit) !== 0) {
      throw new Error("getrlimit() failed");
    }
    rlimit[0] = BigInt(limit);
    if (libc.symbols.setrlimit(RLIMIT_NOFILE, rlimit) !== 0) {
      throw new Error("setrlimit() failed");
    }
  } finally {
    libc.close();
  }
}

/**
 * Starts a worker PCO and a process PCO under the child's permissions:
 * what each start answered (started PCOs are closed at once).
 */
async function pcos(): Promise<Answer[]> {
  const answers: Answer[] = [];
  const starts = [["workerPco", () => workerPco()], [
    "processPco",
    () => processPco(),
  ]] as const;
  for (const [call, start] of starts) {
    try {
      await (await start()).close();
      answers.push({ backend: "deno", call, code: "ok" });
    } catch (error) {
      if (!(error instanceof SocketError)) throw error;
      answers.push({
        backend: "deno",
        call,
        code: error.code,
        message: error.message,
      });
    }
  }
  return answers;
}

if (import.meta.main) {
  const [scenario, json = "{}"] = Deno.args;
  const args = JSON.parse(json);
  let answers: Answer[];
  if (scenario === "sandbox") answers = await sandbox(args);
  else if (scenario === "noffi") answers = await noFfi(args);
  else if (scenario === "pco") answers = await pcos();
  else if (scenario === "emfile") {
    // Low enough to run out of quickly, high enough for Deno's own.
    lowerFdLimit(256);
    answers = await emfile();
  } else throw new Error(`Cannot run scenario ${scenario}: not known`);
  console.log(JSON.stringify(answers));
}
