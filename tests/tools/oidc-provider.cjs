// A real OpenID Connect provider for the single sign-on tests: oauth2-mock-server (pinned in
// package.json, installed by `make test`'s setup), on a loopback port of its own.
//
//   node tests/tools/oidc-provider.cjs <claims.json>
//
// prints one line, the issuer URL, once it listens; it stops when its standard input closes (the
// test that started it ended). Before it signs each ID token it reads <claims.json>, so a test
// decides who signs in and what goes wrong, sign-in by sign-in:
//   { "claims": { "sub": "…", "email": "…", "email_verified": true, "name": "…" },
//     "nonce": "…",      // replaces the nonce the sign-in sent (a token meant for another sign-in)
//     "expired": true }  // an ID token that expired an hour ago
"use strict";
const fs = require("node:fs");
const { OAuth2Server } = require("oauth2-mock-server");

async function main() {
  const claimsFile = process.argv[2];
  if (!claimsFile) throw new Error("usage: oidc-provider.cjs <claims.json>");
  const server = new OAuth2Server();
  await server.issuer.keys.generate("RS256");
  server.service.on("beforeTokenSigning", (token) => {
    // The access token carries a scope; the ID token does not.
    if ("scope" in token.payload) return;
    const setup = JSON.parse(fs.readFileSync(claimsFile, "utf8"));
    // A real provider says when it last checked the person; a test may say it was long ago.
    token.payload.auth_time = token.payload.iat;
    Object.assign(token.payload, setup.claims || {});
    if (setup.nonce !== undefined) token.payload.nonce = setup.nonce;
    if (setup.expired) {
      token.payload.iat -= 7200;
      token.payload.nbf = token.payload.iat;
      token.payload.exp = token.payload.iat + 3600;
    }
  });
  // The mock checks a PKCE verifier only when one is sent; this provider insists on one, as
  // Gameday always sends it (a Gameday that stopped sending it would fail every sign-in test).
  server.service.on("beforeResponse", (response, req) => {
    if (req.body && req.body.grant_type === "authorization_code" && !req.body.code_verifier) {
      response.statusCode = 400;
      response.body = { error: "invalid_request", error_description: "code_verifier required" };
    }
  });
  await server.start(0, "127.0.0.1");
  // The address it listens on, not "localhost" (which may resolve to ::1 first).
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(server.issuer.url + "\n");
  process.stdin.resume();
  process.stdin.on("end", () => server.stop().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
