// A person signs in through an OpenID Connect provider we did not write (npm oidc-provider, playing
// Okta) and lands in Portal with an account created just in time.
import { APIRequestContext, Browser, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { oidcIdp, servers } from "./servers";
import { adminToken, hydrated, offline, saveSsoJit, signIn, signInAtOidcProvider } from "./helpers";

const portal = servers.oidc;
const saved = "Saved. OpenID Connect sign-in uses these settings now.";

// Each test builds on the one before: the provider is configured once, then used.
test.describe.configure({ mode: "serial" });

test.beforeEach(async ({ context }) => {
  await offline(context);
});

/** A browser of its own, so that the provider does not remember whoever signed in before. */
async function freshPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  await offline(context);
  return context.newPage();
}

async function openIdentityConfiguration(page: Page) {
  await signIn(page, portal.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${portal.url}/settings/iam/identity`);
  await hydrated(page);
}

async function fillOidc(page: Page, discoveryUrl: string) {
  await page.getByRole("radio", { name: "OpenID Connect" }).check();
  await page.getByLabel("Discovery URL").fill(discoveryUrl);
  await page.getByLabel("Client ID").fill(oidcIdp.clientId);
  await page.getByLabel("Client secret").fill(oidcIdp.clientSecret);
  await page.getByLabel("Token endpoint authentication").selectOption("client_secret_basic");
  await page.getByRole("button", { name: "Save OIDC settings" }).click();
}

async function users(request: APIRequestContext) {
  const token = adminToken(portal);
  const response = await request.get(`${portal.url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status()).toBe(200);
  return (await response.json()) as Array<{ email: string }>;
}

test("a discovery URL that leads nowhere is refused and nothing is configured", async ({ page }) => {
  await openIdentityConfiguration(page);
  await fillOidc(page, `${oidcIdp.url}/wrong/.well-known/openid-configuration`);

  const result = page.getByTestId("oidc-result");
  await expect(result).toHaveAttribute("data-outcome", "refused");
  await expect(result).toContainText("the provider answered 404");
  await expect(page.getByTestId("sso-summary")).toContainText("No identity provider is configured");

  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("sso-summary")).toContainText("No identity provider is configured");
});

test("the admin enters the discovery URL and client and turns SSO JIT on; a new person signs in with Okta and is provisioned", async ({ page, request, browser }) => {
  await openIdentityConfiguration(page);
  await fillOidc(page, oidcIdp.discoveryUrl);
  await expect(page.getByTestId("oidc-result")).toHaveText(saved);
  await expect(page.getByTestId("sso-summary")).toContainText(oidcIdp.issuer);
  await expect(page.getByTestId("oidc-secret-state")).toHaveText("A client secret is stored. Leave the field empty to keep it.");
  // What the admin copies into the Okta app integration.
  await expect(page.getByTestId("oidc-redirect-uri")).toHaveText(`${portal.url}/sso/oidc/callback`);
  await expect(page.getByTestId("oidc-scopes")).toHaveText("openid email profile");

  await saveSsoJit(page, true);
  await page.getByRole("radio", { name: "Single sign-on (SSO)" }).check();
  await page.getByTestId("login-method-result").locator("..").getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByTestId("login-method-result")).toHaveText("Saved. People sign in with single sign-on.");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);

  // A person Portal has never seen.
  await hydrated(page);
  await page.getByTestId("sign-in-with-okta").click();
  await signInAtOidcProvider(page, oidcIdp.url, "ada.lovelace@example.test");
  await expect(page).toHaveURL(`${portal.url}/`);
  await expect(page.getByTestId("signed-in-as")).toHaveText("Ada Lovelace");
  await expect(page.getByTestId("my-roles")).toHaveText("user");

  // What the admin sees of her, through the API…
  const ada = (await users(request)).find((u) => u.email === "ada.lovelace@example.test");
  expect(ada).toMatchObject({
    first_name: "Ada",
    last_name: "Lovelace",
    source: "sso_jit",
    jit_provisioned: true,
    roles: ["user"],
    pools: ["default"],
  });

  // …and on the Users page, signed in with the local account behind the SSO disclosure.
  const admin = await freshPage(browser);
  await signIn(admin, portal.url);
  await expect(admin.getByTestId("signed-in-as")).toBeVisible();
  await admin.goto(`${portal.url}/settings/iam/users`);
  await hydrated(admin);
  const row = admin.getByRole("row", { name: /ada\.lovelace@example\.test/ });
  await expect(row).toContainText("JIT-provisioned");
  await expect(row).toContainText("default");
  await expect(row).toContainText("user");
  await admin.context().close();
});

test("with SSO JIT off, the next new person sees the refusal page and no account is made", async ({ page, request, browser }) => {
  await openIdentityConfiguration(page);
  await saveSsoJit(page, false);

  const person = await freshPage(browser);
  await person.goto(`${portal.url}/login`);
  await hydrated(person);
  await person.getByTestId("sign-in-with-okta").click();
  await signInAtOidcProvider(person, oidcIdp.url, "new.person@example.test");
  await expect(person.getByTestId("sso-error")).toHaveText(
    "Your Okta account is not set up in Portal. Ask an administrator to add you, or to turn on SSO JIT.",
  );
  await expect(person.getByTestId("correlation-id")).not.toBeEmpty();
  await person.context().close();

  expect((await users(request)).find((u) => u.email === "new.person@example.test")).toBeUndefined();
});
