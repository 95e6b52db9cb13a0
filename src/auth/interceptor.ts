import * as grpc from "@grpc/grpc-js";
import { allows, requiredRole } from "./roles.js";
import type { Principal, TokenVerifier } from "./tokens.js";

/** A refused call, as the interceptor reports it (never with the token). */
export interface RefusedCall {
  /** The method path, e.g. /pulse.learninglog.v1.LearningLogService/LogEvent. */
  path: string;
  /** The method's kind in the gRPC ecosystem's words (the grpc_type label of grpc_server_* metrics). */
  type: "unary" | "client_stream" | "server_stream" | "bidi_stream";
  peer: string;
  /** The token's name, when the token was valid but its roles do not cover the method. */
  principal?: string;
  outcome: "unauthenticated" | "denied";
}

/** Where refusals are reported: the server log, and the gRPC metrics (refused calls never reach a handler). */
export type AuthLog = (entry: RefusedCall) => void;

const BEARER = /^Bearer (\S+)$/;

/**
 * The principal of each authenticated call, keyed by the call's metadata:
 * grpc-js hands the handler the very Metadata object the interceptor passed
 * on. A map held by the server, not a header, so a client cannot claim a name.
 */
const principals = new WeakMap<grpc.Metadata, Principal>();

/** Who made the call whose request metadata this is; undefined without tokens (or for public methods). */
export function principalOf(metadata: grpc.Metadata): Principal | undefined {
  return principals.get(metadata);
}

function typeOf(method: grpc.ServerMethodDefinition<unknown, unknown>): RefusedCall["type"] {
  if (method.requestStream) return method.responseStream ? "bidi_stream" : "client_stream";
  return method.responseStream ? "server_stream" : "unary";
}

/** Tokens that can change while the server runs (a reloaded tokens file): the interceptor re-checks open calls after each change. */
export interface ChangingTokens extends TokenVerifier {
  /** Calls `listener` after every change; returns a function that unsubscribes. */
  onReload(listener: () => void): () => void;
}

const isChanging = (tokens: TokenVerifier): tokens is ChangingTokens => typeof (tokens as Partial<ChangingTokens>).onReload === "function";

/**
 * A grpc-js server interceptor that authenticates every call by its
 * `authorization: Bearer <token>` metadata and checks the token's roles
 * against the method (see roles.ts): any one of its roles is enough.
 * Refused calls never reach a handler: UNAUTHENTICATED without a valid
 * token, PERMISSION_DENIED when no role of the token covers the method.
 * When the tokens change (a reload), every open call is checked again at
 * once: a call whose token was removed ends with UNAUTHENTICATED, one whose
 * token lost the role it needs with PERMISSION_DENIED (a stream stops there;
 * what it already handed to the log is written, unanswered).
 */
export function createAuthInterceptor(tokens: TokenVerifier, log: AuthLog): grpc.ServerInterceptor {
  // The open authenticated calls, each with its check (only when the tokens can change).
  const open = new Set<() => void>();
  if (isChanging(tokens)) tokens.onReload(() => [...open].forEach((check) => check()));
  return (method, call) => {
    let check: (() => void) | undefined;
    const forget = () => {
      if (check !== undefined) open.delete(check);
    };
    /** Checks the token against the tokens now; ends the call when it no longer passes. True when it passes. */
    const admit = (token: string | undefined, needed: Exclude<ReturnType<typeof requiredRole>, "public">, afterStart: boolean): Principal | undefined => {
      const principal: Principal | undefined = token !== undefined ? tokens.verify(token) : undefined;
      const revoked = afterStart ? " (the token was revoked)" : "";
      if (!principal) {
        log({ path: method.path, type: typeOf(method), peer: call.getPeer(), outcome: "unauthenticated" });
        call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: `a valid bearer token is required (authorization: Bearer <token>)${revoked}` });
        return undefined;
      }
      if (!allows(principal.roles, needed)) {
        log({ path: method.path, type: typeOf(method), peer: call.getPeer(), principal: principal.name, outcome: "denied" });
        const held = principal.roles.length === 1 ? `role ${principal.roles[0]}` : `roles ${principal.roles.join(", ")}`;
        call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: `${held} may not call ${method.path} (needs ${needed})${afterStart ? " (the token's roles changed)" : ""}` });
        return undefined;
      }
      return principal;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, proceed) => {
            const needed = requiredRole(method.path);
            if (needed === "public") return proceed(metadata);
            const header = metadata.get("authorization")[0];
            const m = typeof header === "string" ? BEARER.exec(header) : null;
            const token = m?.[1];
            const principal = admit(token, needed, false);
            if (!principal) return;
            principals.set(metadata, principal);
            if (isChanging(tokens)) {
              check = () => {
                if (admit(token, needed, true) === undefined) forget();
              };
              open.add(check);
            }
            proceed(metadata);
          },
          onCancel: forget,
        }),
      sendStatus: (status, next) => {
        forget();
        next(status);
      },
    });
  };
}
