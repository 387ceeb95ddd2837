// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The package check ships what the exported API reaches and nothing else,
 * and keeps every doc link pointing at an export.
 */
import assert from "node:assert/strict";
import {
  docLinks,
  packageProblems,
  startedModules,
} from "../tools/check_package.ts";

const OWN = ["README.md", "LICENSE", "deno.json"];

Deno.test("packageProblems() finds nothing when the package ships exactly what mod.ts reaches", () => {
  assert.deepEqual(
    packageProblems({
      shipped: [...OWN, "mod.ts", "a.ts"],
      reached: ["mod.ts", "a.ts"],
      exported: new Set(["a"]),
      source: () => "/** See {@linkcode a}. */",
    }),
    [],
  );
});

Deno.test("packageProblems() lists a shipped module nothing reaches, and a reached one not shipped", () => {
  const problems = packageProblems({
    shipped: [...OWN, "mod.ts", "steps/harness.ts", "notes.txt"],
    reached: ["mod.ts", "steps/socket.ts"],
    exported: new Set(),
    source: () => "",
  });
  assert.equal(problems.length, 3);
  assert.match(
    problems[0],
    /^steps\/harness\.ts: shipped, but mod\.ts does not reach it/,
  );
  assert.match(
    problems[1],
    /^notes\.txt: shipped, but mod\.ts does not reach it/,
  );
  assert.match(
    problems[2],
    /^steps\/socket\.ts: mod\.ts reaches it, but it is not shipped/,
  );
});

Deno.test("packageProblems() lists each doc link to a symbol mod.ts does not export, with its line", () => {
  const problems = packageProblems({
    shipped: [...OWN, "mod.ts"],
    reached: ["mod.ts"],
    exported: new Set(["Socket"]),
    source: () =>
      [
        "/**",
        " * {@linkcode Socket.close} is fine; {@link SysSocket | the fd} is not.",
        " */",
      ].join("\n"),
  });
  assert.deepEqual(problems.length, 1);
  assert.match(
    problems[0],
    /^mod\.ts:2: \{@link SysSocket\} links to SysSocket, which mod\.ts does not export/,
  );
});

Deno.test("docLinks() reads a tag broken over two JSDoc lines, and skips URLs", () => {
  const text = [
    "/**",
    " * Pictures, derived from it alone. {@linkcode",
    " * socketDiagram} walks it; see {@link https://mermaid.js.org}",
    " * and {@linkcode #decide}.",
    " */",
  ].join("\n");
  assert.deepEqual(docLinks(text), [
    {
      line: 2,
      tag: "linkcode",
      target: "socketDiagram",
      name: "socketDiagram",
    },
    { line: 4, tag: "linkcode", target: "#decide", name: "#decide" },
  ]);
});

Deno.test("startedModules() finds the modules a module starts as a Worker or a subprocess, by URL relative to itself", () => {
  const text = [
    'new Worker(new URL("./pco_worker.ts", import.meta.url), { type: "module" });',
    'const AGENT = new URL(\n  "../steps/agent_main.ts",\n  import.meta.url,\n);',
    'const config = new URL("../deno.json", import.meta.url);',
    'const elsewhere = new URL("./x.ts", "https://example.com/");',
  ].join("\n");
  assert.deepEqual(startedModules(text), [
    "./pco_worker.ts",
    "../steps/agent_main.ts",
  ]);
});
