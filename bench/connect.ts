// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A connection on a kept listener: `socket()` + `connect()` + `accept()` +
 * close both, on both backends, against raw `Deno.listen`/`Deno.connect`
 * and against the same calls by hand in libc through FFI, in paired
 * interleaved rounds.
 *
 * @module
 */
import { type Backend, type Socket, socket } from "../mod.ts";
import { LibcBaseline } from "./_libc.ts";
import {
  type Context,
  type Figure,
  opCase,
  pairedRounds,
  rateFigure,
} from "./_report.ts";

const GROUP = "connect";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;

/** A listening sockfsm socket on loopback. */
async function listening(backend: Backend): Promise<Socket<"inet">> {
  const listener = socket({ domain: "inet", backend });
  try {
    await listener.bind(LOOPBACK);
    await listener.listen();
    return listener;
  } catch (error) {
    listener.close();
    throw error;
  }
}

/** One connection to `listener`, then close both ends. */
async function connection(
  listener: Socket<"inet">,
  backend: Backend,
): Promise<void> {
  const addr = listener.getsockname();
  const accepting = listener.accept();
  const client = socket({ domain: "inet", backend });
  try {
    await client.connect(addr);
    (await accepting).close();
  } finally {
    client.close();
  }
}

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const raw = Deno.listen(LOOPBACK);
  const rawPort = raw.addr.port;
  const libc = new LibcBaseline();
  const listeners: Socket<"inet">[] = [];
  try {
    const deno = await listening("deno");
    listeners.push(deno);
    const posix = await listening("posix");
    listeners.push(posix);
    const outcomes = await pairedRounds(context, GROUP, [
      opCase("raw Deno", async () => {
        const accepting = raw.accept();
        const client = await Deno.connect({
          hostname: "127.0.0.1",
          port: rawPort,
        });
        (await accepting).close();
        client.close();
      }),
      opCase("deno", () => connection(deno, "deno")),
      opCase("posix", () => connection(posix, "posix")),
      opCase("hand libc", () => libc.keptConnection()),
    ]);
    const what = "`socket()` + connect + accept + close, kept listener";
    return [
      rateFigure(GROUP, `${what}, deno`, outcomes, "deno", "raw Deno"),
      rateFigure(GROUP, `${what}, posix`, outcomes, "posix", "raw Deno"),
      rateFigure(GROUP, `${what}, posix`, outcomes, "posix", "hand libc"),
    ];
  } finally {
    for (const listener of listeners) listener.close();
    raw.close();
    libc[Symbol.dispose]();
  }
}
