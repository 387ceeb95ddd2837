// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A PCO that Deno's permissions do not let start is refused with `EACCES`
 * and the flag that grants it, before any worker or process exists; with
 * the flags, it starts. Each case runs in a child with those permissions.
 */
import assert from "node:assert/strict";
import { answerOf, canRunDeno, runChild } from "./_child.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");

Deno.test({
  name:
    "workerPco() without read access to sockfsm's modules, and processPco() without --allow-run, are refused with EACCES naming the flag",
  ignore: !canRunDeno,
  async fn() {
    const answers = await runChild(["--allow-net"], "pco");
    const worker = answerOf(answers, "deno", "workerPco");
    assert.equal(worker.code, "EACCES");
    assert.equal(
      worker.message,
      `Cannot start PCO "worker 1": EACCES, a Worker needs read access to sockfsm's modules; grant --allow-read=${ROOT}`,
    );
    const process = answerOf(answers, "deno", "processPco");
    assert.equal(process.code, "EACCES");
    assert.match(
      process.message!,
      /^Cannot start a process PCO with "deno": .*; grant --allow-run=deno$/,
    );
  },
});

Deno.test({
  name:
    "workerPco() starts with read access to sockfsm's modules, and processPco() with --allow-run=deno",
  ignore: !canRunDeno,
  async fn() {
    const answers = await runChild(
      ["--allow-net", `--allow-read=${ROOT}`, "--allow-run=deno"],
      "pco",
    );
    assert.equal(answerOf(answers, "deno", "workerPco").code, "ok");
    assert.equal(answerOf(answers, "deno", "processPco").code, "ok");
  },
});
