// Copyright 2026 the sockfsm authors. MIT license.
/**
 * The caller's end of a PCO's protocol: it numbers requests, matches each
 * answer to its call, rebuilds the agent's errors as `SocketError`s that
 * name the PCO, and, once the agent is gone, rejects every call in flight
 * and every call after at once.
 *
 * @module
 */
import { Disconnection } from "../machine/effects.ts";
import { SocketError } from "../machine/errors.ts";
import {
  type Hello,
  isHello,
  type Message,
  PROTOCOL_VERSION,
  type Request,
  type RequestOp,
  type Response,
  SOCKET_OP,
  type WireError,
} from "./pco_protocol.ts";

/** A request before it has an id. */
export type Call = Request extends infer R
  ? R extends { id: number } ? Omit<R, "id"> : never
  : never;

interface Pending {
  readonly op: RequestOp;
  readonly resolve: (answer: Response) => void;
  readonly reject: (error: SocketError) => void;
}

/** One PCO's protocol, seen from the caller. */
export class PcoLink {
  /** The PCO's name, which its errors carry. */
  readonly name: string;
  readonly #send: (request: Request) => void;
  readonly #pending = new Map<number, Pending>();
  readonly #hello: PromiseWithResolvers<Hello> = Promise.withResolvers();
  #nextCall = 1;
  #nextSocket = 1;
  /** Why calls fail now: the PCO ended (closed, or its agent died). */
  #ended: { readonly why: string; readonly died: boolean } | undefined;
  /** The caller's sockets of this PCO that are open. */
  readonly owned: Set<Disposable> = new Set();

  /**
   * @param name The PCO's name.
   * @param send What carries a request to the agent.
   */
  constructor(name: string, send: (request: Request) => void) {
    this.name = name;
    this.#send = send;
    // A PCO that fails to start has nobody waiting for its hello yet.
    this.#hello.promise.catch(() => {});
  }

  /**
   * The agent's hello, once it has said it in this protocol's version;
   * rejects with `EPROTONOSUPPORT` for another version, or why the agent
   * ended before it spoke.
   */
  get hello(): Promise<Hello> {
    return this.#hello.promise;
  }

  /** Why the PCO ended, if it died (not closed by its owner). */
  get death(): string | undefined {
    return this.#ended?.died ? this.#ended.why : undefined;
  }

  /** Whether the PCO has ended. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** A new id for a socket of the agent. */
  socketId(): number {
    return this.#nextSocket++;
  }

  /**
   * Sends `call` and resolves with its answer, a success or the agent's
   * error (see `error()`); rejects only when the PCO has ended.
   * When `signal` aborts first, the agent is asked to stop the call; it
   * answers as the call ended there (aborted, or done just before).
   */
  call(call: Call, signal?: AbortSignal): Promise<Response> {
    if (this.#ended !== undefined) {
      return Promise.reject(this.#endError(call.op));
    }
    const id = this.#nextCall++;
    const { promise, resolve, reject } = Promise.withResolvers<Response>();
    if (signal === undefined) {
      this.#pending.set(id, { op: call.op, resolve, reject });
    } else {
      const cancel = () => {
        const reason: unknown = signal.reason;
        this.post(
          reason instanceof Disconnection
            ? { op: "cancel", sock: call.sock, call: id, disconnect: reason.by }
            : { op: "cancel", sock: call.sock, call: id },
        );
      };
      signal.addEventListener("abort", cancel, { once: true });
      const unlisten = () => signal.removeEventListener("abort", cancel);
      this.#pending.set(id, {
        op: call.op,
        resolve: (answer) => (unlisten(), resolve(answer)),
        reject: (error) => (unlisten(), reject(error)),
      });
    }
    this.#send({ ...call, id } as Request);
    return promise;
  }

  /** Sends `call`, which has no answer (`close`, `cancel`). */
  post(call: Call): void {
    if (this.#ended !== undefined) return;
    this.#send({ ...call, id: 0 } as Request);
  }

  /** Takes a message from the agent. */
  receive(message: Message): void {
    if (isHello(message)) {
      if (message.version === PROTOCOL_VERSION) {
        this.#hello.resolve(message);
      } else {
        this.end(
          `its agent speaks protocol version ${message.version}, and this sockfsm speaks version ${PROTOCOL_VERSION}; run the agent from the same sockfsm release as the caller`,
          true,
          "EPROTONOSUPPORT",
        );
      }
      return;
    }
    if (!("ok" in message)) return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    pending.resolve(message);
  }

  /** The agent's `error`, as a `SocketError` naming this PCO. */
  error(error: WireError): SocketError {
    return new SocketError(error.code, error.op, error.message, {
      state: error.state,
      pco: this.name,
    });
  }

  /**
   * Ends the link: every call in flight, and every call after, rejects at
   * once (`EIO`, or `code`), saying `why`. `died`: the agent ended without
   * being asked to (its process died, its worker threw).
   */
  end(
    why: string,
    died: boolean,
    code: "EIO" | "EPROTONOSUPPORT" = "EIO",
  ): void {
    if (this.#ended !== undefined) return;
    this.#ended = { why, died };
    this.#code = code;
    this.#hello.reject(
      new SocketError(
        code,
        "socket",
        code === "EPROTONOSUPPORT"
          ? `Cannot use PCO "${this.name}": EPROTONOSUPPORT, ${why}`
          : `Cannot start PCO "${this.name}": EIO, ${why}`,
        { pco: this.name },
      ),
    );
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const call of pending) call.reject(this.#endError(call.op));
  }

  #code: "EIO" | "EPROTONOSUPPORT" = "EIO";

  #endError(op: RequestOp): SocketError {
    const call = SOCKET_OP[op];
    const why = this.#ended?.why ?? "it ended";
    const code = this.#code;
    const message = op === "create"
      ? `Cannot create a socket in PCO "${this.name}": ${code}, ${why}${
        this.#ended?.died ? "" : "; make sockets before closing it"
      }`
      : `Cannot ${call}() in PCO "${this.name}": ${code}, ${why}`;
    return new SocketError(code, call, message, { pco: this.name });
  }
}
