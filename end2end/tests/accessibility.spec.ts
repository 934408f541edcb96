// axe-core checks every page an admin and a person meet, in the states they meet them: sign-in
// (local, SSO first with the local form behind a disclosure, and the page of a refused SSO
// sign-in), home, and every Settings page. No serious or critical violation is allowed.
// On the way it takes the picture of Identity Configuration that the README shows.
import AxeBuilder from "@axe-core/playwright";
import { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import * as path from "node:path";
import { samlIdp, servers } from "./servers";
import { adminToken, configureSaml, hydrated, SamlPerson, signIn, signInAtSamlIdp, testCertificate } from "./helpers";

const portal = servers.current;
// The README's picture. Every run takes it; only `UPDATE_SCREENSHOT=1` writes it over the
// committed one (it shows the time of the last sign-in, so it differs on every run).
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? path.resolve(__dirname, "..", "..", "docs", "identity-configuration.png")
  : path.resolve(__dirname, "..", "..", "target", "e2e", "identity-configuration.png");

// One story: the current portal goes from unconfigured to configured and back.
test.describe.configure({ mode: "serial" });

/** Runs axe on the page as it is now and fails on any serious or critical violation, naming each. */
async function expectAccessible(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const blocking = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const report = blocking
    .map((v) => `${v.id} [${v.impact}] ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(" ")}`).join("\n")}`)
    .join("\n");
  if (report) console.log(`axe on ${what}:\n${report}`);
  expect.soft(report, `serious or critical axe violations on ${what}`).toBe("");
}

async function putIdentity(server: { url: string; env: Record<string, string> }, document: unknown) {
  const response = await fetch(`${server.url}/api/v1/identity`, {
    method: "PUT",
    headers: { authorization: `Bearer ${adminToken(server)}`, "content-type": "application/json" },
    body: JSON.stringify(document),
  });
  expect(response.status, await response.text()).toBe(200);
}

/** The current portal trusting saml-idp, as an admin who pasted its metadata would have it. */
async function trustSamlIdp(login: "password" | "sso", provisioning: "manual" | "sso_jit") {
  const metadata = await (await fetch(`${samlIdp.url}/metadata`)).text();
  await putIdentity(portal, {
    login_method: login,
    sso: { protocol: "saml", saml: { metadata_xml: metadata } },
    provisioning: { method: provisioning },
  });
}

/** A person signing in at saml-idp (playing Okta) from Portal's "Sign in with Okta". */
async function signInWithOkta(page: Page, person: SamlPerson) {
  await page.goto(`${portal.url}/login`);
  await hydrated(page);
  await page.getByTestId("sign-in-with-okta").click();
  await signInAtSamlIdp(page, samlIdp.url, person);
}

const MARY = { email: "mary.jackson@example.test", first: "Mary", last: "Jackson" };

test.afterAll(async () => {
  // Leave the current portal unconfigured, as the other specs expect to find it.
  await putIdentity(portal, { login_method: "password", sso: { protocol: null }, provisioning: { method: "manual" } });
});

test("the sign-in page with local accounts only", async ({ page }) => {
  await page.goto(`${portal.url}/login`);
  await hydrated(page);
  await expect(page.getByLabel("Email")).toBeVisible();
  await expectAccessible(page, "/login (local)");

  // A refused password, as the person sees it.
  await page.getByLabel("Email").fill("nobody@example.test");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("login-error")).toBeVisible();
  await expectAccessible(page, "/login (refused password)");
});

test("home and every Settings page, as the admin", async ({ page }) => {
  await signIn(page, portal.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await hydrated(page);
  await expectAccessible(page, "home");

  await page.goto(`${portal.url}/settings/iam/identity`);
  await hydrated(page);
  await expect(page.getByTestId("okta-setup")).toBeVisible();
  await expect(page.getByTestId("check-idp")).toHaveAttribute("data-done", "false");
  await expectAccessible(page, "Identity Configuration (nothing configured)");

  await page.goto(`${portal.url}/settings/iam/users`);
  await hydrated(page);
  await page.getByText("Add a person").click();
  await expectAccessible(page, "Users (with the form to add a person)");

  // A field the browser refuses says so under itself, tied to the input.
  const email = page.locator("#add-email");
  await email.fill("not an email");
  await page.getByRole("button", { name: "Add person" }).click();
  await expect(page.getByTestId("add-email-error")).toBeVisible();
  await expect(email).toHaveAttribute("aria-invalid", "true");
  await expect(email).toHaveAttribute("aria-describedby", "add-email-error");
  await expectAccessible(page, "Users (a field refused)");

  await page.getByTestId("user-row").first().getByRole("link").click();
  await expect(page).toHaveURL(/\/settings\/iam\/users\/\d+$/);
  await hydrated(page);
  await expectAccessible(page, "a person's page");
  await page.getByText("Change email address").click();
  await expect(page.getByLabel("Email address")).toBeVisible();
  await expectAccessible(page, "a person's page (with the form to change their address)");

  await page.goto(`${portal.url}/settings/iam/agent-pools`);
  await hydrated(page);
  await expectAccessible(page, "Agent Pools");

  await page.getByTestId("pool-row").first().getByRole("link").click();
  await expect(page).toHaveURL(/\/settings\/iam\/agent-pools\/\d+$/);
  await hydrated(page);
  await expectAccessible(page, "a pool's page");

  await page.goto(`${portal.url}/settings/iam/roles`);
  await hydrated(page);
  await expectAccessible(page, "Roles");

  await page.goto(`${portal.url}/settings/iam/audit`);
  await hydrated(page);
  await expectAccessible(page, "Audit Log");
});

test("Identity Configuration by keyboard: the OpenID Connect form, a refused field, progress while saving, a value copied", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: portal.url });
  await signIn(page, portal.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${portal.url}/settings/iam/identity`);
  await hydrated(page);

  // The protocol is a radio group: the arrow key moves to OpenID Connect and shows its form.
  await page.getByRole("radio", { name: "SAML 2.0" }).focus();
  await page.keyboard.press("ArrowRight");
  await expect(page.getByRole("radio", { name: "OpenID Connect" })).toBeChecked();
  await expect(page.getByLabel("Discovery URL")).toBeVisible();
  await expectAccessible(page, "Identity Configuration (OpenID Connect form)");

  // The browser's own check, shown under the field the moment the person leaves it.
  const discovery = page.getByLabel("Discovery URL");
  await discovery.fill("not a url");
  await page.keyboard.press("Tab");
  await expect(page.getByTestId("oidc-discovery-url-error")).toBeVisible();
  await expect(discovery).toHaveAttribute("aria-invalid", "true");
  await expect(discovery).toHaveAttribute("aria-describedby", "oidc-discovery-url-error");

  // Saved with Enter; while the server works the button says so, then the result line speaks.
  let answer = () => {};
  const held = new Promise<void>((resolve) => (answer = resolve));
  await page.route("**/api/save_oidc*", async (route) => {
    await held;
    await route.continue();
  });
  await discovery.fill(`${portal.url}/nowhere/.well-known/openid-configuration`);
  await page.getByLabel("Client ID").fill("0oa-keyboard");
  await page.getByLabel("Client secret").fill("a secret typed by keyboard");
  await page.getByLabel("Client ID").press("Enter");
  const saving = page.getByRole("button", { name: "Saving…" });
  await expect(saving).toBeDisabled();
  await expect(page.getByTestId("oidc-result").locator("..")).toHaveAttribute("aria-busy", "true");
  answer();
  await expect(page.getByTestId("oidc-result")).toHaveAttribute("data-outcome", "refused");
  await expect(page.getByRole("button", { name: "Save OIDC settings" })).toBeEnabled();
  // Nothing the admin typed is lost: the form stays as it was, the error under its field.
  await expect(page.getByRole("radio", { name: "OpenID Connect" })).toBeChecked();
  await expect(page.getByLabel("Client ID")).toHaveValue("0oa-keyboard");
  await expect(page.getByTestId("oidc-discovery-url-error")).toBeVisible();
  await expectAccessible(page, "Identity Configuration (OpenID Connect settings refused)");
  await page.unroute("**/api/save_oidc*");

  // A value for Okta, copied with the keyboard.
  const copy = page.getByRole("button", { name: "Copy Sign-in redirect URI", exact: true });
  await copy.focus();
  await page.keyboard.press("Enter");
  await expect(copy).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${portal.url}/sso/oidc/callback`);

  // Nothing was saved: the portal still has no identity provider.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("check-idp")).toHaveAttribute("data-done", "false");
});

test("SSO first: the sign-in page with the local form behind a disclosure, and a refused SSO sign-in", async ({ page }) => {
  await trustSamlIdp("sso", "manual");
  await page.goto(`${portal.url}/login`);
  await hydrated(page);
  await expect(page.getByTestId("sign-in-with-okta")).toBeVisible();
  await expect(page.getByLabel("Email")).toBeHidden();
  await expectAccessible(page, "/login (SSO first)");
  await page.getByText("Sign in with a local account").click();
  await expect(page.getByLabel("Email")).toBeVisible();
  await expectAccessible(page, "/login (SSO first, local form open)");

  // With provisioning Manual, a person Portal does not know is refused.
  await signInWithOkta(page, MARY);
  await expect(page.getByTestId("sso-error")).toContainText("not set up in Portal");
  await expectAccessible(page, "the page of a refused SSO sign-in");
});

test("Identity Configuration once Okta is set up: the checklist is done, and the README's picture", async ({ page, browser }) => {
  await trustSamlIdp("sso", "sso_jit");
  await signInWithOkta(page, MARY);
  await expect(page.getByTestId("signed-in-as")).toHaveText("Mary Jackson");

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await context.newPage();
  await signIn(admin, portal.url);
  await expect(admin.getByTestId("signed-in-as")).toBeVisible();
  await admin.goto(`${portal.url}/settings/iam/identity`);
  await hydrated(admin);
  await expect(admin.getByTestId("okta-setup-progress")).toHaveText("3 of 3 done");
  for (const check of ["check-idp", "check-attributes", "check-jit"]) {
    await expect(admin.getByTestId(`${check}-state`)).toContainText("Done");
  }
  await expect(admin.getByTestId("check-attributes-detail")).toContainText("carried firstName, lastName and email");

  // The guide folds away once everything is done; its values are the portal's own.
  const guide = admin.getByTestId("okta-guide");
  await expect(guide).not.toHaveAttribute("open", "");
  await admin.getByText("Step-by-step guide, with this portal's values").click();
  await expect(admin.getByTestId("guide-acs-url")).toHaveText(`${portal.url}/sso/saml/acs`);
  await expect(admin.getByTestId("guide-entity-id")).toHaveText(`${portal.url}/sso/saml/metadata`);
  await expect(admin.getByTestId("guide-attribute-first-value")).toHaveText("user.firstName");
  await expect(admin.getByTestId("guide-redirect-uri")).toHaveText(`${portal.url}/sso/oidc/callback`);
  await expectAccessible(admin, "Identity Configuration (configured, guide open)");

  // "Download SP metadata" saves a file.
  const download = admin.waitForEvent("download");
  await admin.getByTestId("guide-metadata-download").click();
  expect((await download).suggestedFilename()).toBe("portal-sp-metadata.xml");

  // What the admin sees, for the README: the page as it is in use, guide folded.
  await admin.goto(`${portal.url}/settings/iam/identity`);
  await hydrated(admin);
  await expect(admin.getByTestId("okta-setup-progress")).toHaveText("3 of 3 done");
  await admin.evaluate(() => window.scrollTo(0, 0));
  await admin.screenshot({ path: SCREENSHOT });
  await context.close();
});

test("release 1.53: Identity Configuration, before and after SAML is configured", async ({ page }) => {
  const legacy = servers.legacy;
  await signIn(page, legacy.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${legacy.url}/settings/iam/identity`);
  await hydrated(page);
  await expect(page.getByTestId("check-jit")).toContainText("SAML JIT on");
  await expectAccessible(page, "Identity Configuration on 1.53 (nothing configured)");

  await configureSaml(legacy, testCertificate());
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("check-idp")).toHaveAttribute("data-done", "true");
  await expectAccessible(page, "Identity Configuration on 1.53 (SAML configured)");
});
