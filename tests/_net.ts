// Copyright 2026 the sockfsm authors. MIT license.
/** Helpers the network tests share. */

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
