// Copyright 2026 the sockfsm authors. MIT license.
/**
 * explore() at depth 8 for each socket kind: `deno task bench`. Each bench's
 * name gives the scenarios it covers and the distinct snapshots it visits;
 * scenarios per second are those divided by the time per iteration.
 *
 * @module
 */
import { explore } from "../mod.ts";

const DEPTH = 8;
const KINDS = [
  ["inet", "stream"],
  ["inet6", "stream"],
  ["unix", "stream"],
  ["inet", "dgram"],
  ["inet6", "dgram"],
  ["unix", "dgram"],
] as const;

for (const [domain, type] of KINDS) {
  const { sequences, snapshots } = explore({ domain, type, depth: DEPTH });
  Deno.bench({
    name: `explore ${domain} ${type} depth ${DEPTH}: ${
      Number(sequences).toExponential(2)
    } scenarios, ${snapshots} snapshots`,
    group: "explore",
    n: 20,
    fn() {
      explore({ domain, type, depth: DEPTH });
    },
  });
}
