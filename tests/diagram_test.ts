// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The pictures of the machine: `toMermaid()` (machine/mermaid.ts), the SVG
 * drawing (tools/diagram_svg.ts) and the diagram tool (tools/diagram.ts).
 * What the pictures say is checked against the machine itself, through
 * `verdict()` and the snapshot graph.
 */
import assert from "node:assert/strict";
import { initialTransition, transition } from "xstate";
import type { Domain } from "../machine/address.ts";
import type { Errno } from "../machine/errno.ts";
import { SocketGraph, type SocketNode } from "../machine/graph.ts";
import { socketDiagram, toMermaid } from "../machine/mermaid.ts";
import {
  type SocketEvent,
  socketMachine,
  type SocketState,
  type SocketType,
} from "../machine/socket_machine.ts";
import { verdict } from "../machine/verdict.ts";
import { readmeBlocks, renderDiagram, updateReadme } from "../tools/diagram.ts";
import { toSvg } from "../tools/diagram_svg.ts";

const KINDS: { domain: Domain; type: SocketType }[] = [
  { domain: "inet", type: "stream" },
  { domain: "inet6", type: "stream" },
  { domain: "unix", type: "stream" },
  { domain: "inet", type: "dgram" },
  { domain: "inet6", type: "dgram" },
  { domain: "unix", type: "dgram" },
];

const CALLS = [
  "BIND",
  "LISTEN",
  "CONNECT",
  "ACCEPT",
  "SEND",
  "RECV",
  "SHUTDOWN",
  "CLOSE",
  "GETSOCKNAME",
  "GETPEERNAME",
  "SETSOCKOPT",
  "GETSOCKOPT",
  "SENDTO",
  "DISCONNECT",
  "POLL",
] as const;

/** A diagram's Mermaid text, read back. */
interface Parsed {
  readonly start: string;
  readonly states: Set<string>;
  /** "from to" -> triggers. */
  readonly edges: Map<string, string[]>;
  /** state -> its note's lines. */
  readonly notes: Map<string, string[]>;
}

function parse(text: string): Parsed {
  const lines = text.split("\n");
  assert.equal(lines[0], "stateDiagram-v2");
  let start = "";
  const states = new Set<string>();
  const edges = new Map<string, string[]>();
  const notes = new Map<string, string[]>();
  let note: string[] | undefined;
  for (const line of lines.slice(1)) {
    if (note !== undefined) {
      if (line === "  end note") note = undefined;
      else note.push(line.trim());
      continue;
    }
    let m = /^ {2}\[\*\] --> (\w+)$/.exec(line);
    if (m) {
      start = m[1];
      continue;
    }
    m = /^ {2}(\w+) --> (\w+) : (.+)$/.exec(line);
    if (m) {
      states.add(m[1]).add(m[2]);
      const key = `${m[1]} ${m[2]}`;
      assert.ok(!edges.has(key), `one transition line per pair: ${key}`);
      edges.set(key, m[3].split(", "));
      continue;
    }
    m = /^ {2}note right of (\w+)$/.exec(line);
    if (m) {
      note = [];
      notes.set(m[1], note);
    }
  }
  return { start, states, edges, notes };
}

/**
 * What a note says about `call`: its text, or undefined if not refused. A
 * line "every call but A, B and C: X" speaks for every call it does not
 * name; a named one may have a line of its own after it.
 */
function noted(
  parsed: Parsed,
  state: string,
  call: string,
): string | undefined {
  for (const line of parsed.notes.get(state) ?? []) {
    const every = /^every call(?: but (.+))?: (.+)$/.exec(line);
    if (every) {
      const but = every[1]?.split(/, | and /) ?? [];
      if (!but.includes(call)) return every[2];
      continue;
    }
    if (line.startsWith(`${call}: `)) return line.slice(call.length + 2);
  }
  return undefined;
}

