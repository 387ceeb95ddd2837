// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A fake PCO agent, for `processPco({ agent })`: it says hello in another
 * protocol version, or nothing, or exits at once with a message on its
 * standard error, as `SOCKFSM_FAKE_AGENT` says (see `FakeMode` in
 * `_pco.ts`). It writes its process id to `SOCKFSM_FAKE_AGENT_PIDFILE`
 * first, so that a test can check it is gone afterwards.
 *
 * @module
 */
import { encodeFrame, PROTOCOL_VERSION } from "../steps/pco_protocol.ts";

const mode = Deno.env.get("SOCKFSM_FAKE_AGENT") ?? "version";
const pidFile = Deno.env.get("SOCKFSM_FAKE_AGENT_PIDFILE");
if (pidFile !== undefined) Deno.writeTextFileSync(pidFile, String(Deno.pid));

if (mode === "exit") {
  console.error("fake agent: cannot start here: no sockets for you");
  Deno.exit(3);
}
if (mode === "version" || mode === "stubborn") {
  const hello = {
    hello: "sockfsm-agent",
    version: PROTOCOL_VERSION + 1,
    pid: Deno.pid,
    kernel: null,
  } as const;
  const writer = Deno.stdout.writable.getWriter();
  await writer.write(encodeFrame(hello));
  writer.releaseLock();
}
// Read until the caller closes our input (or kills us).
for await (const _ of Deno.stdin.readable) {
  // Requests are not answered.
}
if (mode === "stubborn") {
  // Stay on: the caller must kill us.
  setInterval(() => {}, 1000);
} else {
  Deno.exit(0);
}
