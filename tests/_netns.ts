// Copyright 2026 the sockfsm authors. MIT license.
/**
 * Network namespaces for tests that need an address that never answers: a
 * namespace of the test's own with `lo` and a `dummy` interface that has a
 * private address, no other interface and no route out. A TCP `connect()`
 * to another address of the dummy's subnet sends its SYNs into the dummy
 * device, which drops them: the attempt waits, as towards a blackhole,
 * until the kernel gives up (minutes later). Nothing leaves the namespace.
 *
 * Needs root (`CAP_SYS_ADMIN`, `CAP_NET_ADMIN`), the `ip` command of
 * iproute2, and `--allow-run=ip`.
 */

/** The dummy interface's address in the namespace, and its subnet. */
export const DUMMY_ADDRESS = "10.255.0.1";
const DUMMY_PREFIX = 24;
/** An address of the dummy's subnet that nothing has: SYNs go unanswered. */
export const BLACKHOLE_ADDRESS = "10.255.0.2";

/** What a command run by `ip` printed, and its exit code. */
export interface Output {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A namespace made for one test: run Deno scripts in it. */
export interface Namespace {
  readonly name: string;
  /**
   * Runs `script` (a file path) with this Deno in the namespace, with
   * `flags` (such as `--allow-net`) and `args`; kills it after `timeoutMs`.
   */
  runDeno(
    script: string,
    flags: readonly string[],
    args: readonly string[],
    timeoutMs: number,
  ): Promise<Output>;
}

/** Runs `ip ARGS`, with what it printed and its exit code. */
export async function ip(args: readonly string[]): Promise<Output> {
  const out = await new Deno.Command("ip", {
    args: [...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Runs `ip ARGS`; throws with its standard error if it fails. */
export async function ipOrThrow(args: readonly string[]): Promise<void> {
  const out = await ip(args);
  if (out.code !== 0) {
    throw new Error(`ip ${args.join(" ")} failed (${out.code}): ${out.stderr}`);
  }
}

/**
 * Why namespaces cannot be made here (no `--allow-run=ip`, no `ip`, not
 * root), or `undefined` when they can: found by making one and deleting it.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "network namespaces are Linux's";
  const run = await Deno.permissions.query({ name: "run", command: "ip" });
  if (run.state !== "granted") return "--allow-run=ip is not granted";
  const name = `sockfsm-probe-${crypto.randomUUID().slice(0, 8)}`;
  let made: Output;
  try {
    made = await ip(["netns", "add", name]);
  } catch (error) {
    return `the ip command cannot be run (${(error as Error).message})`;
  }
  if (made.code !== 0) {
    return `ip netns add failed (not root?): ${made.stderr.trim()}`;
  }
  await ip(["netns", "delete", name]);
  return undefined;
}

/**
 * Makes a namespace `sockfsm-<random>` with `lo` up and a `dummy`
 * interface at `10.255.0.1/24` (see `addBlackholeDevice()`), runs `fn`
 * with it, and deletes it in a `finally`, whatever `fn` does. The only
 * routes are the dummy's subnet and `lo`: nothing can leave.
 */
export async function withBlackholeNamespace<T>(
  fn: (ns: Namespace) => Promise<T>,
): Promise<T> {
  const name = `sockfsm-${crypto.randomUUID().slice(0, 12)}`;
  await ipOrThrow(["netns", "add", name]);
  try {
    await ipOrThrow(["-n", name, "link", "set", "lo", "up"]);
    await addBlackholeDevice(name);
    await ipOrThrow([
      "-n",
      name,
      "addr",
      "add",
      `${DUMMY_ADDRESS}/${DUMMY_PREFIX}`,
      "dev",
      "dummy0",
    ]);
    await ipOrThrow(["-n", name, "link", "set", "dummy0", "up"]);
    return await fn({
      name,
      runDeno: (script, flags, args, timeoutMs) =>
        runIn(name, script, flags, args, timeoutMs),
    });
  } finally {
    await ip(["netns", "delete", name]);
  }
}

/**
 * Adds `dummy0` to namespace `name`: a `dummy` interface, which drops what
 * it is given. Where the kernel has no `dummy` driver (some containers),
 * one end of a `veth` pair stands in for it, with ARP off (so no neighbour
 * lookup fails and no ICMP comes back) and its peer up with no address
 * (the peer receives each SYN, which is not for it, and drops it: the
 * namespace does not forward).
 */
async function addBlackholeDevice(name: string): Promise<void> {
  const dummy = await ip([
    "-n",
    name,
    ..."link add dummy0 type dummy".split(" "),
  ]);
  if (dummy.code === 0) return;
  await ipOrThrow([
    "-n",
    name,
    ..."link add dummy0 type veth peer name sink0".split(" "),
  ]);
  await ipOrThrow(["-n", name, "link", "set", "dummy0", "arp", "off"]);
  await ipOrThrow(["-n", name, "link", "set", "sink0", "up"]);
}

/** `ip netns exec NS deno run FLAGS SCRIPT ARGS`, killed after `timeoutMs`. */
async function runIn(
  name: string,
  script: string,
  flags: readonly string[],
  args: readonly string[],
  timeoutMs: number,
): Promise<Output> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      name,
      Deno.execPath(),
      "run",
      "--quiet",
      ...flags,
      script,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder();
    return {
      code: out.code,
      stdout: text.decode(out.stdout),
      stderr: text.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