/** Every call with each payload a rule reads, for a socket of `domain`. */
function eventsOf(domain: Domain): SocketEvent[] {
  const ports = domain === "unix"
    ? ["path", "abstract"] as const
    : ["kernel", "caller"] as const;
  return [
    ...ports.map((port): SocketEvent => ({
      type: "BIND",
      family: domain,
      port,
    })),
    { type: "LISTEN" },
    { type: "CONNECT", family: domain },
    { type: "CONNECT", family: domain, nonblocking: true },
    { type: "CONNECT", family: domain, target: "refused" },
    { type: "CONNECT", family: domain, target: "refused", nonblocking: true },
    { type: "ACCEPT" },
    { type: "ACCEPT", nonblocking: true },
    { type: "SEND" },
    { type: "RECV" },
    { type: "RECV", nonblocking: true },
    { type: "SHUTDOWN", how: "read" },
    { type: "SHUTDOWN", how: "write" },
    { type: "SHUTDOWN", how: "both" },
    { type: "CLOSE" },
    { type: "GETSOCKNAME" },
    { type: "GETPEERNAME" },
    ...(["SO_REUSEADDR", "SO_REUSEPORT", "TCP_NODELAY", "IPV6_V6ONLY"] as const)
      .map((option): SocketEvent => ({ type: "SETSOCKOPT", option, on: true })),
    ...(["SO_ERROR", "TCP_NODELAY", "IPV6_V6ONLY"] as const).map(
      (option): SocketEvent => ({ type: "GETSOCKOPT", option }),
    ),
    { type: "SENDTO", family: domain },
    { type: "DISCONNECT" },
    { type: "POLL" },
    { type: "PEER_CONNECT" },
    { type: "PEER_CLOSE" },
  ];
}

const graph = new SocketGraph(socketMachine);

/**
 * Every snapshot a fresh socket of a kind reaches, found by the test's own
 * walk over the machine's graph.
 */
function reachable(domain: Domain, type: SocketType): SocketNode[] {
  const start = graph.start({ domain, type });
  const seen = new Set([start]);
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    const next = eventsOf(domain).flatMap((event) => {
      const step = graph.step(node, event);
      return step.allowed ? [step.next] : [];
    });
    if (node.inFlight) {
      next.push(graph.settle(node, "done"), graph.settle(node, "error"));
    }
    for (const n of next) {
      if (!seen.has(n)) {
        seen.add(n);
        queue.push(n);
      }
    }
  }
  return queue;
}

/** The snapshot after `events` from a fresh socket, settling effects done. */
function snapshotAfter(
  kind: { domain: Domain; type: SocketType },
  events: SocketEvent[],
) {
  let [snapshot] = initialTransition(socketMachine, kind);
  for (const event of events) {
    [snapshot] = transition(socketMachine, snapshot, event);
    const invoke = socketMachine.root.states[snapshot.value].invoke[0];
    if (invoke !== undefined) {
      [snapshot] = transition(
        socketMachine,
        snapshot,
        { type: `xstate.done.actor.${invoke.id}` } as unknown as SocketEvent,
      );
    }
  }
  return snapshot;
}

Deno.test("toMermaid() gives the same text every time, and a fresh walk agrees", () => {
  for (const kind of KINDS) {
    const first = toMermaid(kind);
    assert.equal(toMermaid(kind), first);
    assert.equal(toMermaid({ ...kind }), first);
  }
  // Walked again after every other kind warmed the graph up: same text.
  assert.equal(
    toMermaid({ domain: "inet", type: "stream" }),
    toMermaid({ domain: "inet", type: "stream" }),
  );
});

Deno.test("toMermaid() lists its transitions in state order and its notes in call order", () => {
  const diagram = socketDiagram({ domain: "inet", type: "stream" });
  const order = diagram.states.map((s) => s.state);
  assert.equal(order[0], "created");
  const rank = (s: string) => order.indexOf(s as SocketState);
  for (let i = 1; i < diagram.edges.length; i++) {
    const [a, b] = [diagram.edges[i - 1], diagram.edges[i]];
    assert.ok(
      rank(a.from) < rank(b.from) ||
        (a.from === b.from && rank(a.to) < rank(b.to)),
      `${a.from}->${a.to} before ${b.from}->${b.to}`,
    );
  }
  for (const state of diagram.states) {
    const calls = state.refused.map((r) => CALLS.indexOf(r.call));
    assert.deepEqual(calls, [...calls].sort((a, b) => a - b));
  }
});

