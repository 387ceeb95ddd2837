// Copyright 2026 the sockfsm authors. MIT license.
/**
 * A small, deterministic SVG drawing of a {@linkcode SocketDiagram}, with no
 * dependency: a layered layout (Sugiyama style), one card per state that
 * lists the calls it refuses and the calls that keep it, and one arrow per
 * pair of states.
 *
 * - Ranks: every transition that leads away from `created` (to a state
 *   farther from it, or as far and later in the machine) points down, and a
 *   state sits one rank below the lowest state that leads down to it. The
 *   other transitions point up.
 * - A state that every other state leads to by the same calls (`closed`, by
 *   `CLOSE`) sits alone at the bottom, and its card says so instead of a
 *   dozen arrows.
 * - Order within a rank: barycentre sweeps, keeping the order with the
 *   fewest crossings; arrows that skip ranks pass between the cards.
 * - Positions: each rank is placed as near its neighbours as the cards'
 *   widths allow (least squares under the order, by pool-adjacent-violators).
 *
 * @module
 */
import {
  type DiagramEdge,
  type DiagramState,
  refusalLines,
  type SocketDiagram,
} from "../machine/mermaid.ts";

const FONT = 12;
/** The advance of one character of the monospace font, generously. */
const CHAR = FONT * 0.62;
const LABEL_FONT = 11;
const LABEL_CHAR = LABEL_FONT * 0.62;
const LINE = 16;
const HEADER = 26;
const PAD = 10;
const MIN_CARD = 190;
const CARD_GAP = 70;
const DUMMY = 18;
const MARGIN = 30;
const TOP = 124;

const COLOURS = {
  call: "#334155",
  effect: "#b45309",
  environment: "#6d28d9",
} as const;

type EdgeKind = keyof typeof COLOURS;

/** A card: one state, its size and what it says. */
interface Card {
  readonly state: DiagramState;
  readonly stays: readonly string[];
  readonly refused: readonly (readonly [string, string])[];
  readonly callWidth: number;
  readonly gathered: string | undefined;
  readonly width: number;
  readonly height: number;
}

/** A node of the layout: a card, or a point where an arrow crosses a rank. */
interface Node {
  readonly id: string;
  readonly card: Card | undefined;
  readonly width: number;
  rank: number;
  order: number;
  x: number; // centre
}

/** One drawn arrow, as the chain of nodes it passes. */
interface Route {
  readonly edge: DiagramEdge;
  readonly kind: EdgeKind;
  readonly label: string;
  readonly chain: Node[];
}

/**
 * Draws `diagram` as a standalone SVG document: one `<g class="state">` per
 * state (with `data-state`), one `<g class="edge">` per drawn transition.
 * The same diagram always gives the same text.
 *
 * @example Draw the datagram socket
 * ```ts
 * import { socketDiagram } from "../machine/mermaid.ts";
 * import { toSvg } from "./diagram_svg.ts";
 * import assert from "node:assert/strict";
 *
 * const svg = toSvg(socketDiagram({ domain: "inet", type: "dgram" }));
 * assert.ok(svg.startsWith("<svg "));
 * assert.ok(svg.includes('data-state="connected"'));
 * assert.ok(!svg.includes('data-state="listening"'));
 * ```
 *
 * @param diagram The diagram, from {@linkcode socketDiagram}.
 * @returns The SVG text, ending with a newline.
 */
