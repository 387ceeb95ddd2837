// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The main job: "Create a connection with connection oriented sockets" on
 * loopback, printed step by step. Run it with `deno task demo`.
 *
 * @module
 */
import {
  formatAddr,
  type InetAddr,
  SocketError,
  streamConnection,
} from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const srvrAddr: InetAddr = { hostname: "127.0.0.1", port: 0 };
const clntAddr: InetAddr = { hostname: "127.0.0.1", port: 0 };

console.log(
  `streamConnection({ srvrAddr: ${formatAddr(srvrAddr)}, clntAddr: ${
    formatAddr(clntAddr)
  } })`,
);
const pair = await streamConnection({
  srvrAddr,
  clntAddr,
  onTransition: (role, { op, from, to }) =>
    console.log(`  ${role.padEnd(8)} ${op.padEnd(9)} ${from} -> ${to}`),
});
const { srvrS, clntS } = pair;
console.log(
  `the kernel assigned port ${pair.srvrAddr.port}: the server listens at ${
    formatAddr(pair.srvrAddr)
  }`,
);
console.log(
  `client ${formatAddr(clntS.getsockname())} <-> server ${
    formatAddr(srvrS.getsockname())
  }`,
);

await clntS.send(encoder.encode("hello from the client"));
console.log(`server received "${decoder.decode(await srvrS.recv())}"`);
await srvrS.send(encoder.encode("hello from the server"));
console.log(`client received "${decoder.decode(await clntS.recv())}"`);

try {
  await clntS.listen();
} catch (error) {
  if (!(error instanceof SocketError)) throw error;
  console.log(`refused before any system call: ${error.message}`);
}

console.log("closing");
await clntS.shutdown("write");
console.log(`server reads end of stream: ${(await srvrS.recv()).length} bytes`);
clntS.close();
srvrS.close();
console.log(`client ${clntS.state}, server ${srvrS.state}`);