Deno.test("toMermaid() draws every state a socket of the kind reaches, and no other", () => {
  for (const kind of KINDS) {
    const parsed = parse(toMermaid(kind));
    const states = new Set(
      reachable(kind.domain, kind.type).map((n) => n.state),
    );
    assert.deepEqual(
      [...parsed.states].sort(),
      [...states].sort(),
      `${kind.domain} ${kind.type}`,
    );
    assert.equal(parsed.start, "created");
  }
  const stream = parse(toMermaid({ domain: "inet", type: "stream" })).states;
  assert.deepEqual(
    [...stream].sort(),
    Object.keys(socketMachine.root.states).sort(),
  );
  const unix = parse(toMermaid({ domain: "unix", type: "stream" })).states;
  assert.ok(unix.has("listening") && !unix.has("connectRefused"));
  for (const domain of ["inet", "unix"] as const) {
    const dgram = parse(toMermaid({ domain, type: "dgram" })).states;
    for (const state of ["listening", "opening", "connectRefused"]) {
      assert.ok(!dgram.has(state), `${domain} dgram has no ${state}`);
    }
    assert.ok(dgram.has("connected") && dgram.has("closed"));
  }
});

Deno.test("toMermaid() draws the completion of every in-flight effect", () => {
  const parsed = parse(toMermaid({ domain: "inet", type: "stream" }));
  const triggers = (from: string, to: string) =>
    parsed.edges.get(`${from} ${to}`) ?? [];
  assert.ok(triggers("binding", "bound").includes("done"));
  assert.ok(triggers("binding", "created").includes("error"));
  assert.ok(triggers("opening", "listening").includes("done"));
  assert.ok(triggers("connecting", "connected").includes("done"));
  assert.ok(triggers("connecting", "created").includes("error"));
  assert.ok(triggers("shuttingDown", "shutWr").includes("done"));
  assert.deepEqual(triggers("created", "binding"), ["BIND"]);
  assert.deepEqual(triggers("created", "connecting"), ["CONNECT"]);
  assert.deepEqual(triggers("created", "connected"), ["CONNECT (O_NONBLOCK)"]);
  // Parallel transitions are one line. created keeps its state on these
  // (SEND where it answers an error that disconnect() left pending).
  assert.deepEqual(triggers("created", "created"), [
    "SEND",
    "RECV",
    "SHUTDOWN",
    "GETSOCKNAME",
    "SETSOCKOPT",
    "GETSOCKOPT",
    "SENDTO",
    "DISCONNECT",
    "POLL",
  ]);
  for (const state of ["created", "binding", "listening", "shutRdWr"]) {
    assert.deepEqual(triggers(state, "closed"), ["CLOSE"]);
  }
});

Deno.test("toMermaid() leaves out the environment, which never changes a state", () => {
  for (const kind of KINDS) {
    for (const node of reachable(kind.domain, kind.type)) {
      for (const type of ["PEER_CONNECT", "PEER_CLOSE"] as const) {
        const step = graph.step(node, { type });
        if (step.allowed) assert.equal(step.next.state, node.state);
      }
    }
    assert.ok(!toMermaid(kind).includes("PEER_"));
  }
});

