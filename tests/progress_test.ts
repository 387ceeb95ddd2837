// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The conformance tool's feedback: counted in place on a terminal, and
 * exactly one line per kind elsewhere (CI logs), where rewriting a line
 * would only fill the log.
 */
import assert from "node:assert/strict";
import { Progress, type ProgressSink } from "../tools/_progress.ts";

function sink(terminal: boolean): ProgressSink & { text: string } {
  return {
    terminal,
    text: "",
    write(text) {
      this.text += text;
    },
  };
}

Deno.test("Progress in a non-terminal writes exactly one line per job, once it is done", () => {
  const out = sink(false);
  for (const kind of ["inet stream", "unix dgram"]) {
    const progress = new Progress(out, kind);
    for (let i = 1; i <= 1000; i++) progress.update(i, 1000);
    progress.done("1000/1000 scenarios");
  }
  assert.equal(
    out.text,
    "inet stream 1000/1000 scenarios\nunix dgram 1000/1000 scenarios\n",
  );
});

Deno.test("Progress on a terminal counts in place at most every 100 ms, then ends the line with the summary", () => {
  const out = sink(true);
  let now = 0;
  const progress = new Progress(out, "inet stream", () => now);
  for (let i = 1; i <= 300; i++) {
    progress.update(i, 300);
    now += 1; // 1 ms a scenario
  }
  progress.done("300/300 scenarios");
  assert.equal(
    out.text,
    "\r\x1b[2Kinet stream 1/300" +
      "\r\x1b[2Kinet stream 101/300" +
      "\r\x1b[2Kinet stream 201/300" +
      "\r\x1b[2Kinet stream 300/300 scenarios\n",
  );
});
