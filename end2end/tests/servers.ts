// The portals the browser tests run against: the current release, the legacy 1.53, the current
// release signing people in with OpenID Connect, and one for the limits on password sign-in. Each
// has its own SQLite file.
import * as path from "node:path";

export const ADMIN_EMAIL = "admin@example.com";
export const ADMIN_PASSWORD = "a long admin password for e2e";

const repo = path.resolve(__dirname, "..", "..");

function server(name: string, port: number, release: string) {
  const db = path.join(repo, "target", "e2e", `portal-${name}.db`);
  return {
    url: `http://127.0.0.1:${port}`,
    release,
    db,
    env: {
      PORTAL_ADDR: `127.0.0.1:${port}`,
      PORTAL_DATABASE_URL: `sqlite://${db}`,
      PORTAL_RELEASE: release,
      PORTAL_ADMIN_EMAIL: ADMIN_EMAIL,
      PORTAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
      RUST_LOG: "warn",
    },
  };
}

export const servers = {
  current: server("current", 3154, "1.54"),
  legacy: server("legacy", 3153, "1.53"),
  oidc: server("oidc", 3155, "1.54"),
  // Where the password sign-in tests lock an email and spend the address's attempts, so that
  // no other test signs in against a lock or an empty allowance.
  guarded: server("guarded", 3156, "1.54"),
};

/**
 * An independent SAML identity provider (npm saml-idp), playing Okta for the current portal,
 * with a key pair generated when it starts.
 */
export const samlIdp = (() => {
  const port = 7154;
  const dir = path.join(repo, "target", "e2e");
  const key = path.join(dir, "saml-idp-key.pem");
  const cert = path.join(dir, "saml-idp-cert.pem");
  const portal = servers.current.url;
  return {
    url: `http://127.0.0.1:${port}`,
    issuer: "urn:portal-e2e:saml-idp",
    command: [
      `mkdir -p ${dir}`,
      `openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=saml-idp.e2e -keyout ${key} -out ${cert} 2>/dev/null`,
      [
        "exec node end2end/node_modules/saml-idp/bin/run.js",
        `--host 127.0.0.1 --port ${port} --cert ${cert} --key ${key}`,
        "--issuer urn:portal-e2e:saml-idp",
        `--acsUrl ${portal}/sso/saml/acs --audience ${portal}/sso/saml/metadata`,
        `--configFile ${path.join(repo, "end2end", "idp", "saml-idp.config.js")}`,
      ].join(" "),
    ].join(" && "),
  };
})();

/**
 * An independent OpenID Connect provider (npm oidc-provider), playing Okta for the OIDC portal,
 * with a signing key generated when it starts. Anyone signs in with any password; the login is
 * their email address (see end2end/idp/oidc-provider.mjs for the people it knows).
 */
export const oidcIdp = (() => {
  const port = 7155;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    issuer: url,
    discoveryUrl: `${url}/.well-known/openid-configuration`,
    clientId: "portal-e2e",
    clientSecret: "portal-e2e-secret-0123456789abcdef",
    command: "exec node end2end/idp/oidc-provider.mjs",
    env: {
      OIDC_PORT: String(port),
      OIDC_REDIRECT_URI: `${servers.oidc.url}/sso/oidc/callback`,
    },
  };
})();