Deno.test("toMermaid() notes the errnos the machine refuses calls with", () => {
  const stream = { domain: "inet", type: "stream" } as const;
  const dgram = { domain: "inet", type: "dgram" } as const;
  const parsedStream = parse(toMermaid(stream));
  const parsedDgram = parse(toMermaid(dgram));
  const created = snapshotAfter(stream, []);
  assert.equal(noted(parsedStream, "created", "ACCEPT"), "EINVAL");
  assert.deepEqual(verdict(created, { type: "ACCEPT" }), {
    allowed: false,
    errno: "EINVAL",
    why: verdict(created, { type: "ACCEPT" }).why,
  });
  assert.equal(noted(parsedStream, "created", "LISTEN"), undefined);
  assert.equal(verdict(created, { type: "LISTEN" }).allowed, true);

  const closed = snapshotAfter(stream, [{ type: "CLOSE" }]);
  assert.deepEqual(parsedStream.notes.get("closed"), ["every call: EBADF"]);
  for (const event of eventsOf("inet")) {
    if (event.type.startsWith("PEER_")) continue;
    const answer = verdict(closed, event);
    assert.ok(
      !answer.allowed && !answer.waits && answer.errno === "EBADF",
      event.type,
    );
  }

  const listening = snapshotAfter(stream, [{ type: "LISTEN" }]);
  assert.equal(listening.value, "listening");
  const connect: SocketEvent = { type: "CONNECT", family: "inet" };
  assert.equal(noted(parsedStream, "listening", "CONNECT"), "EISCONN");
  assert.equal(
    (verdict(listening, connect) as { errno: Errno }).errno,
    "EISCONN",
  );

  const createdDgram = snapshotAfter(dgram, []);
  assert.equal(noted(parsedDgram, "created", "LISTEN"), "EOPNOTSUPP");
  assert.equal(
    (verdict(createdDgram, { type: "LISTEN" }) as { errno: Errno }).errno,
    "EOPNOTSUPP",
  );
  // A call made while bind() is in flight waits for it; getsockname and
  // getpeername answer at once, as the state before.
  assert.deepEqual(parsedStream.notes.get("binding"), [
    "every call but CLOSE, GETSOCKNAME, GETPEERNAME and POLL: waits",
    "GETPEERNAME: sometimes ENOTCONN",
  ]);
});

Deno.test("toMermaid() notes exactly what the graph refuses, state by state", () => {
  for (const kind of KINDS) {
    const parsed = parse(toMermaid(kind));
    // state -> call -> errnos refused with, and whether ever let through.
    const seen = new Map<string, { errnos: Set<string>; allowed: boolean }>();
    for (const node of reachable(kind.domain, kind.type)) {
      for (const event of eventsOf(kind.domain)) {
        if (event.type.startsWith("PEER_")) continue;
        const key = `${node.state} ${event.type}`;
        const entry = seen.get(key) ?? { errnos: new Set(), allowed: false };
        seen.set(key, entry);
        const step = graph.step(node, event);
        if (step.allowed) entry.allowed = true;
        else entry.errnos.add(step.waits ? "waits" : step.errno);
      }
    }
    for (const [key, { errnos, allowed }] of seen) {
      const [state, call] = key.split(" ");
      const expected = errnos.size === 0
        ? undefined
        : `${allowed ? "sometimes " : ""}${[...errnos].sort().join(" or ")}`;
      assert.equal(
        noted(parsed, state, call),
        expected,
        `${kind.domain} ${kind.type}: ${state} ${call}`,
      );
    }
  }
});

