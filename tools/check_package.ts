// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The package check: the files `deno publish` would ship are exactly the
 * modules the exported API (`mod.ts`) reaches (by import, or by URL as the
 * module of a Worker or a subprocess), plus `README.md`, `LICENSE`
 * and `deno.json`; and every JSDoc `{@link X}` / `{@linkcode X}` in those
 * modules names a symbol `mod.ts` exports, so that no link in the published
 * docs leads nowhere. Exits 1 listing each problem.
 *
 *     deno run --allow-run=deno --allow-read tools/check_package.ts
 *
 * It asks `deno` itself (the one on `PATH`, as `deno task` finds it; hence
 * `--allow-run=deno`) three questions:
 * `deno publish --dry-run --allow-dirty` for the files shipped (a failing dry
 * run fails the check, with its output), `deno info --json mod.ts` for the
 * modules reached, and `deno doc --json mod.ts` for the exported names.
 *
 * @module
 */

/** Files shipped besides the modules: the package's own. */
export const PACKAGE_FILES: readonly string[] = [
  "README.md",
  "LICENSE",
  "deno.json",
];

/** What the check compares; paths are relative to the package's root. */
export interface PackageFacts {
  /** The files the dry run would publish. */
  readonly shipped: readonly string[];
  /** The local modules `mod.ts` reaches, itself included. */
  readonly reached: readonly string[];
  /** The names `mod.ts` exports. */
  readonly exported: ReadonlySet<string>;
  /** The text of a reached module. */
  readonly source: (path: string) => string;
}

/** The problems the check finds, one line each; none when all is well. */
export function packageProblems(facts: PackageFacts): string[] {
  const { shipped, reached, exported, source } = facts;
  const problems: string[] = [];
  const isReached = new Set(reached);
  const isShipped = new Set(shipped);
  for (const path of shipped) {
    if (isReached.has(path) || PACKAGE_FILES.includes(path)) continue;
    problems.push(
      `${path}: shipped, but mod.ts does not reach it; exclude it in deno.json's "publish"`,
    );
  }
  for (const path of reached) {
    if (isShipped.has(path)) continue;
    problems.push(
      `${path}: mod.ts reaches it, but it is not shipped; include it in deno.json's "publish"`,
    );
  }
  for (const path of PACKAGE_FILES) {
    if (!isShipped.has(path)) problems.push(`${path}: not shipped`);
  }
  for (const path of reached) {
    for (const link of docLinks(source(path))) {
      if (exported.has(link.name)) continue;
      problems.push(
        `${path}:${link.line}: {@${link.tag} ${link.target}} links to ${link.name}, which mod.ts does not export; export it or write \`${link.name}\` instead`,
      );
    }
  }
  return problems;
}

/** A JSDoc link in a module's text. */
export interface DocLink {
  /** The line it starts on, from 1. */
  readonly line: number;
  /** `link`, `linkcode` or `linkplain`. */
  readonly tag: string;
  /** What it links to, as written (`Socket.close`). */
  readonly target: string;
  /** The symbol that must be exported (`Socket`). */
  readonly name: string;
}

const LINK = /\{@(link|linkcode|linkplain)\s+([^\s|}]+)/g;

/**
 * The `{@link}` tags of `text` that name a symbol (not a URL), across the
 * `*` that begins each line of a JSDoc comment.
 */
export function docLinks(text: string): DocLink[] {
  // Each line's leading "*" goes, so a tag broken over two lines reads whole;
  // a space keeps the line's length, so offsets still give its number.
  const bare = text.replace(
    /^([ \t]*)\*/gm,
    (_, indent: string) => `${indent} `,
  );
  const links: DocLink[] = [];
  for (const match of bare.matchAll(LINK)) {
    const [, tag, target] = match;
    if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // a URL
    const line = bare.slice(0, match.index).split("\n").length;
    // `Socket.close` needs `Socket`; `#decide`, a private member, is itself.
    const name = target.split(/[.#]/)[0] || target;
    links.push({ line, tag, target, name });
  }
  return links;
}

/** Runs `deno` with `args` in `root`, and gives its exit code and output. */
function deno(
  root: string,
  args: string[],
): { success: boolean; stdout: string; stderr: string } {
  const output = new Deno.Command("deno", {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).outputSync();
  const decoder = new TextDecoder();
  return {
    success: output.success,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The facts, from `deno` itself, about the package at `root`. */
function factsOf(root: string): PackageFacts | string {
  const rootUrl = new URL(`file://${root}/`).href;
  const relative = (url: string) => url.slice(rootUrl.length);
  const dry = deno(root, ["publish", "--dry-run", "--allow-dirty"]);
  if (!dry.success) {
    return `deno publish --dry-run failed:\n${dry.stdout}${dry.stderr}`;
  }
  const shipped = [...`${dry.stdout}\n${dry.stderr}`.matchAll(
    /^\s+(file:\/\/\S+) \(/gm,
  )].map(([, url]) => relative(url));
  // mod.ts, and the modules a reached one starts by URL (a Worker's, a
  // subprocess's), with what each of them reaches.
  const reached: string[] = [];
  const entries = ["mod.ts"];
  for (let i = 0; i < entries.length; i++) {
    const info = deno(root, ["info", "--json", entries[i]]);
    if (!info.success) return `deno info failed:\n${info.stderr}`;
    const modules = (JSON.parse(info.stdout) as {
      modules: { specifier: string }[];
    }).modules
      .map((module) => module.specifier)
      .filter((specifier) => specifier.startsWith(rootUrl))
      .map(relative);
    for (const path of modules) {
      if (reached.includes(path)) continue;
      reached.push(path);
      const text = Deno.readTextFileSync(`${root}/${path}`);
      for (const started of startedModules(text)) {
        const entry = new URL(started, `${rootUrl}${path}`).href;
        if (!entry.startsWith(rootUrl)) continue;
        if (!entries.includes(relative(entry))) entries.push(relative(entry));
      }
    }
  }
  const doc = deno(root, ["doc", "--json", "mod.ts"]);
  if (!doc.success) return `deno doc failed:\n${doc.stderr}`;
  const nodes = (JSON.parse(doc.stdout) as {
    nodes: Record<string, { symbols: { name: string }[] }>;
  }).nodes;
  const exported = new Set(
    Object.values(nodes).flatMap((node) =>
      node.symbols.map((symbol) => symbol.name)
    ),
  );
  return {
    shipped,
    reached,
    exported,
    source: (path) => Deno.readTextFileSync(`${root}/${path}`),
  };
}

/**
 * The modules `text` starts by URL rather than imports:
 * `new URL("./x.ts", import.meta.url)`, as a Worker or a subprocess is given.
 */
export function startedModules(text: string): string[] {
  return [
    ...text.matchAll(
      /new URL\(\s*"(\.{1,2}\/[^"]+\.ts)",\s*import\.meta\.url\s*,?\s*\)/g,
    ),
  ].map(([, path]) => path);
}

function main(): number {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const facts = factsOf(root);
  if (typeof facts === "string") {
    console.error(facts);
    return 1;
  }
  const problems = packageProblems(facts);
  if (problems.length > 0) {
    console.error(`The package has ${problems.length} problem(s):`);
    for (const problem of problems) console.error(`  ${problem}`);
    return 1;
  }
  const links = facts.reached.reduce(
    (count, path) => count + docLinks(facts.source(path)).length,
    0,
  );
  console.log(
    `Package: ${facts.shipped.length} files shipped, each reached from mod.ts or one of ${
      PACKAGE_FILES.join(", ")
    }; ${links} doc links, each to an export of mod.ts`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(main());
