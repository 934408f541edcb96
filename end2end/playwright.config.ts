import { defineConfig, devices } from "@playwright/test";
import { oidcIdp, samlIdp, servers } from "./tests/servers";

// Each portal is the release binary on a fresh SQLite file of its own; the identity providers
// beside them are independent implementations playing Okta.
export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  timeout: 30_000,
  use: {
    baseURL: servers.current.url,
    trace: "retain-on-failure",
  },
  webServer: [
    ...Object.values(servers).map((server) => ({
      command: `rm -f ${server.db}* && exec ./target/release/portal`,
      cwd: "..",
      url: `${server.url}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
      env: server.env,
    })),
    {
      command: samlIdp.command,
      cwd: "..",
      url: `${samlIdp.url}/metadata`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore" as const,
      stderr: "ignore" as const,
    },
    {
      command: oidcIdp.command,
      cwd: "..",
      url: oidcIdp.discoveryUrl,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
      env: oidcIdp.env,
    },
  ],
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
