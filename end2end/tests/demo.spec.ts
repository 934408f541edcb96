// The README's run command, exactly as a new admin types it: `scripts/run` (and `scripts/run
// --oidc`). A new demo person signs in through the demo identity provider in Chromium and gets a
// JIT account; SIGTERM (the first run) or Ctrl-C (the second) then stops Portal and the identity
// provider, and the script exits 0.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as path from "node:path";
import { Browser, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { hydrated, signInAtOidcProvider, signInAtSamlIdp } from "./helpers";

const repo = path.resolve(__dirname, "..", "..");
const portal = "http://127.0.0.1:3000";
const adminEmail = "admin@portal.localhost";

test.describe.configure({ mode: "serial", timeout: 10 * 60_000 });

/** A running `scripts/run` and everything it printed so far. */
class Demo {
  output = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(args: string[]) {
    // The environment of a person at a terminal: nothing of Portal's set.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PORTAL_") && key !== "RUST_LOG"));
    // Its own process group, as a command started at a terminal has: Ctrl-C signals the group.
    this.child = spawn(path.join(repo, "scripts", "run"), args, { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.child.stdout!.on("data", (chunk) => (this.output += chunk));
    this.child.stderr!.on("data", (chunk) => (this.output += chunk));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  async ready() {
    await expect
      .poll(() => this.output.includes("The Portal demo is running") || this.child.exitCode !== null, { timeout: 9 * 60_000, intervals: [1000] })
      .toBe(true);
    expect(this.child.exitCode, this.output.slice(-4000)).toBeNull();
  }

  /** The admin password, printed only by the start that created the admin. */
  adminPassword(): string | undefined {
    return /Password: (\S+)/.exec(this.output)?.[1];
  }

  /** SIGTERM to the script, as a service manager stops it. */
  async stop(): Promise<number | null> {
    this.child.kill("SIGTERM");
    return this.exited;
  }

  /** Ctrl-C at the terminal: SIGINT to the script and everything it started. */
  async interrupt(): Promise<number | null> {
    process.kill(-this.child.pid!, "SIGINT");
    return this.exited;
  }
}

/** What the admin's API says of one person, with a token made as an operator makes it. */
async function personByApi(email: string) {
  const token = execFileSync(path.join(repo, "target", "release", "portal"), ["token", "create", "--email", adminEmail, "--name", "demo-test"], {
    cwd: repo,
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PORTAL_"))),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
  const response = await fetch(`${portal}/api/v1/users?q=${encodeURIComponent(email)}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  const users: { email: string }[] = await response.json();
  return users.find((user) => user.email === email);
}

async function adminSeesBadge(browser: Browser, password: string, email: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${portal}/login`);
  await hydrated(page);
  await page.getByText("Sign in with a local account").click();
  await page.getByLabel("Email").fill(adminEmail);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto(`${portal}/settings/iam/users?q=${encodeURIComponent(email)}`);
  const row = page.getByTestId("user-row").filter({ hasText: email });
  await expect(row.getByTestId("jit-badge")).toHaveText("JIT-provisioned");
  await context.close();
}

async function landsProvisioned(page: Page, name: string) {
  await expect(page).toHaveURL(`${portal}/`);
  await expect(page.getByTestId("signed-in-as")).toHaveText(name);
  await expect(page.getByTestId("my-roles")).toHaveText("user");
}

const stamp = Date.now().toString(36);
const samlPerson = { first: "Mary", last: `Jackson ${stamp}`, email: `mary.jackson.${stamp}@example.test` };
const oidcPerson = { first: "Dorothy", last: `Vaughan${stamp}`, email: `dorothy.vaughan${stamp}@example.test` };

test("scripts/run: a demo person signs in over SAML and gets a JIT account; SIGTERM stops the demo", async ({ page, browser }) => {
  const demo = new Demo([]);
  try {
    await demo.ready();
    expect(demo.output).toContain('click "Sign in with Okta"');

    await page.goto(`${portal}/login`);
    await hydrated(page);
    await page.getByTestId("sign-in-with-okta").click();
    await signInAtSamlIdp(page, "http://127.0.0.1:3010", samlPerson);
    await landsProvisioned(page, `${samlPerson.first} ${samlPerson.last}`);

    expect(await personByApi(samlPerson.email)).toMatchObject({ source: "sso_jit", jit_provisioned: true, roles: ["user"], pools: ["default"] });
    const password = demo.adminPassword();
    // A fresh data/ (as in CI) prints the password; a developer's earlier demo data does not.
    if (password) await adminSeesBadge(browser, password, samlPerson.email);
  } finally {
    const code = await demo.stop();
    expect(code, demo.output.slice(-4000)).toBe(0);
  }
  // Both processes are gone: nothing answers on either port.
  await expect(fetch(`${portal}/healthz`)).rejects.toThrow();
  await expect(fetch("http://127.0.0.1:3010/metadata")).rejects.toThrow();
});

test("scripts/run --oidc: the same over OpenID Connect, on the data the first run left; Ctrl-C stops the demo", async ({ page }) => {
  const demo = new Demo(["--oidc"]);
  try {
    await demo.ready();
    // The second run reuses data/: the person from the SAML run is still there.
    expect(await personByApi(samlPerson.email)).toMatchObject({ jit_provisioned: true });

    await page.goto(`${portal}/login`);
    await hydrated(page);
    await page.getByTestId("sign-in-with-okta").click();
    await signInAtOidcProvider(page, "http://127.0.0.1:3011", oidcPerson.email);
    // oidc-provider names a person it does not know after their login's local part.
    await landsProvisioned(page, `${oidcPerson.first} ${oidcPerson.last}`);
    expect(await personByApi(oidcPerson.email)).toMatchObject({ source: "sso_jit", jit_provisioned: true, roles: ["user"], pools: ["default"] });
  } finally {
    const code = await demo.interrupt();
    expect(code, demo.output.slice(-4000)).toBe(0);
  }
  await expect(fetch(`${portal}/healthz`)).rejects.toThrow();
  await expect(fetch("http://127.0.0.1:3011/.well-known/openid-configuration")).rejects.toThrow();
});
