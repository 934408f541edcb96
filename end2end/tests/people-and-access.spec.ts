// People and access, end to end on the OIDC portal: a new person arrives through Okta with SSO
// JIT, an admin finds her, grants her Viewer through an agent pool, she reads but cannot write,
// and the admin removes her, which ends her session and leaves a trail in the audit log.
import { APIRequestContext, Browser, BrowserContext, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { ADMIN_EMAIL, oidcIdp, servers } from "./servers";
import { adminToken, escapeRegExp, hydrated, offline, signIn, signInAtOidcProvider } from "./helpers";

const portal = servers.oidc;
const KATHERINE = "katherine.johnson@example.test";
const ADA = "ada.lovelace@example.test";
const POOL = "Auditors";

type Listing = {
  id: number;
  email: string;
  first_name: string;
  last_name: string;
  source: string;
  jit_provisioned: boolean;
  active: boolean;
  roles: string[];
  pools: string[];
  sso_identity: { provider: string; subject: string } | null;
};
type Person = Listing & { role_sources: Array<{ role: string; from: string }> };
type Pool = { id: number; name: string; is_default: boolean; roles: string[]; members: string[] };
type AuditPage = { events: Array<{ action: string; target: string; outcome: string }>; total: number };

/** A browser of its own, so that neither the provider nor Portal remembers anyone else. */
async function freshContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await offline(context);
  return context;
}

/** A person signs in with Okta from Portal's sign-in page, in a browser of their own. */
async function signInWithOkta(browser: Browser, email: string): Promise<Page> {
  const context = await freshContext(browser);
  const page = await context.newPage();
  await page.goto(`${portal.url}/login`);
  await hydrated(page);
  await page.getByTestId("sign-in-with-okta").click();
  await signInAtOidcProvider(page, oidcIdp.url, email);
  await expect(page).toHaveURL(`${portal.url}/`);
  return page;
}

async function open(page: Page, path: string) {
  await page.goto(`${portal.url}${path}`);
  await hydrated(page);
}

function tabs(page: Page) {
  return page.getByRole("navigation", { name: "Identity and Access Management" }).getByRole("link");
}

function tab(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Identity and Access Management" }).getByRole("link", { name, exact: true });
}

/** The admin's API, by bearer token, as automation uses it. */
let api: APIRequestContext;

async function users(): Promise<Listing[]> {
  const response = await api.get("/api/v1/users");
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as Listing[];
}

async function person(id: number): Promise<Person> {
  const response = await api.get(`/api/v1/users/${id}`);
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as Person;
}

async function pools(): Promise<Pool[]> {
  const response = await api.get("/api/v1/pools");
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as Pool[];
}

async function audit(query: Record<string, string>): Promise<AuditPage> {
  const response = await api.get("/api/v1/audit", { params: query });
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as AuditPage;
}

let admin: Page;
let katherine: BrowserContext;
let katherinePage: Page;
let katherineId: number;
let adaId: number;
let removalsBefore: number;

