// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The main job: "Create a connection with connection oriented sockets" on
 * loopback, printed step by step; then its datagram twin; then the
 * procedure again with the server in a subprocess (a process PCO). Run it
 * with `deno task demo`.
 *
 * @module
 */
import {
  dgramConnection,
  formatAddr,
  type InetAddr,
  processPco,
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
  }, clntOptions: { TCP_NODELAY: true } })`,
);
const pair = await streamConnection({
  srvrAddr,
  clntAddr,
  // Set right after socket(), before bind(): small sends go out at once.
  clntOptions: { TCP_NODELAY: true },
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
  }, client TCP_NODELAY ${await clntS.getsockopt("TCP_NODELAY")}`,
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

console.log();
console.log(`dgramConnection({ srvrAddr: ${formatAddr(srvrAddr)} })`);
{
  using dgram = await dgramConnection({
    srvrAddr,
    onTransition: (role, { op, from, to }) =>
      console.log(`  ${role.padEnd(8)} ${op.padEnd(9)} ${from} -> ${to}`),
  });
  console.log(
    `server at ${formatAddr(dgram.srvrAddr)}, client at ${
      formatAddr(dgram.clntAddr)
    }, each connected to the other`,
  );
  await dgram.clntS.send(encoder.encode("datagram from the client"));
  const ping = await dgram.srvrS.recvfrom();
  console.log(
    `server received "${decoder.decode(ping.data)}" from ${
      formatAddr(ping.addr!)
    }`,
  );
  await dgram.srvrS.send(encoder.encode("datagram from the server"));
  const pong = await dgram.clntS.recvfrom();
  console.log(
    `client received "${decoder.decode(pong.data)}" from ${
      formatAddr(pong.addr!)
    }`,
  );
  console.log(
    `server's peer ${formatAddr(dgram.srvrS.getpeername())}, client's peer ${
      formatAddr(dgram.clntS.getpeername())
    }`,
  );
  console.log("closing");
}

console.log();
console.log(
  "streamConnection({ srvrAddr, srvr: await processPco() }): the server in a subprocess",
);
{
  await using srvr = await processPco();
  console.log(`PCO "${srvr.name}": a sockfsm agent, pid ${srvr.pid}`);
  using pair = await streamConnection({
    srvrAddr,
    srvr,
    onTransition: (role, { op, from, to }) =>
      console.log(`  ${role.padEnd(8)} ${op.padEnd(9)} ${from} -> ${to}`),
  });
  await pair.clntS.send(encoder.encode("hello, other process"));
  console.log(
    `the server, in pid ${srvr.pid}, received "${
      decoder.decode(await pair.srvrS.recv())
    }" from ${formatAddr(pair.srvrS.getpeername())}`,
  );
  await pair.srvrS.send(encoder.encode("hello from pid " + srvr.pid));
  console.log(`client received "${decoder.decode(await pair.clntS.recv())}"`);
  try {
    await pair.srvrS.listen();
  } catch (error) {
    if (!(error instanceof SocketError)) throw error;
    console.log(
      `refused here, before any request to the PCO (error.pco "${error.pco}"): ${error.message}`,
    );
  }
  console.log("closing the pair and the PCO");
}
