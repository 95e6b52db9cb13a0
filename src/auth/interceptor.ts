import * as grpc from "@grpc/grpc-js";
import { allows, requiredRole } from "./roles.js";
import type { Principal, TokenVerifier } from "./tokens.js";

/** Where refusals are reported (never with the token). */
export type AuthLog = (entry: { path: string; peer: string; principal?: string; outcome: "unauthenticated" | "denied" }) => void;

const BEARER = /^Bearer (\S+)$/;

/**
 * A grpc-js server interceptor that authenticates every call by its
 * `authorization: Bearer <token>` metadata and checks the token's role
 * against the method (see roles.ts). Refused calls never reach a handler:
 * UNAUTHENTICATED without a valid token, PERMISSION_DENIED for the wrong role.
 */
export function createAuthInterceptor(tokens: TokenVerifier, log: AuthLog): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, proceed) => {
            const needed = requiredRole(method.path);
            if (needed === "public") return proceed(metadata);
            const header = metadata.get("authorization")[0];
            const m = typeof header === "string" ? BEARER.exec(header) : null;
            const principal: Principal | undefined = m ? tokens.verify(m[1]) : undefined;
            if (!principal) {
              log({ path: method.path, peer: call.getPeer(), outcome: "unauthenticated" });
              call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: "a valid bearer token is required (authorization: Bearer <token>)" });
              return;
            }
            if (!allows(principal.role, needed)) {
              log({ path: method.path, peer: call.getPeer(), principal: principal.name, outcome: "denied" });
              call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: `role ${principal.role} may not call ${method.path} (needs ${needed})` });
              return;
            }
            proceed(metadata);
          },
        }),
    });
}
