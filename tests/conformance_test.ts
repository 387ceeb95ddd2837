// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The conformance tool compares `predict()` with `observe()` (and
 * `predictConnection()` with `observeConnection()`), and tells its progress
 * after every scenario.
 */
import assert from "node:assert/strict";
import { CONNECTION_OPS, detectKernel, OPS } from "../mod.ts";
import { libcHolders } from "../steps/libc_lease.ts";
import { compareConnection, compareKind } from "../tools/conformance.ts";

Deno.test("compareKind() runs every scenario of the full depth, agrees with the kernel, and counts its progress up to the total", async () => {
  const kernel = await detectKernel();
  const seen: [number, number][] = [];
  const report = await compareKind(
    "unix",
    "dgram",
    2,
    true,
    kernel,
    (count, total) => seen.push([count, total]),
  );
  const total = OPS.length ** 2;
  assert.equal(report.scenarios, total);
  assert.equal(report.sequences, OPS.length + total);
  assert.deepEqual(report.disagreements, []);
  assert.equal(report.agreeing, report.sequences);
  assert.deepEqual(
    seen,
    Array.from({ length: total }, (_, i) => [i + 1, total]),
  );
  assert.equal(libcHolders(), 0);
});

Deno.test("compareConnection() agrees with the kernel on every scenario of two ops", async () => {
  const kernel = await detectKernel();
  const report = await compareConnection("inet", 2, kernel);
  assert.equal(report.scenarios, CONNECTION_OPS.length ** 2);
  assert.deepEqual(report.disagreements, []);
  assert.equal(libcHolders(), 0);
});
