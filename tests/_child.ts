// Copyright 2026 the sockfsm authors. MIT license.
/** Runs `_sandbox_child.ts` in a `deno run` of its own, with given flags. */
import type { Answer } from "./_sandbox_child.ts";

/** Whether this process may start `deno` (the test task grants it). */
export const canRunDeno: boolean =
  Deno.permissions.querySync({ name: "run", command: "deno" }).state ===
    "granted";

/** Why the subprocess tests are ignored, when they are. */
export const NO_RUN =
  "needs --allow-run=deno to start a child process with fewer permissions";

/** How long a child may take, before the test fails. */
const CHILD_MS = 30_000;

/**
 * What the child answered, scenario `scenario` run with `flags` and `args`.
 * The child is killed if it takes more than 30 s.
 */
export async function runChild(
  flags: readonly string[],
  scenario: string,
  args: unknown = {},
): Promise<Answer[]> {
  const child = new URL("./_sandbox_child.ts", import.meta.url).pathname;
  const command = new Deno.Command("deno", {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      ...flags,
      child,
      scenario,
      JSON.stringify(args),
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(CHILD_MS),
  });
  const { code, stdout, stderr } = await command.output();
  const out = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(
      `The child (${scenario}) exited with ${code}: ${
        new TextDecoder().decode(stderr)
      }${out}`,
    );
  }
  return JSON.parse(out) as Answer[];
}

/** The answer of `backend` to `call`. */
export function answerOf(
  answers: readonly Answer[],
  backend: string,
  call: string,
): Answer {
  const found = answers.find((a) => a.backend === backend && a.call === call);
  if (found === undefined) {
    throw new Error(`The child gave no answer for ${backend} ${call}`);
  }
  return found;
}

/**
 * Runs `deno test` with `args` in the repository's root (so its deno.json
 * and sanitizers apply), killed after 60 s: its exit code and its output,
 * stdout then stderr, without colours.
 */
export async function runDenoTest(
  args: readonly string[],
): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args: ["test", "--no-prompt", ...args],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}