test.describe("people and access", () => {
  // Each step builds on the one before.
  test.describe.configure({ mode: "serial" });

  test.beforeAll(async ({ playwright }) => {
    api = await playwright.request.newContext({
      baseURL: portal.url,
      extraHTTPHeaders: { authorization: `Bearer ${adminToken(portal)}` },
    });
  });

  test.afterAll(async () => {
    await admin?.context().close();
    await katherine?.close();
    await api?.dispose();
  });

  test("with OIDC and SSO JIT on, a new person signs in with Okta and gets the User role", async ({ browser }) => {
    // Whatever the specs before left behind: OIDC configured, SSO JIT on, people sign in with SSO.
    const current = await api.get("/api/v1/identity");
    expect(current.status(), await current.text()).toBe(200);
    const { updated_by: _by, updated_at: _at, ...document } = await current.json();
    const saved = await api.put("/api/v1/identity", {
      data: {
        ...document,
        sso: {
          protocol: "oidc",
          oidc: {
            discovery_url: oidcIdp.discoveryUrl,
            client_id: oidcIdp.clientId,
            client_secret: oidcIdp.clientSecret,
            token_auth_method: "client_secret_basic",
          },
        },
        provisioning: { method: "sso_jit" },
        login_method: "sso",
      },
    });
    expect(saved.status(), await saved.text()).toBe(200);

    // Nothing of an earlier run of this spec may remain.
    for (const pool of (await pools()).filter((p) => p.name === POOL)) {
      const gone = await api.delete(`/api/v1/pools/${pool.id}`, { params: { confirm: "true" } });
      expect(gone.status(), await gone.text()).toBe(204);
    }
    for (const stale of (await users()).filter((u) => u.email === KATHERINE)) {
      const gone = await api.delete(`/api/v1/users/${stale.id}`);
      expect(gone.status(), await gone.text()).toBe(204);
    }

    // Ada is the person a Viewer will try to change; she signs in once if this spec runs alone.
    if (!(await users()).some((u) => u.email === ADA)) {
      const ada = await signInWithOkta(browser, ADA);
      await expect(ada.getByTestId("signed-in-as")).toHaveText("Ada Lovelace");
      await ada.context().close();
    }
    adaId = (await users()).find((u) => u.email === ADA)!.id;
    expect((await person(adaId)).active).toBe(true);

    katherinePage = await signInWithOkta(browser, KATHERINE);
    katherine = katherinePage.context();
    await expect(katherinePage.getByTestId("signed-in-as")).toHaveText("Katherine Johnson");
    await expect(katherinePage.getByTestId("my-roles")).toHaveText("user");

    const account = (await users()).find((u) => u.email === KATHERINE);
    expect(account).toMatchObject({
      first_name: "Katherine",
      last_name: "Johnson",
      source: "sso_jit",
      jit_provisioned: true,
      active: true,
      roles: ["user"],
    });
    katherineId = account!.id;
  });

  test("the admin finds her on the Users page by her JIT badge and name, and opens her page", async ({ browser }) => {
    admin = await (await freshContext(browser)).newPage();
    await signIn(admin, portal.url);
    await expect(admin.getByTestId("signed-in-as")).toBeVisible();

    await open(admin, "/settings/iam/users");
    await expect(tabs(admin)).toHaveText(["Identity Configuration", "Users", "Agent Pools", "Roles", "Audit Log"]);
    // With SSO JIT on, accounts come from Okta: no form to add someone by hand.
    await expect(admin.getByTestId("jit-explainer")).toContainText(/created.*first.*sign/i);
    await expect(admin.getByRole("button", { name: /^Add (a )?person$/ })).toHaveCount(0);
    await expect(admin.getByLabel("Source", { exact: true })).toHaveValue("");
    await expect(admin.getByLabel("Status", { exact: true })).toHaveValue("");

    // Those who came from Okta: the Source filter leaves only rows with the JIT badge, hers too.
    await admin.getByLabel("Source", { exact: true }).selectOption("sso_jit");
    await admin.getByRole("button", { name: "Filter", exact: true }).click();
    await expect(admin).toHaveURL(/[?&]source=sso_jit(&|$)/);
    await hydrated(admin);
    const jitRows = admin.getByTestId("user-row");
    await expect(jitRows.filter({ hasText: KATHERINE })).toHaveCount(1);
    await expect(jitRows.getByTestId("jit-badge")).toHaveCount(await jitRows.count());
    await expect(jitRows.filter({ hasText: "admin@" })).toHaveCount(0);

    await admin.getByLabel("Search by name or email").fill("katherine");
    await admin.getByRole("button", { name: "Filter", exact: true }).click();
    await expect(admin).toHaveURL(/[?&]q=katherine(&|$)/);
    await hydrated(admin);
    await expect(admin.getByLabel("Search by name or email")).toHaveValue("katherine");

    const rows = admin.getByTestId("user-row");
    await expect(rows).toHaveCount(1);
    const row = rows.first();
    await expect(row).toContainText(KATHERINE);
    await expect(row.getByTestId("jit-badge")).toHaveText("JIT-provisioned");
    await expect(rows.filter({ hasText: ADA })).toHaveCount(0);

    const link = row.getByRole("link", { name: "Katherine Johnson" });
    await expect(link).toHaveAttribute("href", new RegExp(`/settings/iam/users/${katherineId}$`));
    // The badge sits beside her name.
    await expect(link.locator("..").getByTestId("jit-badge")).toHaveCount(1);
    await link.click();
    await expect(admin).toHaveURL(`${portal.url}/settings/iam/users/${katherineId}`);
    await hydrated(admin);
    await expect(admin.getByRole("heading", { level: 2, name: "Katherine Johnson" })).toBeVisible();
    await expect(admin.getByTestId("person-email")).toHaveText(KATHERINE);
    await expect(admin.getByTestId("person-status")).toHaveText("Active");
    await expect(admin.getByTestId("role-source").filter({ hasText: /user\s*·\s*direct/ })).toHaveCount(1);
    await expect(admin.getByRole("checkbox", { name: "User", exact: true })).toBeChecked();
    await expect(admin.getByRole("checkbox", { name: "Viewer", exact: true })).not.toBeChecked();
    await expect(admin.getByTestId("okta-removal-note")).toContainText("Okta");
    await expect(admin.getByTestId("person-sso-identity")).toContainText("at the OpenID Connect issuer");

    // The role matrix the admin can consult.
    await tab(admin, "Roles").click();
    await expect(admin).toHaveURL(`${portal.url}/settings/iam/roles`);
    const matrix = admin.getByRole("table");
    for (const role of ["Admin", "Viewer", "User"]) {
      await expect(matrix.getByRole("row").filter({ has: admin.getByText(role, { exact: true }) })).toHaveCount(1);
    }
  });

  test("the admin unlinks her Okta identity, which signs her out, and her next Okta sign-in links the same account again", async ({ browser }) => {
    // As after Okta re-created her: the account waits for its next SSO sign-in to be bound.
    await open(admin, `/settings/iam/users/${katherineId}`);
    await admin.getByRole("button", { name: "Unlink Okta identity" }).click();
    await expect(admin.getByTestId("unlink-result")).toContainText("Unlinked.");
    await expect(admin.getByTestId("person-sso-identity")).toHaveText("Okta identity: none yet");
    expect((await person(katherineId)).sso_identity).toBeNull();

    // Whoever signed in with the identity is signed out: her open browser is sent to sign in.
    await katherinePage.goto(`${portal.url}/`);
    await expect(katherinePage).toHaveURL(new RegExp(`^${escapeRegExp(portal.url)}/login(\\?|$)`));
    expect((await katherine.request.get(`${portal.url}/api/v1/me`)).status()).toBe(401);
    await katherine.close();

    katherinePage = await signInWithOkta(browser, KATHERINE);
    katherine = katherinePage.context();
    await expect(katherinePage.getByTestId("signed-in-as")).toHaveText("Katherine Johnson");
    expect((await person(katherineId)).sso_identity?.provider).toMatch(/^oidc:/);
    expect((await users()).filter((u) => u.email === KATHERINE)).toHaveLength(1);
  });

  test("the admin creates the Auditors pool granting Viewer and moves her into it", async () => {
    await open(admin, "/settings/iam/agent-pools");
    const create = admin.locator("form").filter({ has: admin.getByRole("button", { name: "Create pool" }) });
    await create.getByLabel("Pool name").fill(POOL);
    await create.getByRole("checkbox", { name: "Viewer", exact: true }).check();
    await create.getByRole("button", { name: "Create pool" }).click();
    await expect(admin.getByTestId("create-pool-result")).toHaveText(
      "Created. Copy the agent key now: it is not shown again.",
    );
    const key = (await admin.getByTestId("agent-key").textContent())?.trim() ?? "";
    expect(key).toMatch(/^pak_\S+$/);

    const auditors = (await pools()).find((p) => p.name === POOL);
    expect(auditors).toMatchObject({ is_default: false, roles: ["viewer"], members: [] });

    // The key is shown once: not after a reload.
    await admin.reload();
    await hydrated(admin);
    await expect(admin.getByTestId("agent-key")).toHaveCount(0);
    await expect(admin.getByText(key)).toHaveCount(0);
    const poolRows = admin.getByTestId("pool-row");
    const auditorsRow = poolRows.filter({ hasText: POOL });
    await expect(auditorsRow.getByRole("link", { name: POOL })).toHaveAttribute(
      "href",
      new RegExp(`/settings/iam/agent-pools/${auditors!.id}$`),
    );
    await expect(auditorsRow.getByText("Default", { exact: true })).toHaveCount(0);
    await expect(poolRows.filter({ has: admin.getByText("Default", { exact: true }) })).toHaveCount(1);

    await open(admin, `/settings/iam/users/${katherineId}`);
    await admin.getByLabel("Add to agent pool").selectOption({ label: POOL });
    await admin.getByRole("button", { name: "Add to pool", exact: true }).click();
    await expect(admin.getByTestId("pools-result")).toHaveText("Saved.");
    const membership = admin.getByTestId("membership").filter({ hasText: POOL });
    await expect(membership).toHaveCount(1);
    await expect(membership.getByRole("button", { name: `Remove from ${POOL}` })).toBeVisible();
    await expect(admin.getByTestId("role-source").filter({ hasText: /viewer\s*·\s*from pool Auditors/ })).toHaveCount(1);
    await expect(admin.getByTestId("role-source").filter({ hasText: /user\s*·\s*direct/ })).toHaveCount(1);

    // It holds on the server, not only on the page.
    await admin.reload();
    await hydrated(admin);
    await expect(admin.getByTestId("role-source").filter({ hasText: /viewer\s*·\s*from pool Auditors/ })).toHaveCount(1);
    expect((await person(katherineId)).role_sources).toEqual(
      expect.arrayContaining([
        { role: "user", from: "direct" },
        { role: "viewer", from: `pool ${POOL}` },
      ]),
    );

    // A move, not only an addition: she leaves the default pool and keeps what Auditors grants.
    await admin.getByRole("button", { name: "Remove from default", exact: true }).click();
    await expect(admin.getByRole("button", { name: "Remove from default", exact: true })).toHaveCount(0);
    await expect(admin.getByTestId("membership")).toHaveCount(1);
    await expect(admin.getByTestId("membership")).toContainText(POOL);
    await expect(admin.getByTestId("role-source").filter({ hasText: /viewer\s*·\s*from pool Auditors/ })).toHaveCount(1);
    expect((await person(katherineId)).pools).toEqual([POOL]);
  });

  test("as a Viewer she reads people, pools and the audit log but cannot change anything", async () => {
    const page = katherinePage;
    await open(page, "/");
    await expect(page.getByTestId("my-roles")).toHaveText("user, viewer");

    await open(page, "/settings/iam/users");
    await expect(page.getByTestId("user-row").filter({ hasText: KATHERINE })).toHaveCount(1);
    await expect(page.getByTestId("user-row").filter({ hasText: ADA })).toHaveCount(1);
    await expect(tabs(page)).toHaveText(["Users", "Agent Pools", "Roles", "Audit Log"]);
    await expect(page.getByRole("button", { name: /^Add (a )?person$/ })).toHaveCount(0);

    await open(page, `/settings/iam/users/${katherineId}`);
    await expect(page.getByRole("heading", { level: 2, name: "Katherine Johnson" })).toBeVisible();
    await expect(page.getByTestId("role-source").filter({ hasText: /viewer\s*·\s*from pool Auditors/ })).toHaveCount(1);
    for (const name of ["Deactivate", "Reactivate", "Remove…", "Save roles", "Add to pool", `Remove from ${POOL}`]) {
      await expect(page.getByRole("button", { name, exact: true })).toHaveCount(0);
    }
    await expect(page.getByLabel("Add to agent pool")).toHaveCount(0);
    await expect(page.getByRole("checkbox")).toHaveCount(0);

    await open(page, "/settings/iam/agent-pools");
    await expect(page.getByTestId("pool-row").filter({ hasText: POOL })).toHaveCount(1);
    await expect(page.getByRole("button", { name: "Create pool" })).toHaveCount(0);
    await expect(page.getByLabel("Pool name")).toHaveCount(0);

    await open(page, "/settings/iam/audit");
    await expect(page.getByTestId("audit-row").first()).toBeVisible();

    // A write forced past the page: refused without the CSRF header, and refused for her roles with it.
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const bare = await katherine.request.patch(`${portal.url}/api/v1/users/${adaId}`, { data: { active: false } });
    expect(bare.status(), await bare.text()).toBe(403);
    const withToken = await katherine.request.patch(`${portal.url}/api/v1/users/${adaId}`, {
      data: { active: false },
      headers: { "x-csrf-token": csrf },
    });
    expect(withToken.status(), await withToken.text()).toBe(403);
    expect((await withToken.json()).error).toBe("forbidden");
    expect((await person(adaId)).active).toBe(true);

    // Identity Configuration is for Admins only.
    const response = await page.goto(`${portal.url}/settings/iam/identity`);
    expect(response?.status()).toBe(403);
    await expect(page.getByTestId("forbidden")).toBeVisible();
  });

  test("the admin removes her; her session ends and she is sent to sign in", async () => {
    removalsBefore = (await audit({ action: "account.removed", person: "katherine" })).total;

    await open(admin, `/settings/iam/users/${katherineId}`);
    await expect(admin.getByTestId("remove-confirmation")).toHaveCount(0);
    await admin.getByRole("button", { name: "Remove…", exact: true }).click();
    const confirmation = admin.getByTestId("remove-confirmation");
    await expect(confirmation).toContainText("Katherine Johnson");
    await confirmation.getByRole("button", { name: "Remove Katherine Johnson", exact: true }).click();

    await expect(admin).toHaveURL(
      new RegExp(`^${escapeRegExp(portal.url)}/settings/iam/users\\?removed=katherine\\.johnson(%40|@)example\\.test$`),
    );
    await hydrated(admin);
    await expect(admin.getByTestId("removed-notice")).toContainText(KATHERINE);
    await expect(admin.getByTestId("user-row").filter({ hasText: KATHERINE })).toHaveCount(0);
    expect((await users()).find((u) => u.email === KATHERINE)).toBeUndefined();
    expect((await pools()).find((p) => p.name === POOL)?.members).toEqual([]);

    // Her browser still holds the cookie of a session that no longer exists.
    await katherinePage.goto(`${portal.url}/settings/iam/users`);
    await expect(katherinePage).toHaveURL(new RegExp(`^${escapeRegExp(portal.url)}/login(\\?|$)`));
    await hydrated(katherinePage);
    await expect(katherinePage.getByTestId("sign-in-with-okta")).toBeVisible();
    await expect(katherinePage.getByTestId("user-row")).toHaveCount(0);
    const me = await katherine.request.get(`${portal.url}/api/v1/me`);
    expect(me.status()).toBe(401);
  });

  test("the audit log shows the removal, and its CSV export carries the filter", async () => {
    const after = await audit({ action: "account.removed", person: "katherine" });
    expect(after.total).toBe(removalsBefore + 1);
    expect(after.events[0]).toMatchObject({ action: "account.removed", target: KATHERINE, outcome: "success" });

    await open(admin, "/settings/iam/users");
    await tab(admin, "Audit Log").click();
    await expect(admin).toHaveURL(`${portal.url}/settings/iam/audit`);
    await hydrated(admin);

    await admin.getByLabel("Action", { exact: true }).fill("account.removed");
    await admin.getByLabel("Outcome", { exact: true }).selectOption("success");
    await admin.getByRole("button", { name: "Filter", exact: true }).click();
    await expect(admin).toHaveURL(/[?&]action=account\.removed(&|$)/);
    await hydrated(admin);
    await expect(admin.getByLabel("Action", { exact: true })).toHaveValue("account.removed");

    // The filtered page, not the one before it: as many rows as the API finds.
    const filtered = await audit({ action: "account.removed", outcome: "success" });
    const rows = admin.getByTestId("audit-row");
    await expect(rows).toHaveCount(Math.min(filtered.total, 50));
    await expect(rows.filter({ hasText: KATHERINE }).first()).toBeVisible();
    for (const row of await rows.all()) await expect(row).toContainText("account.removed");

    const exportLink = admin.getByRole("link", { name: "Export CSV" });
    await expect(exportLink).toHaveAttribute("href", /action=account\.removed/);
    const href = (await exportLink.getAttribute("href")) ?? "";
    expect(href.startsWith("/api/v1/audit.csv")).toBe(true);
    const params = new URL(href, portal.url).searchParams;
    expect(params.get("action")).toBe("account.removed");
    expect(params.get("outcome")).toBe("success");

    const csv = await admin.request.get(`${portal.url}${href}`);
    expect(csv.status()).toBe(200);
    expect(csv.headers()["content-type"]).toContain("text/csv");
    const text = await csv.text();
    expect(text).toContain(KATHERINE);
    expect(text).not.toContain("sign_in.oidc");
  });

  test("the admin changes Ada's address on her page: one another account holds is refused, a new one is saved", async () => {
    await open(admin, `/settings/iam/users/${adaId}`);
    const form = admin.getByTestId("email-change");
    await form.getByText("Change email address").click();
    const input = form.getByLabel("Email address");
    await expect(input).toHaveValue(ADA);
    // She signed in with Okta: unlinking in the same change is offered, and left unticked here.
    await expect(form.getByRole("checkbox", { name: /Also unlink the Okta identity/ })).not.toBeChecked();

    await input.fill(ADMIN_EMAIL);
    await form.getByRole("button", { name: "Save email" }).click();
    await expect(admin.getByTestId("person-email-input-error")).toContainText("is the address of another account");
    expect((await person(adaId)).email).toBe(ADA);

    const renamed = "ada.king@example.test";
    await admin.getByTestId("email-change").getByLabel("Email address").fill(renamed);
    await admin.getByTestId("email-change").getByRole("button", { name: "Save email" }).click();
    await expect(admin.getByTestId("email-result")).toHaveText("Saved.");
    await expect(admin.getByTestId("person-email")).toHaveText(renamed);
    const after = await person(adaId);
    expect(after.email).toBe(renamed);
    expect(after.sso_identity?.provider).toMatch(/^oidc:/);
    // Filed under the address it replaced, so that a search for that one finds where it went.
    const changed = await audit({ action: "account.email_changed", person: ADA });
    expect(changed.events[0]).toMatchObject({ action: "account.email_changed", target: ADA, outcome: "success" });
  });
});
