// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The agent of a `processPco()`, as a program: `deno run <permissions>
 * <this module>`. It speaks the PCO protocol in frames over its stdin and
 * stdout, and nothing else goes to stdout. It ends when its caller says
 * bye or closes its stdin (the caller is gone), closing every socket first.
 *
 * @module
 */
import { Agent } from "./pco_agent.ts";
import { encodeFrame, FrameReader, type Request } from "./pco_protocol.ts";

/** Writes frames to stdout in order, each whole. */
let writing: Promise<void> = Promise.resolve();
const stdout = Deno.stdout.writable.getWriter();

function send(message: Parameters<typeof encodeFrame>[0]): void {
  const frame = encodeFrame(message);
  writing = writing.then(() => stdout.write(frame)).catch(() => {
    // The caller is gone: nobody reads the answers any more.
    agent.closeAll();
    Deno.exit(0);
  });
}

const agent = new Agent(send);
const frames = new FrameReader();
try {
  for await (const chunk of Deno.stdin.readable) {
    for (const message of frames.push(chunk)) {
      agent.handle(message as Request);
    }
    if (agent.ended) break;
  }
} finally {
  agent.closeAll();
  await writing;
  Deno.exit(0);
}