export function toSvg(diagram: SocketDiagram): string {
  const start = diagram.states[0].state;
  const names = diagram.states.map((s) => s.state);
  const index = new Map(names.map((s, i) => [s, i]));

  // A state that every other state leads to by the same calls.
  const gatheredBy = new Map<string, string>();
  for (const target of names) {
    const into = diagram.edges.filter((e) =>
      e.to === target && e.from !== target
    );
    const label = into[0]?.triggers.join(", ");
    if (
      names.length > 2 && into.length === names.length - 1 &&
      into.every((e) => e.triggers.join(", ") === label) &&
      !diagram.edges.some((e) => e.from === target && e.to !== target)
    ) {
      gatheredBy.set(target, label!);
    }
  }
  const drawn = diagram.edges.filter((e) =>
    e.from !== e.to && !gatheredBy.has(e.to)
  );

  // Ranks: down along (distance, machine order), longest path.
  const before = (a: DiagramState, b: DiagramState) =>
    a.distance < b.distance ||
    (a.distance === b.distance && index.get(a.state)! < index.get(b.state)!);
  const byName = new Map(diagram.states.map((s) => [s.state, s]));
  const rank = new Map<string, number>([[start, 0]]);
  for (
    const state of [...diagram.states].sort((a, b) => before(a, b) ? -1 : 1)
  ) {
    if (gatheredBy.has(state.state) || state.state === start) continue;
    const from = drawn.filter((e) =>
      e.to === state.state && before(byName.get(e.from)!, state)
    );
    rank.set(
      state.state,
      Math.max(0, ...from.map((e) => (rank.get(e.from) ?? 0) + 1)),
    );
  }
  const lowest = Math.max(...rank.values());
  for (const state of gatheredBy.keys()) rank.set(state, lowest + 1);

  // Nodes: the cards, and a dummy wherever an arrow crosses a rank.
  const cards = new Map(
    diagram.states.map((s) => [
      s.state,
      cardOf(s, diagram.edges, gatheredBy.get(s.state)),
    ]),
  );
  const nodes: Node[] = names.map((name) => ({
    id: name,
    card: cards.get(name),
    width: cards.get(name)!.width,
    rank: rank.get(name)!,
    order: index.get(name)!,
    x: 0,
  }));
  const nodeOf = new Map(nodes.map((n) => [n.id, n]));
  const routes: Route[] = drawn.map((edge, e) => {
    const from = nodeOf.get(edge.from)!;
    const to = nodeOf.get(edge.to)!;
    const chain = [from];
    const step = to.rank > from.rank ? 1 : -1;
    for (let r = from.rank + step; r * step < to.rank * step; r += step) {
      const dummy: Node = {
        id: `${edge.from}>${edge.to}@${r}`,
        card: undefined,
        width: DUMMY,
        rank: r,
        order: names.length + e,
        x: 0,
      };
      nodes.push(dummy);
      chain.push(dummy);
    }
    chain.push(to);
    return {
      edge,
      kind: kindOf(edge),
      label: edge.triggers.join(", "),
      chain,
    };
  });
  const ranks = orderRanks(nodes, routes, Math.max(...rank.values()) + 1);
  placeX(ranks, routes);

  // Vertical placement: each rank as tall as its tallest card.
  const rankTop: number[] = [];
  const rankHeight: number[] = [];
  let y = TOP;
  for (let r = 0; r < ranks.length; r++) {
    const crossing = routes.filter((route) =>
      route.chain.some((n, i) =>
        i > 0 && Math.min(n.rank, route.chain[i - 1].rank) === r
      )
    ).length;
    rankTop.push(y);
    rankHeight.push(Math.max(
      0,
      ...ranks[r].map((n) =>
        n.card?.height ?? 0
      ),
    ));
    y += rankHeight[r] + Math.min(200, Math.max(100, 50 + 9 * crossing));
  }
  // A card no arrow reaches (the gathered one) goes under the middle.
  const linked = nodes.filter((n) => routes.some((r) => r.chain.includes(n)));
  const middle = (Math.min(...linked.map((n) => n.x - n.width / 2)) +
    Math.max(...linked.map((n) => n.x + n.width / 2))) / 2;
  for (const node of nodes) if (!linked.includes(node)) node.x = middle;
  const minX = Math.min(...nodes.map((n) => n.x - n.width / 2));
  for (const node of nodes) node.x += MARGIN - minX;
  const width = Math.max(
    640,
    ...nodes.map((n) => n.x + n.width / 2 + MARGIN),
  );
  const last = ranks.length - 1;
  const height = rankTop[last] + rankHeight[last] + MARGIN;

  const top = (n: Node) => rankTop[n.rank];
  const bottom = (n: Node) =>
    rankTop[n.rank] + (n.card ? n.card.height : rankHeight[n.rank]);

  // Ports: spread the arrows that meet a card's side along it.
  const ports = new Map<string, number>();
  const sides = new Map<string, { key: string; other: number }[]>();
  routes.forEach((route, r) => {
    const { chain } = route;
    const ends = [
      [chain[0], chain[1], `${r}:from`],
      [chain[chain.length - 1], chain[chain.length - 2], `${r}:to`],
    ] as const;
    for (const [node, next, key] of ends) {
      const side = `${node.id}:${next.rank >= node.rank ? "bottom" : "top"}`;
      const list = sides.get(side) ?? [];
      list.push({ key, other: next.x });
      sides.set(side, list);
    }
  });
  for (const [side, list] of sides) {
    const node = nodeOf.get(side.slice(0, side.lastIndexOf(":")))!;
    list.sort((a, b) => a.other - b.other || (a.key < b.key ? -1 : 1));
    const span = node.width * 0.8;
    list.forEach(({ key }, k) => {
      ports.set(
        key,
        node.x - span / 2 + span * (k + 1) / (list.length + 1),
      );
    });
  }

  // Paths, and the places a label may go: the middle of an arrow's gaps.
  const paths: string[] = [];
  const gaps: Curve[][] = [];
  routes.forEach((route, r) => {
    const { chain } = route;
    if (chain[0].rank === chain[1].rank) {
      // Within a rank: a U below the cards, port to port.
      const x0 = ports.get(`${r}:from`)!;
      const x1 = ports.get(`${r}:to`)!;
      const y0 = bottom(chain[0]);
      const y1 = bottom(chain[1]);
      const yc = Math.max(y0, y1) + 36 + Math.abs(x1 - x0) / 12;
      paths.push(
        `M ${fmt(x0)} ${fmt(y0)} C ${fmt(x0)} ${fmt(yc)} ${fmt(x1)} ${
          fmt(yc)
        } ${fmt(x1)} ${fmt(y1)}`,
      );
      gaps.push([{ x0, y0, x1, y1, yc0: yc, yc1: yc }]);
      return;
    }
    const down = chain[chain.length - 1].rank > chain[0].rank;
    const points: Point[] = [];
    chain.forEach((node, i) => {
      const x = i === 0
        ? ports.get(`${r}:from`)!
        : i === chain.length - 1
        ? ports.get(`${r}:to`)!
        : node.x;
      const enter = down ? top(node) : bottom(node);
      const leave = down ? bottom(node) : top(node);
      if (i > 0) points.push([x, enter]);
      if (i < chain.length - 1) points.push([x, leave]);
    });
    let d = `M ${fmt(points[0][0])} ${fmt(points[0][1])}`;
    const crossings: Curve[] = [];
    for (let i = 1; i < points.length; i++) {
      const [x0, y0] = points[i - 1];
      const [x1, y1] = points[i];
      if (i % 2 === 1) {
        const ym = (y0 + y1) / 2;
        d += ` C ${fmt(x0)} ${fmt(ym)} ${fmt(x1)} ${fmt(ym)} ${fmt(x1)} ${
          fmt(y1)
        }`;
        crossings.push({ x0, y0, x1, y1, yc0: ym, yc1: ym });
      } else {
        d += ` L ${fmt(x1)} ${fmt(y1)}`;
      }
    }
    paths.push(d);
    gaps.push(crossings);
  });

  // Labels: the first free place along each arrow, shortest arrows first.
  const taken: Box[] = nodes.filter((n) => n.card).map((n) => ({
    x: n.x - n.width / 2,
    y: top(n),
    w: n.width,
    h: n.card!.height,
  }));
  const labels = new Array<Box>(routes.length);
  const byLength = routes.map((_, r) => r).sort((a, b) =>
    gaps[a].length - gaps[b].length || a - b
  );
  for (const r of byLength) {
    const w = routes[r].label.length * LABEL_CHAR + 8;
    const h = LABEL_FONT + 5;
    let best: Box | undefined;
    let bestScore = Infinity;
    for (const t of [0.5, 0.35, 0.65, 0.22, 0.78]) {
      for (const curve of gaps[r]) {
        const [cx, cy] = bezier(curve, t);
        const box = { x: cx - w / 2, y: cy - h / 2, w, h };
        const score = taken.reduce((sum, b) => sum + overlap(box, b), 0);
        if (score < bestScore) {
          best = box;
          bestScore = score;
        }
      }
      if (bestScore === 0) break;
    }
    labels[r] = best!;
    taken.push(best!);
  }

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fmt(width)}" height="${
      fmt(height)
    }" viewBox="0 0 ${fmt(width)} ${
      fmt(height)
    }" font-family="${MONO}" font-size="${FONT}">`,
    `<title>sockfsm: the ${diagram.domain} ${diagram.type} socket</title>`,
    "<defs>",
    ...Object.entries(COLOURS).map(([kind, colour]) =>
      `<marker id="arrow-${kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 1 L 10 5 L 0 9 z" fill="${colour}"/></marker>`
    ),
    "</defs>",
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${MARGIN}" y="34" font-family="${SANS}" font-size="20" font-weight="700" fill="#0f172a">sockfsm: the ${diagram.domain} ${diagram.type} socket</text>`,
    ...legend(),
  );
  routes.forEach((route, r) => {
    const colour = COLOURS[route.kind];
    const dash = route.kind === "effect"
      ? ` stroke-dasharray="6 4"`
      : route.kind === "environment"
      ? ` stroke-dasharray="2 3"`
      : "";
    const box = labels[r];
    out.push(
      `<g class="edge" data-from="${route.edge.from}" data-to="${route.edge.to}">`,
      `<path d="${
        paths[r]
      }" fill="none" stroke="${colour}" stroke-width="1.4"${dash} marker-end="url(#arrow-${route.kind})"/>`,
      `<rect x="${fmt(box.x)}" y="${fmt(box.y)}" width="${
        fmt(box.w)
      }" height="${
        fmt(box.h)
      }" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="${colour}" stroke-opacity="0.25"/>`,
      `<text x="${fmt(box.x + box.w / 2)}" y="${
        fmt(box.y + box.h - 4)
      }" font-size="${LABEL_FONT}" text-anchor="middle" fill="${colour}">${
        escape(route.label)
      }</text>`,
      "</g>",
    );
  });
  // The start: a dot left of the first state, with an arrow into it.
  const first = nodeOf.get(start)!;
  const sy = top(first) + HEADER / 2;
  const sx = first.x - first.width / 2;
  out.push(
    `<g class="start"><circle cx="${fmt(sx - 34)}" cy="${
      fmt(sy)
    }" r="7" fill="#0f172a"/><path d="M ${fmt(sx - 27)} ${fmt(sy)} L ${
      fmt(sx - 1)
    } ${
      fmt(sy)
    }" stroke="#0f172a" stroke-width="1.4" marker-end="url(#arrow-call)"/></g>`,
  );
  for (const node of nodes) {
    if (node.card) out.push(...drawCard(node.card, node.x, top(node)));
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

const MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const SANS = "DejaVu Sans, Helvetica, Arial, sans-serif";

type Point = readonly [number, number];

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

function overlap(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * A cubic from (x0, y0) to (x1, y1) whose control points are straight below
 * or above its ends, at `yc0` and `yc1`.
 */
interface Curve {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly yc0: number;
  readonly yc1: number;
}

/** The point at `t` (0 to 1) along `curve`. */
function bezier(curve: Curve, t: number): Point {
  const { x0, y0, x1, y1, yc0, yc1 } = curve;
  const u = 1 - t;
  const x = u * u * u * x0 + 3 * u * u * t * x0 + 3 * u * t * t * x1 +
    t * t * t * x1;
  const y = u * u * u * y0 + 3 * u * u * t * yc0 + 3 * u * t * t * yc1 +
    t * t * t * y1;
  return [x, y];
}

function kindOf(edge: DiagramEdge): EdgeKind {
  if (edge.triggers.every((t) => t === "done" || t === "error")) {
    return "effect";
  }
  if (edge.triggers.every((t) => t.startsWith("("))) return "environment";
  return "call";
}

function cardOf(
  state: DiagramState,
  edges: readonly DiagramEdge[],
  gathered: string | undefined,
): Card {
  const refused = refusalLines(state).map((line) => {
    const colon = line.indexOf(": ");
    return [line.slice(0, colon), line.slice(colon + 2)] as const;
  });
  const callWidth = Math.max(0, ...refused.map(([call]) => call.length)) + 2;
  const rowWidth = Math.max(
    0,
    ...refused.map(([, errno]) => callWidth + errno.length),
  );
  const width = Math.max(
    MIN_CARD,
    Math.max(
      rowWidth * CHAR,
      state.state.length * 9 + 10 + (state.inFlight ? 100 : 0),
    ) + 2 * PAD,
  );
  const self = edges.find((e) => e.from === state.state && e.to === e.from);
  const stays = wrap(
    self === undefined ? [] : ["stays on:", ...self.triggers],
    Math.floor((width - 2 * PAD) / CHAR),
  );
  const gatheredLines = gathered === undefined ? 0 : 1;
  const lines = stays.length + gatheredLines +
    (refused.length > 0 ? refused.length + 1 : 0);
  return {
    state,
    stays,
    refused,
    callWidth,
    gathered,
    width,
    height: HEADER + PAD + Math.max(1, lines) * LINE + PAD / 2,
  };
}

/** Words joined by ", " (after the first), wrapped at `columns`. */
function wrap(words: readonly string[], columns: number): string[] {
  const lines: string[] = [];
  let line = "";
  words.forEach((word, i) => {
    const piece = i === 0 ? word : ` ${word}${i < words.length - 1 ? "," : ""}`;
    if (line.length > 0 && (line + piece).length > columns) {
      lines.push(line);
      line = "  " + piece.trimStart();
    } else {
      line += piece;
    }
  });
  if (line.length > 0) lines.push(line);
  return lines;
}

function drawCard(card: Card, cx: number, y: number): string[] {
  const { state } = card;
  const x = cx - card.width / 2;
  const closedLike = card.gathered !== undefined;
  const fill = state.inFlight ? "#fff7e0" : closedLike ? "#f1f5f9" : "#ffffff";
  const head = state.inFlight ? "#fde9b8" : closedLike ? "#cbd5e1" : "#dbe7fb";
  const stroke = state.inFlight ? "#b7791f" : "#334155";
  const dash = state.inFlight ? ` stroke-dasharray="5 3"` : "";
  const out = [
    `<g class="state" data-state="${state.state}">`,
    `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(card.width)}" height="${
      fmt(card.height)
    }" rx="8" fill="${fill}" stroke="${stroke}" stroke-width="1.5"${dash}/>`,
    `<path d="M ${fmt(x + 0.75)} ${fmt(y + HEADER)} V ${fmt(y + 8)} Q ${
      fmt(x + 0.75)
    } ${fmt(y + 0.75)} ${fmt(x + 8)} ${fmt(y + 0.75)} H ${
      fmt(x + card.width - 8)
    } Q ${fmt(x + card.width - 0.75)} ${fmt(y + 0.75)} ${
      fmt(x + card.width - 0.75)
    } ${fmt(y + 8)} V ${fmt(y + HEADER)} Z" fill="${head}"/>`,
    `<line x1="${fmt(x)}" y1="${fmt(y + HEADER)}" x2="${
      fmt(x + card.width)
    }" y2="${fmt(y + HEADER)}" stroke="${stroke}" stroke-opacity="0.4"/>`,
    `<text x="${fmt(x + PAD)}" y="${
      fmt(y + 18)
    }" font-family="${SANS}" font-size="14" font-weight="700" fill="#0f172a">${state.state}</text>`,
  ];
  if (state.inFlight) {
    out.push(
      `<text x="${fmt(x + card.width - PAD)}" y="${
        fmt(y + 17)
      }" font-size="10" font-style="italic" text-anchor="end" fill="#92400e">effect in flight</text>`,
    );
  }
  let ly = y + HEADER + PAD + FONT - 2;
  if (card.gathered !== undefined) {
    out.push(
      `<text x="${fmt(x + PAD)}" y="${fmt(ly)}" fill="#334155">${
        escape(`\u2190 ${card.gathered} from every state`)
      }</text>`,
    );
    ly += LINE;
  }
  for (const line of card.stays) {
    out.push(
      `<text x="${fmt(x + PAD)}" y="${fmt(ly)}" fill="#475569">${
        escape(line)
      }</text>`,
    );
    ly += LINE;
  }
  if (card.refused.length > 0) {
    // A call that waits for the effect in flight is not refused: say so.
    const heading = card.refused.some(([, answer]) => answer.endsWith("waits"))
      ? "REFUSED OR WAITING"
      : "REFUSED";
    out.push(
      `<text x="${fmt(x + PAD)}" y="${
        fmt(ly)
      }" font-size="10" fill="#64748b" letter-spacing="0.5">${heading}</text>`,
    );
    ly += LINE;
    for (const [call, errno] of card.refused) {
      out.push(
        `<text x="${fmt(x + PAD)}" y="${fmt(ly)}" fill="#0f172a">${
          escape(call)
        }</text>`,
        `<text x="${fmt(x + PAD + card.callWidth * CHAR)}" y="${
          fmt(ly)
        }" fill="#b91c1c" font-weight="700">${escape(errno)}</text>`,
      );
      ly += LINE;
    }
  }
  out.push("</g>");
  return out;
}

function legend(): string[] {
  const y = 62;
  const x = MARGIN;
  return [
    `<g class="legend" font-family="${SANS}" font-size="12" fill="#334155">`,
    `<path d="M ${x} ${y} H ${
      x + 36
    }" stroke="${COLOURS.call}" stroke-width="1.4" marker-end="url(#arrow-call)"/>`,
    `<text x="${x + 44}" y="${y + 4}">a call</text>`,
    `<path d="M ${x + 110} ${y} H ${
      x + 146
    }" stroke="${COLOURS.effect}" stroke-width="1.4" stroke-dasharray="6 4" marker-end="url(#arrow-effect)"/>`,
    `<text x="${x + 154}" y="${
      y + 4
    }">an effect in flight ends: done or error</text>`,
    `<rect x="${x + 420}" y="${
      y - 8
    }" width="28" height="16" rx="4" fill="#fff7e0" stroke="#b7791f" stroke-dasharray="5 3"/>`,
    `<text x="${x + 456}" y="${y + 4}">effect in flight</text>`,
    `<text x="${x}" y="${
      y + 28
    }"><tspan font-family="${MONO}" font-size="10" fill="#64748b">REFUSED</tspan> the calls a state refuses, with the errno, before any system call (<tspan font-style="italic">sometimes</tspan>: its facts or the address decide; <tspan font-style="italic">waits</tspan>: the call waits for the effect in flight, and the state it leaves answers)</text>`,
    "</g>",
  ];
}

/**
 * Orders each rank to cut crossings: barycentre sweeps, down and up, keeping
 * the best order seen. Returns the ranks, each in order.
 */
function orderRanks(nodes: Node[], routes: Route[], count: number): Node[][] {
  const ranks: Node[][] = Array.from({ length: count }, () => []);
  for (const node of nodes) ranks[node.rank].push(node);
  for (const rank of ranks) sortRank(rank, (n) => n.order);
  const neighbours = new Map<Node, Node[]>();
  for (const { chain } of routes) {
    for (let i = 1; i < chain.length; i++) {
      const [a, b] = [chain[i - 1], chain[i]];
      neighbours.set(a, [...(neighbours.get(a) ?? []), b]);
      neighbours.set(b, [...(neighbours.get(b) ?? []), a]);
    }
  }
  let best = ranks.map((r) => [...r]);
  let fewest = crossings(ranks, routes);
  for (let sweep = 0; sweep < 24; sweep++) {
    const down = sweep % 2 === 0;
    for (let k = 0; k < count; k++) {
      const r = down ? k : count - 1 - k;
      const side = down ? r - 1 : r + 1;
      if (side < 0 || side >= count) continue;
      const centre = new Map<Node, number>();
      for (const node of ranks[r]) {
        const near = (neighbours.get(node) ?? []).filter((n) =>
          n.rank === side
        );
        centre.set(
          node,
          near.length === 0
            ? node.order
            : near.reduce((s, n) => s + n.order, 0) / near.length,
        );
      }
      sortRank(ranks[r], (n) => centre.get(n)!);
    }
    const now = crossings(ranks, routes);
    if (now < fewest) {
      fewest = now;
      best = ranks.map((r) => [...r]);
    }
  }
  for (const rank of best) rank.forEach((n, i) => n.order = i);
  return best;
}

/** Sorts a rank by `key`, ties by the current order; renumbers it. */
function sortRank(rank: Node[], key: (n: Node) => number): void {
  const keys = new Map(rank.map((n) => [n, key(n)]));
  rank.sort((a, b) => keys.get(a)! - keys.get(b)! || a.order - b.order);
  rank.forEach((n, i) => n.order = i);
}

function crossings(ranks: Node[][], routes: Route[]): number {
  const position = new Map<Node, number>();
  for (const rank of ranks) rank.forEach((n, i) => position.set(n, i));
  const segments = new Map<number, [number, number][]>();
  for (const { chain } of routes) {
    for (let i = 1; i < chain.length; i++) {
      if (chain[i - 1].rank === chain[i].rank) continue;
      const [a, b] = chain[i - 1].rank < chain[i].rank
        ? [chain[i - 1], chain[i]]
        : [chain[i], chain[i - 1]];
      const list = segments.get(a.rank) ?? [];
      list.push([position.get(a)!, position.get(b)!]);
      segments.set(a.rank, list);
    }
  }
  let count = 0;
  for (const list of segments.values()) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [a0, a1] = list[i];
        const [b0, b1] = list[j];
        if ((a0 - b0) * (a1 - b1) < 0) count++;
      }
    }
  }
  return count;
}

