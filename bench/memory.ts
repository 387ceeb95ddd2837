// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The heap each open connected socket holds: a few thousand pairs opened
 * and held, the heap measured after a collection before and after
 * (`Deno.memoryUsage().heapUsed`, which `--v8-flags=--expose-gc` makes
 * exact), divided by the number of sockets: `streamConnection()` on both
 * backends against the same procedure by hand with `Deno.listen` and
 * `Deno.connect`, holding its two `Deno.Conn`s; and `socket()` + `connect()`
 * + `accept()` on a kept listener against the same with raw Deno. The cases
 * take turns over a few rounds and the table gives the medians.
 *
 * @module
 */
import { type Backend, type Socket, socket, streamConnection } from "../mod.ts";
import { fdLimit } from "../tools/_fds.ts";
import {
  type Context,
  count,
  type Figure,
  formatTarget,
  median,
  messageOf,
  met,
  notMeasured,
  type Target,
  within,
} from "./_report.ts";

const GROUP = "memory";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
const TARGET: Target = { below: 1.5 };
/** Descriptors kept free beyond the pairs. */
const SPARE_FDS = 200;
/** How long opening the pairs of one round may take. */
const OPEN_MS = 60_000;

/** Opens one pair and returns what closes it. */
type Opener = () => Promise<() => void>;

/** A way to open pairs, with what it holds for all of them meanwhile. */
interface Way {
  readonly name: string;
  /** Opens what the pairs share (a kept listener); returns its closer. */
  setup(): Promise<() => void>;
  readonly open: Opener;
}

/** The procedure by hand: a listener per pair, closed once accepted. */
const handProcedure: Way = {
  name: "raw procedure",
  setup: () => Promise.resolve(() => {}),
  async open() {
    const listener = Deno.listen(LOOPBACK);
    const accepting = listener.accept();
    const client = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    const server = await accepting;
    listener.close();
    return () => {
      server.close();
      client.close();
    };
  },
};

function procedure(backend: Backend): Way {
  return {
    name: `${backend} procedure`,
    setup: () => Promise.resolve(() => {}),
    async open() {
      const pair = await streamConnection({ srvrAddr: LOOPBACK, backend });
      return () => pair[Symbol.dispose]();
    },
  };
}

/** Connections to one kept raw listener. */
function rawKept(): Way {
  let listener: Deno.TcpListener | undefined;
  return {
    name: "raw kept",
    setup() {
      const made = Deno.listen(LOOPBACK);
      listener = made;
      return Promise.resolve(() => made.close());
    },
    async open() {
      const accepting = listener!.accept();
      const client = await Deno.connect({
        hostname: "127.0.0.1",
        port: listener!.addr.port,
      });
      const server = await accepting;
      return () => {
        server.close();
        client.close();
      };
    },
  };
}

/** `socket()` + `connect()` + `accept()` on one kept sockfsm listener. */
function kept(backend: Backend): Way {
  let listener: Socket<"inet"> | undefined;
  return {
    name: `${backend} kept`,
    async setup() {
      const made = socket({ domain: "inet", backend });
      listener = made;
      try {
        await made.bind(LOOPBACK);
        await made.listen();
      } catch (error) {
        made.close();
        throw error;
      }
      return () => made.close();
    },
    async open() {
      const accepting = listener!.accept();
      const client = socket({ domain: "inet", backend });
      try {
        await client.connect(listener!.getsockname());
      } catch (error) {
        client.close();
        throw error;
      }
      const server = await accepting;
      return () => {
        server.close();
        client.close();
      };
    },
  };
}

function heap(gc: () => void): number {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
}

/** Bytes of heap per socket while `pairs` pairs are open. */
async function perSocket(
  way: Way,
  pairs: number,
  gc: () => void,
): Promise<number> {
  const closeShared = await way.setup();
  const closers: (() => void)[] = [];
  try {
    const before = heap(gc);
    await within(
      (async () => {
        for (let i = 0; i < pairs; i++) closers.push(await way.open());
      })(),
      OPEN_MS,
      `opening ${pairs} pairs`,
    );
    const after = heap(gc);
    return (after - before) / (2 * pairs);
  } finally {
    for (const close of closers) close();
    closeShared();
  }
}

/** The figures: each sockfsm way against its raw way. */
const FIGURES = [
  ["deno procedure", "raw procedure", "`streamConnection()`, deno"],
  ["posix procedure", "raw procedure", "`streamConnection()`, posix"],
  [
    "deno kept",
    "raw kept",
    "`socket()` + connect + accept, kept listener, deno",
  ],
  [
    "posix kept",
    "raw kept",
    "`socket()` + connect + accept, kept listener, posix",
  ],
] as const;

/** The group's figures. */
export async function run(context: Context): Promise<Figure[]> {
  const what = (how: string) => `heap per open connected socket, ${how}`;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    return FIGURES.map(([, , how]) =>
      notMeasured(
        GROUP,
        what(how),
        "skipped",
        "needs --v8-flags=--expose-gc",
        TARGET,
      )
    );
  }
  let pairs = context.quick ? 200 : 2000;
  const { soft } = fdLimit();
  pairs = Math.min(pairs, Math.floor((soft - SPARE_FDS) / 2));
  const ways: Way[] = [
    handProcedure,
    procedure("deno"),
    procedure("posix"),
    rawKept(),
    kept("deno"),
    kept("posix"),
  ];
  const bytes = new Map<string, number[]>(ways.map((w) => [w.name, []]));
  const errors = new Map<string, string>();
  // Warm up: code, caches and the machine's graph are built once, not per socket.
  for (const way of ways) {
    try {
      await perSocket(way, Math.min(100, pairs), gc);
    } catch (error) {
      errors.set(way.name, messageOf(error));
    }
  }
  const rounds = Math.min(context.rounds, context.quick ? 1 : 3);
  for (let round = 0; round < rounds; round++) {
    context.log(
      `${GROUP}: round ${round + 1} of ${rounds}, ${pairs} pairs per case`,
    );
    for (let i = 0; i < ways.length; i++) {
      const way = ways[(i + round) % ways.length];
      if (errors.has(way.name)) continue;
      try {
        bytes.get(way.name)!.push(await perSocket(way, pairs, gc));
      } catch (error) {
        errors.set(way.name, messageOf(error));
      }
    }
  }
  return FIGURES.map(([ours, theirs, how]) => {
    const error = errors.get(ours);
    if (error) return notMeasured(GROUP, what(how), "failed", error, TARGET);
    const baseError = errors.get(theirs);
    if (baseError) {
      return notMeasured(
        GROUP,
        what(how),
        "failed",
        `baseline: ${baseError}`,
        TARGET,
      );
    }
    const mine = median(bytes.get(ours)!);
    const base = median(bytes.get(theirs)!);
    const ratio = mine / base;
    return {
      group: GROUP,
      what: `${what(how)} (${count(pairs)} pairs)`,
      sockfsm: `${count(mine)} B`,
      baseline: `raw \`Deno.Conn\`: ${count(base)} B`,
      ratio: `${ratio.toFixed(2)}×`,
      target: formatTarget(TARGET),
      met: met(ratio, TARGET),
    };
  });
}
