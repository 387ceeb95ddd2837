// Copyright 2026 the sockfsm authors. MIT license.
/** Helpers the network tests share. */
import {
  detectKernel,
  type Domain,
  type KernelName,
  type Op,
  predict,
  type PredictOptions,
  type Result,
  type Socket,
  type SocketType,
} from "../mod.ts";

/** Every domain, in a fixed order. */
export const DOMAINS: readonly Domain[] = ["inet", "inet6", "unix"];

/** Every socket type, in a fixed order. */
export const TYPES: readonly SocketType[] = ["stream", "dgram"];

/** The loopback address of each IP domain. */
export const LOOPBACK: Readonly<Record<"inet" | "inet6", string>> = {
  inet: "127.0.0.1",
  inet6: "::1",
};

/**
 * `count` distinct ports with nothing bound on `hostname`: listened on
 * together (so they differ), then closed.
 */
export function freePorts(hostname: string, count = 1): number[] {
  const listeners: Deno.TcpListener[] = [];
  try {
    for (let i = 0; i < count; i++) {
      listeners.push(Deno.listen({ hostname, port: 0 }));
    }
    return listeners.map((listener) => listener.addr.port);
  } finally {
    for (const listener of listeners) listener.close();
  }
}

/** A port with nothing bound on `hostname` (free a moment ago). */
export function freePort(hostname: string): number {
  return freePorts(hostname)[0];
}

/** A temporary directory: `remove()` it, or let `await using` do so. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
  remove(): Promise<void>;
}

/** A new temporary directory for unix socket files. */
export async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "sockfsm_test_" });
  const remove = () => Deno.remove(path, { recursive: true });
  return { path, remove, [Symbol.asyncDispose]: remove };
}

/**
 * `promise`, or a rejection naming `what` once `ms` have passed, so that a
 * bug fails its test instead of hanging it. The timer is cleared either way.
 */
export async function within<T>(
  ms: number,
  promise: Promise<T>,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `promise` has settled within `ms` milliseconds. */
export async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}

/** Receives until end of stream, into one array. */
export async function recvAll(sock: Socket): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const chunk = await sock.recv(1 << 20);
    if (chunk.length === 0) break;
    chunks.push(chunk);
    length += chunk.length;
  }
  const all = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

let kernel: KernelName | undefined;

/**
 * What `predict()` says of `ops` under the running kernel's profile
 * (detected once), to check a runtime outcome against the model.
 */
export async function predictHere(
  ops: readonly Op[],
  options: Omit<PredictOptions, "kernel"> = {},
): Promise<Result[]> {
  kernel ??= await detectKernel();
  return predict(ops, { ...options, kernel });
}

/**
 * The kernel's answers, run again (twice at most) while they differ from the
 * model's, as the conformance tool does: errno is read by a second FFI call,
 * which the runtime's own system calls can very rarely come between.
 */
export async function observed(
  model: readonly Result[],
  run: () => Promise<Result[]>,
): Promise<Result[]> {
  let kernel = await run();
  for (let again = 0; again < 2 && kernel.join() !== model.join(); again++) {
    kernel = await run();
  }
  return kernel;
}