/**
 * Places each node's centre: first packed, then each rank pulled towards its
 * neighbours in the ranks around it, as near as the order and the widths
 * allow.
 */
function placeX(ranks: Node[][], routes: Route[]): void {
  const gap = (a: Node, b: Node) =>
    (a.width + b.width) / 2 + (a.card && b.card ? CARD_GAP : 22);
  for (const rank of ranks) {
    let x = 0;
    rank.forEach((node, i) => {
      x += i === 0 ? 0 : gap(rank[i - 1], node);
      node.x = x;
    });
    const mid = x / 2;
    for (const node of rank) node.x -= mid;
  }
  const neighbours = new Map<Node, Node[]>();
  for (const { chain } of routes) {
    for (let i = 1; i < chain.length; i++) {
      const [a, b] = [chain[i - 1], chain[i]];
      neighbours.set(a, [...(neighbours.get(a) ?? []), b]);
      neighbours.set(b, [...(neighbours.get(b) ?? []), a]);
    }
  }
  for (let round = 0; round < 30; round++) {
    const order = round % 2 === 0 ? ranks : [...ranks].reverse();
    for (const rank of order) {
      if (rank.length === 0) continue;
      const wanted = rank.map((node) => {
        const near = neighbours.get(node) ?? [];
        return near.length === 0
          ? node.x
          : near.reduce((s, n) => s + n.x, 0) / near.length;
      });
      const placed = isotonic(
        wanted,
        rank.map((n, i) => i === 0 ? 0 : gap(rank[i - 1], n)),
      );
      rank.forEach((node, i) => node.x = placed[i]);
    }
  }
}

/**
 * The positions nearest to `wanted` (least squares) with at least `gaps[i]`
 * between position i - 1 and i: pool adjacent violators on the positions
 * less their offsets.
 */
function isotonic(wanted: number[], gaps: number[]): number[] {
  const offset: number[] = [];
  let sum = 0;
  for (const g of gaps) offset.push(sum += g);
  const blocks: { total: number; size: number }[] = [];
  wanted.forEach((w, i) => {
    blocks.push({ total: w - offset[i], size: 1 });
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1];
      const prev = blocks[blocks.length - 2];
      if (prev.total / prev.size <= last.total / last.size) break;
      prev.total += last.total;
      prev.size += last.size;
      blocks.pop();
    }
  });
  const out: number[] = [];
  for (const block of blocks) {
    for (let k = 0; k < block.size; k++) {
      out.push(block.total / block.size + offset[out.length]);
    }
  }
  return out;
}

function fmt(n: number): string {
  return String(Math.round(n * 10) / 10);
}

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}
