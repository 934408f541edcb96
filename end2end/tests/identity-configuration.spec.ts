import { expect, test } from "./fixtures";
import { ADMIN_EMAIL, servers } from "./servers";
import { configureSaml, hydrated, signIn, testCertificate } from "./helpers";

test("before SSO is set up, the toggle is off and says to set up single sign-on first", async ({ page }) => {
  await signIn(page, servers.current.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${servers.current.url}/settings/iam/identity`);
  await hydrated(page);
  await expect(page.getByTestId("sso-summary")).toContainText("No identity provider is configured");
  await expect(page.getByRole("switch", { name: "SSO JIT" })).toBeDisabled();
  await expect(page.getByTestId("jit-unavailable")).toContainText("Set up single sign-on first");
});

for (const server of [servers.current, servers.legacy]) {
  const label = server.release === "1.53" ? "SAML JIT" : "SSO JIT";
  const other = server.release === "1.53" ? "SSO JIT" : "SAML JIT";

  test(`release ${server.release}: the admin turns ${label} on, saves, and it survives a reload`, async ({ page }) => {
    await configureSaml(server, testCertificate());
    await signIn(page, server.url);
    await expect(page.getByTestId("signed-in-as")).toBeVisible();

    await page.getByRole("link", { name: "Settings", exact: true }).click();
    await expect(page).toHaveURL(`${server.url}/settings/iam/identity`);
    await expect(page.getByRole("heading", { name: "Identity and Access Management" })).toBeVisible();
    await expect(page.getByRole("heading", { name: "Provisioning" })).toBeVisible();
    await expect(page.getByTestId("release")).toHaveText(server.release);
    await expect(page.getByText(other, { exact: true })).toHaveCount(0);

    const toggle = page.getByRole("switch", { name: label });
    await expect(toggle).not.toBeChecked();
    await toggle.check();
    await page.getByTestId("provisioning-result").locator("..").getByRole("button", { name: "Save", exact: true }).click();
    await expect(page.getByTestId("provisioning-result")).toHaveText(`Saved. ${label} is on.`);

    await page.reload();
    await hydrated(page);
    await expect(page.getByRole("switch", { name: label })).toBeChecked();
    await expect(page.getByTestId("provisioning-changed")).toContainText(`Last changed by ${ADMIN_EMAIL}`);
  });
}

test("a wrong password is refused on the page and no session starts", async ({ page, context }) => {
  await page.goto(`${servers.current.url}/login`);
  await hydrated(page);
  await page.getByLabel("Email").fill(ADMIN_EMAIL);
  await page.getByLabel("Password").fill("definitely not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("login-error")).toHaveText("That email and password do not match an account.");
  const cookies = await context.cookies();
  expect(cookies.find((c) => c.name === "portal_session")).toBeUndefined();
});

test("signing out ends the session", async ({ page, context, request }) => {
  await signIn(page, servers.current.url);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  const session = (await context.cookies()).find((c) => c.name === "portal_session");
  expect(session).toBeDefined();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);
  await expect(page.getByTestId("login-notice")).toHaveText("You have signed out.");

  await page.goto(`${servers.current.url}/settings/iam/identity`);
  await expect(page).toHaveURL(/\/login\?next=/);

  // The cookie the browser held is worthless now, even when replayed.
  const replay = await request.get(`${servers.current.url}/api/v1/me`, {
    headers: { cookie: `portal_session=${session!.value}` },
  });
  expect(replay.status()).toBe(401);
});
