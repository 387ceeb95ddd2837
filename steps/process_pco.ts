// Copyright 2026 the sockfsm authors. MIT license.
import { SocketError } from "../machine/errors.ts";
import { AgentPco, type Pco, within } from "./pco.ts";
import { PcoLink } from "./pco_link.ts";
import { encodeFrame, FrameReader } from "./pco_protocol.ts";

/** Options for {@linkcode processPco}. */
export interface ProcessPcoOptions {
  /**
   * What runs the agent's `deno run …`: a command prefix, such as
   * `["ip", "netns", "exec", "h1"]` (a network namespace), `["ssh", "host"]`
   * (another machine) or `["docker", "exec", "-i", "c"]` (a container).
   * Anything that carries standard input and output will do. Absent: a
   * subprocess here.
   */
  command?: readonly string[];
  /**
   * The agent's permissions, as `deno run` flags.
   *
   * @default {["--allow-net", "--allow-read", "--allow-write", "--allow-ffi"]}
   */
  permissions?: readonly string[];
  /**
   * The `deno` the command runs.
   *
   * @default {this process's executable (`Deno.execPath()`) without a
   * `command`, `"deno"` (found on the PATH there) with one}
   */
  deno?: string;
  /**
   * The agent's module, as `deno run` finds it where the command runs it.
   *
   * @default {this sockfsm's own agent: the same `jsr:`/`https:` or
   * `file:` specifier the caller imported it with}
   */
  agent?: string;
  /**
   * The PCO's name, as its errors give it.
   *
   * @default {the command and the agent's process id}
   */
  name?: string;
  /**
   * How long the agent may take to start (a first run may download and
   * compile it), in milliseconds.
   *
   * @default {60000}
   */
  startTimeout?: number;
}

/** A PCO in another process. */
export interface ProcessPco extends Pco {
  /**
   * The process id of the command (for a prefix that `exec`s, such as
   * `ip netns exec`, the agent's).
   */
  readonly pid: number;
}

/** The agent module of this sockfsm. */
const AGENT = new URL("./pco_agent_main.ts", import.meta.url);

/** The default permissions of an agent. */
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
] as const;

/** How much of the agent's standard error a death message shows. */
const STDERR_TAIL = 2000;

/**
 * A PCO in another process: a sockfsm agent started by running
 * `[...command, deno, "run", ...permissions, agent]`, which speaks the PCO
 * protocol over its standard input and output. With no `command` it is a
 * subprocess here; with one, it runs wherever that command runs it, and no
 * daemon needs installing there: only Deno, and the agent's module, which
 * `deno run` fetches by its specifier (from JSR, or a `file:` path that
 * must exist there too).
 *
 * If the agent's process dies, every call in flight on its sockets rejects
 * at once with `EIO` naming the PCO, and so does every call after.
 *
 * @example A server in a subprocess, a client here
 * ```ts
 * import { processPco, streamConnection } from "@sockfsm/sockfsm";
 * import assert from "node:assert/strict";
 *
 * await using srvr = await processPco();
 * using pair = await streamConnection({
 *   srvrAddr: { hostname: "127.0.0.1", port: 0 },
 *   srvr,
 * });
 * await pair.srvrS.send(new TextEncoder().encode("from afar"));
 * assert.equal(new TextDecoder().decode(await pair.clntS.recv()), "from afar");
 * ```
 *
 * @param options The command prefix, the agent's permissions, and more.
 * @returns The PCO, once its agent has said hello.
 * @throws {SocketError} `ENOENT` when the command cannot be run; `EIO`
 * when the agent ends before it speaks (its standard error tells why) or
 * does not speak in time; `EPROTONOSUPPORT` when it speaks another
 * protocol version; `EINVAL` for bad options.
 */
