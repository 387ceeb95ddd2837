// Copyright 2026 the sockfsm authors. MIT license.
import assert from "node:assert/strict";
import { errnoName, errnoNumber, isErrno, SocketError } from "../mod.ts";
import { errnoOf, osError } from "../steps/os_error.ts";

Deno.test("errnoName() and errnoNumber() are inverse on Linux numbers", () => {
  for (
    const name of ["EINVAL", "EADDRINUSE", "ECONNREFUSED", "EPIPE"] as const
  ) {
    assert.equal(errnoName(errnoNumber(name)), name);
  }
  assert.equal(errnoNumber("EAGAIN"), 11);
  assert.equal(isErrno("EAGAIN"), true);
  assert.equal(isErrno("toString"), false);
});

Deno.test("errnoOf() reads the os error number in a Deno error first", () => {
  const error = new Deno.errors.AddrInUse("Address in use (os error 98)");
  assert.equal(errnoOf(error), "EADDRINUSE");
  const other = new Deno.errors.ConnectionRefused("whatever (os error 99)");
  assert.equal(errnoOf(other), "EADDRNOTAVAIL", "the number wins");
});

Deno.test("errnoOf() maps Deno error classes, Node.js codes, and falls back to EIO", () => {
  assert.equal(errnoOf(new Deno.errors.BrokenPipe("x")), "EPIPE");
  assert.equal(errnoOf(new Deno.errors.NotCapable("x")), "EACCES");
  const node = Object.assign(new Error("connect ECONNREFUSED"), {
    code: "ECONNREFUSED",
  });
  assert.equal(errnoOf(node), "ECONNREFUSED");
  assert.equal(errnoOf(new Error("strange")), "EIO");
  assert.equal(errnoOf("not even an error"), "EIO");
});

Deno.test("osError() says what failed, the errno and what to do", () => {
  const error = osError(
    new Deno.errors.AddrInUse("Address already in use (os error 98)"),
    "bind",
    "bind to 127.0.0.1:80",
  );
  assert.ok(error instanceof SocketError);
  assert.equal(error.code, "EADDRINUSE");
  assert.equal(error.op, "bind");
  assert.match(error.message, /^Cannot bind to 127\.0\.0\.1:80: EADDRINUSE/);
  assert.match(error.message, /use another port, or port 0/);
  assert.ok(error.cause instanceof Deno.errors.AddrInUse);
});

Deno.test("osError() passes a SocketError through unchanged", () => {
  const original = new SocketError("EINVAL", "listen", "Cannot listen");
  assert.equal(osError(original, "connect", "connect"), original);
});
