// An independent OpenID Connect provider (npm oidc-provider, OpenID Certified) playing Okta for the
// browser tests and for the demo (`scripts/run --oidc`). People sign in at its built-in development
// login page with any password; the login is their email address. Keys and cookie secrets are made
// fresh each time it starts.
//
//   OIDC_PORT=7155 OIDC_REDIRECT_URI=http://127.0.0.1:3155/sso/oidc/callback \
//   [OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=…] node end2end/idp/oidc-provider.mjs
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";

const port = Number(process.env.OIDC_PORT ?? 7155);
const redirectUri = process.env.OIDC_REDIRECT_URI ?? "http://127.0.0.1:3155/sso/oidc/callback";
const issuer = `http://127.0.0.1:${port}`;

const client = {
  client_id: process.env.OIDC_CLIENT_ID ?? "portal-e2e",
  client_secret: process.env.OIDC_CLIENT_SECRET ?? "portal-e2e-secret-0123456789abcdef",
  redirect_uris: [redirectUri],
  grant_types: ["authorization_code"],
  response_types: ["code"],
  token_endpoint_auth_method: "client_secret_basic",
  id_token_signed_response_alg: "RS256",
};

// The provider's warnings about its development-only conveniences (the built-in login and consent
// pages, the in-memory store, running on Node.js 20) are expected here; anything else is shown.
const expectedWarnings = ["Unsupported runtime", "devInteractions", "in-memory adapter"];
const warn = console.warn.bind(console);
console.warn = (...args) => {
  const text = args.map(String).join(" ");
  if (text.includes("oidc-provider WARNING") && expectedWarnings.some((w) => text.includes(w))) return;
  warn(...args);
};

const { default: Provider } = await import("oidc-provider");

/** The people the provider knows, keyed by login (their email address). */
const directory = new Map(
  [
    { sub: "okta-00u1ada", email: "ada.lovelace@example.test", given_name: "Ada", family_name: "Lovelace" },
    { sub: "okta-00u2grace", email: "grace.hopper@example.test", given_name: "Grace", family_name: "Hopper" },
    { sub: "okta-00u3alan", email: "alan.turing@example.test", given_name: "Alan", family_name: "Turing" },
    { sub: "okta-00u4katherine", email: "katherine.johnson@example.test", given_name: "Katherine", family_name: "Johnson" },
  ].map((person) => [person.email, person]),
);

/** Everyone who signed in, by subject. */
const bySub = new Map([...directory.values()].map((person) => [person.sub, person]));

const capitalize = (word) => word.charAt(0).toUpperCase() + word.slice(1);

/** The person behind a login; a login not in the directory becomes a person named after its local part. */
function personFor(login) {
  const email = String(login).trim().toLowerCase();
  let person = directory.get(email);
  if (!person) {
    const words = email.split("@")[0].split(/[._+-]+/).filter(Boolean).map(capitalize);
    person = {
      sub: `okta-00u${createHash("sha256").update(email).digest("hex").slice(0, 12)}`,
      email,
      given_name: words[0] ?? "New",
      family_name: words.slice(1).join(" ") || "Person",
    };
    directory.set(email, person);
  }
  bySub.set(person.sub, person);
  return person;
}

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: "jwk" }),
  kid: `e2e-${randomBytes(6).toString("hex")}`,
  use: "sig",
  alg: "RS256",
};

const provider = new Provider(issuer, {
  clients: [client],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  scopes: ["openid", "email", "profile"],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["given_name", "family_name", "name"],
  },
  features: {
    devInteractions: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Grant: 3600, Interaction: 600, Session: 3600 },
  async findAccount(_ctx, sub) {
    const person = bySub.get(sub);
    if (!person) return undefined;
    return {
      accountId: person.sub,
      async claims() {
        return {
          sub: person.sub,
          email: person.email,
          email_verified: true,
          given_name: person.given_name,
          family_name: person.family_name,
          name: `${person.given_name} ${person.family_name}`,
        };
      },
    };
  },
});

// The built-in login page takes the login as the account id; the account id is the person's subject.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result?.login?.accountId) result.login.accountId = personFor(result.login.accountId).sub;
  return interactionFinished(req, res, result, options);
};

for (const event of ["server_error", "authorization.error", "grant.error", "userinfo.error"]) {
  provider.on(event, (_ctx, error) => {
    console.error(`oidc-provider ${event}: ${error.message}${error.error_description ? ` (${error.error_description})` : ""}`);
  });
}

const server = provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
