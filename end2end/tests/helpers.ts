import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { BrowserContext, expect, Page } from "@playwright/test";
import { ADMIN_EMAIL, ADMIN_PASSWORD } from "./servers";

const repo = path.resolve(__dirname, "..", "..");

export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Someone at a SAML identity provider's sign-in page (npm saml-idp's form). */
export type SamlPerson = { email: string; first: string; last: string };

/** Keeps the web font that the OIDC provider's own pages import offline: the tests run without the internet. */
export async function offline(context: BrowserContext) {
  await context.route("https://fonts.googleapis.com/**", (route) => route.abort());
}

/** Waits until the WASM bundle has hydrated the page, so that clicks reach Leptos. */
export async function hydrated(page: Page) {
  await expect(page.locator("#hydration-state")).toHaveAttribute("data-state", "hydrated");
}

export async function signIn(page: Page, base: string, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  await page.goto(`${base}/login`);
  await hydrated(page);
  // With SSO as the login method, the local form sits behind a disclosure (break-glass).
  const local = page.getByText("Sign in with a local account");
  if (await local.isVisible()) await local.click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Runs the portal command line against `server`'s database, as an operator does; answers what it printed. */
function portalCommand(server: { env: Record<string, string> }, args: string[]): string {
  return execFileSync(path.join(repo, "target", "release", "portal"), args, {
    cwd: repo,
    env: { ...process.env, ...server.env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

/** An API token for the admin, made the way an operator does: `portal token create`. */
export function adminToken(server: { env: Record<string, string> }): string {
  return portalCommand(server, ["token", "create", "--email", ADMIN_EMAIL]);
}

/** What the operator does when the admin cannot sign in: `portal admin reset`; answers the new password. */
export function adminReset(server: { env: Record<string, string> }): string {
  return portalCommand(server, ["admin", "reset", "--email", ADMIN_EMAIL]);
}

/** Configures a SAML identity provider by hand through the API, as automation would. */
export async function configureSaml(server: { url: string; env: Record<string, string> }, certificate: string) {
  const token = adminToken(server);
  const response = await fetch(`${server.url}/api/v1/identity`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      login_method: "password",
      sso: {
        protocol: "saml",
        saml: {
          idp_entity_id: "http://www.okta.com/exk1portal",
          idp_sso_url: "https://example.okta.com/app/portal/exk1portal/sso/saml",
          idp_certificates: [certificate],
        },
      },
      provisioning: { method: "manual" },
    }),
  });
  expect(response.status, await response.text()).toBe(200);
}

/** A self-signed certificate generated for this run (openssl is part of the base system). */
export function testCertificate(): string {
  const dir = path.join(repo, "target", "e2e");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
    "-subj", "/CN=e2e-idp.example",
    "-keyout", path.join(dir, "idp-key.pem"), "-out", path.join(dir, "idp-cert.pem"),
  ], { stdio: "ignore" });
  return require("node:fs").readFileSync(path.join(dir, "idp-cert.pem"), "utf8");
}

/** Turns SSO JIT on or off in the Provisioning card of Identity Configuration, reads the
 *  preview of what that changes, and saves. */
export async function saveSsoJit(page: Page, on: boolean) {
  const toggle = page.getByRole("switch", { name: "SSO JIT" });
  const was = await toggle.isChecked();
  if (on) await toggle.check();
  else await toggle.uncheck();
  // Before it is saved, the card says what the change will do to people without an account.
  if (was !== on) {
    await expect(page.getByTestId("provisioning-effect")).toContainText(`After saving: with SSO JIT ${on ? "on" : "off"}`);
  }
  await page.getByTestId("provisioning-result").locator("..").getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByTestId("provisioning-result")).toHaveText(`Saved. SSO JIT is ${on ? "on" : "off"}.`);
}

/** At saml-idp's sign-in page (served at `idpUrl`, playing Okta), as the person types it. */
export async function signInAtSamlIdp(page: Page, idpUrl: string, person: SamlPerson) {
  await expect(page).toHaveURL(new RegExp(`^${escapeRegExp(idpUrl)}/`));
  await page.locator("#userName").fill(person.email);
  await page.locator("#firstName").fill(person.first);
  await page.locator("#lastName").fill(person.last);
  await page.locator("#email").fill(person.email);
  await page.locator("#btn-sign-in").click();
}

/** At oidc-provider's sign-in page (served at `providerUrl`), then its consent page if it asks. */
export async function signInAtOidcProvider(page: Page, providerUrl: string, email: string) {
  await expect(page).toHaveURL(new RegExp(`^${escapeRegExp(providerUrl)}/interaction/`));
  await expect(page.getByRole("heading", { name: "Sign-in" })).toBeVisible();
  await page.getByPlaceholder("Enter any login").fill(email);
  await page.getByPlaceholder("and password").fill("any password will do");
  await page.getByRole("button", { name: "Sign-in", exact: true }).click();

  const consent = page.getByRole("button", { name: "Continue", exact: true });
  await expect(consent.or(page.getByTestId("signed-in-as")).or(page.getByTestId("sso-error"))).toBeVisible();
  if (page.url().startsWith(`${providerUrl}/interaction/`)) {
    await expect(page.getByRole("heading", { name: "Authorize" })).toBeVisible();
    await consent.click();
  }
}