Deno.test("toMermaid() writes only what Mermaid accepts", () => {
  for (const kind of KINDS) {
    const text = toMermaid(kind);
    assert.ok(text.endsWith("\n") && !text.includes("\t"));
    const parsed = parse(text);
    for (const state of parsed.states) assert.match(state, /^[a-z][A-Za-z]*$/);
    for (const triggers of parsed.edges.values()) {
      for (const t of triggers) assert.match(t, /^[A-Za-z_ ()]+$/);
    }
    for (const lines of parsed.notes.values()) {
      for (const line of lines) {
        assert.match(
          line,
          /^[A-Za-z ,]+: (sometimes )?([A-Z]+|waits)( or ([A-Z]+|waits))*$/,
        );
      }
    }
    for (const line of text.split("\n")) {
      if (!line.startsWith("  classDef ")) {
        assert.doesNotMatch(line.replace(" --> ", " "), /[;#&<>"{}]/, line);
      }
      assert.doesNotMatch(line, /\s$/, `no trailing space: ${line}`);
    }
  }
});

/**
 * Asserts that `xml` is well-formed: one root, tags that nest and close,
 * quoted attributes, and no stray `<` or `&` in text or attribute values.
 */
function assertWellFormed(xml: string): void {
  const token =
    /<!--[\s\S]*?-->|<\/([A-Za-z][\w.-]*)\s*>|<([A-Za-z][\w.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<|[^<]+/g;
  const entity = /&(?!(amp|lt|gt|quot|apos|#\d+);)/;
  const stack: string[] = [];
  let roots = 0;
  for (const m of xml.matchAll(token)) {
    const [whole, close, open, attrs, selfClosing] = m;
    if (whole === "<") assert.fail(`Stray "<" at ${m.index}`);
    if (close !== undefined) {
      assert.equal(stack.pop(), close, `closing </${close}> at ${m.index}`);
    } else if (open !== undefined) {
      if (stack.length === 0) roots++;
      const names = [...attrs.matchAll(/([\w:.-]+)=/g)].map((a) => a[1]);
      assert.equal(
        new Set(names).size,
        names.length,
        `attributes of <${open}>`,
      );
      for (const value of attrs.matchAll(/="([^"]*)"/g)) {
        assert.doesNotMatch(value[1], entity);
      }
      if (selfClosing !== "/") stack.push(open);
    } else if (!whole.startsWith("<!--")) {
      if (stack.length === 0) {
        assert.match(whole, /^\s*$/, "text outside the root");
      }
      assert.doesNotMatch(whole, entity);
    }
  }
  assert.deepEqual(stack, [], "every element is closed");
  assert.equal(roots, 1, "one root element");
}

Deno.test("toSvg() writes well-formed XML with one <g> per state", () => {
  for (const kind of KINDS) {
    const diagram = socketDiagram(kind);
    const svg = toSvg(diagram);
    assertWellFormed(svg);
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" '));
    const groups = [...svg.matchAll(/<g class="state" data-state="(\w+)">/g)]
      .map((m) => m[1]);
    assert.deepEqual(groups.sort(), diagram.states.map((s) => s.state).sort());
    assert.equal(toSvg(socketDiagram(kind)), svg, "the same drawing again");
    // Every refusal of the diagram is on its card.
    for (const state of diagram.states) {
      const card = svg.slice(svg.indexOf(`data-state="${state.state}"`));
      const end = card.indexOf("</g>");
      for (const r of state.refused) {
        for (const errno of r.errnos) {
          assert.ok(
            card.slice(0, end).includes(errno),
            `${state.state} ${r.call}`,
          );
        }
      }
    }
  }
  assertWellFormed(toSvg(socketDiagram({ domain: "unix", type: "dgram" })));
  assert.throws(() => assertWellFormed("<a><b></a></b>"));
  assert.throws(() => assertWellFormed("<a>x & y</a>"));
});

Deno.test("renderDiagram() makes a page that needs no network", () => {
  const kind = { domain: "inet", type: "dgram" } as const;
  const page = renderDiagram("html", kind);
  assert.ok(page.startsWith("<!doctype html>"));
  assert.ok(page.includes(toSvg(socketDiagram(kind)).trimEnd()));
  assert.doesNotMatch(page, /<script|<link|src=|@import/);
  const urls = [...page.matchAll(/https?:\/\/[^\s"']+/g)].map((m) => m[0]);
  assert.deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"]);
  assert.equal(renderDiagram("mermaid", kind), toMermaid(kind));
  assert.equal(renderDiagram("svg", kind), toSvg(socketDiagram(kind)));
});

Deno.test("updateReadme() rewrites the marked blocks and nothing else", () => {
  const readme = [
    "# x",
    "",
    "<!-- diagram:inet-stream -->",
    "stale",
    "<!-- /diagram -->",
    "",
    "between",
    "",
    "<!-- diagram:inet-dgram -->",
    "<!-- /diagram -->",
    "end",
    "",
  ].join("\n");
  const { text, updated, blocks } = updateReadme(readme);
  assert.deepEqual(updated, ["inet-stream", "inet-dgram"]);
  assert.deepEqual(blocks, ["inet-stream", "inet-dgram"]);
  assert.ok(
    text.startsWith("# x\n\n<!-- diagram:inet-stream -->\n\n```mermaid\n"),
  );
  assert.ok(text.includes("<!-- /diagram -->\n\nbetween\n\n"));
  assert.ok(text.endsWith("<!-- /diagram -->\nend\n"));
  const read = readmeBlocks(text);
  assert.equal(read[0].mermaid, toMermaid({ domain: "inet", type: "stream" }));
  assert.equal(read[1].mermaid, toMermaid({ domain: "inet", type: "dgram" }));
  // Up to date: nothing to do; no markers: nothing at all.
  assert.deepEqual(updateReadme(text).updated, []);
  assert.equal(updateReadme(text).text, text);
  assert.deepEqual(updateReadme("# y\n"), {
    text: "# y\n",
    updated: [],
    blocks: [],
  });
});

Deno.test("updateReadme() refuses an unknown kind and an unclosed block", () => {
  assert.throws(
    () => updateReadme("<!-- diagram:inet-raw -->\n<!-- /diagram -->\n"),
    SyntaxError,
  );
  assert.throws(
    () => updateReadme("<!-- diagram:inet-stream -->\nno end\n"),
    SyntaxError,
  );
});

const README = new URL("../README.md", import.meta.url);
const readmeText = (() => {
  try {
    return Deno.readTextFileSync(README);
  } catch {
    return "";
  }
})();

Deno.test({
  name: "README's diagrams are the machine's (deno task diagram --readme)",
  ignore: !readmeText.includes("<!-- diagram:"),
  fn() {
    const blocks = readmeBlocks(readmeText);
    assert.ok(blocks.length > 0);
    for (const block of blocks) {
      assert.equal(
        block.mermaid,
        toMermaid(block.options),
        `README block diagram:${block.name} is stale: run deno task diagram --readme`,
      );
    }
    assert.deepEqual(updateReadme(readmeText).updated, []);
  },
});

const CHROMIUM = "/usr/bin/chromium";
/** Why the browser test cannot run here, or `undefined` when it can. */
const noChromium = (() => {
  try {
    if (!Deno.statSync(CHROMIUM).isFile) return `${CHROMIUM} is not a file`;
  } catch {
    return `${CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)`;
  }
  const run = Deno.permissions.querySync({ name: "run", command: CHROMIUM });
  return run.state === "granted"
    ? undefined
    : `--allow-run=${CHROMIUM} is not granted (deno task test grants it)`;
})();

async function chromium(dir: string, args: string[]): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 120_000);
  try {
    const { stdout } = await new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        `--user-data-dir=${dir}/profile`,
        ...args,
      ],
      stdout: "piped",
      stderr: "null",
      signal: abort.signal,
    }).output();
    return new TextDecoder().decode(stdout);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: `renderDiagram() pages render in headless Chromium${
    noChromium === undefined ? "" : ` (skipped: ${noChromium})`
  }`,
  ignore: noChromium !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sockfsm_diagram_" });
    try {
      const kind = { domain: "inet", type: "stream" } as const;
      const html = `${dir}/diagram.html`;
      const svg = `${dir}/diagram.svg`;
      const png = `${dir}/diagram.png`;
      await Deno.writeTextFile(html, renderDiagram("html", kind));
      await Deno.writeTextFile(svg, renderDiagram("svg", kind));
      await chromium(dir, [
        `--screenshot=${png}`,
        "--window-size=1600,1200",
        `file://${html}`,
      ]);
      const image = await Deno.readFile(png);
      assert.deepEqual(
        [...image.subarray(0, 8)],
        [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      );
      // A blank 1600x1200 page is a few kB; the drawing is far more.
      assert.ok(image.length > 50_000, `screenshot of ${image.length} bytes`);
      // The SVG file alone parses as XML in the browser.
      const dom = await chromium(dir, ["--dump-dom", `file://${svg}`]);
      assert.ok(dom.includes('data-state="listening"'));
      assert.ok(!dom.includes("parsererror"), dom.slice(0, 500));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
