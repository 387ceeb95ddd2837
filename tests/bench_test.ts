// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The bench cannot rot silently: `deno task bench` (with the task's own
 * permissions) runs a small group in `--quick` mode and prints its table,
 * and a figure whose case fails is reported as failed while the others are
 * still measured.
 */
import assert from "node:assert/strict";
import {
  type Context,
  opCase,
  pairedRounds,
  rateFigure,
  table,
} from "../bench/_report.ts";
import { canRunDeno, NO_RUN } from "./_child.ts";
import { within } from "./_net.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/**
 * The quick connect and pco groups take a few seconds each; a loaded
 * machine, more.
 */
const BENCH_MS = 120_000;

async function bench(args: string[]): Promise<Deno.CommandOutput> {
  return await within(
    BENCH_MS + 5000,
    new Deno.Command("deno", {
      args: ["task", "--quiet", "bench", ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(BENCH_MS),
    }).output(),
    "deno task bench",
  );
}

Deno.test({
  name:
    "deno task bench --quick --only connect prints the header and one table row per figure of the group",
  ignore: !canRunDeno,
  async fn() {
    const { code, stdout, stderr } = await bench([
      "--quick",
      "--only",
      "connect",
    ]);
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${new TextDecoder().decode(stderr)}\n${out}`);
    assert.match(out, /^sockfsm bench, \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.match(out, /^- Linux \S+, Deno \d+\.\d+\.\d+ /m);
    assert.match(
      out,
      /^\| group \| figure \| sockfsm \| baseline \(same run\) \| ratio \| target \| met \|$/m,
    );
    const rows = out.split("\n").filter((line) =>
      line.startsWith("| connect |")
    );
    assert.equal(rows.length, 3, out);
    for (const row of rows) {
      const cells = row.split("|").slice(1, -1).map((cell) => cell.trim());
      assert.equal(cells.length, 7, row);
      const [, what, ours, theirs, ratio, , met] = cells;
      assert.match(what, /kept listener, (deno|posix)$/, row);
      if (/^(failed|skipped): /.test(met)) continue;
      assert.match(ours, /^[\d,.]+\/s$/, row);
      assert.match(theirs, /^(raw Deno|hand libc): [\d,.]+\/s$/, row);
      assert.match(ratio, /^\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)$/, row);
    }
  },
});

Deno.test({
  name:
    "deno task bench --quick --only pco measures every PCO figure under the task's permissions: rates against in-process, call and start costs against here",
  ignore: !canRunDeno,
  async fn() {
    const { code, stdout, stderr } = await bench(["--quick", "--only", "pco"]);
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${new TextDecoder().decode(stderr)}\n${out}`);
    const rows = out.split("\n").filter((line) => line.startsWith("| pco |"))
      .map((row) => row.split("|").slice(1, -1).map((cell) => cell.trim()));
    // Five placings on two backends, two calls through two kinds, two starts.
    assert.equal(rows.length, 16, out);
    for (const [, what, ours, theirs, ratio, target, met] of rows) {
      const row = `${what} | ${ours} | ${theirs} | ${met}`;
      // The task's permissions must let every PCO start: no figure fails.
      assert.equal(met, "—", row);
      assert.equal(target, "—", row);
      assert.match(ratio, /^\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)$/, row);
      if (what.startsWith("`streamConnection()`")) {
        assert.match(ours, /^[\d,.]+\/s$/, row);
        assert.match(theirs, /^in-process (deno|posix): [\d,.]+\/s$/, row);
      } else if (what.startsWith("start: ")) {
        assert.match(ours, /^[\d,.]+ ms$/, row);
        assert.match(theirs, /^bare (Worker|deno): [\d,.]+ ms$/, row);
      } else {
        assert.match(ours, /^[\d,.]+ µs(\/call)?$/, row);
        assert.match(theirs, /^(getsockopt|ping-pong) here: [\d,.]+ µs/, row);
      }
    }
    for (const kind of ["workerPco", "processPco"]) {
      assert.ok(rows.some(([, what]) => what.includes(kind)), out);
    }
  },
});

Deno.test({
  name: "deno task bench refuses an unknown group with exit code 2",
  ignore: !canRunDeno,
  async fn() {
    const { code, stderr } = await bench(["--only", "nosuch"]);
    assert.equal(code, 2);
    assert.match(
      new TextDecoder().decode(stderr),
      /--only: unknown group nosuch; the groups are model, scale, memory, data, connect, procedure, pco/,
    );
  },
});

if (!canRunDeno) console.log(`bench_test: ${NO_RUN}`);

Deno.test("pairedRounds() reports a case that throws as failed, and measures the others every round", async () => {
  const context: Context = {
    quick: true,
    rounds: 3,
    caseMs: 5,
    log() {},
    note() {},
  };
  let calls = 0;
  const outcomes = await within(
    10_000,
    pairedRounds(context, "test", [
      opCase("ours", () => {
        calls++;
      }),
      opCase("theirs", () => Promise.resolve()),
      opCase("broken", () => {
        throw new Error("no such socket");
      }),
    ]),
    "pairedRounds()",
  );
  assert.ok(calls > 0);
  const ours = outcomes.get("ours")!;
  assert.ok("rates" in ours && ours.rates.length === 3);
  const failed = rateFigure("test", "broken one", outcomes, "broken", "theirs");
  assert.equal(failed.met, "failed: broken: no such socket");
  const measured = rateFigure("test", "ours", outcomes, "ours", "theirs", {
    atLeast: 0,
  });
  assert.match(measured.ratio, /^\d+\.\d\d \(/);
  assert.equal(measured.met, "yes");
  assert.match(
    table([failed, measured]),
    /^\| test \| broken one \| — \| — \| — \| — \| failed: broken: no such socket \|$/m,
  );
});

Deno.test("the bench's figures show a value that rounds up to the next power of ten in digits, never in exponent form", async () => {
  const { duration, rate } = await import("../bench/_report.ts");
  assert.equal(duration(99.97), "100 ms");
  assert.equal(duration(99.4), "99 ms");
  assert.equal(duration(1.234), "1.2 ms");
  assert.equal(rate(999.96), "1,000/s");
  assert.equal(rate(123.44), "123/s");
});