export async function processPco(
  options: ProcessPcoOptions = {},
): Promise<ProcessPco> {
  const { command = [], permissions = PERMISSIONS } = options;
  checkStrings("command", command);
  checkStrings("permissions", permissions);
  const deno = options.deno ?? (command.length === 0 ? thisDeno() : "deno");
  const agent = options.agent ?? AGENT.href;
  const argv = [
    ...command,
    deno,
    "run",
    "--quiet",
    "--no-prompt",
    ...configFlags(agent),
    ...permissions,
    agent,
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    const denied = error instanceof Deno.errors.NotCapable;
    throw new SocketError(
      denied
        ? "EACCES"
        : error instanceof Deno.errors.NotFound
        ? "ENOENT"
        : "EIO",
      "socket",
      `Cannot start a process PCO with ${JSON.stringify(argv[0])}: ${
        error instanceof Error ? error.message : String(error)
      }; ${
        denied
          ? `grant --allow-run=${argv[0]}`
          : "check that the command exists where it runs"
      }`,
      { cause: error },
    );
  }
  const name = options.name ??
    (command.length === 0
      ? `process ${child.pid}`
      : `${command.join(" ")} (pid ${child.pid})`);
  const stdin = child.stdin.getWriter();
  const link = new PcoLink(name, (request) => {
    stdin.write(encodeFrame(request)).catch(() => {
      // The agent is gone; its end is reported once its process has ended.
    });
  });
  let stderr = "";
  const readingErr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr = (stderr + decoder.decode(chunk, { stream: true })).slice(
        -STDERR_TAIL,
      );
    }
  })().catch(() => {});
  const reading = (async () => {
    const frames = new FrameReader();
    for await (const chunk of child.stdout) {
      for (const message of frames.push(chunk)) link.receive(message);
    }
  })().catch(() => {});
  const ended = (async () => {
    const [status] = await Promise.all([child.status, reading, readingErr]);
    const how = status.signal !== null
      ? `it was killed by ${status.signal}`
      : `it exited with code ${status.code}`;
    const said = stderr.trim();
    link.end(
      `its agent process ${child.pid} ended: ${how}${
        said === "" ? "" : `; its standard error ends: ${said}`
      }`,
      true,
    );
  })();
  const stop = async () => {
    if (!link.ended) {
      await within(link.call({ op: "bye", sock: 0 }).catch(() => {}), 5000);
    }
    await stdin.close().catch(() => {});
    if (await within(ended.then(() => true), 5000) === undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It ended meanwhile.
      }
      await ended;
    }
  };
  const pco = Object.assign(new AgentPco("process", link, { stop }), {
    pid: child.pid,
  });
  const timeout = options.startTimeout ?? 60_000;
  const started = await within(
    link.hello.then(() => true as const, (error: SocketError) => error),
    timeout,
  );
  if (started === true) return pco;
  const failure = started ?? new SocketError(
    "EIO",
    "socket",
    `Cannot start PCO "${name}": EIO, its agent did not say hello within ${timeout} ms`,
    { pco: name },
  );
  // An agent that has not said hello is not asked to say bye: it would
  // not answer, and close() would wait for it.
  link.end("it did not say hello in time", false);
  await pco.close();
  throw failure;
}

/**
 * The `deno` of a subprocess agent: this process's own executable, when
 * `--allow-run` grants it, else the `deno` on the PATH (`--allow-run=deno`).
 */
function thisDeno(): string {
  const path = Deno.execPath();
  const asked = Deno.permissions.querySync({ name: "run", command: path });
  return asked.state === "granted" ? path : "deno";
}

/**
 * `--config` for an agent run from files: the package's own `deno.json`,
 * whose imports its modules use. An agent fetched from a registry has its
 * imports resolved at publish.
 */
function configFlags(agent: string): string[] {
  if (!agent.startsWith("file:")) return ["--no-config"];
  if (agent !== AGENT.href) return [];
  // The package's deno.json: published with it, beside steps/.
  const config = new URL("../deno.json", AGENT);
  return ["--config", decodeURIComponent(config.pathname)];
}

function checkStrings(what: string, value: unknown): void {
  if (
    !Array.isArray(value) || !value.every((item) => typeof item === "string")
  ) {
    throw new SocketError(
      "EINVAL",
      "socket",
      `Cannot start a process PCO: ${what} must be an array of strings, such as ${
        what === "command" ? '["ip", "netns", "exec", "h1"]' : '["--allow-net"]'
      }, got ${JSON.stringify(value)}`,
    );
  }
}
