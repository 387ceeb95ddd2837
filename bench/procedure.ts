// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The connection procedures against the same steps written by hand, in
 * paired interleaved rounds in this process: `streamConnection()`,
 * `genConnection()` and `dgramConnection()` on both backends, each
 * followed by closing both ends, against `Deno.listen`/`Deno.connect`
 * (the accept started before the connect, as the procedure does), against
 * `node:dgram` for datagrams, and against the same calls made by hand as
 * libc calls through FFI. Python's blocking socket calls doing the stream
 * procedure in a child process, once per round, are the kernel's ceiling
 * on this machine.
 *
 * @module
 */
import dgram from "node:dgram";
import {
  type Backend,
  dgramConnection,
  genConnection,
  streamConnection,
} from "../mod.ts";
import { LibcBaseline } from "./_libc.ts";
import {
  type Case,
  type Context,
  type Figure,
  messageOf,
  notMeasured,
  opCase,
  type Outcome,
  pairedRounds,
  rateFigure,
  within,
} from "./_report.ts";

const GROUP = "procedure";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;

/** `streamConnection()` by hand with Deno's API, then close both. */
async function handStream(): Promise<void> {
  const listener = Deno.listen(LOOPBACK);
  const { port } = listener.addr;
  const accepting = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await accepting;
  listener.close();
  server.close();
  client.close();
}

function bound(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind({ port: 0, address: "127.0.0.1" }, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

function connected(socket: dgram.Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.connect(
      port,
      "127.0.0.1",
      (error?: Error) => error ? reject(error) : resolve(),
    )
  );
}

/** `dgramConnection()` by hand with `node:dgram`, then close both. */
async function handDgram(): Promise<void> {
  const server = dgram.createSocket("udp4");
  await bound(server);
  const client = dgram.createSocket("udp4");
  await bound(client);
  await connected(client, server.address().port);
  await connected(server, client.address().port);
  server.close();
  client.close();
}

async function stream(backend: Backend): Promise<void> {
  const pair = await streamConnection({ srvrAddr: LOOPBACK, backend });
  pair[Symbol.dispose]();
}

async function gen(backend: Backend): Promise<void> {
  const pair = await genConnection({
    type: "stream",
    srvrAddr: LOOPBACK,
    backend,
  });
  pair[Symbol.dispose]();
}

async function dgramPair(backend: Backend): Promise<void> {
  const pair = await dgramConnection({ srvrAddr: LOOPBACK, backend });
  pair[Symbol.dispose]();
}

/**
 * The stream procedure with Python's blocking calls, warmed up, then run
 * for the number of seconds in `argv[1]`; prints the rate per second.
 */
const PYTHON = `
import socket, sys, time
def once():
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.bind(("127.0.0.1", 0))
    l.listen()
    port = l.getsockname()[1]
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(("127.0.0.1", port))
    s, _ = l.accept()
    l.close()
    s.close()
    c.close()
seconds = float(sys.argv[1])
for _ in range(20):
    once()
n = 0
start = time.perf_counter()
while True:
    once()
    n += 1
    elapsed = time.perf_counter() - start
    if elapsed >= seconds and n >= 3:
        break
print(n / elapsed)
`;

/** Runs Python's procedure for about `ms`; resolves to its rate. */
async function python(ms: number, signal?: AbortSignal): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", PYTHON, String(ms / 1000)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const text = new TextDecoder();
  if (code !== 0) {
    throw new Error(`python3 exited with ${code}: ${text.decode(stderr)}`);
  }
  const perSecond = Number(text.decode(stdout).trim());
  if (!(perSecond > 0)) {
    throw new Error(`python3 printed no rate: ${text.decode(stdout)}`);
  }
  return perSecond;
}

/** Why Python cannot be the ceiling here, or `undefined` if it can. */
async function pythonMissing(): Promise<string | undefined> {
  try {
    await within(python(1), 10_000, "python3");
    return undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "python3 is not on PATH";
    if (error instanceof Deno.errors.NotCapable) {
      return "needs --allow-run=python3";
    }
    return messageOf(error);
  }
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const libc = new LibcBaseline();
  try {
    const noPython = await pythonMissing();
    const cases: Case[] = [
      opCase("hand Deno", handStream),
      opCase("deno", () => stream("deno")),
      opCase("posix", () => stream("posix")),
      opCase("hand libc", () => libc.streamProcedure()),
      opCase("gen deno", () => gen("deno")),
      opCase("gen posix", () => gen("posix")),
      opCase("hand node:dgram", handDgram),
      opCase("dgram deno", () => dgramPair("deno")),
      opCase("dgram posix", () => dgramPair("posix")),
      opCase("hand libc dgram", () => libc.dgramProcedure()),
    ];
    if (noPython === undefined) {
      cases.push({
        name: "Python",
        measure: (ms, signal) => python(ms, signal),
      });
    }
    const outcomes = await pairedRounds(context, GROUP, cases);
    const figure = (
      what: string,
      ours: string,
      theirs: string,
      atLeast?: number,
    ) =>
      rateFigure(
        GROUP,
        what,
        outcomes,
        ours,
        theirs,
        atLeast === undefined ? undefined : { atLeast },
      );
    const withPython = (what: string, ours: string): Figure =>
      noPython === undefined
        ? figure(what, ours, "Python")
        : notMeasured(GROUP, what, "skipped", noPython);
    return [
      figure(
        "`streamConnection()` + close both, deno",
        "deno",
        "hand Deno",
        0.9,
      ),
      figure(
        "`streamConnection()` + close both, posix",
        "posix",
        "hand Deno",
        1.0,
      ),
      figure(
        "`streamConnection()` + close both, posix",
        "posix",
        "hand libc",
        0.9,
      ),
      withPython(
        "`streamConnection()` posix, against the kernel's ceiling",
        "posix",
      ),
      referenceFigure(outcomes, noPython),
      figure(
        "`genConnection()` stream + close both, deno",
        "gen deno",
        "hand Deno",
        0.9,
      ),
      figure(
        "`genConnection()` stream + close both, posix",
        "gen posix",
        "hand libc",
        0.9,
      ),
      figure(
        "`dgramConnection()` + close both, deno",
        "dgram deno",
        "hand node:dgram",
        0.9,
      ),
      figure(
        "`dgramConnection()` + close both, posix",
        "dgram posix",
        "hand libc dgram",
        0.9,
      ),
    ];
  } finally {
    libc[Symbol.dispose]();
  }
}

/** How close the libc baseline comes to Python's: a row of baselines. */
function referenceFigure(
  outcomes: Map<string, Outcome>,
  noPython: string | undefined,
): Figure {
  const what =
    "(reference) the procedure by hand in libc through FFI, against Python";
  if (noPython !== undefined) {
    return notMeasured(GROUP, what, "skipped", noPython);
  }
  const row = rateFigure(GROUP, what, outcomes, "hand libc", "Python");
  return row.sockfsm === "—"
    ? row
    : { ...row, sockfsm: `hand libc: ${row.sockfsm}` };
}
