// Copyright 2026 the sockfsm authors. MIT license.
/** Helpers the PCO tests share. */

/** libc's `kill(2)`, opened for one call. */
function kill(pid: number, signal: number): number {
  const libc = Deno.dlopen("libc.so.6", {
    kill: { parameters: ["i32", "i32"], result: "i32" },
  });
  try {
    return libc.symbols.kill(pid, signal);
  } finally {
    libc.close();
  }
}

/**
 * Sends `SIGKILL` to `pid` now, synchronously (from a tracer, between two
 * steps). `Deno.kill()` would need `--allow-run` for every command, which
 * the test task does not grant; `kill(2)` through FFI needs `--allow-ffi`.
 */
export function killNow(pid: number): void {
  if (kill(pid, 9) !== 0) throw new Error(`kill(${pid}, SIGKILL) failed`);
}

/** Whether a process `pid` exists (`kill(pid, 0)` succeeds). */
export function running(pid: number): boolean {
  return kill(pid, 0) === 0;
}

/** The fake agent's module, for `processPco({ agent })`. */
export const FAKE_AGENT = new URL("./_pco_fake_agent.ts", import.meta.url)
  .href;

/** What the fake agent does, by `SOCKFSM_FAKE_AGENT`. */
export type FakeMode =
  /** Says hello in another protocol version, then waits for end of input. */
  | "version"
  /** As "version", but does not end at end of input: it must be killed. */
  | "stubborn"
  /** Writes to its standard error and exits with code 3 at once. */
  | "exit"
  /** Says nothing, and waits for end of input. */
  | "silent";

/**
 * Runs `start` (which must spawn the fake agent before its first `await`,
 * as `processPco()` does) with the fake agent told `mode` and where to
 * write its process id, and gives back the fake agent's pid with what
 * `start` settled to.
 */
export async function withFakeAgent<T>(
  mode: FakeMode,
  start: () => Promise<T>,
): Promise<{ pid: number; result: PromiseSettledResult<T> }> {
  const dir = await Deno.makeTempDir({ prefix: "sockfsm_fake_agent_" });
  const pidFile = `${dir}/pid`;
  let started: Promise<T>;
  Deno.env.set("SOCKFSM_FAKE_AGENT", mode);
  Deno.env.set("SOCKFSM_FAKE_AGENT_PIDFILE", pidFile);
  try {
    started = start();
  } finally {
    Deno.env.delete("SOCKFSM_FAKE_AGENT");
    Deno.env.delete("SOCKFSM_FAKE_AGENT_PIDFILE");
  }
  const [result] = await Promise.allSettled([started]);
  try {
    const pid = Number(await Deno.readTextFile(pidFile));
    return { pid, result };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The permissions the fake agent needs: its mode and its pid file. */
export const FAKE_PERMISSIONS = [
  "--allow-env=SOCKFSM_FAKE_AGENT,SOCKFSM_FAKE_AGENT_PIDFILE",
  "--allow-write",
] as const;
