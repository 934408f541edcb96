// The limits on password sign-in, as the person at the sign-in page meets them: ten wrong
// passwords lock the email's password sign-in, the operator's `portal admin reset` lets the admin
// back in (and her browser gets its device cookie), and an address that keeps trying is told how
// long to wait. Against a portal of their
// own (servers.guarded), whose lock and allowance no other test meets; in this order.
import { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { ADMIN_EMAIL, ADMIN_PASSWORD, servers } from "./servers";
import { adminReset, hydrated, signIn } from "./helpers";

const server = servers.guarded;
const WRONG = "That email and password do not match an account.";
const LOCKED = "Too many wrong passwords for this account: its password sign-in is locked. Try again in 15 minutes.";

/**
 * Submits the form once, waits for Portal's answer to it and answers its status: 401 for a wrong
 * password, 429 for the lock and for too many attempts. (The page's message alone could be the
 * previous answer's, when both say the same.)
 */
async function attempt(page: Page, email: string, password: string): Promise<number> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  const answered = page.waitForResponse((r) => r.request().method() === "POST" && r.url().includes("sign_in"));
  await page.getByRole("button", { name: "Sign in" }).click();
  const status = (await answered).status();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
  return status;
}

test.describe.configure({ mode: "serial" });

test("ten wrong passwords lock the admin's password sign-in, the right one included; portal admin reset lets her back in", async ({ page, context }) => {
  await page.goto(`${server.url}/login`);
  await hydrated(page);
  for (let i = 1; i <= 9; i++) {
    expect(await attempt(page, ADMIN_EMAIL, `wrong password ${i}`)).toBe(401);
    await expect(page.getByTestId("login-error")).toHaveText(WRONG);
  }
  expect(await attempt(page, ADMIN_EMAIL, "wrong password 10")).toBe(429);
  await expect(page.getByTestId("login-error")).toHaveText(LOCKED);
  expect(await attempt(page, ADMIN_EMAIL, ADMIN_PASSWORD)).toBe(429);
  await expect(page.getByTestId("login-error")).toHaveText(LOCKED);
  expect((await context.cookies()).find((c) => c.name === "portal_session")).toBeUndefined();

  const password = adminReset(server);
  expect(password.length).toBeGreaterThanOrEqual(20);
  await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expect(page.getByTestId("login-error")).toHaveText(WRONG);
  await signIn(page, server.url, ADMIN_EMAIL, password);
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  // This browser is one she signed in with now: its own wrong passwords count for it alone
  // (server/tests/foundation.rs meets that lock). The cookie says nothing about her.
  const device = (await context.cookies()).find((c) => c.name === "portal_device");
  expect(device?.httpOnly).toBe(true);
  expect(device?.sameSite).toBe("Strict");
  expect(device?.value).not.toContain(ADMIN_EMAIL);
});

test("an address that keeps trying is told how long to wait, and no session starts", async ({ page, context }) => {
  await page.goto(`${server.url}/login`);
  await hydrated(page);
  // The address may try 20 times at once, then 30 times a minute; the test before this one
  // spent 13 of them.
  let refusedAfter = 0;
  for (let i = 1; i <= 40; i++) {
    const status = await attempt(page, `nobody${i}@example.com`, "a guess");
    if (status === 401) continue;
    expect(status).toBe(429);
    await expect(page.getByTestId("login-error")).toHaveText(
      /^Too many sign-in attempts from your network\. Try again in \d+ seconds?\.$/,
    );
    refusedAfter = i;
    break;
  }
  // At the earliest the eighth, after the 13 before; at the latest, once the allowance that
  // came back meanwhile (one attempt every two seconds) is spent too.
  expect(refusedAfter).toBeGreaterThanOrEqual(8);
  expect((await context.cookies()).find((c) => c.name === "portal_session")).toBeUndefined();
});
