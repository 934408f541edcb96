// A person signs in through an identity provider we did not write (npm saml-idp, playing Okta)
// and lands in Portal with an account created just in time.
import { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { samlIdp, servers } from "./servers";
import { adminToken, hydrated, saveSsoJit, signIn, signInAtSamlIdp } from "./helpers";

const portal = servers.current;

async function openIdentityConfiguration(page: Page) {
  await signIn(page, portal.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${portal.url}/settings/iam/identity`);
  await hydrated(page);
}

test("the admin pastes the IdP metadata and turns SSO JIT on; a new person signs in with Okta and is provisioned", async ({ page, request }) => {
  await openIdentityConfiguration(page);
  await expect(page.getByTestId("sp-acs-url")).toHaveText(`${portal.url}/sso/saml/acs`);
  await expect(page.getByTestId("sp-entity-id")).toHaveText(`${portal.url}/sso/saml/metadata`);

  const metadata = await (await request.get(`${samlIdp.url}/metadata`)).text();
  await page.getByLabel("…or paste the IdP metadata XML").fill(metadata);
  await page.getByRole("button", { name: "Save SAML settings" }).click();
  await expect(page.getByTestId("saml-result")).toHaveText("Saved. SAML sign-in uses these settings now.");
  await expect(page.getByTestId("sso-summary")).toContainText(samlIdp.issuer);
  await expect(page.getByTestId("idp-certificate")).toContainText("CN=saml-idp.e2e");

  await saveSsoJit(page, true);
  await page.getByRole("radio", { name: "Single sign-on (SSO)" }).check();
  await page.getByTestId("login-method-result").locator("..").getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByTestId("login-method-result")).toHaveText("Saved. People sign in with single sign-on.");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);

  // SSO leads; the local form waits behind a disclosure.
  await hydrated(page);
  await expect(page.getByLabel("Email")).toBeHidden();
  await expect(page.getByText("Sign in with a local account")).toBeVisible();

  // A person Portal has never seen.
  await page.getByTestId("sign-in-with-okta").click();
  await signInAtSamlIdp(page, samlIdp.url, { email: "grace.hopper@example.test", first: "Grace", last: "Hopper" });
  await expect(page).toHaveURL(`${portal.url}/`);
  await expect(page.getByTestId("signed-in-as")).toHaveText("Grace Hopper");
  await expect(page.getByTestId("my-roles")).toHaveText("user");

  // What the admin sees of them.
  const token = adminToken(portal);
  const users = await (await request.get(`${portal.url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } })).json();
  const grace = users.find((u: { email: string }) => u.email === "grace.hopper@example.test");
  expect(grace).toMatchObject({ source: "sso_jit", jit_provisioned: true, roles: ["user"], pools: ["default"], first_name: "Grace", last_name: "Hopper" });
});

test("with SSO JIT off, the next new person sees the refusal page and no account is made", async ({ page, request }) => {
  await openIdentityConfiguration(page);
  await saveSsoJit(page, false);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);

  await hydrated(page);
  await page.getByTestId("sign-in-with-okta").click();
  await signInAtSamlIdp(page, samlIdp.url, { email: "alan.turing@example.test", first: "Alan", last: "Turing" });
  await expect(page.getByTestId("sso-error")).toHaveText(
    "Your Okta account is not set up in Portal. Ask an administrator to add you, or to turn on SSO JIT.",
  );
  const reference = (await page.getByTestId("correlation-id").textContent())?.trim() ?? "";
  expect(reference).not.toBe("");

  const token = adminToken(portal);
  const users = await (await request.get(`${portal.url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } })).json();
  expect(users.find((u: { email: string }) => u.email === "alan.turing@example.test")).toBeUndefined();
  // Turning SSO JIT off removed nobody: the person it created stays, as they were.
  const grace = users.find((u: { email: string }) => u.email === "grace.hopper@example.test");
  expect(grace).toMatchObject({ source: "sso_jit", jit_provisioned: true, active: true, roles: ["user"], pools: ["default"] });

  // The person passes the reference on; the admin finds the refusal and its reason by it.
  await signIn(page, portal.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${portal.url}/settings/iam/audit`);
  await hydrated(page);
  await page.getByLabel("Correlation id").fill(reference);
  await page.getByRole("button", { name: "Filter" }).click();
  const rows = page.getByTestId("audit-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("sign_in.saml");
  await expect(rows.first()).toContainText("alan.turing@example.test");
  await expect(rows.first()).toContainText("no_account");
});
